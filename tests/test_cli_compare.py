"""`nnasr compare`: table, JSON, plot, WER from a manifest, bad files."""

from __future__ import annotations

import json

import pytest
import soundfile as sf
from helpers import make_random_model, speechlike

from app.cli import main


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("compare")
    a = make_random_model(d / "dense.nnasr", seed=0)
    b = make_random_model(d / "sparse.nnasr", seed=1, sparsity=0.6)
    (d / "audio").mkdir()
    for i in range(2):
        sf.write(d / "audio" / f"u{i}.wav", speechlike(2.0, seed=i), 16000, subtype="PCM_16")
    lines = [{"audio_filepath": f"audio/u{i}.wav", "text": "Hello, World!", "duration": 2.0}
             for i in range(2)]
    manifest = d / "m.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    bad_manifest = d / "bad.jsonl"
    bad_manifest.write_text(manifest.read_text() + json.dumps(
        {"audio_filepath": "audio/missing.wav", "text": "x", "duration": 1.0}) + "\n")
    return {"a": str(a), "b": str(b), "manifest": str(manifest), "bad": str(bad_manifest),
            "wav": str(d / "audio" / "u0.wav"), "dir": d}


def test_table(setup, capsys):
    rc = main(["compare", "-q", "--models", setup["a"], setup["b"], "--manifest", setup["manifest"]])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "dense" in out and "sparse" in out
    for col in ("WER", "size", "sparsity", "host ms", "NNA ms", "RTF", "p50 / p95"):
        assert col in out
    assert "×" in out  # ratios to the first model
    assert "WER 95% CI" in out and "Δ " in out  # how sure each WER and each difference is
    assert "measured" in out and "modeled" in out


def test_json_and_plot(setup, capsys, tmp_path):
    png = tmp_path / "lat.png"
    rc = main(["compare", "-q", "--models", setup["a"], setup["b"], "--manifest", setup["manifest"],
               "--json", "--plot", str(png)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    d = json.loads(out)
    assert d["files"] == 2 and d["failed"] == []
    first, second = d["models"]
    assert first["name"] == "dense" and second["name"] == "sparse"
    assert second["sparsity"] > 0.5 > first["sparsity"]
    for m in d["models"]:
        assert m["wer"] is not None and m["wer"] >= 0
        assert m["host_ms_p50"] > 0 and m["host_ms_p95"] >= m["host_ms_p50"]
        assert m["modeled_nna_ms_p50"] > 0 and m["modeled_nna_ms_measured"] is False
        assert m["rtf"] > 0 and m["audio_s"] == pytest.approx(4.0, abs=0.2)
    assert all(v == pytest.approx(1.0) for v in first["ratios_vs_first"].values() if v is not None)
    # how sure each WER is: its bootstrap interval holds it; the difference to the first row
    # is the difference of the two WERs, inside its own interval
    for m in d["models"]:
        lo, hi = m["wer_ci"]
        assert lo <= m["wer"] <= hi
    assert first["wer_vs_first"] is None
    vs = second["wer_vs_first"]
    assert vs["diff"] == pytest.approx(second["wer"] - first["wer"])
    assert vs["ci"][0] <= vs["diff"] <= vs["ci"][1] and 0 <= vs["p_b_lower"] <= 1
    assert second["ratios_vs_first"]["file_bytes"] == pytest.approx(
        second["file_bytes"] / first["file_bytes"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_files_after_models_and_bad_file(setup, capsys):
    # audio files listed after --models are taken back as FILEs; a bad one is skipped
    missing = str(setup["dir"] / "nope.wav")
    rc = main(["compare", "-q", "--json", "--models", setup["a"], setup["b"], setup["wav"], missing])
    out, err = capsys.readouterr()
    assert rc == 1
    assert f"nnasr compare: error: {missing}: no such file" in err
    assert "Traceback" not in err
    d = json.loads(out)
    assert d["files"] == 1 and d["failed"] == [missing]
    assert all(m["wer"] is None for m in d["models"])  # no references without a manifest


def test_bad_manifest_entry_continues(setup, capsys):
    rc = main(["compare", "-q", "--json", "--models", setup["a"], "--manifest", setup["bad"]])
    out, err = capsys.readouterr()
    assert rc == 1 and json.loads(out)["files"] == 2
    assert err.count("nnasr compare: error:") == 1


def test_usage_errors(setup, capsys, tmp_path):
    assert main(["compare", "--models", setup["a"]]) == 2
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"audio_filepath": "a.wav"}\nnot json\n')
    assert main(["compare", "--models", setup["a"], "--manifest", str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}:2: not a JSON line" in err


def test_wer_normalization():
    from app.comparison import _fallback_normalize, word_error_rate

    assert _fallback_normalize("Hello, World! It's") == "hello world it's"
    assert word_error_rate(["hello world"], ["hello word"]) == pytest.approx(0.5)
    assert word_error_rate([""], ["x"]) is None


def test_by_voice_splits_each_systems_errors_by_the_manifests_voice(setup, capsys, tmp_path):
    """--by-voice: per voice, every system's WER over that voice's utterances; the voices'
    errors add up to the whole set's, and the whole set's row is the main table's WER."""
    lines = [{"audio_filepath": str(setup["dir"] / "audio" / f"u{i}.wav"), "text": text,
              "duration": 2.0, "voice": voice}
             for i, text, voice in ((0, "hello world", "alice"), (1, "one two three", "bob"),
                                    (0, "a b c d", "bob"))]
    m = tmp_path / "v.jsonl"
    m.write_text("".join(json.dumps(x) + "\n" for x in lines))
    rc = main(["compare", "-q", "--models", setup["a"], setup["b"], "--manifest", str(m),
               "--by-voice", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    d = json.loads(out)
    rows = {r["voice"]: r for r in d["by_voice"]}
    assert [r["voice"] for r in d["by_voice"]] == ["all", "bob", "alice"]  # most words first
    assert (rows["alice"]["words"], rows["bob"]["words"], rows["all"]["words"]) == (2, 7, 9)
    assert rows["bob"]["utterances"] == 2
    for model in d["models"]:
        name = model["name"]
        assert rows["all"]["wer"][name] == pytest.approx(model["wer"])
        errs = sum(rows[v]["wer"][name] * rows[v]["words"] for v in ("alice", "bob"))
        assert errs == pytest.approx(model["wer"] * 9)
    rc = main(["compare", "-q", "--models", setup["a"], "--manifest", str(m), "--by-voice"])
    out, _ = capsys.readouterr()
    assert rc == 0 and "WER per voice" in out and "alice" in out

"""benchmarks/size_pilots.py: pilots of several sizes train from scratch on one budget, resume,
and report sizes, curves and dev WERs side by side."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchaudio")

from helpers import make_tiny_corpus  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import size_pilots  # noqa: E402

TINY = ["pred_embed=16", "specaug=false", "warmup=2", "log_every=1", "threads=1", "max_frames=400",
        "eval_every=2"]


def test_parse_size():
    assert size_pilots.parse_size("4x448:320") == {"enc_layers": 4, "enc_hidden": 448, "pred_hidden": 320,
                                                  "joiner_dim": 320}
    assert size_pilots.parse_size("2x32")["pred_hidden"] == 256
    assert "pred_context" not in size_pilots.parse_size("2x32")
    assert size_pilots.parse_size("4x288:320s2") == {"enc_layers": 4, "enc_hidden": 288, "pred_hidden": 320,
                                                     "joiner_dim": 320, "pred_context": 2}
    for bad in ("4x288s0", "4x288s9"):
        with pytest.raises(Exception, match="sN takes N = 1..8"):
            size_pilots.parse_size(bad)
    with pytest.raises(SystemExit) as e:  # a usage error, not a traceback
        size_pilots.main(["--sizes", "4x288s0", "--steps", "1"])
    assert e.value.code == 2
    with pytest.raises(Exception, match="LAYERSxUNITS"):
        size_pilots.parse_size("448")


def test_two_sizes_train_resume_and_report(tmp_path):
    corpus = make_tiny_corpus(tmp_path / "corpus", ["turn on the light", "what time is it", "play some music",
                                                     "stop", "yes please", "go home"])
    report = tmp_path / "pilots"
    argv = ["--steps", "3", "--sizes", "2x16:16", "3x24:16", "--data", str(corpus), "--tokenizer-from", "data",
            "--out", str(tmp_path / "runs"), "--report", str(report), "--dev", str(corpus / "dev.jsonl"), "--dev-limit", "2", "--set", *TINY]
    assert size_pilots.main(argv) == 0
    rep = json.loads(report.with_suffix(".json").read_text())
    a, b = rep["pilots"]
    assert (a["size"], a["enc_layers"], a["enc_hidden"]) == ("2x16:16", 2, 16)
    assert a["params"] < b["params"]  # the sizes are what they say
    assert a["steps"] == b["steps"] == 3 and a["audio_hours"] > 0
    assert a["curve"] and all(0 <= p[2] for p in a["curve"])  # the trainer's dev WER along the run
    dev = str(corpus / "dev.jsonl")
    assert set(a["dev"]) == {dev} and a["dev"][dev]["utterances"] == 2
    assert all(p["dev"][dev]["loss_per_piece"] > 0 for p in (a, b))
    md = report.with_suffix(".md").read_text()
    assert "2x16:16" in md and "3x24:16" in md and rep["command"] in md
    assert report.with_suffix(".png").stat().st_size > 0
    # (an untrained model writes up to 3 pieces a frame, which torch's greedy search decodes
    # slowly: two dev utterances)
    # a rerun resumes each pilot (its saved recipe) and trains up to the new step budget
    assert size_pilots.main([*argv[:1], "5", *argv[2:]]) == 0
    rep = json.loads(report.with_suffix(".json").read_text())
    assert [p["steps"] for p in rep["pilots"]] == [5, 5]

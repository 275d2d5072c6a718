"""benchmarks/hotwords.py: per source, its clips with its own phrase list at each score, as
`nnasr eval --hotwords` measures them, written as JSON and a markdown table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import soundfile as sf
from helpers import make_random_model, speechlike

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import hotwords as bench  # noqa: E402


def test_the_benchmark_measures_as_nnasr_eval(tmp_path, capsys):
    from app.cli import main

    model = make_random_model(tmp_path / "peaky.nnasr", seed=1, enc_gain=2.0, blank_bias=0.5, out_gain=16.0)
    human = tmp_path / "human"
    human.mkdir()
    lines = []
    for i, text in enumerate(("good morning", "play some music")):
        sf.write(human / f"{i}.wav", speechlike(2.0, seed=i), 16000)
        lines.append(json.dumps({"audio_filepath": f"{i}.wav", "text": text, "duration": 2.0}))
    (human / "dev.fake.jsonl").write_text("\n".join(lines) + "\n")
    (human / "phrases.fake.txt").write_text("good morning\nplay some music\n")
    out = tmp_path / "res"
    assert bench.main(["--model", str(model), "--human", str(human), "--scores", "0", "4", "--no-lead",
                       "--open", "none", "--out", str(out)]) == 0
    d = json.loads(out.with_suffix(".json").read_text())
    assert [(r["set"], r["score"]) for r in d["rows"]] == [("fake dev", 0), ("fake dev", 4)]
    md = out.with_suffix(".md").read_text()
    assert "| fake dev | its 2 phrases |" in md and "--no-lead" in md
    capsys.readouterr()
    for row in d["rows"]:  # the same figures as the command a user would run
        extra = ["--hotwords", str(human / "phrases.fake.txt"), "--hotword-score", "4"] if row["score"] else []
        assert main(["eval", "--model", str(model), "--manifest", str(human / "dev.fake.jsonl"), "--beam", "4",
                     "--json", str(tmp_path / "e.json"), *extra]) == 0
        assert json.loads((tmp_path / "e.json").read_text())["wer"] == pytest.approx(row["wer"], abs=1e-4)

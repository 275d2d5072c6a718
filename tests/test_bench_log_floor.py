"""benchmarks/log_floor.py: the share of speech the front-end's log floor erases grows as the
level falls, and the figures are those of the front-end itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from helpers import speechlike

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import log_floor as bench  # noqa: E402


def test_quieter_speech_loses_more_of_its_spectrum_to_the_floor(tmp_path, capsys):
    x = np.concatenate([np.zeros(8000, np.float32), 0.3 * speechlike(2.0, seed=4)])
    sf.write(tmp_path / "a.wav", x, 16000)
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio_filepath": "a.wav", "text": "x", "duration": 2.5}) + "\n")
    rows = bench.floored_share([{"audio_filepath": str(tmp_path / "a.wav")}], [0.0, -30.0, -60.0])
    assert [r["gain_db"] for r in rows] == [0.0, -30.0, -60.0]
    assert rows[0]["speech_frames"] > 50 and rows[0]["speech_frames"] == rows[2]["speech_frames"]
    shares = [r["floored"] for r in rows]
    assert shares[0] < shares[1] < shares[2] <= 1.0
    assert np.isclose(rows[0]["median_dbfs"] - rows[1]["median_dbfs"], 30.0, atol=0.01)
    assert bench.main(["--manifest", str(tmp_path / "m.jsonl"), "--gains", "0", "-60"]) == 0
    out = capsys.readouterr().out
    assert "1 clips" in out and "log floor 1e-06" in out and f"{100 * shares[2]:.1f}%" in out
    assert bench.main(["--manifest", str(tmp_path / "missing.jsonl")]) == 2
    lower = bench.floored_share([{"audio_filepath": str(tmp_path / "a.wav")}], [0.0, -30.0, -60.0], 1e-10)
    assert all(a["floored"] < b["floored"] for a, b in zip(lower, rows))  # a lower floor keeps more
    assert [a["speech_frames"] for a in lower] == [b["speech_frames"] for b in rows]
    assert bench.main(["--manifest", str(tmp_path / "m.jsonl"), "--gains", "0", "--floor", "1e-10"]) == 0
    assert "log floor 1e-10" in capsys.readouterr().out

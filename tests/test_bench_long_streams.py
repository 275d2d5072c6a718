"""benchmarks/long_streams.py: clips joined source by source into streams, with their texts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from helpers import speechlike

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import long_streams as bench  # noqa: E402


def test_streams_join_clips_of_one_source_with_their_texts(tmp_path, capsys):
    lines = []
    for i, src in enumerate(["a", "a", "a", "b"]):
        sf.write(tmp_path / f"{i}.wav", speechlike(1.0, seed=i), 16000, subtype="FLOAT")
        lines.append(json.dumps({"audio_filepath": f"{i}.wav", "text": f"w{i}", "duration": 1.0, "source": src}))
    (tmp_path / "dev.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "long"
    assert bench.main(["--manifest", str(tmp_path / "dev.jsonl"), "--out", str(out), "--seconds", "2",
                       "--gap", "0.5"]) == 0
    recs = [json.loads(x) for x in (out / "dev.jsonl").read_text().splitlines()]
    # a stream ends at 2 s or at a new source: [0, 1], [2], [3]
    assert [r["text"] for r in recs] == ["w0 w1", "w2", "w3"] and [r["clips"] for r in recs] == [2, 1, 1]
    x, rate = sf.read(recs[0]["audio_filepath"], dtype="float32")
    assert rate == 16000 and len(x) == 2 * (16000 + 8000)
    assert np.allclose(x[:16000], speechlike(1.0, seed=0), atol=1e-4) and not x[16000:24000].any()
    assert "3 streams" in capsys.readouterr().out
    (tmp_path / "empty.jsonl").write_text("")
    assert bench.main(["--manifest", str(tmp_path / "empty.jsonl"), "--out", str(out)]) == 2

"""Words invented on non-speech, with and without the engine's speech gate (engine/vad.py):
the table in docs/reliability.md.

    python benchmarks/nonspeech.py                          # every shipped model, greedy and beam 4
    python benchmarks/nonspeech.py --seconds 60 --models aat --beams 1
    python benchmarks/nonspeech.py --manifest data/corpus-aug/dev.jsonl   # + a corpus's empty clips

Signals (float, 16 kHz): digital silence; white and pink noise at -60, -45 and -35 dBFS
(RMS); 50 Hz mains hum with a third harmonic at -20 dBFS. With ``--manifest``, the clips of
a manifest whose text is empty (``nnasr synth``'s non-speech clips) are added, by kind.
Each cell: words in the transcript (``Stream.text``) without the gate -> with it.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from common import at_least, beam_list

RATE = 16000


def _scaled(x: np.ndarray, dbfs: float) -> np.ndarray:
    return (x / np.sqrt(np.mean(x**2)) * 10 ** (dbfs / 20)).astype(np.float32)


def signals(seconds: float) -> dict[str, np.ndarray]:
    n = int(seconds * RATE)
    rng = np.random.default_rng(0)
    out = {"silence": np.zeros(n, np.float32)}
    white = rng.standard_normal(n)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    pink = np.fft.irfft(spec / np.sqrt(f), n)
    for level in (-60, -45, -35):
        out[f"white {level}"] = _scaled(white, level)
    for level in (-60, -45, -35):
        out[f"pink {level}"] = _scaled(pink, level)
    t = np.arange(n) / RATE
    out["hum 50 Hz"] = _scaled(np.sin(2 * np.pi * 50 * t) + 0.3 * np.sin(2 * np.pi * 150 * t), -20)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="*", help="model names or files (default: every model found)")
    ap.add_argument("--beams", type=beam_list, default=[1, 4], help="beam widths (default 1,4)")
    ap.add_argument("--seconds", type=at_least(1.0), default=20.0, help="length of each signal (default 20)")
    ap.add_argument("--manifest", help="also the empty-text clips of this manifest, by kind (voice)")
    args = ap.parse_args(argv)

    import engine
    from app import models as M

    clips = {k: [v] for k, v in signals(args.seconds).items()}
    if args.manifest:
        from trainer.data.manifest import read_manifest

        for r in read_manifest(args.manifest):
            if not r["text"].strip():
                clips.setdefault(r["voice"], []).append(engine.load_audio(r["audio_filepath"], RATE))
    beams = args.beams
    paths = M.resolve_many(args.models)
    header = ["signal"] + [f"{p.stem} b{b}" for p in paths for b in beams]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    recs = {}
    for p in paths:
        model = engine.load_model(p)
        for b in beams:
            recs[(p.stem, b)] = {v: engine.Recognizer(model, beam=b, vad=v) for v in (False, True)}
    for name, xs in clips.items():
        row = [f"{name} ({len(xs)} clips)" if len(xs) > 1 else name]
        for p in paths:
            for b in beams:
                words = []
                for vad in (False, True):
                    n = 0
                    for x in xs:
                        s = recs[(p.stem, b)][vad].create_stream()
                        s.accept_waveform(x, RATE)
                        s.input_finished()
                        n += len(s.text.split())
                    words.append(n)
                row.append(f"{words[0]} → {words[1]}")
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How much of quiet speech the front-end's log floor erases.

    python benchmarks/log_floor.py --manifest data/corpus/dev.jsonl
    python benchmarks/log_floor.py --manifest data/human/dev.jsonl --gains 0 -10 -20 -30 --limit 0
    python benchmarks/log_floor.py --manifest data/corpus/dev.jsonl --floor 1e-10

The front-end takes ``log(max(mel power, log_floor))`` (``engine.frontend.FrontendConfig``,
1e-6). A mel cell at the floor carries nothing of the speech, and no normalization brings it
back. Per gain (dB, applied to every clip as ``nnasr eval --channel gain:G`` does), this
prints the clips' median RMS level (dBFS) and the share of mel cells at the floor in the
speech frames, the frames the speech detector (``engine.vad.CMN_SPEECH``) marks in the clip
as it is. ``--floor F`` measures another floor, as a model trained with ``--set log_floor=F``
(or ``init_log_floor=F``) has it. What the level costs a model: ``nnasr eval --model M
--manifest MANIFEST --channel gain:G``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def floored_share(records: list[dict], gains: list[float], log_floor: float = 0.0) -> list[dict]:
    """Per gain: ``gain_db``, ``median_dbfs`` and ``floored`` (share of speech-frame mel
    cells at the log floor, over all clips), ``speech_frames``. ``log_floor``: the front-end's
    floor (0: the engine's); the speech frames are those of the engine's front-end."""
    import numpy as np

    from engine.audio import load_audio
    from engine.frontend import FrontendConfig, compute_features
    from engine.vad import CMN_SPEECH, SpeechGate
    from trainer.data.audio import parse_channel

    fe = FrontendConfig()
    lf = FrontendConfig(log_floor=log_floor) if log_floor else fe
    floor = np.float32(np.log(lf.log_floor))
    rows = {g: {"levels": [], "cells": 0, "floored": 0} for g in dict.fromkeys(gains)}
    for r in records:
        x = load_audio(r["audio_filepath"])
        speech = SpeechGate(CMN_SPEECH, fe).speech(compute_features(x, fe))
        for g in gains:
            y = parse_channel(f"gain:{g}")(x, fe.sample_rate)  # as `nnasr eval --channel gain:G`
            f = compute_features(y, lf)[speech]
            rows[g]["levels"].append(10 * np.log10(np.mean(np.square(y, dtype=np.float64)) + 1e-20))
            rows[g]["cells"] += f.size
            rows[g]["floored"] += int((f <= floor).sum())
    return [{"gain_db": g, "median_dbfs": float(np.median(v["levels"])) if v["levels"] else float("nan"),
             "floored": v["floored"] / max(v["cells"], 1), "speech_frames": v["cells"] // fe.n_mels}
            for g, v in rows.items()]


def main(argv=None) -> int:
    from app.models import gain_db

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--manifest", required=True, help="JSONL manifest (audio_filepath per line)")
    p.add_argument("--gains", type=gain_db, nargs="+", default=[0.0, -10.0, -20.0, -30.0], metavar="DB",
                   help="levels to measure, dB (-60..60; default 0 -10 -20 -30)")
    p.add_argument("--limit", type=int, default=100, help="first N clips (0: all; default 100)")
    p.add_argument("--floor", type=float, default=0.0, metavar="F",
                   help="the front-end's floor on mel power to measure (0 < F < 1; default the engine's, 1e-6)")
    args = p.parse_args(argv)
    if args.limit < 0:
        p.error(f"--limit must be 0 (all) or more, got {args.limit}")
    if not (args.floor == 0 or 0 < args.floor < 1):
        p.error(f"--floor must be between 0 and 1, e.g. 1e-10; got {args.floor:g}")
    from trainer.data.manifest import read_manifest

    try:
        records = read_manifest(Path(args.manifest))
    except (OSError, ValueError) as e:
        print(f"log_floor: error: {e}", file=sys.stderr)
        return 2
    records = records[: args.limit] if args.limit else records
    if not records:
        print(f"log_floor: error: {args.manifest}: manifest has no entries", file=sys.stderr)
        return 2
    from engine.frontend import FrontendConfig

    print(f"{len(records)} clips of {args.manifest}; log floor {args.floor or FrontendConfig().log_floor:g}")
    print(f"{'gain dB':>8} {'median dBFS':>12} {'speech cells at the floor':>26}")
    for row in floored_share(records, args.gains, args.floor):
        print(f"{row['gain_db']:>8g} {row['median_dbfs']:>12.1f} {100 * row['floored']:>25.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())

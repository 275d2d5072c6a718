"""Long streams from short clips: a manifest's clips joined, source by source, into streams
of about ``--seconds`` with ``--gap`` seconds of silence between them, as a microphone
hears one speaker after another pause.

    python benchmarks/long_streams.py --manifest data/human/dev.jsonl --out data/human-long
    nnasr eval --model aat --manifest data/human-long/dev.jsonl --beam 4      # one utterance a stream
    nnasr compare -q --models aat --manifest data/human-long/dev.jsonl        # endpointing, as the apps

Clips are taken in the manifest's order; a stream ends at a change of ``source`` (or
``voice`` where there is no source) or once it is ``--seconds`` long. Each stream's text is
its clips' texts joined. Writes ``OUT/audio/longNNN.wav`` (16 kHz mono PCM) and
``OUT/dev.jsonl`` (the manifest's file name), each atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def join(records: list[dict], seconds: float, gap: float) -> list[list[dict]]:
    """The records grouped into streams (see the module docstring)."""
    groups: list[list[dict]] = []
    cur: list[dict] = []
    dur = 0.0
    for r in records:
        who = r.get("source", r.get("voice"))
        if cur and (who != cur[-1].get("source", cur[-1].get("voice")) or dur >= seconds):
            groups.append(cur)
            cur, dur = [], 0.0
        cur.append(r)
        dur += float(r["duration"]) + gap
    if cur:
        groups.append(cur)
    return groups


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--manifest", required=True, help="JSONL manifest of short clips")
    p.add_argument("--out", required=True, help="directory for the streams and their manifest")
    p.add_argument("--seconds", type=float, default=30.0, help="a stream's length, about (default 30)")
    p.add_argument("--gap", type=float, default=0.3, help="silence between clips, s (default 0.3)")
    args = p.parse_args(argv)
    if not (args.seconds > 0 and 0 <= args.gap <= 60):
        p.error("--seconds must be above 0 and --gap within 0..60")
    import numpy as np

    from engine.audio import load_audio
    from trainer.data.audio import write_wav_atomic
    from trainer.data.manifest import read_manifest, write_text_atomic

    try:
        records = read_manifest(Path(args.manifest))
    except (OSError, ValueError) as e:
        print(f"long_streams: error: {e}", file=sys.stderr)
        return 2
    if not records:
        print(f"long_streams: error: {args.manifest}: manifest has no entries", file=sys.stderr)
        return 2
    out = Path(args.out)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    gap = np.zeros(int(round(args.gap * 16000)), np.float32)
    lines = []
    for i, g in enumerate(join(records, args.seconds, args.gap)):
        x = np.concatenate([np.concatenate([load_audio(r["audio_filepath"], 16000), gap]) for r in g])
        wav = out / "audio" / f"long{i:03d}.wav"
        write_wav_atomic(str(wav), x)
        lines.append(json.dumps({"audio_filepath": str(wav.resolve()), "text": " ".join(r["text"] for r in g),
                                 "duration": round(len(x) / 16000, 3), "clips": len(g),
                                 "source": g[0].get("source", g[0].get("voice", ""))}))
    target = out / Path(args.manifest).name
    write_text_atomic(target, "\n".join(lines) + "\n")
    total = sum(json.loads(line)["duration"] for line in lines)
    print(f"{len(lines)} streams, {total / 60:.1f} min, from {len(records)} clips -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A seen-voice test set: the test split's *sentences* spoken by *training* voices.

    python benchmarks/make_seen_voice_test.py --data data/corpus --n 200

The corpus's test split is speaker-disjoint (unseen voices). This set isolates the other
half of generalization: unseen sentences from voices the model trained on. Writes
``DATA/test-seen-voices.jsonl`` and audio under ``DATA/audio/test-seen/`` (no augmentation).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

from common import at_least

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/corpus")
    ap.add_argument("--n", type=at_least(1, int), default=200, help="clips (default 200)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import soundfile as sf

    from engine.audio import resample
    from trainer.data.manifest import read_manifest, write_manifest
    from trainer.data.voices import discover_voices, make_tmpdir, synth_one

    data = Path(args.data)
    corpus = json.loads((data / "corpus.json").read_text())
    train_voices = set(corpus["splits"]["train"]["voices"])
    voices = [v for v in discover_voices()[0] if v.id in train_voices and v.engine != "festival"]
    rng = random.Random(args.seed)
    # speech only: the test split's non-speech clips (empty text) are scored there
    test = [r for r in read_manifest(data / "test.jsonl") if r["text"].strip()][: args.n]
    out_dir = data / "audio" / "test-seen"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = make_tmpdir()
    recs = []
    for i, r in enumerate(test):
        v = rng.choice(voices)
        key = hashlib.sha1(f"{v.id}|{r['text']}".encode()).hexdigest()[:12]
        wav = out_dir / f"seen_{i:05d}_{key}.wav"  # named by its voice and text: never stale
        if not wav.exists():
            x, sr = synth_one(v, r["text"], 1.0, 1.0, tmp)
            x = resample(x, sr, 16000)
            sf.write(wav, x, 16000, subtype="PCM_16")
        recs.append({"audio_filepath": str(wav.resolve()), "text": r["text"],
                     "duration": sf.info(wav).duration, "voice": v.id})
    write_manifest(data / "test-seen-voices.jsonl", recs)
    print(f"wrote {len(recs)} utterances to {data / 'test-seen-voices.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training-step time on this machine, RNN-T loss by torchaudio vs by torch ops, side by side.

Both losses train the same model on the same batches of a real corpus (the trainer's own
length-bucketed batches, collate and loss): each batch is stepped once per implementation,
alternating which goes first, from the same weights, so machine noise hits both alike.
Reports medians and their ratio, and the audio seconds trained per second.

    python benchmarks/train_speed.py --data data/corpus --init assets/checkpoints/float.pt
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/corpus", help="corpus directory (train.jsonl, tokenizer.model)")
    p.add_argument("--init", default="assets/checkpoints/float.pt", help="checkpoint whose model is trained")
    p.add_argument("--batches", type=int, default=12, help="batches timed per implementation")
    p.add_argument("--max-frames", type=int, default=16000, help="feature frames per batch (as --set max_frames)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    args = p.parse_args(argv)

    import numpy as np
    import sentencepiece as spm
    import torch

    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.dataset import load_features, make_batches
    from trainer.train import collate, compute_loss

    torch.backends.mkldnn.enabled = False  # CPU LSTM: ~25x faster without it (docs/training.md)
    if args.threads:
        torch.set_num_threads(args.threads)
    sp = spm.SentencePieceProcessor(model_file=str(Path(args.data) / "tokenizer.model"))
    fs = load_features(Path(args.data) / "train.jsonl", sp)
    lengths = np.diff(fs.offsets)
    batches = make_batches(lengths, args.max_frames, seed=0, epoch=0, shortest_first=False)[: args.batches + 1]
    base = model_from_checkpoint(load_checkpoint(args.init)).train()
    impls = ("torchaudio", "torch")
    models = {k: copy.deepcopy(base) for k in impls}
    opts = {k: torch.optim.AdamW(models[k].parameters(), lr=1e-5) for k in impls}
    times: dict[str, list[float]] = {k: [] for k in impls}
    audio_s = []
    for i, idx in enumerate(batches):
        x, lens, y, yl = collate(fs, idx, torch.device("cpu"))
        order = impls if i % 2 == 0 else impls[::-1]
        for k in order:
            models[k].load_state_dict(base.state_dict())
            t0 = time.perf_counter()
            loss, _, _ = compute_loss(models[k], x, lens, y, yl, 0.3, k)
            opts[k].zero_grad()
            loss.backward()
            opts[k].step()
            dt = time.perf_counter() - t0
            if i:  # the first batch warms up both
                times[k].append(dt)
        if i:
            audio_s.append(float(lens.sum()) / 100.0)
        print(f"batch {i}: {len(idx)} utts, " + ", ".join(f"{k} {times[k][-1]:.2f} s" for k in impls if i),
              flush=True)
    med = {k: statistics.median(times[k]) for k in impls}
    a = statistics.median(audio_s)
    print(f"\nmedian step over {len(audio_s)} batches (median {a:.0f} s of audio, torch threads "
          f"{torch.get_num_threads()}):")
    for k in impls:
        print(f"  rnnt loss {k:<10} {med[k]:.3f} s/step  {a / med[k]:6.1f} s of audio per s")
    print(f"  speed-up torch ops / torchaudio: {med['torchaudio'] / med['torch']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

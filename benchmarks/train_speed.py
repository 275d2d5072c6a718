"""Training-step time on this machine for the CPU recipe's options, side by side.

Modes: the RNN-T loss by torchaudio or by torch ops (``trainer/rnnt_loss.py``; under bf16 also
with autograd's log-softmax gradient, ``torch-autograd``, in place of its hand-written one), in fp32 or
under bf16 autocast (with oneDNN, as the trainer runs it on CPUs with bf16 units), and on the
pruned lattice (``--windows``: ``rnnt_window``, the joiner and loss at that many label positions
per frame; its mean loss shows what the windows leave out). Every mode
trains the same model on the same batches of a real corpus (the trainer's own length-bucketed
batches, collate and loss): each batch is stepped once per mode, rotating which goes first,
from the same weights, so machine noise hits all alike. Reports medians, their ratio to the
first mode, and the audio seconds trained per second.

    python benchmarks/train_speed.py --data data/corpus --init assets/checkpoints/float.pt
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

from common import at_least


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/corpus", help="corpus directory (train.jsonl, tokenizer.model)")
    p.add_argument("--init", default="assets/checkpoints/float.pt", help="checkpoint whose model is trained")
    p.add_argument("--batches", type=at_least(1, int), default=12, help="batches timed per implementation")
    p.add_argument("--max-frames", type=int, default=16000, help="feature frames per batch (as --set max_frames)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--windows", type=int, nargs="*", default=[8],
                   help="rnnt_window sizes timed too, torch loss (bf16 where the CPU has it); none: --windows")
    args = p.parse_args(argv)

    import numpy as np
    import sentencepiece as spm
    import torch

    from trainer.checkpoint import (
        checkpoint_frontend,
        load_checkpoint,
        model_from_checkpoint,
        tokenizer_from_tensor,
    )
    from trainer.config import cpu_has_bf16_units
    from trainer.dataset import collate, load_features, make_batches
    from trainer.loss import compute_loss

    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = load_checkpoint(args.init)
    sp = spm.SentencePieceProcessor(model_proto=tokenizer_from_tensor(ckpt["tokenizer"]))  # the model's pieces
    fs = load_features(Path(args.data) / "train.jsonl", sp, checkpoint_frontend(ckpt))
    lengths = np.diff(fs.offsets)
    batches = make_batches(lengths, args.max_frames, seed=0, epoch=0, shortest_first=False)[: args.batches + 1]
    base = model_from_checkpoint(ckpt).train()
    bf16 = cpu_has_bf16_units()
    modes = [("torchaudio", False, 0), ("torch", False, 0)]  # (RNN-T loss, bf16 autocast, window)
    if bf16:
        modes += [("torch-autograd", True, 0), ("torch", True, 0)]
    modes += [("torch", bf16, w) for w in args.windows]
    name = {m: f"{m[0]} loss, {'bf16' if m[1] else 'fp32'}" + (f", window {m[2]}" if m[2] else "") for m in modes}
    models = {m: copy.deepcopy(base) for m in modes}
    opts = {m: torch.optim.AdamW(models[m].parameters(), lr=1e-5) for m in modes}
    times: dict = {m: [] for m in modes}
    losses: dict = {m: [] for m in modes}
    audio_s = []
    for i, idx in enumerate(batches):
        x, lens, y, yl = collate(fs, idx, torch.device("cpu"))
        order = modes[i % len(modes):] + modes[: i % len(modes)]
        for m in order:
            models[m].load_state_dict(base.state_dict())
            # oneDNN on for bf16 (its AMX GEMMs), off for fp32: as the trainer runs each
            with torch.backends.mkldnn.flags(enabled=m[1]):
                t0 = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=m[1]):
                    loss, rnnt, _, _ = compute_loss(models[m], x, lens, y, yl, 0.3, m[0], rnnt_window=m[2])
                opts[m].zero_grad()
                loss.backward()
                opts[m].step()
                dt = time.perf_counter() - t0
            if i:  # the first batch warms every mode up
                times[m].append(dt)
                losses[m].append(float(rnnt))
        if i:
            audio_s.append(float(lens.sum()) / 100.0)
            print(f"batch {i}: {len(idx)} utts, " + ", ".join(f"{name[m]} {times[m][-1]:.2f} s" for m in modes),
                  flush=True)
    med = {m: statistics.median(times[m]) for m in modes}
    a = statistics.median(audio_s)
    print(f"\nmedian step over {len(audio_s)} batches (median {a:.0f} s of audio, torch threads "
          f"{torch.get_num_threads()}):")
    for m in modes:
        print(f"  {name[m]:<38} {med[m]:.3f} s/step  {a / med[m]:6.1f} s of audio per s  "
              f"{med[modes[0]] / med[m]:.2f}x  (mean RNN-T loss {statistics.mean(losses[m]):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Checkpoints: a plain dict of tensors and primitives (nanoGPT style), written atomically,
read with ``torch.load(weights_only=True)`` (nothing is unpickled beyond tensors)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from engine.frontend import FrontendConfig
from engine.model import Architecture

from .model import RNNT


def save_checkpoint(path: str | os.PathLike, ckpt: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable nnasr checkpoint ({type(e).__name__}: {e})") from None


def tokenizer_to_tensor(proto: bytes) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(proto, dtype=np.uint8).copy())


def tokenizer_from_tensor(t: torch.Tensor) -> bytes:
    return bytes(t.cpu().numpy().astype(np.uint8).tobytes())


def checkpoint_frontend(ckpt: dict) -> FrontendConfig:
    """The front-end a checkpoint's model was trained on: its ``frontend`` entry, or the
    engine's default for checkpoints written before they carried one."""
    if "frontend" in ckpt:
        return FrontendConfig(**ckpt["frontend"])
    return FrontendConfig(n_mels=int(ckpt["arch"].get("n_mels", FrontendConfig.n_mels)))


def model_from_checkpoint(ckpt: dict, device="cpu") -> RNNT:
    arch = Architecture(**ckpt["arch"])
    model = RNNT(arch, checkpoint_frontend(ckpt))
    if "ctc_inter.layer" in ckpt["model"]:  # trained with an intermediate CTC loss
        model.add_inter_ctc(int(ckpt["model"]["ctc_inter.layer"]))
    missing, unexpected = model.load_state_dict(ckpt["model"], strict=False)
    bad = [k for k in missing if not k.startswith("ctc.")] + list(unexpected)
    if bad:
        raise ValueError(f"checkpoint does not match the model: {bad[:5]}")
    return model.to(device)


def average_snapshots(ckpt: dict, run_dir: str | os.PathLike, k: int) -> tuple[dict, list[int]]:
    """Replace ``ckpt['model']`` by the mean of the newest ``k`` snapshots of ``run_dir``
    (float tensors averaged; integer buffers taken from the newest). Returns (ckpt, steps)."""
    snaps = sorted(Path(run_dir, "snapshots").glob("step-*.pt"))[-k:]
    if not snaps:
        raise FileNotFoundError(f"{run_dir}/snapshots: no snapshots to average")
    states = [load_checkpoint(p) for p in snaps]
    avg = {}
    for name, v in states[-1]["model"].items():
        if v.is_floating_point():
            avg[name] = sum(s["model"][name].double() for s in states).div(len(states)).to(v.dtype)
        else:
            avg[name] = v
    return {**ckpt, "model": avg}, [int(s["step"]) for s in states]


def compact_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, average: int = 0) -> Path:
    """Write ``src`` without its optimizer state (about a third of the size): what the
    repository keeps. ``nnasr train --resume`` on it continues from its step, history and
    wall time with a fresh AdamW and a short LR re-warm-up. ``average=K``: the weights are
    the mean of the run's newest K snapshots (checkpoint averaging; their steps are kept
    in ``averaged_steps``)."""
    ck = load_checkpoint(src)
    ck.pop("optimizer", None)
    if average:
        ck, steps = average_snapshots(ck, Path(src).parent, average)
        ck["averaged_steps"] = steps
    return save_checkpoint(dst, ck)


if __name__ == "__main__":  # python -m trainer.checkpoint compact SRC DST [--average K]
    import argparse

    ap = argparse.ArgumentParser(prog="python -m trainer.checkpoint",
                                 description="compact: a checkpoint without optimizer state, as the repository keeps it")
    ap.add_argument("command", choices=["compact"])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--average", type=int, default=0, metavar="K",
                    help="weights = mean of the newest K snapshots of SRC's run (SRC_DIR/snapshots)")
    a = ap.parse_args()
    p = compact_checkpoint(a.src, a.dst, a.average)
    print(f"{p}: {p.stat().st_size / 1e6:.1f} MB")

"""Pruner machinery shared by both methods, and the baseline: gradual magnitude pruning.

A pruner owns one boolean mask per prunable weight matrix (``RNNT.prunable()``, by engine
tensor name). The training loop calls ``before_step(step)`` (prune when the schedule's
target sparsity rises), ``loss_term()`` (added to the ASR loss), and ``after_step(step)``
(``W *= mask`` after the optimizer step, so a pruned weight is exactly zero in every
forward and in the export). Masks only ever lose entries: a new mask is chosen inside the
current one (the first masks are ``W != 0``: all ones for a dense start, the existing
zeros when fine-tuning an already pruned checkpoint with ``--init``). Its state (masks,
CSP targets, the log) is a dict of tensors, numbers and strings, so checkpoints stay
loadable with ``torch.load(weights_only=True)`` and ``--resume`` keeps the masks.

Which matrices are pruned, and to what sparsity, is the ``layers`` spec: comma-separated
items, each a tensor-name prefix (``enc``, ``pred``, ``join``, ``enc.0``, ``join.out.w``,
``all``) or a shell-style pattern (``enc.*.wh``: every encoder layer's recurrent matrix),
optionally with ``=S`` (its own final sparsity; otherwise ``cfg.sparsity``);
later items override earlier ones. Default ``all``: every matrix of ``RNNT.prunable()``
(encoder and predictor LSTM input and recurrent matrices, or a stateless predictor's one
matrix, the three joiner matrices),
each to ``cfg.sparsity`` (layer-wise uniform). The embedding table is never pruned (a
lookup, one row read per token).
"""

from __future__ import annotations

import dataclasses
import json
import time
from fnmatch import fnmatchcase

import torch

from engine.arch import state_key

from .schedule import Schedule, n_zeros

DEFAULT_LAYERS = "all"


def parse_layers(spec: str, names: list[str], default: float) -> dict[str, float]:
    """``"enc=0.8,enc.*.wh=0.9,pred,join.out.w=0.5"`` -> {tensor name: final sparsity} for the
    matched names (later items override earlier ones)."""
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in (spec or DEFAULT_LAYERS).split(","))):
        key, _, val = item.partition("=")
        key = key.strip()
        s = float(val) if val else float(default)
        if not 0.0 <= s < 1.0:
            raise ValueError(f"prune layers: sparsity of {key!r} must be in [0, 1), got {s}")
        # a name, a prefix ending at a dot, or a pattern: one rule for all three
        hits = [n for n in names if key == "all" or fnmatchcase(n, key) or fnmatchcase(n, key + ".*")]
        if not hits:
            raise ValueError(f"prune layers: {key!r} matches no prunable matrix ({', '.join(names)})")
        for n in hits:
            out[n] = s
    return {n: s for n, s in out.items() if s > 0}


def _dist():
    d = torch.distributed
    return d if d.is_available() and d.is_initialized() and d.get_world_size() > 1 else None


class Pruner:
    """Gradual pruning with the Zhu & Gupta cubic schedule; subclasses choose the masks."""

    method = "base"

    def __init__(self, cfg, model, train_fs=None, device=None, layers: str | None = None,
                 verbose: bool = True) -> None:
        self.cfg = cfg
        self.model = model
        self.train_fs = train_fs
        self.device = device or next(model.parameters()).device
        self.verbose = verbose
        prunable = model.prunable()
        spec = layers if layers is not None else getattr(cfg, "prune_layers", DEFAULT_LAYERS)
        self.final = parse_layers(spec, list(prunable), cfg.sparsity)
        self.params: dict[str, torch.nn.Parameter] = {n: prunable[n] for n in self.final}
        base = Schedule.from_config(cfg)
        self.schedules = {n: dataclasses.replace(base, final=s) for n, s in self.final.items()}
        self.schedule = base
        # a checkpoint that is already sparse (e.g. --init from a pruned run) keeps its zeros
        self.masks = {n: p.detach() != 0 for n, p in self.params.items()}
        self.last_step = -1  # last step that pruned
        self._checked: int | None = None  # schedule point last checked by before_step
        self.log: list[dict] = []

    # --- schedule ----------------------------------------------------------------------
    def keep_at(self, step: int) -> dict[str, int]:
        """Non-zeros each matrix may keep at ``step`` (never more than its mask has now)."""
        out = {}
        for n, p in self.params.items():
            k = p.numel() - n_zeros(p.numel(), self.schedules[n].sparsity(step))
            out[n] = min(k, int(self.masks[n].sum()))
        return out

    def sparsity(self) -> dict[str, float]:
        """Current sparsity of every pruned matrix (by its mask)."""
        return {n: 1.0 - int(m.sum()) / m.numel() for n, m in self.masks.items()}

    # --- hooks called by the training loop ----------------------------------------------
    def before_step(self, step: int) -> None:
        point = self.schedule.last_point(step)
        if point is None or point == self._checked:
            return  # the schedule's target has not changed since the last check
        self._checked = point
        keep = self.keep_at(step)
        if not any(keep[n] < int(self.masks[n].sum()) for n in keep):
            return
        t0 = time.time()
        info = self.prune(step, keep)
        d = _dist()
        if d is not None:  # every rank uses rank 0's masks (and targets)
            for n in self.masks:
                m = self.masks[n].to(torch.uint8)
                d.broadcast(m, 0)
                self.masks[n] = m.bool()
            for t in getattr(self, "targets", {}).values():
                d.broadcast(t, 0)
        self.commit()
        self.last_step = step
        sp = self.sparsity()
        total = sum(m.numel() for m in self.masks.values())
        overall = sum(sp[n] * self.masks[n].numel() for n in sp) / max(total, 1)
        entry = {"step": step, "sparsity": round(overall, 5), "seconds": round(time.time() - t0, 2),
                 **(info or {})}
        self.log.append(entry)
        if self.verbose and (d is None or d.get_rank() == 0):
            extra = " ".join(f"{k}={v}" for k, v in entry.items() if k not in ("step", "sparsity", "seconds"))
            print(f"prune[{self.method}] step {step}: sparsity {overall:.3f} "
                  f"({entry['seconds']:.1f} s) {extra}".rstrip(), flush=True)

    def loss_term(self) -> torch.Tensor:
        return torch.zeros((), device=self.device)

    def after_step(self, step: int) -> None:
        self.apply_masks()

    def commit(self) -> None:
        """After a pruning step (masks agreed by all ranks): make the weights follow."""
        self.apply_masks()

    @torch.no_grad()
    def apply_masks(self) -> None:
        for n, p in self.params.items():
            p.mul_(self.masks[n].to(p.dtype))

    def prune(self, step: int, keep: dict[str, int]) -> dict | None:
        raise NotImplementedError

    # --- checkpoints --------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "method": self.method,
            "masks": {n: m.detach().cpu().clone() for n, m in self.masks.items()},
            "final": {n: float(s) for n, s in self.final.items()},
            "last_step": int(self.last_step),
            "log": json.dumps(self.log),
        }

    def load_state_dict(self, d: dict) -> None:
        if d.get("method", self.method) != self.method:
            print(f"prune: checkpoint masks were made by {d.get('method')!r}, continuing with "
                  f"{self.method!r} (masks kept)", flush=True)
        for n, m in d.get("masks", {}).items():
            if n not in self.masks:
                raise ValueError(f"prune state has a mask for {n!r}, which this run does not prune")
            if tuple(m.shape) != tuple(self.masks[n].shape):
                raise ValueError(f"prune state: mask {n} has shape {tuple(m.shape)}, "
                                 f"expected {tuple(self.masks[n].shape)}")
            self.masks[n] = m.to(self.device, dtype=torch.bool)
        self.last_step = int(d.get("last_step", -1))
        self.log = json.loads(d.get("log", "[]"))
        self.apply_masks()


class MagnitudePruner(Pruner):
    """Baseline: at each pruning step keep the ``k`` largest ``|w|`` of each matrix (inside
    its current mask); no extra loss term."""

    method = "magnitude"

    @torch.no_grad()
    def prune(self, step: int, keep: dict[str, int]) -> dict:
        for n, p in self.params.items():
            self.masks[n] = magnitude_mask(p.detach(), keep[n], self.masks[n])
        return {}


def magnitude_mask(w: torch.Tensor, k: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask of the ``k`` largest ``|w|`` (exactly k; only inside ``mask``)."""
    score = w.detach().abs().float().flatten()
    if mask is not None:
        score = score.masked_fill(~mask.flatten(), -1.0)
    out = torch.zeros(score.numel(), dtype=torch.bool, device=w.device)
    if k > 0:
        out[torch.topk(score, k, sorted=False).indices] = True
    return out.view_as(w)


def mask_state_dict(state: dict, prune_state: dict) -> dict:
    """``state`` (a model state dict) with the masks of ``prune_state`` (a checkpoint's
    ``"prune"`` entry) applied: for weights that were not trained under the final masks,
    e.g. an average of snapshots taken across pruning steps."""
    out = dict(state)
    for n, m in prune_state.get("masks", {}).items():
        k = state_key(n)
        out[k] = state[k] * m.to(state[k].device, state[k].dtype)
    return out

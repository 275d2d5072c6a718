"""Torch mirror of the engine's fixed-point rules (``engine/nna/fixedpoint.py``, ``lut.py``).

Same formulas, on int64 tensors, so that the training forward computes the same integers
as the engine. Constants come from the :class:`engine.nna.spec.NNASpec`; multipliers and
weight scales are computed by the engine's own numpy functions (``engine.quantize``), so
export and emulation cannot drift apart. Parity is tested in ``tests/test_aat_parity.py``.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.nna.fixedpoint import quantize_multipliers
from engine.nna.lut import build_lut
from engine.nna.spec import NNASpec

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def saturate(x: torch.Tensor, bits: int) -> torch.Tensor:
    return x.clamp(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def saturate_symmetric(x: torch.Tensor, bits: int) -> torch.Tensor:
    q = (1 << (bits - 1)) - 1
    return x.clamp(-q, q)


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """float64 -> int64, ties away from zero (the spec's rounding)."""
    x = x.double()
    a = x.abs()
    f = torch.floor(a)
    f = f + ((a - f) >= 0.5).double()  # exact, unlike floor(a + 0.5) (see engine)
    f = torch.clamp(f, max=2.0**62)
    return torch.copysign(f, x).long()


def srdhm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = torch.where(ab >= 0, torch.full_like(ab, 1 << 30), torch.full_like(ab, 1 - (1 << 30)))
    num = ab + nudge
    q = torch.where(num >= 0, num >> 31, -((-num) >> 31))
    return torch.where(overflow, torch.full_like(q, INT32_MAX), q)


def rounding_shift_right(x: torch.Tensor, e: torch.Tensor | int) -> torch.Tensor:
    e = torch.as_tensor(e, dtype=torch.int64, device=x.device)
    mask = (torch.ones_like(e) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).long()
    return (x >> e) + (remainder > threshold).long()


def requantize(acc: torch.Tensor, m: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    left = torch.clamp(-shift, min=0)
    right = torch.clamp(shift, min=0)
    x = torch.clamp(acc << left, INT32_MIN, INT32_MAX)
    return rounding_shift_right(srdhm(x, m), right)


def multipliers(real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Q0.31 multipliers and shifts, computed by the engine's own function."""
    m, s = quantize_multipliers(real.detach().double().cpu().numpy())
    dev = real.device
    return torch.from_numpy(m).to(dev), torch.from_numpy(s).to(dev)


class LUT:
    """The spec's sigmoid/tanh tables on a device, evaluated as ``engine.nna.lut``."""

    def __init__(self, spec: NNASpec, device=None) -> None:
        self.spec = spec
        self.k = spec.lut_shift
        self.tables = {
            n: torch.from_numpy(np.array(build_lut(n, spec), dtype=np.int64)).to(device)
            for n in ("sigmoid", "tanh")
        }

    def to(self, device) -> LUT:
        for n in self.tables:
            self.tables[n] = self.tables[n].to(device)
        return self

    def __call__(self, name: str, x: torch.Tensor) -> torch.Tensor:
        t = self.tables[name]
        if t.device != x.device:
            t = self.tables[name] = t.to(x.device)
        k = self.k
        u = x + 32768
        idx = u >> k
        frac = u & ((1 << k) - 1)
        lo = t[idx]
        hi = t[torch.clamp(idx + 1, max=len(t) - 1)]
        return lo + (((hi - lo) * frac + (1 << (k - 1))) >> k)

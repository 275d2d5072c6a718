"""The engine's fixed-point rules (``engine/nna/fixedpoint.py``, ``lut.py``, ``cells.py``)
bound to torch: the same functions, run on int64 tensors with ``xp=torch``, so the
training forward computes the same integers as the engine. Constants come from the
:class:`engine.nna.spec.NNASpec`; multipliers and weight scales are computed by the
engine's own numpy functions (``engine.quantize``), so export and emulation cannot drift
apart. Parity: ``tests/test_aat_ops.py`` and ``tests/test_trainer.py``.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.nna import cells
from engine.nna import fixedpoint as fp
from engine.nna.lut import FUNCTIONS, build_lut, lut_apply
from engine.nna.spec import NNASpec

INT32_MIN = fp.INT32_MIN
INT32_MAX = fp.INT32_MAX


def saturate(x: torch.Tensor, bits: int) -> torch.Tensor:
    return fp.saturate(x, bits, torch)


def saturate_symmetric(x: torch.Tensor, bits: int) -> torch.Tensor:
    return fp.saturate_symmetric(x, bits, torch)


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """float -> int64, ties away from zero (the spec's rounding)."""
    return fp.round_half_away(x, torch)


def srdhm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return fp.srdhm(a, b, torch)


def rounding_shift_right(x: torch.Tensor, e: torch.Tensor | int) -> torch.Tensor:
    return fp.rounding_shift_right(x, e, torch)


def requantize(acc: torch.Tensor, m: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    return fp.requantize(acc, m, shift, torch)


def multipliers(real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Q0.31 multipliers and shifts, computed by the engine's own function."""
    m, s = fp.quantize_multipliers(real.detach().double().cpu().numpy())
    dev = real.device
    return torch.from_numpy(m).to(dev), torch.from_numpy(s).to(dev)


class LUT:
    """The spec's sigmoid/tanh tables on a device, evaluated by ``engine.nna.lut.lut_apply``."""

    def __init__(self, spec: NNASpec, device=None) -> None:
        self.spec = spec
        self.tables = {n: torch.from_numpy(np.array(build_lut(n, spec), dtype=np.int64)).to(device)
                       for n in FUNCTIONS}

    def to(self, device) -> LUT:
        for n in self.tables:
            self.tables[n] = self.tables[n].to(device)
        return self

    def __call__(self, name: str, x: torch.Tensor) -> torch.Tensor:
        t = self.tables[name]
        if t.device != x.device:
            t = self.tables[name] = t.to(x.device)
        return lut_apply(x, t, self.spec, torch)


def lstm_step(gx: torch.Tensor, gh: torch.Tensor, c: torch.Tensor, spec: NNASpec, lut: LUT) -> cells.LSTMStep:
    """:func:`engine.nna.cells.lstm_step` on torch tensors."""
    return cells.lstm_step(gx, gh, c, spec, lut, torch)


def joiner_sum(e: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """:func:`engine.nna.cells.joiner_sum` on torch tensors."""
    return cells.joiner_sum(e, p, torch)


def joiner_activation(z: torch.Tensor, spec: NNASpec, lut: LUT) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`engine.nna.cells.joiner_activation` on torch tensors."""
    return cells.joiner_activation(z, spec, lut, torch)

"""The integer LSTM cell and the joiner's activation: the rules, written once.

Written for any array module ``xp`` (numpy, the default, or torch for the trainer's
accelerator-aware forward; see :mod:`engine.nna.fixedpoint`) and any ``lut(name, x)``
that evaluates the spec's tables (:func:`engine.nna.lut.reference_lut`, its fast path
:func:`engine.nna.lut.fast_lut`, or the trainer's tables on a torch device). The host
fast paths :class:`engine.nna.kernels.LSTMCellInt` and the network's tabulated joiner
input are optimizations of these rules, tested against them.

LSTM step (gate order i, f, g, o as in PyTorch), formats from :class:`NNASpec`::

  gates = sat16(gx + gh)                                        Q3.12
  i, f, o = lut_sigmoid(gates), g = lut_tanh(gates)             Q0.15
  c' = sat16(sat32(rshift(f*c, 15)) + sat32(rshift(i*g, 30 - cell_frac)))   Q4.11
  h' = sat_sym(rshift(o * lut_tanh(c' in gate format), 30 - hidden_frac), act_bits)

with ``gx`` the input projection (bias included) and ``gh = sat16(requant(Wh h))`` the
recurrent one, both int16 in the gate format. The cell's conversion to the gate format is
``sat16(c' << d)`` for ``d = gate_frac - cell_frac >= 0``, else ``rshift(c', -d)``.

Joiner: ``z = sat16(e + p)`` (gate format), ``hz = sat_sym(rshift(lut_tanh(z), 15 -
hidden_frac), act_bits)`` (Q0.(act_bits-1)), then the output layer.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .fixedpoint import rounding_shift_right, saturate, saturate_symmetric
from .spec import NNASpec


class LSTMStep(NamedTuple):
    """Every integer of one LSTM step (the trainer attaches gradients to each)."""

    gates: object  # int16, gate format
    i: object  # Q0.15
    f: object
    g: object
    o: object
    c: object  # new cell state, int16 Q.cell_frac
    tanh_c: object  # Q0.15
    h: object  # new hidden state, Q0.(act_bits-1)


def cell_to_gate_format(c, spec: NNASpec, xp=np):
    """A cell state (int16 Q.cell_frac) in the gate format, the LUT's input format."""
    d = spec.gate_frac_bits - spec.cell_frac_bits
    return saturate(c << d, 16, xp) if d >= 0 else rounding_shift_right(c, -d, xp)


def lstm_step(gx, gh, c, spec: NNASpec, lut, xp=np) -> LSTMStep:
    """One integer LSTM step from the gate contributions ``gx`` and ``gh`` [..., 4H] and the
    cell state ``c`` [..., H] (see the module doc)."""
    gates = saturate(gx + gh, 16, xp)
    n = gates.shape[-1] // 4
    i = lut("sigmoid", gates[..., 0:n])
    f = lut("sigmoid", gates[..., n: 2 * n])
    g = lut("tanh", gates[..., 2 * n: 3 * n])
    o = lut("sigmoid", gates[..., 3 * n:])
    fc = saturate(rounding_shift_right(f * c, 15, xp), 32, xp)
    ig = saturate(rounding_shift_right(i * g, 30 - spec.cell_frac_bits, xp), 32, xp)
    c_new = saturate(fc + ig, 16, xp)
    tc = lut("tanh", cell_to_gate_format(c_new, spec, xp))
    h = saturate_symmetric(rounding_shift_right(o * tc, 30 - spec.hidden_frac_bits, xp),
                           spec.act_bits, xp)
    return LSTMStep(gates, i, f, g, o, c_new, tc, h)


def joiner_sum(e, p, xp=np):
    """The joiner's pre-activation ``sat16(e + p)`` (gate format)."""
    return saturate(e + p, 16, xp)


def joiner_activation(z, spec: NNASpec, lut, xp=np):
    """``z`` (gate format) -> (tanh Q0.15, hidden input of the output layer Q0.(act_bits-1))."""
    tz = lut("tanh", z)
    return tz, saturate_symmetric(rounding_shift_right(tz, 15 - spec.hidden_frac_bits, xp),
                                  spec.act_bits, xp)

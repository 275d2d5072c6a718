"""Integer kernels of the NNA (numpy, exact).

Integer values travel as ``np.int64`` arrays holding the narrow type's values (int8,
int16, int32); the width is enforced by explicit saturation, as the spec says.

Matrix products use the *exact-in-float BLAS* trick: int8 x int8 products summed in
float32 are exact while every partial sum stays below 2^24 in magnitude, i.e. for dot
products no longer than ``spec.exact_float32_max_k`` (1040 for 8-bit weights and
activations); longer ones, and 16-bit activations, use float64 (exact below 2^53). The
result is converted to int64, the int32 bias is added, and the sum saturates to int32
(the accumulator). Weights are kept in a float array holding integer values
(:class:`QLinear` prepares them once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fixedpoint import requantize, rounding_shift_right, saturate, saturate_symmetric
from .lut import lut_sigmoid, lut_tanh
from .spec import NNASpec


@dataclass
class QLinear:
    """A quantized linear op: ``acc = x_q @ w_q.T + bias_q`` then requantize per channel.

    w_q: int [N, K] weight codes; bias_q: int32 [N]; multiplier/shift: requantization of
    the accumulator to the op's output format (per output channel).
    """

    w_q: np.ndarray
    bias_q: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    spec: NNASpec
    act_bits: int = 8

    def __post_init__(self) -> None:
        k = self.w_q.shape[1]
        exact32 = self.act_bits <= 8 and k <= self.spec.exact_float32_max_k
        self.blas_dtype = np.float32 if exact32 else np.float64
        self._wt = np.ascontiguousarray(self.w_q.T.astype(self.blas_dtype))
        self._nz_cols = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.w_q.shape)

    def accumulate(self, x_q: np.ndarray) -> np.ndarray:
        """int32 accumulators (saturated) for int inputs ``x_q`` [..., K] -> [..., N]."""
        prod = np.asarray(x_q, dtype=self.blas_dtype) @ self._wt
        acc = prod.astype(np.int64) + self.bias_q
        return saturate(acc, self.spec.acc_bits)

    def __call__(self, x_q: np.ndarray, out_bits: int = 16) -> np.ndarray:
        return saturate(requantize(self.accumulate(x_q), self.multiplier, self.shift), out_bits)


def linear_acc(x_q: np.ndarray, w_q: np.ndarray, bias_q: np.ndarray, spec: NNASpec) -> np.ndarray:
    """Reference int64 matmul (slow, exact by construction): saturated int32 accumulators."""
    acc = np.asarray(x_q, dtype=np.int64) @ np.asarray(w_q, dtype=np.int64).T + bias_q
    return saturate(acc, spec.acc_bits)


def add_sat(a: np.ndarray, b: np.ndarray, bits: int = 16) -> np.ndarray:
    """Element-wise add, saturating to ``bits``."""
    return saturate(np.asarray(a, np.int64) + np.asarray(b, np.int64), bits)


def mul_shift(a: np.ndarray, b: np.ndarray, shift: int, bits: int = 16) -> np.ndarray:
    """Element-wise ``(a * b) / 2^shift`` rounded half away from zero, saturated to ``bits``."""
    p = np.asarray(a, np.int64) * np.asarray(b, np.int64)
    return saturate(rounding_shift_right(p, shift), bits)


def quantize_input(x: np.ndarray, scale: float, bits: int) -> np.ndarray:
    """Float -> symmetric int codes at ``scale`` (round half away from zero, saturate)."""
    from .fixedpoint import round_half_away

    return saturate_symmetric(round_half_away(np.asarray(x, np.float64) / scale), bits)


def embedding_lookup(table_q: np.ndarray, token: np.ndarray) -> np.ndarray:
    """Row lookup in an int8 embedding table."""
    return table_q[np.asarray(token, dtype=np.int64)]


def argmax(x: np.ndarray) -> np.ndarray:
    """Index of the largest value on the last axis; ties resolve to the lowest index."""
    return np.argmax(x, axis=-1)


def lstm_cell_int(
    gx: np.ndarray,
    h_q: np.ndarray,
    c_q: np.ndarray,
    wh: QLinear,
    spec: NNASpec,
) -> tuple[np.ndarray, np.ndarray]:
    """One integer LSTM step (gate order i, f, g, o as in PyTorch).

    gx: input contribution to the gates, int16 gate format [4H] (bias included);
    h_q: previous hidden, int8 Q0.(act_bits-1) [H]; c_q: previous cell, int16 Q.cell_frac.

      gates = sat16(gx + requant(Wh h))                 Q3.12
      i, f, o = lut_sigmoid(gates), g = lut_tanh(gates) Q0.15
      c' = sat16(rshift(f*c, 15) + rshift(i*g, 30 - cell_frac))      Q4.11
      h' = sat_sym(rshift(o * lut_tanh(c' in gate format), 30 - hidden_frac), act_bits)
    """
    gates = add_sat(gx, wh(h_q, out_bits=16), 16)
    n = gates.shape[-1] // 4
    i = lut_sigmoid(gates[..., 0:n], spec)
    f = lut_sigmoid(gates[..., n : 2 * n], spec)
    g = lut_tanh(gates[..., 2 * n : 3 * n], spec)
    o = lut_sigmoid(gates[..., 3 * n :], spec)
    cf = spec.cell_frac_bits
    c_new = add_sat(mul_shift(f, c_q, 15, 32), mul_shift(i, g, 30 - cf, 32), 16)
    # cell state into the LUT's input format (gate format), saturating
    d = spec.gate_frac_bits - cf
    c_in = saturate(c_new << d, 16) if d >= 0 else rounding_shift_right(c_new, -d)
    tc = lut_tanh(c_in, spec)
    h_new = saturate_symmetric(
        rounding_shift_right(o * tc, 30 - spec.hidden_frac_bits), spec.act_bits
    )
    return h_new, c_new

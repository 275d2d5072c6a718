"""Integer kernels of the NNA (numpy, exact).

Integer values travel as ``np.int64`` arrays holding the narrow type's values (int8,
int16, int32); the width is enforced by explicit saturation, as the spec says.

How the host computes them (every path is exact; tests compare each with a plain int64
reference):

* Matrix products use the *exact-in-float BLAS* trick: integer products summed in float32
  are exact while every partial sum stays below 2^24 in magnitude, whatever order BLAS adds
  them in. :class:`QLinear` checks that bound per matrix, ``max_row sum|w| * 2^(act_bits-1)
  < 2^24`` (it covers an input of -2^(act_bits-1) too), and uses float32 BLAS when it holds
  (8-bit weights and activations: every dot product up to about 1000 long; a sparse matrix
  qualifies for longer ones), else float64 (exact below 2^53), else int64. The result is
  converted to int64, the int32 bias is added, and the sum saturates to int32 (the
  accumulator; skipped when the same bound proves it cannot overflow).
* Sparse matrices: for one input vector (the per-frame recurrent matvec) a matrix of low
  enough density can use an ELL layout (per output row its non-zero codes and their column
  indices): gather, multiply, sum; exact by the same bound. ``QLinear(kernel=...)`` picks
  it: ``"dense"``, ``"sparse"``, or ``"auto"``: sparse when the density is at most
  :data:`SPARSE_MAX_DENSITY` (see there for the measurement behind it). All-zero output rows
  and all-zero input columns are dropped from the BLAS operand when they are at least
  1/8 of the matrix.
* Requantization by per-channel constants uses the closed forms of
  :mod:`engine.nna.fixedpoint` (``srdhm = (a*M + 2^30) >> 31`` for ``M >= 0``;
  rounding right shift ``(x + 2^(e-1) - [x < 0]) >> e``), in place.
* The LSTM cell (:class:`LSTMCellInt`) evaluates its four gate non-linearities with one
  lookup in a combined sigmoid|tanh table of every int16 input
  (:func:`engine.nna.lut.full_table`), and the cell's tanh (including the cell ->
  gate-format conversion) with one lookup: an optimization of the rule
  :func:`engine.nna.cells.lstm_step`; :func:`lstm_cell_int_reference` composes the rule
  with a plain int64 matvec, and the tests hold the two equal.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .cells import cell_to_gate_format, lstm_step
from .fixedpoint import (
    INT32_MAX,
    requantize,
    round_half_away,
    rounding_shift_right,
    saturate,
    saturate_symmetric,
)
from .lut import full_table, reference_lut
from .spec import NNASpec

SPARSE_MAX_DENSITY = 0.05
"""``kernel="auto"`` uses the sparse (ELL) matvec at or below this density.

Measured on this project's development host (numpy 2.4, OpenBLAS, one thread, a 2-core
AVX-512 VM), for a 1024 x 256 recurrent matrix and one input vector, in microseconds per
call, "hot" = the matrix in cache, "cold" = 16 different matrices in turn (as in the
recognizer, whose float32 weights exceed L2):

    density      dense BLAS hot / cold      ELL hot / cold
    20 %         10-20 / 40-66              75-82 / 101-106
    10 %                                    31-43 / 57-59
     5 %                                    30-32 / 34-39
     2 %                                    12-16 / 19-21

numpy's gather (about 1 ns per non-zero) cannot beat BLAS at 80 % sparsity, hot or cold;
ELL wins cold from about 90 % zeros and hot from about 98 %. 5 % is the compromise.
``benchmarks/bench_engine.py --kernels`` re-measures it on another machine.
"""

_COMPACT_MIN_FRACTION = 0.125


def _rshift_round_(x: np.ndarray, e: int) -> np.ndarray:
    """In place: ``x / 2^e`` rounded half away from zero, for a constant ``e >= 0``.

    ``(x + 2^(e-1) - [x < 0]) >> e`` equals :func:`rounding_shift_right` for ``|x| < 2^62``.
    """
    if e == 0:
        return x
    neg = x < 0
    x += 1 << (e - 1)
    x -= neg
    x >>= e
    return x


def _clip_(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """In place saturation."""
    np.maximum(x, lo, out=x)
    np.minimum(x, hi, out=x)
    return x


@dataclass
class QLinear:
    """A quantized linear op: ``acc = x_q @ w_q.T + bias_q`` then requantize per channel.

    w_q: int [N, K] weight codes; bias_q: int32 [N]; multiplier/shift: requantization of
    the accumulator to the op's output format (per output channel). ``act_bits`` bounds the
    input codes (``|x| <= 2^(act_bits-1)``); ``kernel``: "auto", "dense" or "sparse" (how
    the host computes a single-vector product; results are identical).
    """

    w_q: np.ndarray
    bias_q: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    spec: NNASpec
    act_bits: int = 8
    kernel: str = "auto"

    def __post_init__(self) -> None:
        if self.kernel not in ("auto", "dense", "sparse"):
            raise ValueError(f"kernel must be 'auto', 'dense' or 'sparse', got {self.kernel!r}")
        w = np.asarray(self.w_q, dtype=np.int64)
        if w.ndim != 2:
            raise ValueError(f"weights must be [N, K], got shape {w.shape}")
        n, k = w.shape
        bias = np.broadcast_to(np.asarray(self.bias_q, dtype=np.int64), (n,))
        self._bias = bias.copy()
        self._has_bias = bool(np.any(bias))
        amax = 1 << (self.act_bits - 1)
        row_abs = np.abs(w).sum(axis=1)
        bound = int(row_abs.max(initial=0)) * amax  # largest |partial sum| of any dot product
        if bound < (1 << 24):
            self.blas_dtype = np.float32
        elif bound < (1 << 53):
            self.blas_dtype = np.float64
        else:
            self.blas_dtype = np.int64
        self._needs_sat = bound + int(np.abs(bias).max(initial=0)) > INT32_MAX
        # compaction: drop all-zero rows / columns from the BLAS operand
        nz_rows = np.flatnonzero(row_abs)
        nz_cols = np.flatnonzero(np.abs(w).sum(axis=0))
        self._rows = nz_rows if n - len(nz_rows) >= _COMPACT_MIN_FRACTION * n else None
        self._cols = nz_cols if k - len(nz_cols) >= _COMPACT_MIN_FRACTION * k else None
        wc = w
        if self._rows is not None:
            wc = wc[self._rows]
        if self._cols is not None:
            wc = wc[:, self._cols]
        self._wt = np.ascontiguousarray(wc.T.astype(self.blas_dtype))
        self.density = float(np.count_nonzero(w)) / max(w.size, 1)
        use_sparse = self.kernel == "sparse" or (
            self.kernel == "auto" and self.density <= SPARSE_MAX_DENSITY
        )
        self._ell = self._build_ell(wc) if use_sparse and wc.size else None
        # requantization constants (fast path: 0 <= M < 2^31, -31 <= shift <= 62; a negative
        # shift is a saturating left shift of the accumulator first, as the spec says)
        m = np.broadcast_to(np.asarray(self.multiplier, dtype=np.int64), (n,)).copy()
        sh = np.broadcast_to(np.asarray(self.shift, dtype=np.int64), (n,)).copy()
        self._m = m
        self._fast_requant = bool(np.all((m >= 0) & (m <= INT32_MAX) & (sh >= -31) & (sh <= 62)))
        self._left = np.maximum(-sh, 0)
        self._has_left = bool(np.any(self._left))
        sh = np.maximum(sh, 0)
        self._sh = sh
        self._half = np.where(sh > 0, np.left_shift(1, np.maximum(sh - 1, 0)), 0)
        self._all_shift_pos = bool(np.all(sh > 0))
        self._pos = sh > 0

    def _build_ell(self, wc: np.ndarray):
        """ELL layout, transposed: [r, N'] column indices and values (r = max non-zeros per row)."""
        nnz_row = (wc != 0).sum(axis=1)
        r = int(nnz_row.max(initial=0))
        idx = np.zeros((wc.shape[0], r), dtype=np.intp)
        val = np.zeros((wc.shape[0], r), dtype=self.blas_dtype)
        rows, cols = np.nonzero(wc)
        pos = np.arange(len(rows)) - np.repeat(np.cumsum(nnz_row) - nnz_row, nnz_row)
        idx[rows, pos] = cols
        val[rows, pos] = wc[rows, cols]
        return np.ascontiguousarray(idx.T), np.ascontiguousarray(val.T)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.w_q.shape)

    @property
    def sparse(self) -> bool:
        """Whether single-vector products use the sparse (ELL) kernel."""
        return self._ell is not None

    def accumulate(self, x_q: np.ndarray) -> np.ndarray:
        """int32 accumulators (saturated) for int inputs ``x_q`` [..., K] -> [..., N]."""
        x = np.asarray(x_q, dtype=self.blas_dtype)
        if self._cols is not None:
            x = x[..., self._cols]
        if self._ell is not None and x.ndim == 1:
            idx, val = self._ell
            g = x.take(idx)
            g *= val
            prod = g.sum(axis=0)
        else:
            prod = x @ self._wt
        acc = prod.astype(np.int64)
        if self._rows is not None:
            full = np.empty(acc.shape[:-1] + (len(self._bias),), dtype=np.int64)
            full[...] = self._bias
            full[..., self._rows] += acc
            acc = full
        elif self._has_bias:
            acc += self._bias
        if self._needs_sat:
            _clip_(acc, -(1 << 31), INT32_MAX)
        return acc

    def requantize(self, acc: np.ndarray) -> np.ndarray:
        """Per-channel requantization of int32 accumulators (no final saturation).

        Equals :func:`engine.nna.fixedpoint.requantize`. ``acc`` is overwritten.
        """
        if not self._fast_requant:
            return requantize(acc, self.multiplier, self.shift)
        if self._has_left:  # |acc| < 2^31, << at most 31: no int64 overflow before the clip
            acc <<= self._left
            _clip_(acc, -(1 << 31), INT32_MAX)
        acc *= self._m  # srdhm with M >= 0: (a*M + 2^30) >> 31, no overflow case
        acc += 1 << 30
        acc >>= 31
        neg = acc < 0
        if not self._all_shift_pos:
            neg &= self._pos
        acc += self._half
        acc -= neg
        acc >>= self._sh
        return acc

    def __call__(self, x_q: np.ndarray, out_bits: int = 16) -> np.ndarray:
        y = self.requantize(self.accumulate(x_q))
        return _clip_(y, -(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1)


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
    return saturate_symmetric(round_half_away(np.asarray(x, np.float64) / scale), bits)


def embedding_lookup(table_q: np.ndarray, token: np.ndarray) -> np.ndarray:
    """Row lookup in an int8 embedding table."""
    return table_q[np.asarray(token, dtype=np.int64)]


def argmax(x: np.ndarray) -> np.ndarray:
    """Index of the largest value on the last axis; ties resolve to the lowest index."""
    return np.argmax(x, axis=-1)


def lstm_cell_int_reference(
    gx: np.ndarray,
    h_q: np.ndarray,
    c_q: np.ndarray,
    wh: QLinear,
    spec: NNASpec,
) -> tuple[np.ndarray, np.ndarray]:
    """One integer LSTM step by the rules: the recurrent matvec as an int64 product
    (:func:`linear_acc`), requantized by :func:`engine.nna.fixedpoint.requantize`, then
    :func:`engine.nna.cells.lstm_step` with the LUT rule itself.

    gx: input contribution to the gates, int16 gate format [4H] (bias included);
    h_q: previous hidden, int8 Q0.(act_bits-1) [H]; c_q: previous cell, int16 Q.cell_frac.
    Returns (h, c).
    """
    acc = linear_acc(h_q, wh.w_q, wh.bias_q, spec)
    gh = saturate(requantize(acc, wh.multiplier, wh.shift), 16)
    step = lstm_step(np.asarray(gx, np.int64), gh, np.asarray(c_q, np.int64), spec, reference_lut(spec))
    return step.h, step.c


@functools.lru_cache(maxsize=16)
def _cell_tables(spec: NNASpec, hidden: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sigmoid|tanh table [2*65536] int32, per-gate offsets [4H], cell-tanh table [65536])."""
    sig, tanh = full_table("sigmoid", spec), full_table("tanh", spec)
    gate_table = np.concatenate([sig, tanh]).astype(np.int32)
    offs = np.full(4 * hidden, 32768, dtype=np.int64)
    offs[2 * hidden : 3 * hidden] += 65536  # g uses tanh
    c_in = cell_to_gate_format(np.arange(-32768, 32768, dtype=np.int64), spec)
    cell_tanh = tanh[c_in + 32768].astype(np.int32)
    for t in (gate_table, offs, cell_tanh):
        t.setflags(write=False)
    return gate_table, offs, cell_tanh


class LSTMCellInt:
    """Optimization of :func:`engine.nna.cells.lstm_step` (with the recurrent matvec of
    ``wh``) for the host, equal to :func:`lstm_cell_int_reference` (tested): the four gate
    LUTs by one lookup in a combined sigmoid|tanh table of every int16 input, the cell's
    gate-format conversion and tanh by one lookup, the roundings in place."""

    def __init__(self, wh: QLinear, spec: NNASpec) -> None:
        self.wh = wh
        self.spec = spec
        self.hidden = wh.shape[0] // 4
        self.gate_table, self.offs, self.cell_tanh = _cell_tables(spec, self.hidden)
        self.cf = spec.cell_frac_bits
        self.hq = spec.act_qmax
        self.hshift = 30 - spec.hidden_frac_bits

    def step(self, gx: np.ndarray, h_q: np.ndarray, c_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = self.hidden
        gates = self.wh(h_q, out_bits=16)
        gates += gx
        _clip_(gates, -32768, 32767)
        gates += self.offs
        a = self.gate_table[gates]  # i, f, o: sigmoid; g: tanh (Q0.15)
        fc = np.multiply(a[..., n : 2 * n], c_q, dtype=np.int64)
        ig = np.multiply(a[..., 0:n], a[..., 2 * n : 3 * n], dtype=np.int64)
        c_new = _rshift_round_(fc, 15)
        c_new += _rshift_round_(ig, 30 - self.cf)
        _clip_(c_new, -32768, 32767)
        tc = self.cell_tanh[c_new + 32768]
        h = np.multiply(a[..., 3 * n :], tc, dtype=np.int64)
        _rshift_round_(h, self.hshift)
        return _clip_(h, -self.hq, self.hq), c_new

    def run(self, gx: np.ndarray, h_q: np.ndarray, c_q: np.ndarray):
        """Steps over gx [T, 4H]: returns (h [T, H], last h, last c)."""
        out = np.empty((len(gx), self.hidden), dtype=np.int64)
        for t in range(len(gx)):
            h_q, c_q = self.step(gx[t], h_q, c_q)
            out[t] = h_q
        return out, h_q, c_q


"""Lookup-table sigmoid and tanh, as the NNA computes them.

Input: int16 in the spec's gate format Q(g).(15-g) (default Q3.12, range [-8, 8)).
The int16 range is cut into ``lut_entries`` equal segments; the table holds the function
at the ``lut_entries + 1`` segment ends, in Q0.15, rounded half away from zero and
saturated to int16. Output: linear interpolation between the two breakpoints of the
segment, ``y = t[i] + ((t[i+1] - t[i]) * frac + 2^(k-1)) >> k`` with ``k = lut_shift``
(round half up: add half, arithmetic shift right).

:func:`lut_apply` is that rule, written out. Since the input is an int16, the engine also
tabulates the whole interpolated function once (:func:`full_table`: 65536 outputs, built by
:func:`lut_apply` itself), and :func:`lut_sigmoid` / :func:`lut_tanh` evaluate by one lookup
in it: identical results (tested over every input), a fraction of the host time.
"""

from __future__ import annotations

import functools

import numpy as np

from .fixedpoint import round_half_away, saturate
from .spec import NNASpec


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


FUNCTIONS = {"sigmoid": _sigmoid, "tanh": np.tanh}


@functools.lru_cache(maxsize=32)
def _build(fn_name: str, entries: int, gate_int_bits: int, out_frac: int) -> np.ndarray:
    xs = -(2.0**gate_int_bits) + np.arange(entries + 1) * (2.0 ** (gate_int_bits + 1) / entries)
    ys = FUNCTIONS[fn_name](xs) * (1 << out_frac)
    t = saturate(round_half_away(ys), 16)
    t.setflags(write=False)
    return t


def build_lut(fn_name: str, spec: NNASpec) -> np.ndarray:
    """The table of ``fn_name`` ('sigmoid' or 'tanh'): int64 array of lut_entries + 1."""
    return _build(fn_name, spec.lut_entries, spec.gate_int_bits, spec.lut_out_frac_bits)


def lut_apply(x, table, spec: NNASpec, xp=np):
    """Evaluate a table on int16 inputs (int64 array of int16 values) -> int16 Q0.15.

    ``table``: :func:`build_lut`'s breakpoints as an array of ``xp`` (numpy, or torch on
    the inputs' device; see :mod:`engine.nna.fixedpoint`)."""
    k = spec.lut_shift
    u = xp.asarray(x, dtype=xp.int64) + 32768  # 0..65535
    idx = u >> k
    frac = u & ((1 << k) - 1)
    lo = table[idx]
    hi = table[xp.clip(idx + 1, None, len(table) - 1)]
    return lo + (((hi - lo) * frac + (1 << (k - 1))) >> k)


@functools.lru_cache(maxsize=32)
def _full(fn_name: str, entries: int, gate_int_bits: int, out_frac: int) -> np.ndarray:
    spec = NNASpec(lut_entries=entries, gate_int_bits=gate_int_bits, lut_out_frac_bits=out_frac)
    t = lut_apply(np.arange(-32768, 32768, dtype=np.int64), build_lut(fn_name, spec), spec)
    t.setflags(write=False)
    return t


def full_table(fn_name: str, spec: NNASpec) -> np.ndarray:
    """``lut_apply`` of ``fn_name`` at every int16 input: int64 [65536], index ``x + 32768``."""
    return _full(fn_name, spec.lut_entries, spec.gate_int_bits, spec.lut_out_frac_bits)


def reference_lut(spec: NNASpec):
    """``lut(name, x)``: :func:`lut_apply` of the spec's table ``name``, the rule itself
    (numpy); :func:`lut_sigmoid` / :func:`lut_tanh` are its one-lookup fast path."""
    tables = {n: build_lut(n, spec) for n in FUNCTIONS}
    return lambda name, x: lut_apply(x, tables[name], spec)


def fast_lut(spec: NNASpec):
    """``lut(name, x)`` by one lookup in :func:`full_table` (equal to :func:`reference_lut`)."""
    tables = {n: full_table(n, spec) for n in FUNCTIONS}
    return lambda name, x: tables[name][np.asarray(x, dtype=np.int64) + 32768]


def lut_sigmoid(x: np.ndarray, spec: NNASpec) -> np.ndarray:
    """Sigmoid of a Q3.12 (gate format) int16 -> Q0.15 int16."""
    return full_table("sigmoid", spec)[np.asarray(x, dtype=np.int64) + 32768]


def lut_tanh(x: np.ndarray, spec: NNASpec) -> np.ndarray:
    """Tanh of a Q3.12 (gate format) int16 -> Q0.15 int16."""
    return full_table("tanh", spec)[np.asarray(x, dtype=np.int64) + 32768]

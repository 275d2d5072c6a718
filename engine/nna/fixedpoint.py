"""Fixed-point primitives of the NNA, exact, on numpy int64 arrays.

The rules are gemmlowp's / TFLite's, as the spec states (``NNASpec.rounding``):

* ``srdhm(a, b)``: SaturatingRoundingDoublingHighMul of two int32: ``(a*b + nudge) / 2^31``
  truncated toward zero, with ``nudge = 2^30`` for ``a*b >= 0`` else ``1 - 2^30``; the only
  overflow case ``a = b = -2^31`` saturates to ``2^31 - 1``. Rounds half away from zero.
* ``rounding_shift_right(x, e)``: RoundingDivideByPOT, ``x / 2^e`` rounded half away from
  zero.
* ``requantize(acc, M, shift)``: ``rounding_shift_right(srdhm(acc << left, M), right)``,
  where a real multiplier ``m = M * 2^-31 * 2^-shift`` (``shift`` may be negative: left).

All functions take and return ``np.int64`` arrays; saturation to a destination width is
explicit (``saturate``).
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def saturate(x: np.ndarray, bits: int) -> np.ndarray:
    """Clamp to the signed ``bits``-bit range ``[-2^(bits-1), 2^(bits-1) - 1]``."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(x, lo, hi).astype(np.int64)


def saturate_symmetric(x: np.ndarray, bits: int) -> np.ndarray:
    """Clamp to ``[-(2^(bits-1) - 1), 2^(bits-1) - 1]`` (weights, symmetric activations)."""
    q = (1 << (bits - 1)) - 1
    return np.clip(x, -q, q).astype(np.int64)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round float to the nearest integer, ties away from zero (the spec's rounding)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul of int32 values (given as int64)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    num = ab + nudge
    # division by 2^31 truncating toward zero
    q = np.where(num >= 0, num >> 31, -((-num) >> 31))
    return np.where(overflow, INT32_MAX, q).astype(np.int64)


def rounding_shift_right(x: np.ndarray, exponent) -> np.ndarray:
    """RoundingDivideByPOT: ``x / 2^exponent``, round half away from zero (exponent >= 0)."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Real multiplier ``m >= 0`` -> (``M`` Q0.31 in ``[2^30, 2^31)``, right ``shift``).

    ``m ≈ M * 2^-31 * 2^-shift``. A negative ``shift`` means a left shift (``m >= 1``).
    """
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"multiplier must be finite and >= 0, got {real}")
    if real == 0.0:
        return 0, 0
    q, e = math.frexp(real)  # real = q * 2^e, q in [0.5, 1)
    m = int(round(q * (1 << 31)))
    if m == (1 << 31):
        m //= 2
        e += 1
    shift = -e
    if shift > 62:  # the result is 0 for every int32 input
        return 0, 0
    return m, shift


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized :func:`quantize_multiplier`: returns int64 arrays (M, shift)."""
    pairs = [quantize_multiplier(float(r)) for r in np.ravel(reals)]
    m = np.array([p[0] for p in pairs], dtype=np.int64).reshape(np.shape(reals))
    s = np.array([p[1] for p in pairs], dtype=np.int64).reshape(np.shape(reals))
    return m, s


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``acc * M * 2^-31 * 2^-shift`` with the spec's rounding (no final saturation).

    ``acc`` int32 values; ``multiplier``/``shift`` broadcast against it (per channel on the
    last axis). A left shift (``shift < 0``) saturates ``acc`` to int32 first, as TFLite.
    """
    acc = np.asarray(acc, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(-shift, 0)
    right = np.maximum(shift, 0)
    x = np.clip(acc << left, INT32_MIN, INT32_MAX)
    return rounding_shift_right(srdhm(x, multiplier), right)

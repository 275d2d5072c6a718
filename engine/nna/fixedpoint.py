"""Fixed-point primitives of the NNA, exact, on numpy int64 arrays.

The rules are gemmlowp's / TFLite's (``NNASpec.rounding`` names the rule of the shifts):

* ``srdhm(a, b)``: SaturatingRoundingDoublingHighMul of two int32, exactly gemmlowp's
  reference: ``(a*b + nudge) / 2^31`` truncated toward zero, with ``nudge = 2^30`` for
  ``a*b >= 0`` else ``1 - 2^30``; the only overflow case ``a = b = -2^31`` saturates to
  ``2^31 - 1``. Note what that rounding is: ``a*b / 2^31`` rounded to nearest with ties
  toward +infinity (``-0.5 -> 0``, ``+0.5 -> 1``, ``-1.5 -> -1``), as ARM's ``SQRDMULH``.
  Proof sketch, for ``a*b < 0``, ``u = -a*b``: ``trunc((-u + 1 - 2^30) / 2^31)
  = -floor((u + 2^30 - 1) / 2^31) = -ceil((u - 2^30) / 2^31) = floor((a*b + 2^30) / 2^31)``.
  So ``srdhm(a, b) = min((a*b + 2^30) >> 31, 2^31 - 1)`` (arithmetic shift), which is how it
  is computed here (tested against the gemmlowp formula in Python integers).
* ``rounding_shift_right(x, e)``: RoundingDivideByPOT, ``x / 2^e`` rounded half away from
  zero (``-1.5 -> -2``, ``-0.5 -> -1``, ``+0.5 -> 1``).
* ``requantize(acc, M, shift)``: ``rounding_shift_right(srdhm(acc << left, M), right)``,
  where a real multiplier ``m = M * 2^-31 * 2^-shift`` (``shift`` may be negative: left).
* ``quantize_multiplier(m)``: ``M = round(frac(m) * 2^31)`` rounded half away from zero
  (TFLite's ``QuantizeMultiplier``, ``std::round``).

All functions take and return int64 arrays; saturation to a destination width is
explicit (``saturate``). Each rule is written once, for any array module ``xp`` that has
numpy's operators and ``asarray``, ``clip``, ``abs``, ``floor``, ``copysign``: numpy (the
engine, the default) or torch (the trainer's accelerator-aware forward passes
``xp=torch``; the engine itself never imports it). Host fast paths elsewhere
(:class:`engine.nna.kernels.QLinear`, :class:`engine.nna.kernels.LSTMCellInt`) are
optimizations of these rules, tested against them.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def saturate(x, bits: int, xp=np):
    """Clamp to the signed ``bits``-bit range ``[-2^(bits-1), 2^(bits-1) - 1]``."""
    return xp.clip(xp.asarray(x, dtype=xp.int64), -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def saturate_symmetric(x, bits: int, xp=np):
    """Clamp to ``[-(2^(bits-1) - 1), 2^(bits-1) - 1]`` (weights, symmetric activations)."""
    q = (1 << (bits - 1)) - 1
    return xp.clip(xp.asarray(x, dtype=xp.int64), -q, q)


def round_half_away(x, xp=np):
    """Round float to the nearest integer, ties away from zero (the spec's rounding).

    Computed as ``floor(|x|) + (frac(|x|) >= 0.5)`` with the sign put back, which is exact;
    the shorter ``floor(|x| + 0.5)`` is wrong for the largest double below 0.5
    (``0.49999999999999994 + 0.5`` rounds to ``1.0``). Magnitudes beyond 2^62 clamp to
    2^62, so a later ``saturate`` keeps their sign.
    """
    x = xp.asarray(x, dtype=xp.float64)
    a = xp.abs(x)
    f = xp.floor(a)
    f = f + ((a - f) >= 0.5)
    f = xp.clip(f, None, 2.0**62)  # huge values stay huge (and saturate later), not wrap
    return xp.asarray(xp.copysign(f, x), dtype=xp.int64)


def srdhm(a, b, xp=np):
    """SaturatingRoundingDoublingHighMul of int32 values (given as int64); see module doc."""
    a = xp.asarray(a, dtype=xp.int64)
    b = xp.asarray(b, dtype=xp.int64)
    # |a*b| <= 2^62, so a*b + 2^30 cannot overflow int64; the result is 2^31 only for
    # a = b = -2^31, which saturates.
    return xp.clip((a * b + (1 << 30)) >> 31, None, INT32_MAX)


def rounding_shift_right(x, exponent, xp=np):
    """RoundingDivideByPOT: ``x / 2^exponent``, round half away from zero (exponent >= 0)."""
    x = xp.asarray(x, dtype=xp.int64)
    e = exponent if isinstance(exponent, int) else xp.asarray(exponent, dtype=xp.int64)
    mask = (1 << e) - 1
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
    m = math.floor(q * (1 << 31) + 0.5)  # exact: q * 2^31 < 2^31 has a 2^-22 ulp
    if m == (1 << 31):
        m //= 2
        e += 1
    shift = -e
    if shift > 62:  # the result is 0 for every int32 input
        return 0, 0
    if shift < -31:
        raise ValueError(f"multiplier {real} is too large (>= 2^31) for a Q0.31 multiplier")
    return m, shift


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized :func:`quantize_multiplier`: returns int64 arrays (M, shift)."""
    pairs = [quantize_multiplier(float(r)) for r in np.ravel(reals)]
    m = np.array([p[0] for p in pairs], dtype=np.int64).reshape(np.shape(reals))
    s = np.array([p[1] for p in pairs], dtype=np.int64).reshape(np.shape(reals))
    return m, s


def requantize(acc, multiplier, shift, xp=np):
    """``acc * M * 2^-31 * 2^-shift`` with the spec's rounding (no final saturation).

    ``acc`` int32 values; ``multiplier``/``shift`` broadcast against it (per channel on the
    last axis). A left shift (``shift < 0``, at most 31) is applied to ``acc`` first and the
    shifted value saturates to int32 (TFLite leaves that overflow undefined; the spec
    saturates).
    """
    acc = xp.asarray(acc, dtype=xp.int64)
    shift = xp.asarray(shift, dtype=xp.int64)
    left = xp.clip(-shift, 0, None)
    right = xp.clip(shift, 0, None)
    x = xp.clip(acc << left, INT32_MIN, INT32_MAX)
    return rounding_shift_right(srdhm(x, multiplier, xp), right, xp)

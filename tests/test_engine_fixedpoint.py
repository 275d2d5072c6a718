"""Fixed-point rules of the NNA: hand-worked examples and property tests against
pure-Python big-integer references (engine/nna/fixedpoint.py)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.nna.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    quantize_multiplier,
    quantize_multipliers,
    requantize,
    round_half_away,
    rounding_shift_right,
    saturate,
    saturate_symmetric,
    srdhm,
)

int32 = st.integers(INT32_MIN, INT32_MAX)
multipliers = st.one_of(st.just(0), st.integers(1 << 30, (1 << 31) - 1))
FAST = settings(max_examples=300, deadline=None)


# --- pure-Python references (arbitrary-precision ints) --------------------------------
def ref_srdhm(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul, literally (C division truncates)."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    num = ab + nudge
    q = abs(num) // (1 << 31)
    return q if num >= 0 else -q


def ref_round_half_up(q: Fraction) -> int:
    return math.floor(q + Fraction(1, 2))


def ref_round_half_away(q: Fraction) -> int:
    r = math.floor(abs(q) + Fraction(1, 2))
    return r if q >= 0 else -r


def ref_rshift(x: int, e: int) -> int:
    return ref_round_half_away(Fraction(x, 1 << e))


def ref_requantize(acc: int, m: int, shift: int) -> int:
    left, right = max(-shift, 0), max(shift, 0)
    x = min(max(acc << left, INT32_MIN), INT32_MAX)
    return ref_rshift(ref_srdhm(x, m), right)


# --- srdhm ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "a, b, want",
    [
        (1 << 30, 1 << 30, 1 << 29),  # 0.5 * 0.5 in Q0.31 = 0.25
        (INT32_MIN, INT32_MIN, INT32_MAX),  # the one overflow: saturates
        (INT32_MIN, INT32_MAX, -INT32_MAX),  # -2^31 * (2^31-1) / 2^31 exactly
        (100, 3 << 29, 75),  # 100 * 0.75
        (1, 1 << 30, 1),  # +0.5 -> 1
        (-1, 1 << 30, 0),  # -0.5 -> 0: ties go toward +inf (gemmlowp, SQRDMULH)
        (3, 1 << 30, 2),  # +1.5 -> 2
        (-3, 1 << 30, -1),  # -1.5 -> -1
        (-5, 1 << 30, -2),  # -2.5 -> -2
        (-7, 3 << 28, -3),  # -7 * 0.375 = -2.625 -> -3
        (0, INT32_MIN, 0),
    ],
)
def test_srdhm_hand_worked(a, b, want):
    assert int(srdhm(np.int64(a), np.int64(b))) == want
    assert ref_srdhm(a, b) == want


@FAST
@given(int32, int32)
@example(INT32_MIN, INT32_MIN)
@example(INT32_MIN, INT32_MAX)
@example(INT32_MAX, INT32_MAX)
@example(-1, 1 << 30)
def test_srdhm_matches_gemmlowp_and_rounds_half_up(a, b):
    got = int(srdhm(np.array([a]), np.array([b]))[0])
    assert got == ref_srdhm(a, b)
    if not a == b == INT32_MIN:
        assert got == ref_round_half_up(Fraction(a * b, 1 << 31))


# --- rounding shift right -------------------------------------------------------------------
@pytest.mark.parametrize(
    "x, e, want",
    [
        (5, 1, 3), (-5, 1, -3),  # +-2.5 -> +-3
        (-3, 1, -2), (-1, 1, -1), (1, 1, 1),  # ties away from zero
        (-6, 2, -2), (-5, 2, -1), (-7, 2, -2), (6, 2, 2), (5, 2, 1),
        (7, 0, 7), (-7, 0, -7),
        (1 << 40, 62, 0), (1 << 61, 62, 1), (-(1 << 61), 62, -1), ((1 << 61) - 1, 62, 0),
        (INT32_MIN, 31, -1), (INT32_MAX, 31, 1), (INT32_MIN, 32, -1),  # -0.5 -> -1
    ],
)
def test_rounding_shift_right_hand_worked(x, e, want):
    assert int(rounding_shift_right(np.int64(x), e)) == want
    assert ref_rshift(x, e) == want


@FAST
@given(st.integers(-(1 << 62), (1 << 62) - 1), st.integers(0, 62))
@example(-(1 << 62), 62)
@example(-3, 1)
def test_rounding_shift_right_property(x, e):
    assert int(rounding_shift_right(np.array([x]), np.array([e]))[0]) == ref_rshift(x, e)


# --- quantize_multiplier ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "real, want",
    [
        (0.5, (1 << 30, 0)),
        (1.0, (1 << 30, -1)),
        (3.0, (3 << 29, -2)),
        (0.75, (3 << 29, 0)),
        (0.1, (1717986918, 3)),  # 0.8 * 2^31 = 1717986918.4
        (0.0, (0, 0)),
        (0.5 + 2.0**-32, ((1 << 30) + 1, 0)),  # q * 2^31 = 2^30 + 0.5: tie, away from zero
        (1 - 2.0**-33, (1 << 30, -1)),  # rounds up to 2^31: renormalized
        (2.0**-80, (0, 0)),  # below any int32 input's resolution
    ],
)
def test_quantize_multiplier_hand_worked(real, want):
    assert quantize_multiplier(real) == want


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), 2.0**31, 1e12])
def test_quantize_multiplier_rejects(bad):
    with pytest.raises(ValueError):
        quantize_multiplier(bad)


@FAST
@given(st.floats(2.0**-60, 2.0**30, allow_nan=False))
def test_quantize_multiplier_is_accurate(real):
    m, shift = quantize_multiplier(real)
    if m == 0:
        assert shift == 0 and real < 2.0**-62
        return
    assert (1 << 30) <= m < (1 << 31) and -31 <= shift <= 62
    approx = Fraction(m, 1 << 31) * Fraction(2) ** (-shift)
    assert abs(approx - Fraction(real)) <= Fraction(2) ** (-shift - 32)  # half a Q0.31 step


def test_quantize_multipliers_vectorized():
    reals = np.array([[0.5, 0.1], [3.0, 0.0]])
    m, s = quantize_multipliers(reals)
    assert m.shape == s.shape == (2, 2)
    assert m.tolist() == [[1 << 30, 1717986918], [3 << 29, 0]]
    assert s.tolist() == [[0, 3], [-2, 0]]


# --- requantize ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "acc, real, want",
    [
        (1000, 0.1, 100),
        (-1000, 0.1, -100),
        (7, 3.0, 21),  # left shift 2, then * 0.75
        (1 << 30, 3.0, 1610612735),  # (2^30 << 2) saturates to 2^31-1 before the multiply
        (-(1 << 30), 3.0, -1610612736),
        (-6, 0.25, -2),  # srdhm: -3, then -1.5 -> -2 (away from zero)
        (-2, 0.25, -1),  # srdhm: -1, then -0.5 -> -1
        (-1, 0.25, 0),  # srdhm: -0.5 -> 0 (ties up), then 0
        (INT32_MIN, 1.0, -(1 << 30)),  # 1.0 = 0.5 * 2^1: the << 1 saturates first, then * 0.5
        (INT32_MAX, 2.0**-40, 0),
    ],
)
def test_requantize_hand_worked(acc, real, want):
    m, s = quantize_multiplier(real)
    assert int(requantize(np.int64(acc), np.int64(m), np.int64(s))) == want
    assert ref_requantize(acc, m, s) == want


@FAST
@given(int32, multipliers, st.integers(-31, 62))
@example(INT32_MIN, (1 << 31) - 1, -31)
@example(INT32_MAX, (1 << 31) - 1, -31)
@example(INT32_MIN, 1 << 30, 62)
def test_requantize_property(acc, m, shift):
    got = int(requantize(np.array([acc]), np.array([m]), np.array([shift]))[0])
    assert got == ref_requantize(acc, m, shift)


def test_requantize_per_channel_broadcast():
    acc = np.array([[1000, 1000, 7], [-1000, 5, -7]])
    pairs = [quantize_multiplier(r) for r in (0.1, 0.5, 3.0)]
    m = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs])
    assert requantize(acc, m, s).tolist() == [[100, 500, 21], [-100, 3, -21]]


# --- saturation and rounding of floats ------------------------------------------------------
def test_saturate_hand_worked():
    x = np.array([1 << 40, 32768, 32767, -32768, -32769, -(1 << 40)])
    assert saturate(x, 16).tolist() == [32767, 32767, 32767, -32768, -32768, -32768]
    assert saturate_symmetric(np.array([-128, -127, 127, 128]), 8).tolist() == [-127, -127, 127, 127]
    assert int(saturate(np.int64(300), 8)) == 127
    assert saturate(x, 16).dtype == np.int64


def test_round_half_away_hand_worked():
    x = [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994, 0.0, -0.0,
         1.4999999999999998, 2.0**52 + 1, -(2.0**52) - 1]
    want = [1, -1, 2, -2, 3, -3, 0, 0, 0, 0, 1, 2**52 + 1, -(2**52) - 1]
    assert round_half_away(np.array(x)).tolist() == want
    # huge values keep their sign through saturation instead of wrapping
    assert saturate(round_half_away(np.array([1e300, -1e300])), 16).tolist() == [32767, -32768]


@FAST
@given(st.floats(-1e15, 1e15, allow_nan=False))
def test_round_half_away_property(x):
    assert int(round_half_away(np.array([x]))[0]) == ref_round_half_away(Fraction(x))

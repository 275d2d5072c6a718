"""LUT sigmoid/tanh (engine/nna/lut.py): hand-worked values, monotonicity, error bounds."""

from __future__ import annotations

import numpy as np
import pytest

from engine.nna.cells import joiner_activation, joiner_sum
from engine.nna.lut import (
    build_lut,
    fast_lut,
    full_table,
    lut_apply,
    lut_sigmoid,
    lut_tanh,
    reference_lut,
)
from engine.nna.spec import NNASpec

SPEC = NNASpec()  # 256 segments over [-8, 8): breakpoint i at x = -8 + i/16, input Q3.12
ALL = np.arange(-32768, 32768, dtype=np.int64)


def test_tables_hand_worked():
    s, t = build_lut("sigmoid", SPEC), build_lut("tanh", SPEC)
    assert len(s) == len(t) == 257
    # sigmoid(-8) * 2^15 = 10.99 -> 11; sigmoid(0) = 0.5 -> 16384;
    # sigmoid(1/16) * 2^15 = 16895.83 -> 16896; sigmoid(-1/16) -> 15872.17 -> 15872;
    # sigmoid(8) * 2^15 = 32757.01 -> 32757
    assert [s[0], s[127], s[128], s[129], s[256]] == [11, 15872, 16384, 16896, 32757]
    # tanh(-8) * 2^15 = -32767.99 -> -32768; tanh(1/16) * 2^15 = 2045.34 -> 2045;
    # tanh(8) * 2^15 = 32767.99 -> 32768, saturated to 32767
    assert [t[0], t[127], t[128], t[129], t[256]] == [-32768, -2045, 0, 2045, 32767]


@pytest.mark.parametrize(
    "fn, x, want",
    [
        # breakpoints: x = -32768 + 256 i gives the table entry i exactly
        ("sigmoid", 0, 16384), ("sigmoid", 256, 16896), ("sigmoid", -32768, 11),
        ("tanh", 0, 0), ("tanh", 256, 2045), ("tanh", -256, -2045),
        # midpoints: t[i] + ((t[i+1] - t[i]) * 128 + 128) >> 8
        ("sigmoid", 128, 16640),  # 16384 + (65536 + 128) >> 8 = 16384 + 256
        ("sigmoid", -128, 16128),  # 15872 + 256
        ("tanh", 128, 1023),  # (2045 * 128 + 128) >> 8 = 261888 >> 8 = 1023
        ("tanh", -128, -1022),  # -2045 + 1023 (round half up is not odd-symmetric)
        # other fractions: frac 255 of segment 128, and the last input
        ("sigmoid", 255, 16894),  # 16384 + (512 * 255 + 128) >> 8 = 16384 + 510
        ("sigmoid", 32767, 32757),  # 32756 + (1 * 255 + 128) >> 8
        ("tanh", 32767, 32767),
    ],
)
def test_lut_hand_worked(fn, x, want):
    f = lut_sigmoid if fn == "sigmoid" else lut_tanh
    assert int(f(np.array([x]), SPEC)[0]) == want
    assert int(lut_apply(np.array([x]), build_lut(fn, SPEC), SPEC)[0]) == want


@pytest.mark.parametrize("entries, gate_int_bits", [(256, 3), (64, 3), (1024, 3), (128, 2), (512, 4)])
def test_full_table_equals_interpolation_rule(entries, gate_int_bits):
    spec = NNASpec(lut_entries=entries, gate_int_bits=gate_int_bits)
    for fn in ("sigmoid", "tanh"):
        ref = lut_apply(ALL, build_lut(fn, spec), spec)
        assert np.array_equal(full_table(fn, spec), ref)
        f = lut_sigmoid if fn == "sigmoid" else lut_tanh
        assert np.array_equal(f(ALL, spec), ref)
        assert f(ALL[:5].reshape(1, 5), spec).shape == (1, 5)


@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_lut_monotone_and_in_range(fn):
    y = (lut_sigmoid if fn == "sigmoid" else lut_tanh)(ALL, SPEC)
    assert np.all(np.diff(y) >= 0)
    assert y.min() >= (0 if fn == "sigmoid" else -32768) and y.max() <= 32767


# Stated bound: linear interpolation with segment width h errs by at most
# h^2/8 * max|f''| (sigmoid: 0.0962, tanh: 0.7698), plus 1.5 LSB of Q0.15 for rounding the
# table, the interpolation product, and the output. Default spec: 6.7e-5 (sigmoid) and
# 3.9e-4 (tanh) measured, i.e. about 2.2 and 12.9 LSB.
F2 = {"sigmoid": 0.0962, "tanh": 0.7698}
REF = {"sigmoid": lambda x: 1 / (1 + np.exp(-x)), "tanh": np.tanh}


@pytest.mark.parametrize("entries", [64, 256, 1024])
@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_lut_max_error_bound(fn, entries):
    spec = NNASpec(lut_entries=entries)
    x = ALL / 2.0**spec.gate_frac_bits
    y = (lut_sigmoid if fn == "sigmoid" else lut_tanh)(ALL, spec) / 32768.0
    err = np.abs(y - REF[fn](x)).max()
    h = 2.0 ** (spec.gate_int_bits + 1) / entries
    bound = h * h / 8 * F2[fn] + 1.5 / 32768
    assert err <= bound
    if entries == 256:
        assert err <= (1e-4 if fn == "sigmoid" else 5e-4)


@pytest.mark.parametrize("spec", [SPEC, NNASpec(lut_entries=64, gate_int_bits=2)])
def test_fast_lut_equals_the_rule(spec):
    """The one-lookup LUT the engine runs is an optimization of lut_apply, equal everywhere."""
    fast, rule = fast_lut(spec), reference_lut(spec)
    for name in ("sigmoid", "tanh"):
        assert np.array_equal(fast(name, ALL), rule(name, ALL))


@pytest.mark.parametrize("act_bits", [8, 16])
def test_tabulated_joiner_input_equals_the_rule(tmp_path, act_bits):
    """The network's tabulated join.out input (an optimization) equals the joiner rule
    joiner_activation(joiner_sum(e, p)) for every int16 pre-activation and saturating sums."""
    from helpers import make_random_model

    from engine.model import load_model
    from engine.network import Network

    m = load_model(make_random_model(tmp_path / "m.nnasr", hidden=8, layers=1, reduce_after=0))
    spec = NNASpec(act_bits=act_bits)
    m.spec = spec
    net = Network(m)
    e = np.array([-32768, -32768, 32767, 100, -7])
    p = np.array([-1, -32768, 5, -300, 7])
    want = joiner_activation(joiner_sum(e, p), spec, reference_lut(spec))[1]
    got = net._join_in[np.clip(e + p, -32768, 32767) + 32768]
    assert np.array_equal(got, want)
    assert np.array_equal(net._join_in, joiner_activation(ALL, spec, reference_lut(spec))[1])

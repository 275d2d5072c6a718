"""The torch mirror of the NNA's fixed-point rules equals the engine's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.nna import fixedpoint as fp  # noqa: E402
from engine.nna.lut import build_lut, lut_apply  # noqa: E402
from engine.nna.spec import NNASpec  # noqa: E402
from trainer.aat import ops  # noqa: E402


def _edge_ints(rng, n):
    edges = np.array([fp.INT32_MIN, fp.INT32_MIN + 1, -1, 0, 1, fp.INT32_MAX, fp.INT32_MAX - 1,
                      1 << 30, -(1 << 30)], dtype=np.int64)
    return np.concatenate([edges, rng.integers(fp.INT32_MIN, fp.INT32_MAX, n, dtype=np.int64)])


def test_requantize_matches_engine():
    rng = np.random.default_rng(0)
    acc = _edge_ints(rng, 5000)
    reals = np.exp(rng.uniform(np.log(1e-6), np.log(4.0), acc.size))
    m, s = fp.quantize_multipliers(reals)
    want = fp.requantize(acc, m, s)
    got = ops.requantize(torch.from_numpy(acc), torch.from_numpy(m), torch.from_numpy(s)).numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ops.srdhm(torch.from_numpy(acc), torch.from_numpy(acc[::-1].copy())).numpy(),
                                  fp.srdhm(acc, acc[::-1]))


def test_rounding_and_shift_match_engine():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1e3, 5000), np.arange(-10, 10) + 0.5,
                        [0.49999999999999994, -0.49999999999999994, 1e30, -1e30]])
    np.testing.assert_array_equal(ops.round_half_away(torch.from_numpy(x)).numpy(), fp.round_half_away(x))
    v = _edge_ints(rng, 2000)
    for e in (0, 1, 5, 15, 31):
        np.testing.assert_array_equal(ops.rounding_shift_right(torch.from_numpy(v), e).numpy(),
                                      fp.rounding_shift_right(v, e))


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_lut_matches_engine(name):
    spec = NNASpec()
    x = np.arange(-32768, 32768, dtype=np.int64)
    want = lut_apply(x, build_lut(name, spec), spec)
    got = ops.LUT(spec)(name, torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, want)


def test_lstm_step_and_joiner_on_torch_equal_numpy():
    """The cell and joiner rules (engine/nna/cells.py) give the same integers on torch."""
    from engine.nna.cells import joiner_activation, joiner_sum, lstm_step
    from engine.nna.lut import reference_lut

    rng = np.random.default_rng(2)
    for spec in (NNASpec(), NNASpec(act_bits=16, gate_int_bits=2, cell_frac_bits=13)):
        gx, gh = rng.integers(-32768, 32768, (2, 5, 4 * 24))
        c = rng.integers(-32768, 32768, (5, 24))
        want = lstm_step(gx, gh, c, spec, reference_lut(spec))
        got = ops.lstm_step(*(torch.from_numpy(v) for v in (gx, gh, c)), spec, ops.LUT(spec))
        for w, g in zip(want, got):
            np.testing.assert_array_equal(g.numpy(), w)
        e, p = rng.integers(-32768, 32768, (2, 7, 16))
        want_j = joiner_activation(joiner_sum(e, p), spec, reference_lut(spec))
        got_j = ops.joiner_activation(ops.joiner_sum(torch.from_numpy(e), torch.from_numpy(p)), spec, ops.LUT(spec))
        for w, g in zip(want_j, got_j):
            np.testing.assert_array_equal(g.numpy(), w)

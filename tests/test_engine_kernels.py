"""Integer kernels (engine/nna/kernels.py): QLinear (dense, sparse, compacted) against the
int64 reference, the fused LSTM cell against the rule-by-rule one and against float."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.nna import kernels as K
from engine.nna.fixedpoint import INT32_MAX, INT32_MIN, quantize_multipliers, requantize, saturate
from engine.nna.spec import NNASpec
from engine.quantize import quantize_weight

SETTINGS = settings(max_examples=150, deadline=None)


def _qlinear_case(seed, n, k, t, density, act_bits, weight_bits, bias_mode, kernel):
    rng = np.random.default_rng(seed)
    spec = NNASpec(weight_bits=weight_bits, act_bits=act_bits)
    qw = spec.weight_qmax
    w = rng.integers(-qw, qw + 1, (n, k))
    w[rng.random((n, k)) > density] = 0
    amax = 1 << (act_bits - 1)
    x = rng.integers(-amax, amax, (t, k) if t else (k,))  # includes -2^(act_bits-1)
    x.flat[: min(3, x.size)] = [-amax, amax - 1, 0][: min(3, x.size)]
    bias = {
        "zero": np.zeros(n, np.int64),
        "small": rng.integers(-(1 << 20), 1 << 20, n),
        "huge": rng.choice([INT32_MAX - 5, INT32_MIN + 5, 0], n),
    }[bias_mode]
    m, s = quantize_multipliers(rng.uniform(1e-7, 6.0, n) ** rng.choice([1, 3], n))
    return spec, w, x, bias, m, s, K.QLinear(w, bias, m, s, spec, act_bits, kernel=kernel)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    k=st.integers(1, 70),
    t=st.integers(0, 4),
    density=st.sampled_from([1.0, 0.5, 0.2, 0.03, 0.0]),
    act_bits=st.sampled_from([8, 16]),
    weight_bits=st.integers(4, 8),
    bias_mode=st.sampled_from(["zero", "small", "huge"]),
    kernel=st.sampled_from(["auto", "dense", "sparse"]),
)
def test_qlinear_equals_int64_reference(seed, n, k, t, density, act_bits, weight_bits, bias_mode, kernel):
    spec, w, x, bias, m, s, q = _qlinear_case(seed, n, k, t, density, act_bits, weight_bits, bias_mode, kernel)
    ref = K.linear_acc(x, w, bias, spec)
    assert np.array_equal(q.accumulate(x), ref)
    want = saturate(requantize(ref, m, s), 16)
    assert np.array_equal(q(x, out_bits=16), want)
    assert np.array_equal(q(x, out_bits=8), saturate(requantize(ref, m, s), 8))


@pytest.mark.parametrize("k", [1031, 1032, 1033, 1040, 1041, 1500])
def test_qlinear_exact_near_float32_limit(k):
    """Dense rows of +-127 against inputs of 127 and -128: partial sums near 2^24."""
    spec = NNASpec()
    assert spec.exact_float32_max_k == 1040  # the spec's figure for |x| <= 127
    w = np.full((3, k), 127)
    w[1] = -127
    w[2, ::2] = -127
    x = np.stack([np.full(k, 127), np.full(k, -128), np.where(np.arange(k) % 3, 127, -128)])
    q = K.QLinear(w, np.zeros(3, np.int64), np.full(3, 1 << 30), np.zeros(3, np.int64), spec)
    # the float32 path is taken only while max_row sum|w| * 128 < 2^24
    assert q.blas_dtype == (np.float32 if k * 127 * 128 < 1 << 24 else np.float64)
    assert np.array_equal(q.accumulate(x), K.linear_acc(x, w, 0, spec))
    assert np.array_equal(q.accumulate(x[1]), K.linear_acc(x[1], w, 0, spec))


def test_qlinear_sparse_long_rows_stay_float32():
    """A sparse matrix qualifies for float32 BLAS on rows far longer than 1040."""
    rng = np.random.default_rng(0)
    k = 4096
    w = np.zeros((8, k), np.int64)
    for r in range(8):
        cols = rng.choice(k, 1000, replace=False)
        w[r, cols] = rng.choice([-127, 127], 1000)
    q = K.QLinear(w, np.zeros(8, np.int64), np.full(8, 1 << 30), np.zeros(8, np.int64), NNASpec())
    assert q.blas_dtype == np.float32
    x = rng.choice([-128, 127], (3, k))
    assert np.array_equal(q.accumulate(x), K.linear_acc(x, w, 0, NNASpec()))


def test_qlinear_accumulator_saturates():
    spec = NNASpec()
    w = np.array([[127] * 8, [-127] * 8])
    bias = np.array([INT32_MAX - 1000, INT32_MIN + 1000])
    q = K.QLinear(w, bias, np.full(2, 1 << 30), np.zeros(2, np.int64), spec)
    x = np.full(8, 127)
    acc = q.accumulate(x)
    assert acc.tolist() == [INT32_MAX, INT32_MIN]
    assert np.array_equal(acc, K.linear_acc(x, w, bias, spec))
    assert q(x, out_bits=16).tolist() == [32767, -32768]


def test_qlinear_sparse_and_compacted_paths():
    rng = np.random.default_rng(1)
    spec = NNASpec()
    w = rng.integers(-127, 128, (64, 48))
    w[rng.random(w.shape) > 0.1] = 0
    w[::4] = 0  # a quarter of the rows all zero
    w[:, ::3] = 0  # a third of the columns all zero
    bias = rng.integers(-1000, 1000, 64)
    m, s = quantize_multipliers(rng.uniform(1e-4, 0.1, 64))
    ref_q = K.QLinear(w, bias, m, s, spec, kernel="dense")
    for kernel in ("auto", "dense", "sparse"):
        q = K.QLinear(w, bias, m, s, spec, kernel=kernel)
        assert q._rows is not None and q._cols is not None
        assert q.sparse == (kernel == "sparse" or (kernel == "auto" and q.density <= K.SPARSE_MAX_DENSITY))
        for x in (rng.integers(-127, 128, 48), rng.integers(-127, 128, (5, 48))):
            ref = K.linear_acc(x, w, bias, spec)
            assert np.array_equal(q.accumulate(x), ref)
            assert np.array_equal(q(x), ref_q(x))
    # all-zero matrix: accumulators are the bias
    z = K.QLinear(np.zeros((4, 6), np.int64), np.arange(4), np.full(4, 1 << 30), np.zeros(4, np.int64), spec)
    assert z.accumulate(np.ones(6, np.int64)).tolist() == [0, 1, 2, 3]


def test_qlinear_rejects_unknown_kernel():
    with pytest.raises(ValueError, match="kernel"):
        K.QLinear(np.zeros((2, 2), np.int64), np.zeros(2), np.zeros(2), np.zeros(2), NNASpec(), kernel="csr")


def test_elementwise_kernels_hand_worked():
    assert K.add_sat(np.array([32767, -32768, 100]), np.array([1, -1, -50])).tolist() == [32767, -32768, 50]
    assert int(K.add_sat(100, 100, 8)) == 127
    # (a*b) / 2^shift, ties away from zero, saturated
    assert K.mul_shift(np.array([3, -3]), np.array([5, 5]), 1).tolist() == [8, -8]  # +-7.5
    assert K.mul_shift(np.array([32767, -32768, -32768]), np.array([32767, -32768, 32767]), 15).tolist() == [32766, 32767, -32767]
    assert K.quantize_input(np.array([0.5, 0.375, -0.375, 100.0, -100.0]), 0.25, 8).tolist() == [2, 2, -2, 127, -127]
    table = np.arange(12).reshape(4, 3)
    assert K.embedding_lookup(table, 2).tolist() == [6, 7, 8]
    assert int(K.argmax(np.array([1, 5, 5, 2]))) == 1  # ties: lowest index
    assert K.argmax(np.array([[0, 3], [3, 3]])).tolist() == [1, 0]


# --- LSTM cell ---------------------------------------------------------------------------
def _cell_case(seed, h, spec, batch):
    rng = np.random.default_rng(seed)
    qw = spec.weight_qmax
    w = rng.integers(-qw, qw + 1, (4 * h, h))
    w[rng.random(w.shape) < rng.random()] = 0
    m, s = quantize_multipliers(rng.uniform(1e-5, 0.5, 4 * h) * rng.choice([1, 30], 4 * h))
    wh = K.QLinear(w, np.zeros(4 * h, np.int64), m, s, spec, spec.act_bits)
    shape = (batch,) if batch else ()
    gx = rng.integers(-32768, 32768, shape + (4 * h,))
    hq = rng.integers(-spec.act_qmax, spec.act_qmax + 1, shape + (h,))
    cq = rng.integers(-32768, 32768, shape + (h,))
    extremes = rng.random() < 0.3
    if extremes:
        gx = rng.choice([-32768, 32767], gx.shape)
        cq = rng.choice([-32768, 32767], cq.shape)
    return wh, gx, hq, cq


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    h=st.integers(1, 48),
    act_bits=st.sampled_from([8, 16]),
    weight_bits=st.integers(4, 8),
    gate_int_bits=st.integers(1, 6),
    cell_frac_bits=st.integers(8, 14),
    lut_entries=st.sampled_from([64, 256, 1024]),
    batch=st.sampled_from([0, 3]),
)
def test_lstm_cell_fused_equals_reference(seed, h, act_bits, weight_bits, gate_int_bits, cell_frac_bits,
                                          lut_entries, batch):
    spec = NNASpec(act_bits=act_bits, weight_bits=weight_bits, gate_int_bits=gate_int_bits,
                   cell_frac_bits=cell_frac_bits, lut_entries=lut_entries)
    wh, gx, hq, cq = _cell_case(seed, h, spec, batch)
    h_ref, c_ref = K.lstm_cell_int_reference(gx, hq, cq, wh, spec)
    h_new, c_new = K.LSTMCellInt(wh, spec).step(gx, hq, cq)
    assert np.array_equal(h_new, h_ref) and np.array_equal(c_new, c_ref)
    if not batch:
        out, h_last, c_last = K.LSTMCellInt(wh, spec).run(np.stack([gx, gx]), hq, cq)
        h2, c2 = K.lstm_cell_int_reference(gx, h_ref, c_ref, wh, spec)
        assert np.array_equal(out, np.stack([h_ref, h2])) and np.array_equal(c_last, c2)


def test_lstm_cell_saturates():
    spec = NNASpec()
    h = 4
    w = np.full((4 * h, h), 127)
    w[2 * h : 3 * h] *= -1  # g gate pulled negative
    m, s = quantize_multipliers(np.full(4 * h, 0.5))
    wh = K.QLinear(w, np.zeros(4 * h, np.int64), m, s, spec)
    hq = np.full(h, 127)
    # i, f, o -> ~1; g -> -1; gates far beyond int16 before saturation
    gx = np.concatenate([np.full(2 * h, 32767), np.full(h, -32768), np.full(h, 32767)])
    for c0, want in ((np.full(h, -32768), -32768), (np.full(h, 32767), None)):
        h_new, c_new = K.LSTMCellInt(wh, spec).step(gx, hq, c0)
        h_ref, c_ref = K.lstm_cell_int_reference(gx, hq, c0, wh, spec)
        assert np.array_equal(h_new, h_ref) and np.array_equal(c_new, c_ref)
        assert np.all(np.abs(h_new) <= 127) and np.all((c_new >= -32768) & (c_new <= 32767))
        if want is not None:
            assert np.all(c_new == want)  # f*c + i*g = -16 - 1 saturates at -16 (Q4.11)
            assert np.all(h_new == -127)  # o * tanh(-16 -> -8 in gate format) = -1 -> -127
    # positive saturation of the cell: c = +16, g = +1
    gx2 = np.full(4 * h, 32767)
    wh2 = K.QLinear(np.full((4 * h, h), 127), np.zeros(4 * h, np.int64), m, s, spec)
    h_new, c_new = K.LSTMCellInt(wh2, spec).step(gx2, hq, np.full(h, 32767))
    assert np.all(c_new == 32767) and np.all(h_new == 127)


def test_integer_lstm_tracks_float_lstm():
    """30 steps of the integer cell against a float64 LSTM with the same (dequantized)
    weights and gate inputs: the hidden state stays within 2 LSB of Q0.7 (measured: 0.007),
    the cell within 0.02 (measured: 0.008)."""
    spec = NNASpec()
    worst_h = worst_c = 0.0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        h = 32
        w = rng.uniform(-0.3, 0.3, (4 * h, h))
        codes, scale = quantize_weight(w, spec)
        m, s = quantize_multipliers(2.0**-7 * scale.astype(np.float64) / 2.0**-12)
        wh = K.QLinear(codes, np.zeros(4 * h, np.int64), m, s, spec)
        wd = codes * scale[:, None].astype(np.float64)
        hq, cq = np.zeros(h, np.int64), np.zeros(h, np.int64)
        hf, cf = np.zeros(h), np.zeros(h)

        def sig(v):
            return 1 / (1 + np.exp(-v))

        for _ in range(30):
            gx_q = np.round(rng.uniform(-3, 3, 4 * h) * 4096).astype(np.int64)
            hq, cq = K.LSTMCellInt(wh, spec).step(gx_q, hq, cq)
            g = gx_q / 4096 + wd @ hf
            cf = sig(g[h : 2 * h]) * cf + sig(g[:h]) * np.tanh(g[2 * h : 3 * h])
            hf = sig(g[3 * h :]) * np.tanh(cf)
            worst_h = max(worst_h, np.abs(hq / 128 - hf).max())
            worst_c = max(worst_c, np.abs(cq / 2048 - cf).max())
    assert worst_h <= 2 / 128 and worst_c <= 0.02

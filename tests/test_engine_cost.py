"""The cost model (engine/nna/cost.py): a hand-computed tiny model, sparsity and SRAM."""

from __future__ import annotations

import numpy as np
import pytest

from engine.frontend import FrontendConfig
from engine.model import Architecture, EngineModel
from engine.nna.cost import build_cost_table, count_key, modeled_seconds, per_op, split_key
from engine.nna.spec import NNASpec
from engine.quantize import build_tensors, random_params

TINY = Architecture(num_classes=3, n_mels=2, stack=1, enc_hidden=2, enc_layers=1, reduce_after=0,
                    pred_embed=2, pred_hidden=2, joiner_dim=2)


def _model(arch, spec, tensors, placement=None):
    return EngineModel(arch=arch, frontend=FrontendConfig(n_mels=arch.n_mels), spec=spec,
                       placement={op: "nna" for op in arch.op_names()} | (placement or {}),
                       tensors=tensors, tokenizer_proto=b"")


def _tiny_tensors():
    t = {k: np.ones(s, np.int8) for k, s in TINY.weight_shapes().items()}
    t["enc.0.wx"][:] = 0
    t["enc.0.wx"][:4, 0] = 1  # 4 of 16 non-zero: 75 % sparse, stored compressed
    return t


def test_tiny_model_hand_computed():
    spec = NNASpec(sram_bytes=0)  # nothing resident: every op reads its weights from DRAM
    table = build_cost_table(_model(TINY, spec, _tiny_tensors()))
    # an LSTM is two ops, in this order: its input projection, then its step
    assert list(table)[:2] == ["enc.0.x", "enc.0"]
    x, e = table["enc.0.x"], table["enc.0"]
    # MACs: wx 8x2 = 16 (dense: the MAC array does not skip zeros), 4 non-zero; wh 8x2
    assert (x.macs, x.nnz_macs, e.macs, e.nnz_macs) == (16, 4, 16, 16)
    # bytes: wx bitmap 2 + 4 non-zeros and 12 bytes of bias/multiplier/shift x 8;
    # wh dense 16 and 8 bytes of multiplier/shift x 8 (the bias is the projection's)
    assert (x.weight_bytes, x.dense_weight_bytes) == (2 + 4 + 96, 16 + 96)
    assert (e.weight_bytes, e.dense_weight_bytes) == (16 + 64, 16 + 64)
    assert (x.io_bytes, e.io_bytes) == (2, 2)  # x (2) in per vector; h (2) out per step, int8
    # DRAM-bound: 102 B / 4 GB/s = 25.5 ns > 16 MACs / 204.8 GMAC/s; + 2 us dispatch
    assert x.seconds == pytest.approx(102 / 4e9 + 2e-6)
    assert e.seconds == pytest.approx(80 / 4e9 + 2e-6)
    assert e.dram_bytes == 80 and not e.resident
    assert table["pred.embed"].weight_bytes == 2  # one int8 row per lookup
    assert table["pred.embed"].seconds == pytest.approx(2 / 4e9 + 2e-6)
    assert table["pred.0.x"].seconds == pytest.approx(112 / 4e9 + 2e-6)
    assert table["pred.0"].seconds == pytest.approx(80 / 4e9 + 2e-6)
    assert table["join.enc"].weight_bytes == 4 + 24
    assert table["join.out"].weight_bytes == 6 + 36
    assert table["join.out"].seconds == pytest.approx(42 / 4e9 + 2e-6)
    # a chunk of 10 frames: one projection on 10 vectors (its weights stream once), 10 steps
    counts = {count_key("enc.0.x", 10): 1, "enc.0": 10, "join.out": 5}
    assert modeled_seconds(table, counts) == pytest.approx(
        (102 / 4e9 + 2e-6) + 10 * (80 / 4e9 + 2e-6) + 5 * (42 / 4e9 + 2e-6))


def test_an_invocation_on_several_vectors_streams_its_weights_once():
    """A beam round's hypotheses (or a chunk's frames) through one op: one weight stream and
    one dispatch, n vectors' MACs; on the CPU n vectors' FLOPs and activations, two
    crossings' latency."""
    spec = NNASpec(sram_bytes=0)
    table = build_cost_table(_model(TINY, spec, _tiny_tensors(), {"join.enc": "cpu"}))
    j = table["join.out"]
    assert j.call_seconds(1) == pytest.approx(j.seconds)
    assert j.call_seconds(4) == pytest.approx(42 / 4e9 + 2e-6)  # DRAM-bound: 4 x 6 MACs is less
    assert j.call_seconds(10**6) == pytest.approx(6e6 / 204.8e9 + 2e-6)  # MAC-bound
    counts = {count_key("join.out", 4): 2, "join.out": 3}
    assert modeled_seconds(table, counts) == pytest.approx(5 * (42 / 4e9 + 2e-6))
    assert per_op(counts) == {"join.out": (5, 11)} and split_key(count_key("pred.0", 3)) == ("pred.0", 3)
    c = table["join.enc"]  # on the CPU: 2 x 4 MACs, 2 B in + 2 B out per vector
    assert c.call_seconds(3) == pytest.approx(3 * (2 * 4 / 4e9 + 4 / 1e9) + 2 * 20e-6)
    resident = build_cost_table(_model(TINY, NNASpec(), _tiny_tensors()))["join.out"]
    assert resident.resident and resident.call_seconds(4) == pytest.approx(4 * 6 / 204.8e9 + 2e-6)


def test_cpu_placement_costs_float_time_and_two_transfers():
    spec = NNASpec(sram_bytes=0)
    table = build_cost_table(_model(TINY, spec, _tiny_tensors(), {"join.out": "cpu", "enc.0": "cpu"}))
    j = table["join.out"]
    assert j.device == "cpu" and j.dram_bytes == 0
    # 2 FLOPs per MAC at 4 GFLOP/s, 20 us each way, 2 B in and 3 B out at 1 GB/s
    assert j.io_bytes == 2 + 3
    assert j.seconds == pytest.approx(2 * 6 / 4e9 + 2 * 20e-6 + 5 / 1e9)
    assert j.seconds > 10 * build_cost_table(_model(TINY, spec, _tiny_tensors()))["join.out"].seconds
    # an LSTM on the CPU, both of its parts: x crosses in once per projection, h out per step
    x, e = table["enc.0.x"], table["enc.0"]
    assert x.device == e.device == "cpu" and table["pred.0.x"].device == "nna"
    assert x.call_seconds(10) == pytest.approx(10 * (2 * 16 / 4e9 + 2 / 1e9) + 20e-6)
    assert e.seconds == pytest.approx(2 * 16 / 4e9 + 2 / 1e9 + 20e-6)


def test_sram_residency_smallest_first():
    spec = NNASpec(sram_bytes=150)
    table = build_cost_table(_model(TINY, spec, _tiny_tensors()))
    # bytes: pred.embed 2, join.enc 28, join.pred 28, join.out 42 (sum 100) fit in 150;
    # the LSTM steps (80 each) and projections (102, 112) no longer fit in the 50 left
    resident = {op for op, c in table.items() if c.resident}
    assert resident == {"pred.embed", "join.enc", "join.pred", "join.out"}
    assert table["join.out"].seconds == pytest.approx(6 / spec.macs_per_s + 2e-6)
    assert table["enc.0"].seconds == pytest.approx(80 / 4e9 + 2e-6)
    everything = build_cost_table(_model(TINY, NNASpec(), _tiny_tensors()))  # 512 KiB
    assert all(c.resident and c.dram_bytes == 0 for c in everything.values())
    # an op on the CPU takes no SRAM: the next op fits instead
    cpu = build_cost_table(_model(TINY, spec, _tiny_tensors(), {"join.out": "cpu"}))
    assert {op for op, c in cpu.items() if c.resident} == {"pred.embed", "join.enc", "join.pred", "enc.0"}
    assert 150 - 58 - 80 < 80  # then pred.0's step no longer fits


@pytest.fixture(scope="module")
def mid_models():
    arch = Architecture(num_classes=65, enc_hidden=128, enc_layers=2, pred_embed=64, pred_hidden=128,
                        joiner_dim=128)
    spec = NNASpec(sram_bytes=64 * 1024)
    out = {}
    for sparsity in (0.0, 0.5, 0.8):
        t = build_tensors(random_params(arch, seed=0, sparsity=sparsity), arch, spec, in_scale=0.03,
                          out_scale=1e-3, mean=np.zeros(80), std=np.ones(80), float_ops=[])
        out[sparsity] = build_cost_table(_model(arch, spec, t))
    return out


def test_sparser_model_reads_fewer_bytes_and_costs_less(mid_models):
    frame = {"enc.0.x*2": 1, "enc.0": 2, "enc.1.x": 1, "enc.1": 1, "pred.embed": 1, "pred.0.x": 1,
             "pred.0": 1, "join.enc": 1, "join.pred": 1, "join.out": 2}
    by = {s: sum(c.weight_bytes for c in t.values()) for s, t in mid_models.items()}
    sec = {s: modeled_seconds(t, frame) for s, t in mid_models.items()}
    assert by[0.8] < by[0.5] < by[0.0] and sec[0.8] < sec[0.5] < sec[0.0]
    # 80 % zeros: bitmap (1/8 B) + 0.2 B of codes per weight instead of 1 B
    assert by[0.8] < 0.45 * by[0.0]
    for op in ("enc.0.x", "enc.0", "pred.0.x", "pred.0"):
        assert mid_models[0.8][op].macs == mid_models[0.0][op].macs  # MACs are not skipped
        assert mid_models[0.8][op].nnz_macs < 0.25 * mid_models[0.0][op].macs


def test_relative_indices_priced_instead_of_a_bitmap():
    """`--set zwc_index_bits=4`: at 95 % zeros a 4-bit relative index per non-zero (and a few
    fillers) is smaller than a bit per weight, so every compressed op reads fewer bytes and
    costs less; the MACs and the dense ops do not change."""
    arch = Architecture(num_classes=65, enc_hidden=128, enc_layers=2, pred_embed=64, pred_hidden=128,
                        joiner_dim=128)
    spec = NNASpec(sram_bytes=0)
    t = build_tensors(random_params(arch, seed=0, sparsity=0.95), arch, spec, in_scale=0.03,
                      out_scale=1e-3, mean=np.zeros(80), std=np.ones(80), float_ops=[])
    m = _model(arch, spec, t)
    bitmap = build_cost_table(m)
    index = build_cost_table(m, spec=spec.what_if({"zwc_index_bits": "4"}))
    sparse = [op for op, c in bitmap.items() if c.weight_bytes < 0.5 * c.dense_weight_bytes]
    assert {"enc.0", "enc.1.x", "pred.0", "join.out"} <= set(sparse)
    for op, c in bitmap.items():
        assert index[op].macs == c.macs and index[op].nnz_macs == c.nnz_macs
        if op in sparse:
            assert index[op].weight_bytes < c.weight_bytes and index[op].seconds < c.seconds
        else:
            assert index[op].weight_bytes == c.weight_bytes

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
    t["enc.0.wx"][:2] = 1  # 4 of 16 non-zero: 75 % sparse, stored compressed (no column all zero)
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


# --- dead channels ----------------------------------------------------------------------
WIDE = Architecture(num_classes=65, enc_hidden=48, enc_layers=3, reduce_after=1, pred_embed=32,
                    pred_hidden=48, joiner_dim=40)
DEAD = {0: [3, 17, 40], 1: [0, 5, 47], 2: [9, 10, 30]}  # encoder units no op reads, per layer
DEAD_JOIN = [7]  # a joiner channel join.out does not read


def _gates(h: int, units) -> np.ndarray:
    return np.concatenate([g * h + np.asarray(units, int) for g in range(4)])


def _unread(params: dict, arch: Architecture) -> dict:
    """``params`` with the units of DEAD and the channels of DEAD_JOIN read by no op: their
    columns in every matrix that reads them are zero (their own rows are left as they are)."""
    p = {k: v.copy() for k, v in params.items()}
    h = arch.enc_hidden
    for layer, units in DEAD.items():
        p[f"enc.{layer}.wh"][:, units] = 0
        if layer + 1 < arch.enc_layers:
            stacked = p[f"enc.{layer + 1}.wx"].shape[1] // h  # a time reduction's frames
            p[f"enc.{layer + 1}.wx"][:, [f * h + u for f in range(stacked) for u in units]] = 0
        else:
            p["join.enc.w"][:, units] = 0
    p["join.out.w"][:, DEAD_JOIN] = 0
    return p


def _tensors(params: dict, arch: Architecture, spec: NNASpec) -> dict:
    return build_tensors(params, arch, spec, in_scale=0.03, out_scale=1e-3, mean=np.zeros(80),
                         std=np.ones(80), float_ops=[])


def test_live_outputs_finds_the_unread_units_and_channels():
    t = _tensors(_unread(random_params(WIDE, seed=1), WIDE), WIDE, NNASpec())
    live = WIDE.live_outputs(t)
    for layer, units in DEAD.items():
        assert sorted(np.flatnonzero(~live[f"enc.{layer}"])) == units
    assert sorted(np.flatnonzero(~live["join.enc"])) == DEAD_JOIN == sorted(np.flatnonzero(~live["join.pred"]))
    assert live["pred.0"].all() and live["join.out"].all()


def test_dead_channels_priced_as_the_narrower_model_they_leave():
    """A model whose dead units and channels are dropped costs, op by op, what the narrower
    model without them costs: the same MACs, non-zeros and stored bytes (its matrices are the
    wide model's cut down); with `drop_dead_channels=false` the wide model costs more."""
    spec = NNASpec(sram_bytes=0)
    wide = _unread(random_params(WIDE, seed=1, sparsity=0.6), WIDE)
    h, k = WIDE.enc_hidden, len(DEAD[0])
    narrow_arch = Architecture(num_classes=65, enc_hidden=h - k, enc_layers=3, reduce_after=1, pred_embed=32,
                               pred_hidden=48, joiner_dim=WIDE.joiner_dim - len(DEAD_JOIN))
    keep = {layer: np.setdiff1d(np.arange(h), units) for layer, units in DEAD.items()}
    join = np.setdiff1d(np.arange(WIDE.joiner_dim), DEAD_JOIN)
    narrow = dict(wide)
    for layer, kept in keep.items():
        rows = _gates(h, kept)
        cols = (slice(None) if layer == 0 else
                np.concatenate([f * h + keep[layer - 1] for f in range(2 if layer == WIDE.reduce_after else 1)]))
        narrow[f"enc.{layer}.wx"] = wide[f"enc.{layer}.wx"][rows][:, cols]
        narrow[f"enc.{layer}.wh"] = wide[f"enc.{layer}.wh"][rows][:, kept]
        narrow[f"enc.{layer}.b"] = wide[f"enc.{layer}.b"][rows]
    narrow["join.enc.w"] = wide["join.enc.w"][join][:, keep[2]]
    narrow["join.enc.b"] = wide["join.enc.b"][join]
    narrow["join.pred.w"], narrow["join.pred.b"] = wide["join.pred.w"][join], wide["join.pred.b"][join]
    narrow["join.out.w"] = wide["join.out.w"][:, join]
    m_wide = _model(WIDE, spec, _tensors(wide, WIDE, spec))
    m_narrow = _model(narrow_arch, spec, _tensors(narrow, narrow_arch, spec))
    cut, small = build_cost_table(m_wide), build_cost_table(m_narrow)
    assert list(cut) == list(small)
    for op, c in small.items():
        assert (cut[op].macs, cut[op].nnz_macs, cut[op].weight_bytes, cut[op].dense_weight_bytes) == \
               (c.macs, c.nnz_macs, c.weight_bytes, c.dense_weight_bytes), op
    # the sparsity `nnasr models` shows is the narrower model's, not the stored matrices'
    assert m_wide.live_weights() == m_narrow.live_weights()
    assert m_wide.describe()["live_sparsity"] == m_narrow.describe()["live_sparsity"] < m_wide.sparsity()
    whole = build_cost_table(m_wide, spec=spec.what_if({"drop_dead_channels": "false"}))
    for op in ("enc.0.x", "enc.0", "enc.1.x", "enc.2", "join.enc", "join.pred", "join.out"):
        assert whole[op].macs > cut[op].macs and whole[op].weight_bytes > cut[op].weight_bytes, op
    assert whole["pred.0"].macs == cut["pred.0"].macs


def test_what_dead_channels_compute_changes_no_result():
    """The dead units' and channels' own rows set to other random weights: the encoder's
    output changes (those units compute something else), the joiner's logits do not, bit for
    bit: nothing the cost model drops reaches a result. The host's network leaving those rows
    out (the default) gives the same logits and the same live units."""
    from engine.frontend import compute_features
    from engine.network import Network

    spec = NNASpec()
    base = _unread(random_params(WIDE, seed=2), WIDE)
    other = {k: v.copy() for k, v in base.items()}
    rng = np.random.default_rng(9)
    h = WIDE.enc_hidden
    for layer, units in DEAD.items():
        rows = _gates(h, units)
        for name in ("wx", "wh", "b"):
            a = other[f"enc.{layer}.{name}"]
            a[rows] = rng.uniform(-0.3, 0.3, a[rows].shape)
    for name in ("join.enc", "join.pred"):
        other[f"{name}.w"][DEAD_JOIN] = rng.uniform(-0.3, 0.3, other[f"{name}.w"][DEAD_JOIN].shape)
    audio = np.sin(np.linspace(0, 900, 16000)).astype(np.float32) * np.linspace(0, 0.5, 16000, dtype=np.float32)
    runs = []
    for p, skip in ((base, False), (other, False), (other, True)):
        m = _model(WIDE, spec, _tensors(p, WIDE, spec))
        net = Network(m, skip_dead=skip)  # skip: the host leaves the dead rows out
        enc, kind = net.encode(net.normalize(compute_features(audio, m.frontend)), net.init_encoder_state())
        proj = net.project_encoder(enc, kind)
        pred = net.init_predictor()
        logits = [net.joint((proj[0], proj[1][t]), pred[1])[0] for t in range(len(enc))]
        pred = net.predict(5, pred[0])
        logits += [net.joint((proj[0], proj[1][t]), pred[1])[0] for t in range(len(enc))]
        runs.append((enc, np.stack(logits)))
    assert len(runs[0][0]) > 3
    assert not np.array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][1], runs[2][1])
    live = np.flatnonzero(WIDE.live_outputs(_tensors(base, WIDE, spec))["enc.2"])
    np.testing.assert_array_equal(runs[0][0][:, live], runs[2][0][:, live])  # the live units alike


def test_an_op_on_the_cpu_reads_its_float_weights_so_their_producer_stays():
    """A weight below half a quantization step is code 0 but still read by an op that runs in
    float on the CPU: the liveness counts it, and the host keeps every result the same."""
    from engine.frontend import compute_features
    from engine.network import Network

    spec = NNASpec()
    p = random_params(WIDE, seed=2)
    p["join.out.w"][:, 7] = 1e-4 * np.sign(p["join.out.w"][:, 7])  # codes 0, float not
    t = build_tensors(p, WIDE, spec, in_scale=0.03, out_scale=1e-3, mean=np.zeros(80), std=np.ones(80),
                      float_ops=["join.out"])
    assert (t["join.out.w"][:, 7] == 0).all()
    assert WIDE.live_outputs(t)["join.enc"].all()  # channel 7 is read, in float
    m = _model(WIDE, spec, t, placement={"join.out": "cpu"})
    audio = np.sin(np.linspace(0, 900, 16000)).astype(np.float32) * np.linspace(0, 0.5, 16000, dtype=np.float32)
    out = []
    for skip in (False, True):
        net = Network(m, skip_dead=skip)
        enc, kind = net.encode(net.normalize(compute_features(audio, m.frontend)), net.init_encoder_state())
        proj, pred = net.project_encoder(enc, kind), net.init_predictor()
        out.append(np.stack([net.joint((proj[0], proj[1][i]), pred[1])[0] for i in range(len(enc))]))
    np.testing.assert_array_equal(out[0], out[1])


def test_an_op_with_no_live_output_costs_no_weights():
    t = _tensors(random_params(WIDE, seed=3), WIDE, NNASpec())
    t["join.out.w"] = np.zeros_like(t["join.out.w"])  # join.out reads nothing: the joiner is dead
    for bits in ("0", "4"):
        spec = NNASpec(sram_bytes=0).what_if({"zwc_index_bits": bits})
        table = build_cost_table(_model(WIDE, spec, t))
        assert table["join.enc"].macs == 0 and table["join.enc"].weight_bytes == 0


def test_a_model_file_leaves_default_cost_fields_out():
    """So that a cost field added later does not make a new file unreadable to an older
    engine (which refuses fields it does not know); read back, they are the defaults."""
    spec = NNASpec()
    stored = spec.stored_dict()
    assert "drop_dead_channels" not in stored and "zwc_index_bits" not in stored
    assert "weight_bits" in stored and NNASpec.from_dict(stored) == spec
    what_if = spec.what_if({"drop_dead_channels": "false", "sram_bytes": "1024"})
    assert what_if.stored_dict()["drop_dead_channels"] is False and NNASpec.from_dict(what_if.stored_dict()) == what_if

"""The model file (engine/model.py): round trip, zero-weight compression, and rejection of
missing, corrupt and tampered files with ModelFormatError and a helpful message."""

from __future__ import annotations

import dataclasses
import pickle
import zipfile

import numpy as np
import pytest
from helpers import make_random_model, read_model_file, rewrite_model_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.arch import EMBEDDING
from engine.model import FORMAT_VERSION, ModelFormatError, load_model
from engine.nna.spec import NNASpec
from engine.nna.zwc import zwc_bytes, zwc_pack
from engine.nna.zwc import zwc_unpack as _zwc_unpack


def zwc_unpack(bitmap, nz, shape):
    """As the model file reads a compressed tensor."""
    return _zwc_unpack(bitmap, nz, shape, error=ModelFormatError)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {
        "dense": make_random_model(d / "dense.nnasr", hidden=8, layers=1, reduce_after=0, vocab_size=30),
        "sparse": make_random_model(d / "sparse.nnasr", hidden=8, layers=1, reduce_after=0, vocab_size=30, sparsity=0.8),
    }


# --- round trip ---------------------------------------------------------------------------
def test_round_trip(files, tmp_path):
    from engine.frontend import FrontendConfig
    from engine.model import save_model

    m = load_model(files["sparse"])
    raw, meta = read_model_file(files["sparse"])
    assert meta["format_version"] == 1  # no packed codes: older engines read it
    assert "cmn_window" not in meta["arch"]  # the global mean: written as version 1 wrote it
    assert set(meta["zwc"]) and all(k + ".bitmap" in raw and k + ".nz" in raw for k in meta["zwc"])
    # re-save what was loaded: the same tensors come back
    p2 = save_model(tmp_path / "again.nnasr", arch=m.arch, frontend=m.frontend, spec=m.spec,
                    placement=m.placement, tensors=m.tensors, tokenizer_proto=m.tokenizer_proto,
                    chunk_ms=m.chunk_ms, facts=m.facts)
    m2 = load_model(p2)
    assert m2.arch == m.arch and m2.spec == m.spec and m2.frontend == m.frontend == FrontendConfig()
    assert m2.placement == m.placement and m2.chunk_ms == m.chunk_ms and m2.facts == m.facts
    assert m2.tokenizer_proto == m.tokenizer_proto
    assert set(m2.tensors) == set(m.tensors)
    for k, v in m.tensors.items():
        assert m2.tensors[k].dtype == v.dtype and np.array_equal(m2.tensors[k], v), k
    d = m2.describe()
    assert d["sparsity"] == round(m.sparsity(), 4) and d["file_bytes"] == p2.stat().st_size
    assert 0.7 < m.sparsity() < 0.85
    # the dense model stores no bitmap, and is larger on disk
    _, dmeta = read_model_file(files["dense"])
    assert dmeta["zwc"] == {}
    assert load_model(files["dense"]).file_bytes > m.file_bytes


# --- zero-weight compression ----------------------------------------------------------------
def test_zwc_hand_worked():
    codes = np.array([[0, 3, 0, -1], [0, 0, 0, 0], [5, 0, 0, 0]], np.int8)
    bm, nz = zwc_pack(codes)
    assert bm.tolist() == [0b01010000, 0b10000000]  # row-major, MSB first, 12 bits padded to 16
    assert nz.tolist() == [3, -1, 5]
    assert np.array_equal(zwc_unpack(bm, nz, codes.shape), codes)
    spec8, spec4 = NNASpec(), NNASpec(weight_bits=4)
    w = np.zeros(1024, np.int8)
    w[:205] = 1
    assert zwc_bytes(w, spec8) == 128 + 205  # bitmap + non-zeros
    assert zwc_bytes(w, spec4) == 128 + 103  # 205 4-bit codes -> 102.5 bytes, rounded up
    w[:] = 1
    w[:100] = 0  # 9.8 % zeros: below zwc_min_sparsity, stored dense
    assert zwc_bytes(w, spec8) == 1024 and zwc_bytes(w, spec4) == 512
    assert zwc_bytes(w, NNASpec(zwc_enabled=False)) == 1024


def test_zwc_relative_index_hand_worked():
    """A device that marks its non-zeros with k-bit relative indices (EIE's format) instead of
    a bitmap: entries = non-zeros + one filler per 2^k zeros a gap skips; a 16-bit count a row."""
    from engine.nna.zwc import index_entries

    row = np.zeros(40, np.int8)
    row[[0, 5, 21, 39]] = 1  # gaps 0, 4, 15, 17 zeros before each non-zero
    assert index_entries(row[None], 4) == 4 + 1  # 17 > 15: one filler; 15 fits in 4 bits
    assert index_entries(row[None], 2) == 4 + (0 + 1 + 3 + 4)  # gaps >> 2
    w = np.stack([row, np.zeros(40, np.int8)])  # an empty row stores nothing but its count
    spec = NNASpec(zwc_index_bits=4)
    assert zwc_bytes(w, spec) == (5 * (8 + 4) + 7) // 8 + 2 * 2  # 60 bits -> 8 bytes, 2 counts
    assert zwc_bytes(w, NNASpec()) == 10 + 4  # the bitmap: 80 bits, 4 non-zeros
    # denser, the bitmap is the smaller format and stays: 8 + 4 bits a non-zero against 1 + 8
    half = np.tile(np.array([1, 0], np.int8), (2, 20))
    assert zwc_bytes(half, spec) == zwc_bytes(half, NNASpec()) == 10 + 40
    assert zwc_bytes(w, NNASpec(zwc_index_bits=4, zwc_enabled=False)) == 80  # dense
    with pytest.raises(ValueError, match="zwc_index_bits"):
        NNASpec(zwc_index_bits=1)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 60), st.floats(0, 1), st.integers(2, 8), st.integers(0, 2**32 - 1))
def test_zwc_relative_index_entries_property(n, k, density, bits, seed):
    """index_entries against the format walked entry by entry, row by row."""
    from engine.nna.zwc import index_entries

    rng = np.random.default_rng(seed)
    codes = rng.integers(-127, 128, (n, k)).astype(np.int8)
    codes[rng.random((n, k)) > density] = 0
    want = 0
    for r in codes:
        nz = np.flatnonzero(r)
        run = 0
        for v in r[:nz[-1] + 1] if nz.size else []:  # a row's zeros after its last non-zero store nothing
            if v != 0:
                want, run = want + 1, 0
            elif run == (1 << bits) - 1:  # the index is full: this zero is stored, a filler
                want, run = want + 1, 0
            else:
                run += 1
    assert index_entries(codes, bits) == want


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_zwc_round_trip_property(n, k, density, seed):
    rng = np.random.default_rng(seed)
    codes = rng.integers(-127, 128, (n, k)).astype(np.int8)
    codes[rng.random((n, k)) > density] = 0
    bm, nz = zwc_pack(codes)
    assert bm.dtype == np.uint8 and bm.size == (n * k + 7) // 8
    assert nz.size == np.count_nonzero(codes)
    assert np.array_equal(zwc_unpack(bm, nz, (n, k)), codes)


def test_zwc_unpack_rejects_mismatch():
    bm, nz = zwc_pack(np.array([[1, 0, 2, 0]], np.int8))
    with pytest.raises(ModelFormatError, match="marks 2 non-zeros but 1 are stored"):
        zwc_unpack(bm, nz[:1], (1, 4))
    with pytest.raises(ModelFormatError, match="bitmap must be uint8"):
        zwc_unpack(bm.astype(np.int16), nz, (1, 4))
    with pytest.raises(ModelFormatError, match="bitmap must be uint8"):
        zwc_unpack(bm, nz, (3, 4))
    with pytest.raises(ModelFormatError, match="nz must be a 1-D int8"):
        zwc_unpack(bm, nz.astype(np.int32), (1, 4))


# --- 4-bit weights, two to a byte (format version 2) -----------------------------------------
def test_nibbles_hand_worked():
    from engine.model import pack_nibbles, unpack_nibbles

    packed = pack_nibbles(np.array([1, -1, -8, 7, 3], np.int8))
    assert packed.tolist() == [0xF1, 0x78, 0x03]  # element 2i in the low nibble; odd count padded
    assert unpack_nibbles(packed, 5).tolist() == [1, -1, -8, 7, 3]
    with pytest.raises(ValueError, match="do not fit in 4 bits"):
        pack_nibbles(np.array([8], np.int8))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-8, 7), max_size=64))
def test_nibbles_round_trip_property(codes):
    from engine.model import pack_nibbles, unpack_nibbles

    c = np.array(codes, np.int8)
    packed = pack_nibbles(c)
    assert packed.dtype == np.uint8 and packed.size == (c.size + 1) // 2
    assert np.array_equal(unpack_nibbles(packed, c.size), c)


@pytest.mark.parametrize("sparsity", [0.0, 0.8])
def test_4bit_model_stores_codes_two_to_a_byte(tmp_path, sparsity):
    """A 4-bit model file holds the same codes in about half the bytes of their int8 storage,
    dense or zero-weight compressed; it says version 2 and names every packed tensor."""
    from engine.model import save_model

    p = make_random_model(tmp_path / "w4.nnasr", hidden=16, layers=2, vocab_size=30, weight_bits=4,
                          sparsity=sparsity)
    raw, meta = read_model_file(p)
    m = load_model(p)
    assert meta["format_version"] == 2 and meta["nibbles"]
    assert all(k + ".q4" in raw and k not in raw for k in meta["nibbles"])
    packed_ops = {k.rsplit(".", 1)[0] if k.endswith(".nz") else k for k in meta["nibbles"]}
    assert packed_ops == {k for op in m.arch.ops if op.kind != EMBEDDING for k in op.weights()}
    assert "pred.embed.table" in raw  # activation codes, int8
    # the same tensors written with 8-bit storage: equal codes, more bytes
    p8 = save_model(tmp_path / "w4-as-int8.nnasr", arch=m.arch, frontend=m.frontend,
                    spec=dataclasses.replace(m.spec, weight_bits=8), placement=m.placement,
                    tensors=m.tensors, tokenizer_proto=m.tokenizer_proto, chunk_ms=m.chunk_ms)
    m8 = load_model(p8)
    for k, v in m.tensors.items():
        assert np.array_equal(m8.tensors[k], v), k
    raw8, _ = read_model_file(p8)
    int8_bytes = sum(raw8[k].size for k in meta["nibbles"])  # the same codes, one to a byte
    assert sum(raw[k + ".q4"].size for k in meta["nibbles"]) == sum((raw8[k].size + 1) // 2 for k in meta["nibbles"])
    # the file shrinks by half their bytes, less the metadata naming them (a few hundred bytes)
    assert int8_bytes // 2 - 400 <= m8.file_bytes - m.file_bytes <= int8_bytes // 2


def test_tampered_packed_tensors(tmp_path):
    p = make_random_model(tmp_path / "w4.nnasr", hidden=8, layers=1, reduce_after=0, vocab_size=30, weight_bits=4)
    _, meta = read_model_file(p)
    k = sorted(meta["nibbles"])[0]
    bad = rewrite_model_file(p, tmp_path / "a.nnasr", tensors_fn=lambda t: t.pop(k + ".q4"))
    with pytest.raises(ModelFormatError, match=f"packed tensor {k} is missing"):
        load_model(bad)
    bad = rewrite_model_file(p, tmp_path / "b.nnasr", tensors_fn=lambda t: t.__setitem__(k + ".q4", t[k + ".q4"][:-1]))
    with pytest.raises(ModelFormatError, match=rf"{k}.q4 must be uint8"):
        load_model(bad)
    bad = rewrite_model_file(p, tmp_path / "c.nnasr", meta_fn=_set(["nibbles", k], [-1, 3]))
    with pytest.raises(ModelFormatError, match="invalid shape"):
        load_model(bad)


# --- rejection of bad files --------------------------------------------------------------------
def test_missing_and_directory(tmp_path):
    with pytest.raises(ModelFormatError, match="no such model file"):
        load_model(tmp_path / "nope.nnasr")
    with pytest.raises(ModelFormatError, match="is a directory"):
        load_model(tmp_path)


def test_truncated_random_and_empty(files, tmp_path):
    data = files["dense"].read_bytes()
    for cut in (4, 100, len(data) // 2, len(data) - 1):
        p = tmp_path / f"cut{cut}.nnasr"
        p.write_bytes(data[:cut])
        with pytest.raises(ModelFormatError, match="too short|bad safetensors header|truncated or corrupt"):
            load_model(p)
    rng = np.random.default_rng(0)
    p = tmp_path / "random.nnasr"
    for _ in range(5):
        p.write_bytes(rng.bytes(5000))
        with pytest.raises(ModelFormatError, match="not an nnasr model file|not a readable model file"):
            load_model(p)
    p.write_bytes(b"")
    with pytest.raises(ModelFormatError, match="too short"):
        load_model(p)


def test_pickle_and_zip_files_are_named(tmp_path):
    p = tmp_path / "model.nnasr"
    p.write_bytes(pickle.dumps({"state_dict": list(range(1000))}, protocol=4))
    with pytest.raises(ModelFormatError, match="Python pickle; model files never contain pickle"):
        load_model(p)
    with zipfile.ZipFile(tmp_path / "ckpt.pt", "w") as z:  # what torch.save writes
        z.writestr("archive/data.pkl", pickle.dumps({"w": [1, 2, 3]}))
    p.write_bytes((tmp_path / "ckpt.pt").read_bytes())
    with pytest.raises(ModelFormatError, match="PyTorch checkpoint"):
        load_model(p)


def test_safetensors_without_nnasr_metadata(tmp_path):
    from safetensors.numpy import save_file

    p = tmp_path / "other.nnasr"
    save_file({"w": np.zeros(3, np.float32)}, str(p))
    with pytest.raises(ModelFormatError, match="without nnasr metadata"):
        load_model(p)


def _set(keys, value):
    def fn(d):
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value

    return fn


TAMPER = {
    "shape": (dict(tensors_fn=lambda t: t.__setitem__("join.out.w", t["join.out.w"][:, :-1])),
              r"tensor join.out.w has shape \(\d+, 7\), expected \(\d+, 8\)"),
    "dtype": (dict(tensors_fn=lambda t: t.__setitem__("enc.0.wx", t["enc.0.wx"].astype(np.int16))),
              "tensor enc.0.wx has dtype int16, expected int8"),
    "missing": (dict(tensors_fn=lambda t: t.pop("join.out.bias")), "missing tensor join.out.bias"),
    "nan_scale": (dict(tensors_fn=lambda t: t["enc.0.wx_scale"].__setitem__(0, np.nan)),
                  "tensor enc.0.wx_scale holds NaN or Inf"),
    "neg_scale": (dict(tensors_fn=lambda t: t["enc.0.wh_scale"].__setitem__(0, -1.0)),
                  "enc.0.wh_scale has non-positive scales"),
    "neg_linear_scale": (dict(tensors_fn=lambda t: t["join.enc.w_scale"].__setitem__(0, -1.0)),
                         "join.enc.w_scale has non-positive scales"),
    "float_shape": (dict(tensors_fn=lambda t: t.__setitem__("float.join.out.b", t["float.join.out.b"][:-1])),
                    r"tensor float.join.out.b has shape \(\d+,\), expected"),
    "float_unknown": (dict(tensors_fn=lambda t: t.__setitem__("float.pred.0.w", np.zeros((8, 4), np.float32))),
                      "unexpected tensor float.pred.0.w"),
    # an LSTM predictor's tensors under an architecture that says stateless
    "stateless_arch": (dict(meta_fn=lambda m: m.update(format_version=4) or m["arch"].update(pred_context=2)),
                       "missing tensor pred.0.w"),
    # a file must be of the version that introduced what it carries
    "older_version_stateless": (dict(meta_fn=_set(["arch", "pred_context"], 2)),
                                r"format version 1 cannot carry arch.pred_context \(version 4\)"),
    "older_version_cmn": (dict(meta_fn=_set(["arch", "cmn_window"], 100)),
                          r"format version 1 cannot carry arch.cmn_window \(version 3\)"),
    "bad_multiplier": (dict(tensors_fn=lambda t: t["join.enc.m"].__setitem__(0, 5)),
                       r"join.enc: requantization multipliers outside \[2\^30, 2\^31\)"),
    "codes_for_4_bits": (dict(meta_fn=_set(["spec", "weight_bits"], 4)),
                         r"holds codes outside ±7 \(4-bit weights\)"),
    "version": (dict(meta_fn=_set(["format_version"], FORMAT_VERSION + 1)),
                f"model format version {FORMAT_VERSION + 1}, this engine reads versions 1, 2, 3, 4; re-export"),
    "spec_invalid": (dict(meta_fn=_set(["spec", "act_bits"], 12)), "act_bits must be 8 or 16"),
    "arch_type": (dict(meta_fn=_set(["arch", "enc_hidden"], "big")),
                  "arch.enc_hidden = 'big' is not of type int"),
    "arch_value": (dict(meta_fn=_set(["arch", "enc_layers"], 0)), r"invalid architecture \(enc_layers=0"),
    "reduce_last": (dict(meta_fn=_set(["arch", "reduce_after"], 1)), r"reduce_after=1 \(0, or less than enc_layers\)"),
    "frontend": (dict(meta_fn=_set(["frontend", "fmax"], 9000.0)), "invalid front-end config"),
    "placement_op": (dict(meta_fn=_set(["placement"], {"enc.9": "cpu"})), "unknown op 'enc.9'"),
    "placement_dev": (dict(meta_fn=_set(["placement"], {"enc.0": "gpu"})), "expected 'nna' or 'cpu'"),
    "chunk_ms": (dict(meta_fn=_set(["chunk_ms"], "160")), "chunk_ms = '160' is not an int"),
    "tokenizer": (dict(meta_fn=_set(["tokenizer"], "AAAA")), "embedded tokenizer does not load"),
    "tokenizer_b64": (dict(meta_fn=_set(["tokenizer"], "%%%")), "invalid metadata"),
    "no_arch": (dict(meta_fn=lambda m: m.pop("arch")), "invalid metadata"),
    "meta_list": (dict(meta_fn=lambda m: m.clear()), "model format version None"),
}


def _fix_set(fn_spec):
    # _set(keys, value) builds a setter; keep the table readable
    return fn_spec


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_tampered_files_rejected(files, tmp_path, case):
    kw, message = TAMPER[case]
    p = rewrite_model_file(files["dense"], tmp_path / f"{case}.nnasr", **kw)
    with pytest.raises(ModelFormatError, match=message) as e:
        load_model(p)
    assert str(p) in str(e.value)  # the message names the file


def test_tampered_compressed_tensors(files, tmp_path):
    _, meta = read_model_file(files["sparse"])
    k = sorted(meta["zwc"])[0]
    p = rewrite_model_file(files["sparse"], tmp_path / "a.nnasr", tensors_fn=lambda t: t.pop(k + ".nz"))
    with pytest.raises(ModelFormatError, match=f"compressed tensor {k} is incomplete"):
        load_model(p)
    p = rewrite_model_file(files["sparse"], tmp_path / "b.nnasr",
                 tensors_fn=lambda t: t.__setitem__(k + ".nz", t[k + ".nz"][:-1]))
    with pytest.raises(ModelFormatError, match="bitmap marks"):
        load_model(p)
    p = rewrite_model_file(files["sparse"], tmp_path / "c.nnasr", meta_fn=_set(["zwc", k], [3, -1]))
    with pytest.raises(ModelFormatError, match="invalid shape"):
        load_model(p)


def test_cpu_placement_needs_float_weights(tmp_path):
    p = make_random_model(tmp_path / "nofloat.nnasr", hidden=8, layers=1, reduce_after=0, vocab_size=30, float_ops=[],
                          placement={"join.out": "cpu"})
    with pytest.raises(ModelFormatError, match="join.out is placed on the CPU but the file has no float weights"):
        load_model(p)


# --- fuzz -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_bytes(files):
    return files["sparse"].read_bytes()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.one_of(st.none(), st.floats(0, 1)),
    where=st.sampled_from(["anywhere", "header", "data"]),
)
def test_fuzz_corruption_is_rejected_cleanly(fuzz_bytes, tmp_path_factory, edits, cut, where):
    data = bytearray(fuzz_bytes)
    header_end = 8 + int.from_bytes(data[:8], "little")
    lo, hi = {"anywhere": (0, len(data)), "header": (0, header_end), "data": (header_end, len(data))}[where]
    for pos, byte in edits:
        data[lo + int(pos * (hi - lo))] = byte
    if cut is not None:
        data = data[: int(cut * len(data))]
    p = tmp_path_factory.mktemp("fuzz") / "m.nnasr"
    p.write_bytes(bytes(data))
    try:
        load_model(p)
    except ModelFormatError as e:
        assert str(e)

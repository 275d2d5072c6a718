"""The model file (``.nnasr``) and the in-memory engine model.

A model file is a safetensors file (no pickle) whose metadata key ``"nnasr"`` holds a JSON
document: format version, architecture, front-end config, NNA spec, op placement,
default chunking, facts, and the sentencepiece tokenizer (base64). Tensors:

* per LSTM op ``enc.L`` / ``pred.0`` (an LSTM predictor): ``.wx`` ``.wh`` weight codes (int8, or zero-weight
  compressed as ``.wx.bitmap`` uint8 + ``.wx.nz`` int8), ``.wx_scale`` ``.wh_scale``
  (float32, per gate channel), ``.bias`` (int32 at scale ``in_scale * wx_scale``),
  ``.mx`` ``.shx`` ``.mh`` ``.shh`` (int32 requantization to the gate format),
  ``.in_scale`` (float32 scalar);
* per linear op ``join.enc`` / ``join.pred`` / ``join.out`` (and a stateless ``pred.0``): ``.w`` ``.w_scale`` ``.bias``
  ``.m`` ``.sh`` (+ ``join.out.out_scale``: the int16 logit scale);
* ``pred.embed.table`` (int8 [classes, embed]) and ``pred.embed.scale``;
* ``frontend.mean`` / ``frontend.std`` (float32 [n_mels], global normalization);
* optional ``float.<op>.*`` float32 weights: required for ops placed on the CPU, and used
  by the float reference execution when present.

Format version 2 adds one thing: with ``spec.weight_bits <= 4`` the weight codes of the
LSTM and linear ops (dense, or a compressed matrix's non-zeros) are stored two to a byte,
``NAME.q4`` uint8 (element 2i in the low nibble, two's complement), and the metadata key
``"nibbles"`` maps NAME to its shape. A file without packed codes is written as
version 1, so that older engines still read it.

Format version 3 adds one thing: ``arch.cmn_window`` and ``arch.cmn_prior``, a model that
subtracts a causal running mean from its features (``engine.frontend.CausalMean``) instead
of the global mean alone. A model without it is written without those keys, as version 1
or 2.

Format version 4 adds one thing: ``arch.pred_context`` N > 0, a stateless predictor: ``pred.0``
is then a linear op (``.w`` [pred_hidden, N * embed], ``.w_scale``, ``.bias`` at ``embed scale
* w_scale``, ``.m`` ``.sh`` to the gate format) over the embeddings of the last N tokens,
followed by the joiner's LUT tanh. A model with an LSTM predictor is written without the key,
as before.

A file is written at the lowest version that holds what it carries, and one that claims an
older version than what it carries is refused (an engine of that version would misread it).
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .arch import EMBEDDING, LINEAR, LOGITS, LSTM, Architecture
from .frontend import FrontendConfig
from .nna.cost import OpShape
from .nna.spec import NNASpec
from .nna.zwc import zwc_compresses, zwc_pack, zwc_unpack

FORMAT_VERSION = 4  # the newest this engine writes and reads (see the module docstring)
READS = tuple(range(1, FORMAT_VERSION + 1))
NIBBLE_BITS = 4  # weight codes of at most this many bits are stored two to a byte
METADATA_KEY = "nnasr"
DEVICES = ("nna", "cpu")


class ModelFormatError(ValueError):
    """The model file is missing, corrupt, tampered with, or of another version."""


@dataclass
class EngineModel:
    """Everything a recognizer needs, validated. Build with :func:`load_model`."""

    arch: Architecture
    frontend: FrontendConfig
    spec: NNASpec
    placement: dict[str, str]
    tensors: dict[str, np.ndarray]
    tokenizer_proto: bytes
    chunk_ms: int = 160
    facts: dict = field(default_factory=dict)
    path: str | None = None
    name: str = "model"
    file_bytes: int = 0
    _live: dict | None = field(default=None, init=False, repr=False, compare=False)

    # --- facts --------------------------------------------------------------------
    def weight_codes(self) -> dict[str, np.ndarray]:
        return {k: self.tensors[k] for k in self.arch.weight_shapes() if k in self.tensors}

    def sparsity(self) -> float:
        codes = self.weight_codes()
        total = sum(v.size for v in codes.values())
        zeros = sum(int((v == 0).sum()) for v in codes.values())
        return zeros / max(total, 1)

    def live_outputs(self) -> dict[str, np.ndarray]:
        """:meth:`Architecture.live_outputs` of this model's weights, found once (the cost
        table, the host network and the facts all read it; the tensors do not change)."""
        if self._live is None:
            self._live = self.arch.live_outputs(self.tensors)
        return self._live

    def live_weights(self) -> tuple[int, int]:
        """(weights, non-zeros) of the model as a compiler keeps it: every matrix without the
        output channels no op reads and the input columns no kept row reads
        (:meth:`Architecture.live_outputs`). A pruned model whose zeros took whole units
        is the narrower model it leaves, at that model's sparsity."""
        size = nonzero = 0
        for o in self.op_shapes():
            for m in (o.kept() if o.kind == "matmul" else o.matrices):
                size += m.size
                nonzero += int(np.count_nonzero(m))
        return size, nonzero

    def op_shapes(self) -> list[OpShape]:
        """The ops' weights and activation sizes, for the cost model, with the outputs some
        op reads (:meth:`Architecture.live_outputs`)."""
        live = self.live_outputs()
        return [shape for op in self.arch.ops for shape in op.shapes(self.tensors, live.get(op.name))]

    def has_float(self, op: str) -> bool:
        """Whether the file carries every float parameter of ``op`` (to run it on the CPU)."""
        return all(f"float.{k}" in self.tensors for k in self.arch.op(op).float_params())

    def live_sparsity(self) -> float:
        """The fraction of zeros among :meth:`live_weights`: the sparsity of what runs."""
        size, nonzero = self.live_weights()
        return 1 - nonzero / max(size, 1)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "path": self.path,
            "params": self.arch.num_params(),
            "sparsity": round(self.sparsity(), 4),
            "live_weights": self.live_weights()[0],
            "live_sparsity": round(self.live_sparsity(), 4),
            "weight_bits": self.spec.weight_bits,
            "act_bits": self.spec.act_bits,
            "file_bytes": self.file_bytes,
            "placement": dict(self.placement),
            "cpu_ops": [k for k, v in self.placement.items() if v == "cpu"],
            "spec": self.spec.honest_name(),
            "normalization": self.arch.normalization,
            "predictor": self.arch.predictor,
            "pred_context": self.arch.pred_context,
            "log_floor": self.frontend.log_floor,
            **{k: v for k, v in self.facts.items() if k not in ("placement",)},
        }

    def with_placement(self, placement: dict[str, str]) -> EngineModel:
        import copy

        m = copy.copy(self)
        m.placement = {**self.placement, **placement}
        _validate_placement(m)
        return m

    def tokenizer(self):
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor()
        sp.LoadFromSerializedProto(self.tokenizer_proto)
        return sp


# --- save / load -------------------------------------------------------------------------
def save_model(
    path: str | os.PathLike,
    *,
    arch: Architecture,
    frontend: FrontendConfig,
    spec: NNASpec,
    placement: dict[str, str],
    tensors: dict[str, np.ndarray],
    tokenizer_proto: bytes,
    chunk_ms: int = 160,
    facts: dict | None = None,
) -> Path:
    """Write a model file atomically. Weight matrices sparse enough are ZWC-compressed."""
    out: dict[str, np.ndarray] = {}
    zwc: dict[str, list[int]] = {}
    shapes = arch.weight_shapes()
    for k, v in tensors.items():
        v = np.ascontiguousarray(v)
        if k in shapes and zwc_compresses(v, spec):
            out[k + ".bitmap"], out[k + ".nz"] = zwc_pack(v)
            zwc[k] = list(v.shape)
            continue
        out[k] = v
    nibbles: dict[str, list[int]] = {}
    if spec.weight_bits <= NIBBLE_BITS:  # the embedding table holds activation codes: not packed
        for op in arch.ops:
            if op.kind == EMBEDDING:
                continue
            for k in op.weights():
                name = k + ".nz" if k in zwc else k
                if name in out:
                    nibbles[name] = list(out[name].shape)
                    out[name + ".q4"] = pack_nibbles(out.pop(name))
    stored_arch = asdict(arch)
    if not arch.cmn_window:  # the global mean: written as before, for older engines
        del stored_arch["cmn_window"], stored_arch["cmn_prior"]
    if not arch.pred_context:  # an LSTM predictor: likewise
        del stored_arch["pred_context"]
    meta = {
        "format_version": 4 if arch.pred_context else 3 if arch.cmn_window else 2 if nibbles else 1,
        **({"nibbles": nibbles} if nibbles else {}),
        "arch": stored_arch,
        "frontend": frontend.to_dict(),
        "spec": spec.stored_dict(),
        "placement": placement,
        "chunk_ms": chunk_ms,
        "facts": facts or {},
        "zwc": zwc,
        "tokenizer": base64.b64encode(tokenizer_proto).decode("ascii"),
    }
    return write_safetensors(path, out, {METADATA_KEY: json.dumps(meta)})


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """int8 codes in [-8, 7] -> uint8, two per byte (element 2i in the low nibble)."""
    c = np.asarray(codes, np.int8).ravel()
    if c.size and (int(c.min()) < -8 or int(c.max()) > 7):
        raise ValueError("codes outside [-8, 7] do not fit in 4 bits")
    u = (c.astype(np.uint8) & 0xF)
    if u.size % 2:
        u = np.append(u, np.uint8(0))
    return (u[0::2] | (u[1::2] << 4)).astype(np.uint8)


def unpack_nibbles(packed: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`pack_nibbles`: the first ``n`` codes, int8 (flat)."""
    u = np.empty(packed.size * 2, np.uint8)
    u[0::2], u[1::2] = packed & 0xF, packed >> 4
    return (u[:n].astype(np.int16) - ((u[:n] >= 8) * 16)).astype(np.int8)


def write_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                      metadata: dict[str, str]) -> Path:
    """Write a safetensors file atomically (temporary file + rename), readable by all."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a model file is meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _sniff(path: Path, head: bytes) -> str:
    """A hint about what a file that is not a model file might be."""
    if head[:2] == b"PK":
        return " (it looks like a zip archive, e.g. a PyTorch checkpoint: export it with `nnasr export`)"
    if head[:1] == b"\x80":
        return " (it looks like a Python pickle; model files never contain pickle)"
    return ""


def _typed(cls, d, what: str) -> dict:
    """Check a metadata section against a dataclass's field types (by their defaults)."""
    import dataclasses

    if not isinstance(d, dict):
        raise ModelFormatError(f"invalid metadata: {what} is not an object")
    out = dict(d)
    for f in dataclasses.fields(cls):
        if f.name not in out:
            continue
        v = out[f.name]
        kind = type(f.default) if f.default is not dataclasses.MISSING else int
        ok = (
            isinstance(v, bool) if kind is bool
            else isinstance(v, int) and not isinstance(v, bool) if kind is int
            else isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if kind is float
            else isinstance(v, str) if kind is str
            else True
        )
        if not ok:
            raise ModelFormatError(f"invalid metadata: {what}.{f.name} = {v!r} is not of type {kind.__name__}")
        if kind is float:
            out[f.name] = float(v)
    return out


def load_model(path: str | os.PathLike) -> EngineModel:
    """Load and validate a model file. Raises :class:`ModelFormatError` with the reason."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise ModelFormatError(f"{path}: no such model file")
    if path.is_dir():
        raise ModelFormatError(f"{path}: is a directory, not a model file")
    head = b""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        if len(head) < 8:
            raise ModelFormatError(f"{path}: not a model file (too short: {len(head)} bytes)")
        header_len = int.from_bytes(head, "little")
        size = path.stat().st_size
        if header_len > 100_000_000:
            raise ModelFormatError(
                f"{path}: not an nnasr model file (bad safetensors header){_sniff(path, head)}"
            )
        if header_len + 8 > size:
            raise ModelFormatError(
                f"{path}: not an nnasr model file, truncated or corrupt (its header needs "
                f"{header_len + 8} bytes, the file has {size}){_sniff(path, head)}"
            )
        with safe_open(str(path), framework="numpy") as f:
            md = f.metadata() or {}
            raw = {k: f.get_tensor(k) for k in f.keys()}
    except ModelFormatError:
        raise
    except Exception as e:  # safetensors raises several types on corrupt input
        raise ModelFormatError(
            f"{path}: not a readable model file, truncated or corrupt "
            f"({type(e).__name__}: {e}){_sniff(path, head)}"
        ) from None
    if METADATA_KEY not in md:
        raise ModelFormatError(f"{path}: safetensors file without nnasr metadata")
    try:
        meta = json.loads(md[METADATA_KEY])
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"{path}: corrupt metadata ({e})") from None
    try:
        return _from_meta(path, meta, raw)
    except ModelFormatError as e:
        raise ModelFormatError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
        # last resort: a tampered file that got past the explicit checks
        raise ModelFormatError(f"{path}: invalid model file ({type(e).__name__}: {e})") from None


def _from_meta(path: Path, meta, raw: dict[str, np.ndarray]) -> EngineModel:
    if not isinstance(meta, dict):
        raise ModelFormatError("invalid metadata: not a JSON object")
    ver = meta.get("format_version")
    if ver not in READS or isinstance(ver, bool):
        raise ModelFormatError(
            f"model format version {ver!r}, this engine reads versions {', '.join(map(str, READS))}; "
            "re-export the model with this version of nnasr"
        )
    nibbles = meta.get("nibbles") or {}
    if not isinstance(nibbles, dict):
        raise ModelFormatError("invalid metadata: nibbles is not an object")
    raw = dict(raw)
    for k, shape in nibbles.items():
        packed = raw.pop(k + ".q4", None)
        if packed is None:
            raise ModelFormatError(f"packed tensor {k} is missing ({k}.q4)")
        if (not isinstance(shape, list) or not 1 <= len(shape) <= 2
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 1 << 31 for d in shape)):
            raise ModelFormatError(f"packed tensor {k} has an invalid shape {shape!r}")
        n = math.prod(shape)
        if packed.dtype != np.uint8 or packed.ndim != 1 or packed.size != (n + 1) // 2:
            raise ModelFormatError(f"{k}.q4 must be uint8 [{(n + 1) // 2}] for shape {shape}, "
                                   f"got {packed.dtype} {list(packed.shape)}")
        raw[k] = unpack_nibbles(packed, n).reshape(shape)
    try:
        arch = Architecture(**_typed(Architecture, meta["arch"], "arch"))
        frontend = FrontendConfig(**_typed(FrontendConfig, meta["frontend"], "frontend"))
        spec = NNASpec.from_dict(_typed(NNASpec, meta["spec"], "spec"))
        tok = base64.b64decode(meta["tokenizer"], validate=True)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ModelFormatError):
            raise
        raise ModelFormatError(f"invalid metadata ({type(e).__name__}: {e})") from None
    newer = _newer_than(ver, arch, nibbles)
    if newer:
        raise ModelFormatError(f"format version {ver} cannot carry {newer}: re-export the model "
                               "with this version of nnasr")
    placement = meta.get("placement") or {}
    facts = meta.get("facts") or {}
    zwc = meta.get("zwc") or {}
    chunk_ms = meta.get("chunk_ms", 160)
    if not isinstance(placement, dict) or not all(isinstance(v, str) for v in placement.values()):
        raise ModelFormatError("invalid metadata: placement must map op names to 'nna' or 'cpu'")
    if not isinstance(facts, dict):
        raise ModelFormatError("invalid metadata: facts is not an object")
    if not isinstance(zwc, dict):
        raise ModelFormatError("invalid metadata: zwc is not an object")
    if not isinstance(chunk_ms, int) or isinstance(chunk_ms, bool):
        raise ModelFormatError(f"invalid metadata: chunk_ms = {chunk_ms!r} is not an int")
    tensors: dict[str, np.ndarray] = {}
    for k, v in raw.items():
        if k.endswith(".bitmap") or k.endswith(".nz"):
            continue
        tensors[k] = v
    for k, shape in zwc.items():
        if k + ".bitmap" not in raw or k + ".nz" not in raw:
            raise ModelFormatError(f"compressed tensor {k} is incomplete")
        if (not isinstance(shape, list) or len(shape) != 2
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 1 << 31
                           for d in shape)):
            raise ModelFormatError(f"compressed tensor {k} has an invalid shape {shape!r}")
        tensors[k] = zwc_unpack(raw[k + ".bitmap"], raw[k + ".nz"], tuple(shape), name=k,
                                error=ModelFormatError)
    m = EngineModel(
        arch=arch,
        frontend=frontend,
        spec=spec,
        placement=dict(placement),
        tensors=tensors,
        tokenizer_proto=tok,
        chunk_ms=chunk_ms,
        facts=dict(facts),
        path=str(path),
        name=path.stem,
        file_bytes=path.stat().st_size,
    )
    validate(m)
    return m


def _newer_than(ver: int, arch: Architecture, nibbles: dict) -> str:
    """What a file of format ``ver`` carries that only a later version may (the module
    docstring's versions), in words; '' when nothing."""
    for since, present, what in ((4, arch.pred_context, "arch.pred_context (version 4)"),
                                 (3, arch.cmn_window, "arch.cmn_window (version 3)"),
                                 (2, nibbles, "packed 4-bit codes (version 2)")):
        if present and ver < since:
            return what
    return ""


def _validate_placement(m: EngineModel) -> None:
    ops = m.arch.op_names()
    for op in ops:
        m.placement.setdefault(op, "nna")
    for op, dev in m.placement.items():
        if op not in ops:
            raise ModelFormatError(f"placement names unknown op {op!r} (ops: {', '.join(ops)})")
        if dev not in DEVICES:
            raise ModelFormatError(f"placement of {op} is {dev!r}, expected 'nna' or 'cpu'")
        if dev == "cpu" and not m.has_float(op):
            raise ModelFormatError(f"op {op} is placed on the CPU but the file has no float weights for it")


def _expect(t: dict, name: str, shape: tuple, dtypes: tuple) -> np.ndarray:
    if name not in t:
        raise ModelFormatError(f"missing tensor {name}")
    v = t[name]
    if tuple(v.shape) != tuple(shape):
        raise ModelFormatError(f"tensor {name} has shape {tuple(v.shape)}, expected {tuple(shape)}")
    if v.dtype not in dtypes:
        raise ModelFormatError(f"tensor {name} has dtype {v.dtype}, expected {dtypes[0]}")
    if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
        raise ModelFormatError(f"tensor {name} holds NaN or Inf")
    return v


def validate(m: EngineModel) -> None:
    """Shapes, dtypes and value ranges of every tensor against the architecture and spec."""
    a, spec, t = m.arch, m.spec, m.tensors
    a.check(ModelFormatError)
    fe = m.frontend
    fe_bad = []
    if not 0 < fe.sample_rate <= 384000:
        fe_bad.append(f"sample_rate={fe.sample_rate}")
    if not (1 <= fe.hop_length and 1 <= fe.win_length <= fe.n_fft <= 1 << 16):
        fe_bad.append(f"hop/win/n_fft={fe.hop_length}/{fe.win_length}/{fe.n_fft}")
    if not 0 <= fe.fmin < fe.fmax <= fe.sample_rate / 2:
        fe_bad.append(f"fmin/fmax={fe.fmin}/{fe.fmax}")
    if not fe.log_floor > 0 or not 0 <= fe.preemphasis < 1:
        fe_bad.append(f"log_floor/preemphasis={fe.log_floor}/{fe.preemphasis}")
    if fe_bad:
        raise ModelFormatError(f"invalid front-end config ({', '.join(fe_bad)})")
    if a.n_mels != m.frontend.n_mels:
        raise ModelFormatError("architecture and front-end disagree on n_mels")
    qmax = spec.weight_qmax
    i8, f32 = (np.dtype(np.int8),), (np.dtype(np.float32),)
    for op in a.ops:
        for name, shape in op.weights().items():
            v = _expect(t, name, shape, i8)
            if op.kind != EMBEDDING and v.size and (int(v.max()) > qmax or int(v.min()) < -qmax):
                raise ModelFormatError(
                    f"tensor {name} holds codes outside ±{qmax} ({spec.weight_bits}-bit weights)"
                )
    floats = {f"float.{k}": _float_shape(op, k) for op in a.ops for k in op.float_params()}
    for name in list(t):
        if name.startswith("float."):
            if name not in floats:
                raise ModelFormatError(f"unexpected tensor {name} (float parameters: "
                                       f"{', '.join(sorted(floats))})")
            _expect(t, name, floats[name], f32)
    for op in a.ops:
        _validate_op_params(t, op.name, op.kind, op.out_dim)
        if op.output == LOGITS:
            if not _expect(t, f"{op.name}.out_scale", (1,), f32).item() > 0:
                raise ModelFormatError(f"{op.name}.out_scale must be > 0")
    _expect(t, "frontend.mean", (a.n_mels,), f32)
    if np.any(_expect(t, "frontend.std", (a.n_mels,), f32) <= 0):
        raise ModelFormatError("frontend.std must be > 0")
    try:
        sp = m.tokenizer()
    except Exception as e:
        raise ModelFormatError(f"the embedded tokenizer does not load ({e})") from None
    if sp.get_piece_size() != a.num_classes - 1:
        raise ModelFormatError(
            f"tokenizer has {sp.get_piece_size()} pieces, the model {a.num_classes - 1}"
        )
    if m.chunk_ms <= 0:
        raise ModelFormatError("chunk_ms must be > 0")
    _validate_placement(m)


def _float_shape(op, name: str) -> tuple[int, ...]:
    """The shape of ``op``'s float parameter ``name`` (a weight matrix's, or a bias [out])."""
    return op.weights().get(name, (op.out_dim,))


def _validate_op_params(t: dict, op: str, kind: str, n: int) -> None:
    """Scales, bias and requantization constants of one op (``n`` output channels)."""
    f32, i32 = (np.dtype(np.float32),), (np.dtype(np.int32),)
    if kind == EMBEDDING:
        if not _expect(t, f"{op}.scale", (1,), f32).item() > 0:
            raise ModelFormatError(f"{op}.scale must be > 0")
    elif kind == LSTM:
        for w in ("wx", "wh"):
            s = _expect(t, f"{op}.{w}_scale", (n,), f32)
            if np.any(s <= 0):
                raise ModelFormatError(f"tensor {op}.{w}_scale has non-positive scales")
        _expect(t, f"{op}.bias", (n,), i32)
        for mm, sh in (("mx", "shx"), ("mh", "shh")):
            _check_mult(_expect(t, f"{op}.{mm}", (n,), i32), _expect(t, f"{op}.{sh}", (n,), i32), op)
        s = _expect(t, f"{op}.in_scale", (1,), f32)
        if not s.item() > 0:
            raise ModelFormatError(f"{op}.in_scale must be > 0")
    elif kind == LINEAR:
        if np.any(_expect(t, f"{op}.w_scale", (n,), f32) <= 0):
            raise ModelFormatError(f"tensor {op}.w_scale has non-positive scales")
        _expect(t, f"{op}.bias", (n,), i32)
        _check_mult(_expect(t, f"{op}.m", (n,), i32), _expect(t, f"{op}.sh", (n,), i32), op)


def _check_mult(m: np.ndarray, sh: np.ndarray, op: str) -> None:
    ok = (m == 0) | ((m >= (1 << 30)) & (m.astype(np.int64) < (1 << 31)))
    if not np.all(ok):
        raise ModelFormatError(f"{op}: requantization multipliers outside [2^30, 2^31)")
    if np.any(sh < -31) or np.any(sh > 62):
        raise ModelFormatError(f"{op}: requantization shifts outside [-31, 62]")

"""The NNA cost model: modeled time of every op the engine executes.

Per invocation of an op placed on the NNA, on ``n`` input vectors at once:
    max(n * MACs / (macs_per_cycle * clock_hz), DRAM bytes read / dram_bytes_per_s) + op_overhead_s
where DRAM bytes read are the op's weight bytes (after zero-weight compression, plus int32
bias and requantization parameters) unless the op's weights are resident in on-chip SRAM.
With ``drop_dead_channels`` (the default) an op's MACs and bytes are those of its matrices
without the output channels no op reads and the input columns no kept row reads
(``OpShape.rows`` / ``cols``): a compiler leaves out what no result depends on.
SRAM residency: NNA ops sorted by weight bytes, smallest first, fill ``sram_bytes``; the
rest stream from DRAM on every invocation (every frame, every predictor step), once per
invocation however many vectors it carries. MACs are dense unless ``skip_zero_macs``.

Per invocation of an op placed on the CPU, on ``n`` vectors:
    n * 2 * MACs / cpu_flops_per_s + crossings * transfer_latency_s + n * io_bytes / transfer_bytes_per_s
(its input crosses NNA->CPU and its output CPU->NNA: two crossings, ``io_bytes`` the input
and output activations). The front-end and the decoding loop run on the host in every
configuration and are not part of the modeled NNA time.

An LSTM op is priced as two: its input projection ``op.x`` (the ``x @ Wx`` of all the
steps at hand, one invocation on a chunk's frames or a round's hypotheses: the input
weights stream once) and its step ``op`` (the recurrent ``h @ Wh`` and the cell, one
invocation per step, each streaming the recurrent weights: the recurrence orders the steps),
as a GPU's or an NPU's LSTM runs. On the CPU its input crosses once per projection and its
output once per step.

Op counts (what the engine records and these functions price) map a key to a number of
invocations: the key is the op's name for invocations on one vector, ``"op*n"`` for
invocations on ``n`` vectors at once (:func:`count_key`): the joiner's encoder projection
of a chunk's frames, a beam search round's hypotheses through the joiner and the
predictor, an LSTM's input projection of a chunk's frames. An encoder LSTM step is one
vector: its recurrence orders the steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .spec import NNASpec
from .zwc import zwc_bytes


@dataclass(frozen=True)
class OpShape:
    """What the cost model needs to know of one op: its weights and activation sizes.

    ``kind``: ``"matmul"`` (the integer products of ``matrices`` [channels, in_i] summed
    into one int32 accumulator per output channel, then requantized: int32 bias (unless
    not ``bias``), multiplier and shift per channel) or ``"lookup"`` (one row of the table
    ``matrices[0]`` read per call, no MACs). ``in_size`` / ``out_size``: activations per
    vector that cross between the devices when the op runs on the CPU, in ``crossings``
    transfers per call. ``part_of``: the op whose placement this one follows (an LSTM's
    input projection: the LSTM's); empty for itself. ``rows`` / ``cols``: where some of the
    op's channels are dead, the indices of the output channels some op reads and of the
    input columns those rows read (``None``: all); with ``NNASpec.drop_dead_channels`` the
    op is priced as its matrices cut down to them, as a compiler lays it out."""

    name: str
    kind: str
    matrices: tuple[np.ndarray, ...]
    in_size: int
    out_size: int
    part_of: str = ""
    crossings: int = 2
    bias: bool = True
    rows: np.ndarray | None = None
    cols: np.ndarray | None = None

    def kept(self) -> tuple[np.ndarray, ...]:
        """The matrices cut down to ``rows`` and ``cols``."""
        r = slice(None) if self.rows is None else self.rows
        c = slice(None) if self.cols is None else self.cols
        return tuple(np.asarray(m)[r][:, c] for m in self.matrices)


class CostedModel(Protocol):
    """A model the cost model can price: its ops' shapes, its spec and its placement."""

    spec: NNASpec
    placement: dict[str, str]

    def op_shapes(self) -> list[OpShape]: ...


BATCH_SEP = "*"


def count_key(op: str, vectors: int = 1) -> str:
    """The op-count key of one invocation of ``op`` on ``vectors`` input vectors at once."""
    return op if vectors == 1 else f"{op}{BATCH_SEP}{vectors}"


def split_key(key: str) -> tuple[str, int]:
    """``(op, vectors)`` of an op-count key (inverse of :func:`count_key`)."""
    op, sep, n = key.partition(BATCH_SEP)
    return op, (int(n) if sep else 1)


def per_op(counts: dict[str, int]) -> dict[str, tuple[int, int]]:
    """op -> (invocations, vectors) of op counts, batched invocations folded in."""
    out: dict[str, tuple[int, int]] = {}
    for key, c in counts.items():
        op, n = split_key(key)
        calls, vecs = out.get(op, (0, 0))
        out[op] = (calls + c, vecs + n * c)
    return out


@dataclass(frozen=True)
class OpCost:
    op: str
    device: str  # "nna" or "cpu"
    macs: int  # per invocation (dense)
    nnz_macs: int  # per invocation, zero weights skipped
    weight_bytes: int  # as stored for the NNA (compressed where it pays)
    dense_weight_bytes: int
    resident: bool  # in on-chip SRAM
    io_bytes: int  # activations that cross between the devices on the CPU, per vector
    vector_s: float  # per vector: MACs (NNA); compute and activation transfer (CPU)
    stream_s: float  # per invocation: weights read from DRAM (0 when resident, on the CPU)
    fixed_s: float  # per invocation: dispatch (NNA); the crossings' latency (CPU)
    bound: str = ""  # what limits one invocation: MACs, DRAM, dispatch (NNA); CPU, transfer (CPU)

    @property
    def dram_bytes(self) -> int:
        return 0 if (self.resident or self.device == "cpu") else self.weight_bytes

    @property
    def seconds(self) -> float:
        """Modeled time of one invocation on one vector."""
        return self.call_seconds(1)

    def call_seconds(self, vectors: int = 1) -> float:
        """Modeled time of one invocation on ``vectors`` input vectors at once."""
        return max(vectors * self.vector_s, self.stream_s) + self.fixed_s


def build_cost_table(model: CostedModel, placement: dict[str, str] | None = None,
                     spec: NNASpec | None = None, resident: set[str] | None = None) -> dict[str, OpCost]:
    """Per-op modeled cost of ``model``'s ops (its own spec and placement unless others are
    given: a what-if, see :meth:`NNASpec.what_if`); see :func:`op_costs`."""
    return op_costs(model.op_shapes(), spec or model.spec, placement or model.placement, resident)


def op_costs(ops: list[OpShape], spec: NNASpec, placement: dict[str, str] | None = None,
             resident: set[str] | None = None) -> dict[str, OpCost]:
    """Per-op modeled cost of ``ops``, in their order, each on the device ``placement``
    names (default the NNA). SRAM holds the NNA ops' weights smallest first, unless
    ``resident`` names the ops it holds (e.g. :func:`best_residency`; they must fit)."""
    raw = _op_sizes(ops, spec)
    dev = _devices(ops, placement)
    nna = [o for o in raw if dev[o] == "nna"]
    if resident is None:
        budget = spec.sram_bytes
        resident = set()
        for op in sorted(nna, key=lambda o: raw[o][2]):  # smallest first
            if raw[op][2] <= budget:
                budget -= raw[op][2]
                resident.add(op)
    else:
        resident = set(resident)
        if not resident <= set(nna) or sum(raw[o][2] for o in resident) > spec.sram_bytes:
            raise ValueError(f"resident ops {sorted(resident)} are not NNA ops that fit in "
                             f"{spec.sram_bytes} bytes of SRAM")
    return {op: _op_cost(op, dev[op], raw[op], op in resident, spec) for op in raw}


def _devices(ops: list[OpShape], placement: dict[str, str] | None) -> dict[str, str]:
    """op -> the device it runs on: its own placement, or that of the op it is a part of."""
    placement = placement or {}
    return {o.name: placement.get(o.part_of or o.name, "nna") for o in ops}


def _op_sizes(ops: list[OpShape], spec: NNASpec) -> dict[str, tuple[int, int, int, int, int, int]]:
    """op -> (MACs, non-zero MACs, stored weight bytes, dense weight bytes, io bytes per
    vector, crossings) per call."""
    act_bytes = spec.act_bits // 8
    raw = {}
    for o in ops:
        if o.kind == "lookup":
            macs = nnz = 0
            wbytes = dense = o.out_size * max(spec.weight_bits // 8, 1)  # one row per lookup
        elif o.kind == "matmul":
            mats = o.kept() if spec.drop_dead_channels else o.matrices
            macs = sum(m.size for m in mats)
            nnz = sum(int(np.count_nonzero(m)) for m in mats)
            # int32 bias (where there is one) + int32 multiplier + int32 shift per channel
            params = (12 if o.bias else 8) * mats[0].shape[0]
            wbytes = sum(zwc_bytes(m, spec) for m in mats) + params
            dense = sum((m.size * spec.weight_bits + 7) // 8 for m in mats) + params
        else:
            raise ValueError(f"op {o.name}: unknown kind {o.kind!r} (matmul or lookup)")
        raw[o.name] = (macs, nnz, wbytes, dense, (o.in_size + o.out_size) * act_bytes, o.crossings)
    return raw


def _op_cost(op: str, dev: str, sizes: tuple, resident: bool, spec: NNASpec) -> OpCost:
    macs, nnz, wbytes, dense, io, crossings = sizes
    if dev == "nna":
        mac_s = (nnz if spec.skip_zero_macs else macs) / spec.macs_per_s
        dram_s = (0 if resident else wbytes) / spec.dram_bytes_per_s
        bound = "dispatch" if spec.op_overhead_s > max(mac_s, dram_s) else ("DRAM" if dram_s > mac_s else "MACs")
        parts = (mac_s, dram_s, spec.op_overhead_s)
    else:
        compute = 2 * macs / spec.cpu_flops_per_s
        transfer = crossings * spec.transfer_latency_s + io / spec.transfer_bytes_per_s
        bound = "CPU" if compute >= transfer else "transfer"
        parts = (compute + io / spec.transfer_bytes_per_s, 0.0, crossings * spec.transfer_latency_s)
    return OpCost(op, dev, macs, nnz, wbytes, dense, resident and dev == "nna", io, *parts, bound)


def best_residency(model: CostedModel, counts: dict[str, int], spec: NNASpec | None = None,
                   placement: dict[str, str] | None = None) -> set[str]:
    """The NNA ops whose weights SRAM should hold to minimize the modeled time of these
    invocation counts (a 0/1 knapsack: SRAM bytes against modeled seconds saved; exact by
    enumeration up to 16 candidate ops, an RNN-T has about 10; beyond that, greedy by
    seconds saved per byte). The default placement, smallest first, ignores how often an
    op runs: a predictor called per token and per hypothesis may stream while encoder
    layers called once per frame sit in SRAM."""
    spec = spec or model.spec
    shapes = model.op_shapes()
    raw = _op_sizes(shapes, spec)
    dev = _devices(shapes, placement or model.placement)
    gain: dict[str, float] = {}
    for key, c in counts.items():
        op, n = split_key(key)
        sizes = raw[op]
        if dev[op] == "nna" and sizes[2] <= spec.sram_bytes:
            saved = (_op_cost(op, "nna", sizes, False, spec).call_seconds(n)
                     - _op_cost(op, "nna", sizes, True, spec).call_seconds(n)) * c
            gain[op] = gain.get(op, 0.0) + saved
    gain = {op: g for op, g in gain.items() if g > 0}
    ops = sorted(gain)
    if len(ops) <= 16:
        best, best_gain = set(), 0.0
        for mask in range(1 << len(ops)):
            pick = [o for i, o in enumerate(ops) if mask >> i & 1]
            if sum(raw[o][2] for o in pick) <= spec.sram_bytes:
                g = sum(gain[o] for o in pick)
                if g > best_gain:
                    best, best_gain = set(pick), g
        return best
    best, budget = set(), spec.sram_bytes
    for op in sorted(ops, key=lambda o: -gain[o] / max(raw[o][2], 1)):
        if raw[op][2] <= budget:
            best.add(op)
            budget -= raw[op][2]
    return best


def modeled_seconds(table: dict[str, OpCost], counts: dict[str, int]) -> float:
    """Modeled NNA time of a set of op invocations (op counts, see the module's doc)."""
    total = 0.0
    for key, c in counts.items():
        op, n = split_key(key)
        total += table[op].call_seconds(n) * c
    return total


def breakdown(table: dict[str, OpCost], counts: dict[str, int], audio_seconds: float) -> list[dict]:
    """Where the modeled time goes: one row per op (in the table's order) with its
    invocations (``calls``, each one weight stream and one dispatch) and the input vectors
    they carried (``vectors``), both measured by decoding (predictor and joiner calls
    depend on what was said and on the search), its mean cost per call and what bounds a
    call on one vector, and its modeled milliseconds per second of audio and share of the
    total."""
    secs = {op: 0.0 for op in table}
    for key, c in counts.items():
        op, n = split_key(key)
        secs[op] += table[op].call_seconds(n) * c
    total = sum(secs.values()) or 1.0
    audio = max(audio_seconds, 1e-9)
    calls = per_op(counts)
    rows = []
    for op, c in table.items():
        n, v = calls.get(op, (0, 0))
        rows.append({
            "op": op, "device": c.device, "calls": n, "vectors": v, "calls_per_audio_s": n / audio,
            "macs": c.macs, "nnz_macs": c.nnz_macs, "weight_bytes": c.weight_bytes,
            "dense_weight_bytes": c.dense_weight_bytes, "resident": c.resident,
            "dram_bytes_per_call": c.dram_bytes, "us_per_call": 1e6 * (secs[op] / n if n else c.seconds),
            "bound": c.bound, "ms_per_audio_s": 1e3 * secs[op] / audio,
            "share": secs[op] / total,
        })
    return rows

"""The NNA cost model: modeled time of every op the engine executes.

Per invocation of an op placed on the NNA:
    max(MACs / (macs_per_cycle * clock_hz), DRAM bytes read / dram_bytes_per_s) + op_overhead_s
where DRAM bytes read are the op's weight bytes (after zero-weight compression, plus int32
bias and requantization parameters) unless the op's weights are resident in on-chip SRAM.
SRAM residency: NNA ops sorted by weight bytes, smallest first, fill ``sram_bytes``; the
rest stream from DRAM on every invocation (every frame, every predictor step).
MACs are dense unless ``skip_zero_macs``.

Per invocation of an op placed on the CPU:
    2 * MACs / cpu_flops_per_s + 2 * (transfer_latency_s + io_bytes / transfer_bytes_per_s)
(its input crosses NNA->CPU and its output CPU->NNA). The front-end and the decoding loop
run on the host in every configuration and are not part of the modeled NNA time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spec import NNASpec


@dataclass(frozen=True)
class OpCost:
    op: str
    device: str  # "nna" or "cpu"
    macs: int  # per invocation (dense)
    nnz_macs: int  # per invocation, zero weights skipped
    weight_bytes: int  # as stored for the NNA (compressed where it pays)
    dense_weight_bytes: int
    resident: bool  # in on-chip SRAM
    io_bytes: int  # activations in + out, per invocation
    seconds: float  # modeled, per invocation

    @property
    def dram_bytes(self) -> int:
        return 0 if (self.resident or self.device == "cpu") else self.weight_bytes


def op_matrices(op: str, tensors: dict[str, np.ndarray], weight_names: list[str]) -> list[np.ndarray]:
    return [tensors[n] for n in weight_names if n.startswith(op + ".")]


def build_cost_table(model, placement: dict[str, str] | None = None) -> dict[str, OpCost]:
    """Per-op modeled cost for an :class:`engine.model.EngineModel`."""
    from ..model import zwc_bytes

    spec: NNASpec = model.spec
    a = model.arch
    placement = placement or model.placement
    names = list(a.weight_shapes())
    act_bytes = spec.act_bits // 8
    raw = {}
    for op in a.op_names():
        mats = op_matrices(op, model.tensors, names)
        if op == "pred.embed":
            macs = nnz = 0
            wbytes = dense = a.pred_embed * max(spec.weight_bits // 8, 1)  # one row per lookup
            n_out, k_in = a.pred_embed, 1
        else:
            macs = sum(m.size for m in mats)
            nnz = sum(int(np.count_nonzero(m)) for m in mats)
            n_out = mats[0].shape[0]
            k_in = sum(m.shape[1] for m in mats)
            params = 12 * n_out  # int32 bias + int32 multiplier + int32 shift per channel
            wbytes = sum(zwc_bytes(m, spec) for m in mats) + params
            dense = sum((m.size * spec.weight_bits + 7) // 8 for m in mats) + params
            if op.startswith("enc.") or op == "pred.0":
                n_out = n_out // 4  # an LSTM outputs h
        io = (k_in + n_out) * act_bytes
        raw[op] = (macs, nnz, wbytes, dense, io)
    # SRAM residency, smallest NNA ops first
    budget = spec.sram_bytes
    resident = set()
    for op in sorted((o for o in raw if placement.get(o, "nna") == "nna"), key=lambda o: raw[o][2]):
        if raw[op][2] <= budget:
            budget -= raw[op][2]
            resident.add(op)
    table = {}
    for op, (macs, nnz, wbytes, dense, io) in raw.items():
        dev = placement.get(op, "nna")
        if dev == "nna":
            m = nnz if spec.skip_zero_macs else macs
            dram = 0 if op in resident else wbytes
            sec = max(m / spec.macs_per_s, dram / spec.dram_bytes_per_s) + spec.op_overhead_s
        else:
            sec = 2 * macs / spec.cpu_flops_per_s + 2 * (
                spec.transfer_latency_s + io / spec.transfer_bytes_per_s
            )
        table[op] = OpCost(op, dev, macs, nnz, wbytes, dense, op in resident, io, sec)
    return table


def modeled_seconds(table: dict[str, OpCost], counts: dict[str, int]) -> float:
    """Modeled NNA time of a set of op invocations."""
    return sum(table[op].seconds * n for op, n in counts.items())

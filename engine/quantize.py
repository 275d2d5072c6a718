"""Float weights -> the model file's integer tensors, by the spec's rules (numpy only).

Used by the trainer's export (post-training quantization, and AAT models whose forward
pass already used exactly these rules) and by tests that build random models.

Rules: weights symmetric per output channel, ``scale = max|w| / weight_qmax`` (a row of
zeros gets scale 1), codes ``round_half_away(w / scale)``; bias int32 at
``in_scale * w_scale``; requantization multipliers from the real ratio of input and
output scales (:func:`engine.nna.fixedpoint.quantize_multiplier`).
"""

from __future__ import annotations

import numpy as np

from .arch import EMBEDDED, EMBEDDING, FEATURES, GATE, HIDDEN, LOGITS, LSTM, Architecture
from .nna.fixedpoint import quantize_multipliers, round_half_away, saturate, saturate_symmetric
from .nna.spec import NNASpec


def weight_scale(w: np.ndarray, spec: NNASpec) -> np.ndarray:
    """Per-output-channel scale [N] of a weight matrix [N, K]."""
    m = np.abs(np.asarray(w, np.float64)).max(axis=1)
    return np.where(m > 0, m / spec.weight_qmax, 1.0).astype(np.float32)


def quantize_weight(w: np.ndarray, spec: NNASpec) -> tuple[np.ndarray, np.ndarray]:
    s = weight_scale(w, spec)
    codes = saturate_symmetric(round_half_away(np.asarray(w, np.float64) / s[:, None].astype(np.float64)), spec.weight_bits)
    return codes.astype(np.int8), s


def quantize_bias(b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return saturate(round_half_away(np.asarray(b, np.float64) / np.asarray(scale, np.float64)), 32).astype(np.int32)


def _mult(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m, s = quantize_multipliers(np.asarray(real, np.float64))
    return m.astype(np.int32), s.astype(np.int32)


def build_tensors(
    params: dict[str, np.ndarray],
    arch: Architecture,
    spec: NNASpec,
    *,
    in_scale: float,
    out_scale: float,
    mean: np.ndarray,
    std: np.ndarray,
    float_ops: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """Integer tensors of a model file from float parameters.

    ``params`` keys: the ops' float parameter names (``Op.float_params``: LSTM ``.wx``
    ``.wh`` ``.b`` with ``b`` = b_ih + b_hh, gate order i,f,g,o; linear ``.w`` ``.b``;
    embedding ``.table``).
    ``in_scale``: int scale of the stacked normalized features; ``out_scale``: of the
    int16 logits. ``float_ops``: ops whose float weights are stored too (ops to place on
    the CPU, or all of them for the float reference); default all.
    """
    hid = 2.0 ** -spec.hidden_frac_bits
    gate = 2.0 ** -spec.gate_frac_bits
    t: dict[str, np.ndarray] = {}
    embed = [op for op in arch.ops if op.kind == EMBEDDING][0]
    table = np.asarray(params[f"{embed.name}.table"], np.float64)
    emb_scale = float(max(np.abs(table).max(), 1e-8) / spec.act_qmax)
    scale_of = {FEATURES: in_scale, HIDDEN: hid, EMBEDDED: emb_scale, GATE: gate, LOGITS: out_scale}
    for op in arch.ops:
        name, s_in = op.name, scale_of.get(op.input, 0.0)
        if op.kind == EMBEDDING:
            t[f"{name}.table"] = saturate_symmetric(round_half_away(table / emb_scale), spec.act_bits).astype(np.int8)
            t[f"{name}.scale"] = np.array([emb_scale], np.float32)
        elif op.kind == LSTM:
            wx, sx = quantize_weight(params[f"{name}.wx"], spec)
            wh, sh = quantize_weight(params[f"{name}.wh"], spec)
            t[f"{name}.wx"], t[f"{name}.wx_scale"] = wx, sx
            t[f"{name}.wh"], t[f"{name}.wh_scale"] = wh, sh
            t[f"{name}.bias"] = quantize_bias(params[f"{name}.b"], s_in * sx.astype(np.float64))
            t[f"{name}.mx"], t[f"{name}.shx"] = _mult(s_in * sx.astype(np.float64) / gate)
            t[f"{name}.mh"], t[f"{name}.shh"] = _mult(hid * sh.astype(np.float64) / gate)
            t[f"{name}.in_scale"] = np.array([s_in], np.float32)
        else:
            w, s = quantize_weight(params[f"{name}.w"], spec)
            t[f"{name}.w"], t[f"{name}.w_scale"] = w, s
            t[f"{name}.bias"] = quantize_bias(params[f"{name}.b"], s_in * s.astype(np.float64))
            t[f"{name}.m"], t[f"{name}.sh"] = _mult(s_in * s.astype(np.float64) / scale_of[op.output])
            if op.output == LOGITS:
                t[f"{name}.out_scale"] = np.array([out_scale], np.float32)
    t["frontend.mean"] = np.asarray(mean, np.float32)
    t["frontend.std"] = np.asarray(std, np.float32)
    ops = arch.op_names() if float_ops is None else float_ops
    for op in ops:
        for k, v in params.items():
            if k.startswith(op + "."):
                name = k[len(op) + 1 :]
                t[f"float.{op}.{name}"] = np.asarray(v, np.float32)
    return t


def random_params(arch: Architecture, seed: int = 0, sparsity: float = 0.0) -> dict[str, np.ndarray]:
    """Random float parameters (tests, benchmarks): uniform(-1/sqrt(H), 1/sqrt(H))."""
    rng = np.random.default_rng(seed)
    p: dict[str, np.ndarray] = {}
    encoder = {op.name for op in arch.encoder_ops}
    for op in arch.ops:
        for name, (n, k) in op.weights().items():
            w = rng.uniform(-1, 1, (n, k)) / np.sqrt(arch.enc_hidden if op.name in encoder else arch.pred_hidden)
            if op.kind == EMBEDDING:
                w = rng.normal(0, 1, (n, k))
            elif sparsity > 0:
                thr = np.quantile(np.abs(w), sparsity, axis=1, keepdims=True)
                w = np.where(np.abs(w) <= thr, 0.0, w)
            p[name] = w.astype(np.float32)
    for op in arch.ops:
        if op.kind != EMBEDDING:
            p[f"{op.name}.b"] = rng.uniform(-0.1, 0.1, op.out_dim).astype(np.float32)
    return p

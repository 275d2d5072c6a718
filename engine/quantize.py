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

from .model import Architecture
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

    ``params`` keys: ``enc.L.wx|wh|b``, ``pred.embed.table``, ``pred.0.wx|wh|b``,
    ``join.enc|join.pred|join.out .w|b`` (LSTM ``b`` = b_ih + b_hh, gate order i,f,g,o).
    ``in_scale``: int scale of the stacked normalized features; ``out_scale``: of the
    int16 logits. ``float_ops``: ops whose float weights are stored too (ops to place on
    the CPU, or all of them for the float reference); default all.
    """
    hid = 2.0 ** -spec.hidden_frac_bits
    gate = 2.0 ** -spec.gate_frac_bits
    t: dict[str, np.ndarray] = {}
    table = np.asarray(params["pred.embed.table"], np.float64)
    emb_scale = float(max(np.abs(table).max(), 1e-8) / spec.act_qmax)
    t["pred.embed.table"] = saturate_symmetric(round_half_away(table / emb_scale), spec.act_bits).astype(np.int8)
    t["pred.embed.scale"] = np.array([emb_scale], np.float32)
    lstm_in = {f"enc.{i}": (in_scale if i == 0 else hid) for i in range(arch.enc_layers)}
    lstm_in["pred.0"] = emb_scale
    for op, s_in in lstm_in.items():
        wx, sx = quantize_weight(params[f"{op}.wx"], spec)
        wh, sh = quantize_weight(params[f"{op}.wh"], spec)
        t[f"{op}.wx"], t[f"{op}.wx_scale"] = wx, sx
        t[f"{op}.wh"], t[f"{op}.wh_scale"] = wh, sh
        t[f"{op}.bias"] = quantize_bias(params[f"{op}.b"], s_in * sx.astype(np.float64))
        t[f"{op}.mx"], t[f"{op}.shx"] = _mult(s_in * sx.astype(np.float64) / gate)
        t[f"{op}.mh"], t[f"{op}.shh"] = _mult(hid * sh.astype(np.float64) / gate)
        t[f"{op}.in_scale"] = np.array([s_in], np.float32)
    for op in ("join.enc", "join.pred", "join.out"):
        w, s = quantize_weight(params[f"{op}.w"], spec)
        t[f"{op}.w"], t[f"{op}.w_scale"] = w, s
        t[f"{op}.bias"] = quantize_bias(params[f"{op}.b"], hid * s.astype(np.float64))
        dst = out_scale if op == "join.out" else gate
        t[f"{op}.m"], t[f"{op}.sh"] = _mult(hid * s.astype(np.float64) / dst)
    t["join.out.out_scale"] = np.array([out_scale], np.float32)
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
    for name, (n, k) in arch.weight_shapes().items():
        fan = arch.enc_hidden if name.startswith("enc") else arch.pred_hidden
        w = rng.uniform(-1, 1, (n, k)) / np.sqrt(fan)
        if name == "pred.embed.table":
            w = rng.normal(0, 1, (n, k))
        elif sparsity > 0:
            thr = np.quantile(np.abs(w), sparsity, axis=1, keepdims=True)
            w = np.where(np.abs(w) <= thr, 0.0, w)
        p[name] = w.astype(np.float32)
    for i in range(arch.enc_layers):
        p[f"enc.{i}.b"] = rng.uniform(-0.1, 0.1, 4 * arch.enc_hidden).astype(np.float32)
    p["pred.0.b"] = rng.uniform(-0.1, 0.1, 4 * arch.pred_hidden).astype(np.float32)
    for op, n in (("join.enc", arch.joiner_dim), ("join.pred", arch.joiner_dim), ("join.out", arch.num_classes)):
        p[f"{op}.b"] = rng.uniform(-0.1, 0.1, n).astype(np.float32)
    return p

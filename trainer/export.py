"""Export a trained checkpoint to the engine's model file.

Float-trained models: post-training quantization (PTQ) with calibration of the two
data-dependent ranges (stacked input features, logits) on a few utterances. AAT models:
their calibrated ranges are part of the checkpoint and their forward pass already used
the spec's arithmetic, so the export is exact. The placement (NNA or CPU per op) is a
parameter; ops placed on the CPU carry their float weights.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.model import save_model
from engine.nna.spec import NNASpec
from engine.quantize import build_tensors

from .model import RNNT


def _f32(x: float) -> float:
    return float(np.float32(x))


@torch.no_grad()
def calibrate(model: RNNT, fs, n: int = 64, spec: NNASpec | None = None) -> tuple[float, float]:
    """(in_scale, out_scale) from the float model on ``n`` utterances: max |x| / qmax.

    in_scale covers the 99.999th percentile of |normalized stacked features|; out_scale
    the max |logit| over all (t, u) of the alignment lattice. Both rounded to float32
    (the model file's precision), so that training and export use the same values.
    """
    spec = spec or NNASpec()
    model.eval()
    xs, ls = [], []
    dev = model.feat_mean.device
    rng = np.random.default_rng(0)
    idx = rng.choice(len(fs), size=min(n, len(fs)), replace=False)
    with model.float_forward():
        for i in idx:
            f = torch.from_numpy(np.asarray(fs.frames(i), np.float32))[None].to(dev)
            lens = torch.tensor([f.shape[1]], device=dev)
            x, _ = model.stack_frames(f, lens)
            xs.append(x.abs().flatten())
            enc, _, _ = model.encode(f, lens)
            pred, _ = model.predict(torch.tensor([fs.tokens[i]], dtype=torch.long, device=dev))
            ls.append(model.joint(enc, None, pred, None).abs().max())
    xmax = float(torch.quantile(torch.cat(xs)[:5_000_000].float().cpu(), 0.99999))
    lmax = float(torch.stack(ls).max()) * 1.1
    return _f32(max(xmax, 1e-3) / spec.act_qmax), _f32(max(lmax, 1e-3) / 32767)


def export_ranges(model: RNNT, aat: bool, features, *, n: int, spec: NNASpec) -> tuple[float, float, str]:
    """The activation ranges an export uses: an AAT model's trained ranges, else PTQ
    calibration on ``n`` utterances of ``features`` (a FeatureSet, or a callable returning
    one, so that nothing is loaded when the trained ranges are used). Returns
    (in_scale, out_scale, how)."""
    if aat and float(model.in_scale) > 0:
        return float(model.in_scale), float(model.out_scale), "AAT (trained ranges)"
    fs = features() if callable(features) else features
    if not len(fs):
        raise ValueError("PTQ calibration found no utterances in its manifest")
    i_s, o_s = calibrate(model, fs, n=n, spec=spec)
    return i_s, o_s, f"PTQ (calibrated on {min(n, len(fs))} utterances)"


def export_model(model: RNNT, tokenizer_proto: bytes, out, *, spec: NNASpec,
                 in_scale: float, out_scale: float, placement: dict[str, str] | None = None,
                 float_ops: list[str] | None = None, chunk_ms: int = 160, facts: dict | None = None):
    """Write ``out`` (.nnasr), with the front-end the model was trained on (``model.frontend``).
    ``float_ops=None`` keeps float weights for every op (the float reference execution then
    reproduces the torch model); pass the CPU ops only for a smaller file."""
    placement = dict(placement or {})
    cpu_ops = [op for op, d in placement.items() if d == "cpu"]
    if float_ops is not None:
        float_ops = sorted(set(float_ops) | set(cpu_ops))
    tensors = build_tensors(
        model.float_params(), model.arch, spec, in_scale=in_scale, out_scale=out_scale,
        mean=model.feat_mean.cpu().numpy(), std=model.feat_std.cpu().numpy(), float_ops=float_ops,
    )
    return save_model(out, arch=model.arch, frontend=model.frontend, spec=spec,
                      placement=placement, tensors=tensors, tokenizer_proto=tokenizer_proto,
                      chunk_ms=chunk_ms, facts=facts or {})

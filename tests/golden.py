"""Recorded engine outputs on the shipped models, for bit-identity checks across refactors.

``python tests/golden.py --write`` records them into ``tests/data/golden.json``;
``tests/test_golden.py`` recomputes them and asserts every value is unchanged. Recorded:

* per model (``assets/models/*.nnasr``) and clip (``assets/audio/demo.flac`` and clips cut,
  scaled and noised from it, plus silence): every op's integer (or float) outputs over the
  utterance (sha256), the encoder projection, a greedy decode run op by op (tokens, every
  joiner logit), the op invocation counts; the recognizer's greedy and beam-4 tokens; the
  float reference execution's greedy tokens, and its encoder output and logits as samples
  (:func:`float_sample`: float32 BLAS sums in a CPU-dependent order, so these are compared
  to a tolerance, not bit for bit);
* per model: the cost model's table, a breakdown of the demo's counts and the best SRAM
  residency for them;
* with torch installed: the exported integer tensors of ``assets/checkpoints/float.pt`` and
  the accelerator-aware (AAT) forward's integer codes on the demo.

Re-record only after a change that is meant to change the engine's arithmetic, and say so.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "data" / "golden.json"
MODELS = ("baseline-ptq", "aat", "aat-csp", "aat-w4")  # aat-w4: the 4-bit weight path


def digest(x) -> str:
    """sha256 of an array's values (int codes as int64, floats as float32) and shape."""
    a = np.asarray(x)
    a = a.astype(np.int64) if a.dtype.kind in "iub" else a.astype(np.float32)
    h = hashlib.sha256(str(a.shape).encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:24]


FLOAT_SAMPLES = 64


def float_sample(x) -> dict:
    """A float array as its shape and ``FLOAT_SAMPLES`` evenly spaced values (6 significant
    digits), for a comparison to a tolerance (:func:`float_close`)."""
    a = np.asarray(x, np.float64).ravel()
    idx = np.linspace(0, len(a) - 1, min(FLOAT_SAMPLES, len(a))).astype(int) if len(a) else []
    return {"shape": list(np.shape(x)), "values": [float(f"{v:.6g}") for v in a[idx]]}


def float_close(got: dict, want: dict, atol: float = 1e-3, rtol: float = 1e-3) -> bool:
    """Two :func:`float_sample` records equal up to float32 summation order."""
    return got["shape"] == want["shape"] and np.allclose(got["values"], want["values"], rtol=rtol, atol=atol)


def clips() -> dict[str, np.ndarray]:
    from engine.audio import load_audio

    demo = load_audio(ROOT / "assets" / "audio" / "demo.flac")
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(demo)).astype(np.float32)
    noise *= np.sqrt(np.mean(demo**2) / np.mean(noise**2) / 10.0)  # 10 dB SNR
    return {
        "demo": demo,
        "demo-head": demo[: int(2.7 * 16000)],
        "demo-mid": demo[int(2.6 * 16000): int(5.4 * 16000)],
        "demo-quiet": (demo * np.float32(0.1)).astype(np.float32),
        "demo-noisy": (demo + noise).astype(np.float32),
        "silence": np.zeros(16000, np.float32),
    }


class _Taps:
    """Every op output of a :class:`engine.network.Network`, in call order."""

    def __init__(self, net) -> None:
        self.out: dict[str, list[np.ndarray]] = {}
        lstm, pred, proj, emb = net._lstm, net._pred_step, net._proj, net._pred_input

        def _lstm(op, *a, **k):
            y = lstm(op, *a, **k)
            self.out.setdefault(op, []).append(y)
            return y

        def _pred(*a, **k):
            y = pred(*a, **k)
            self.out.setdefault("pred.0", []).append(y[0])
            return y

        def _proj(op, *a, **k):
            y = proj(op, *a, **k)
            self.out.setdefault(op, []).append(y[1])
            return y

        def _emb(token):
            y = emb(token)
            self.out.setdefault("pred.embed", []).append(y)
            return y

        net._lstm, net._pred_step, net._proj, net._pred_input = _lstm, _pred, _proj, _emb

    def digests(self) -> dict[str, str]:
        return {op: digest(np.concatenate([np.atleast_2d(v) for v in vs])) for op, vs in sorted(self.out.items())}


def network_run(model, audio: np.ndarray, mode: str = "placed", record=digest) -> dict:
    """The network's op outputs on ``audio`` (whole), then greedy search op by op;
    ``record`` turns the encoder output and the logits into what is recorded."""
    from engine.frontend import compute_features
    from engine.network import Network

    net = Network(model, mode=mode, skip_dead=False)  # every op's outputs, the unread ones too
    taps = _Taps(net)
    feats = compute_features(audio, model.frontend)
    st = net.init_encoder_state()
    enc, kind = net.encode(net.normalize(feats), st)
    out = {"features": digest(feats), "encoder": record(enc)}
    if not len(enc):
        return out
    proj = net.project_encoder(enc, kind)
    out["join.enc"] = digest(proj[1])
    pred = net.init_predictor()
    tokens, logits_all = [], []
    for t in range(len(enc)):
        for _ in range(3):
            logits, best = net.joint((proj[0], proj[1][t]), pred[1])
            logits_all.append(logits)
            k = int(best)
            if k == model.arch.blank_id:
                break
            tokens.append(k)
            pred = net.predict(k, pred[0])
    out["greedy_tokens"] = tokens
    out["logits"] = record(np.stack(logits_all))
    out["ops"] = taps.digests()
    out["counts"] = dict(sorted(net.take_counts().items()))
    return out


def recognizer_run(model, audio: np.ndarray, beam: int) -> dict:
    from engine.recognizer import Recognizer

    # vad=False: the decoder on every frame, as recorded (the speech gate, which skips it
    # outside speech, is tested in tests/test_speech_gate.py)
    s = Recognizer(model, beam=beam, vad=False).create_stream()
    s.accept_waveform(audio, 16000)
    s.input_finished()
    finals = [r for r in s.results() if r.is_final]
    return {"tokens": [list(r.tokens) for r in finals], "text": s.text,
            "counts": dict(sorted(s.stats.op_counts.items()))}


def cost_record(model, counts: dict) -> dict:
    from engine.nna.cost import best_residency, breakdown, build_cost_table, modeled_seconds

    table = build_cost_table(model)
    rows = breakdown(table, counts, 8.47)
    res = best_residency(model, counts)
    return {
        "table": {op: [c.device, c.macs, c.nnz_macs, c.weight_bytes, c.dense_weight_bytes,
                       c.resident, c.io_bytes, repr(c.seconds), c.bound] for op, c in table.items()},
        "breakdown": [{k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
        "best_residency": sorted(res),
        "best_table_s": repr(modeled_seconds(build_cost_table(model, resident=res), counts)),
    }


def engine_record() -> dict:
    from engine.model import load_model

    out: dict = {}
    audio = clips()
    for name in MODELS:
        model = load_model(ROOT / "assets" / "models" / f"{name}.nnasr")
        rec: dict = {"clips": {}}
        for clip, x in audio.items():
            r = {"network": network_run(model, x),
                 "greedy": recognizer_run(model, x, 1)}
            if clip in ("demo", "demo-mid", "silence"):
                r["beam4"] = recognizer_run(model, x, 4)
            if clip in ("demo-head", "silence"):
                f = network_run(model, x, mode="float", record=float_sample)
                r["float"] = {k: f[k] for k in ("encoder", "greedy_tokens", "logits") if k in f}
            rec["clips"][clip] = r
        rec["cost"] = cost_record(model, rec["clips"]["demo"]["greedy"]["counts"])
        out[name] = rec
    return out


def trainer_record() -> dict:
    """Export of the shipped float checkpoint and the AAT forward on the demo (needs torch)."""
    import torch

    from engine.frontend import compute_features
    from engine.model import load_model
    from engine.nna.spec import NNASpec
    from engine.quantize import build_tensors
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    ck = load_checkpoint(ROOT / "assets" / "checkpoints" / "float.pt")
    model = model_from_checkpoint(ck).eval()
    spec = NNASpec()
    ref = load_model(ROOT / "assets" / "models" / "baseline-ptq.nnasr")
    i_s, o_s = ref.tensors["enc.0.in_scale"].item(), ref.tensors["join.out.out_scale"].item()
    t = build_tensors(model.float_params(), model.arch, spec, in_scale=i_s, out_scale=o_s,
                      mean=model.feat_mean.numpy(), std=model.feat_std.numpy(), float_ops=["join.out"])
    out = {"export": {k: digest(v) for k, v in sorted(t.items())}}
    model.in_scale.fill_(i_s)
    model.out_scale.fill_(o_s)
    model.enable_aat(spec)
    demo = clips()["demo-head"]
    feats = torch.from_numpy(compute_features(demo, ref.frontend))[None]
    tokens = torch.tensor([[5, 17, 3, 250, 9, 400]])
    with torch.no_grad():
        enc, lens, enc_q = model.encode(feats, torch.tensor([feats.shape[1]]))
        pred, pred_q = model.predict(tokens)
        logits = model.joint(enc, enc_q, pred, pred_q)
    out["aat"] = {"enc_q": digest(enc_q.numpy()), "enc": digest(enc.numpy()),
                  "pred_q": digest(pred_q.numpy()), "logits": digest(logits.numpy())}
    return out


def record() -> dict:
    out = {"engine": engine_record()}
    try:
        import torch  # noqa: F401
    except ImportError:
        return out
    out["trainer"] = trainer_record()
    return out


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT)]
    if "--write" not in sys.argv:
        sys.exit("usage: python tests/golden.py --write  (records tests/data/golden.json)")
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")

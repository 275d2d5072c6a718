"""Training: float RNN-T, accelerator-aware (``aat``), and pruned (``prune``), one loop.

Loss per utterance: RNN-T (``torchaudio.functional.rnnt_loss``; on the CPU the same loss in
plain torch ops, ``trainer.rnnt_loss``, 4x faster there) + ``ctc_weight`` x CTC on
the encoder output, both summed over the utterance and averaged over the batch. Length-
bucketed batches (shortest first in the first epoch), SpecAugment, warm-up then a flat
learning rate with cosine decay over the last ``decay_frac`` of the planned steps, gradient
clipping, bf16 autocast on CUDA. Checkpoints (``OUT/last.pt``) are written atomically every
``save_minutes`` and on exit; ``--resume`` continues from the saved step, epoch and batch,
with the saved config (``saved_config``) and the rest of an interrupted ``minutes`` budget.
Runs unchanged under ``torchrun`` (DDP; gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.frontend import FrontendConfig, hz_to_mel, mel_points
from engine.model import Architecture, load_model
from engine.nna.spec import NNASpec, load_profile

from .checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    tokenizer_from_tensor,
    tokenizer_to_tensor,
)
from .dataset import (
    concat_features,
    filter_by_augmentation,
    global_stats,
    load_features,
    make_batches,
)
from .evaluate import evaluate_engine  # imported up front, with the engine: a run never mixes
from .export import export_model, export_ranges  # code versions if the tree changes under it
from .model import RNNT, remap_vocabulary, widen_encoder
from .rnnt_loss import rnnt_loss


@dataclass
class TrainConfig:
    data: str = "data/corpus"  # directory with train.jsonl, dev.jsonl, tokenizer.model
    train: str = ""  # training manifests, comma-separated (default: DATA/train.jsonl); each cached beside itself
    out: str = "runs/float"
    init: str = ""  # start from this checkpoint's weights (fine-tuning: AAT, pruning)
    # with init: "init" keeps its tokenizer; "data" takes DATA/tokenizer.model (another vocabulary):
    # the encoder is kept, the vocabulary-shaped layers (embedding, joiner output, CTC head) are
    # rebuilt for it (init_vocab)
    tokenizer: str = "init"
    # with tokenizer=data: "map" starts each new piece's rows from the old pieces that spell it
    # (trainer.model.remap_vocabulary: the output row of the first, the embedding of the last);
    # "fresh" starts those layers from random weights
    init_vocab: str = "map"
    # architecture (ignored with init/resume: the checkpoint's architecture is used)
    enc_hidden: int = 256
    enc_layers: int = 3
    pred_embed: int = 128
    pred_hidden: int = 256
    joiner_dim: int = 256
    stack: int = 4
    reduce_after: int = 1
    # with init: move the encoder's time reduction to after this layer (0: none, i.e. 40 ms instead
    # of 80 ms encoder frames); -1 keeps the checkpoint's. A layer whose input widens or narrows by
    # reduce_factor starts from its old input weights tiled (/reduce_factor) or summed over frames
    init_reduce_after: int = -1
    # with init: widen every encoder LSTM to this many units (0: keep the checkpoint's), computing
    # the same function at the start: the new units' outgoing weights start at zero (Net2Net-style)
    init_enc_hidden: int = 0
    # optimization
    steps: int = 20000  # planned steps (the LR schedule's length)
    minutes: float = 0.0  # stop after this wall-clock budget (0: no limit); resumable
    max_frames: int = 16000  # padded 10-ms frames per batch
    lr: float = 1.5e-3
    warmup: int = 400
    decay_frac: float = 0.2
    weight_decay: float = 1e-5
    clip: float = 5.0
    ctc_weight: float = 0.3
    # intermediate CTC (InterCTC): a CTC loss on encoder layer inter_ctc_layer's output (0: the
    # middle layer, enc_layers // 2) through a head of its own; float training only, never exported
    inter_ctc_weight: float = 0.0
    inter_ctc_layer: int = 0
    rnnt_impl: str = "auto"  # RNN-T loss: torchaudio | torch (trainer/rnnt_loss.py) | torch-autograd (the same, slower) | auto (torch on CPU)
    specaug: bool = True
    amp: bool = True  # bf16 autocast (float training) on CUDA, and on CPUs with bf16 units (AMX, AVX512-BF16)
    dropout: float = 0.0  # between encoder LSTM layers (float training)
    tempo: float = 0.0  # feature-domain tempo perturbation: rate in [1-tempo, 1+tempo]
    gain_db: float = 0.0  # random level change of up to +-gain_db per utterance
    warp: float = 0.0  # vocal-tract-length perturbation: frequency axis scaled by [1-warp, 1+warp]
    tilt: float = 0.0  # spectral tilt: log-mel + a line from -t to +t across the bands, t in [-tilt, tilt]
    seed: int = 0
    threads: int = 0  # torch CPU threads (0: all cores)
    prefetch: int = -1  # build the next batch in a thread during the step: 1 on, 0 off, -1 on CUDA only
    # evaluation and checkpoints
    eval_every: int = 1000
    eval_minutes: float = 0.0  # also evaluate every this many minutes of wall time (0: off)
    feature_workers: int = 0  # processes computing the feature cache (0: all cores)
    eval_utts: int = 150
    save_minutes: float = 5.0
    keep_snapshots: int = 5
    log_every: int = 20
    # accelerator-aware training
    aat: bool = False
    profile: str = "reference-speaker"
    weight_bits: int = 0  # override the profile's weight bits (4..8); 0 = profile's
    # pruning
    prune: str = "none"  # none | magnitude | csp
    sparsity: float = 0.0
    prune_start: float = 0.1  # fraction of steps
    prune_end: float = 0.6
    prune_every: int = 100
    csp_lambda: float = 1e-3  # weight of the pull toward the recovered sparse weights
    prune_layers: str = "all"  # which matrices, optional per-group sparsity: enc=0.8,pred,join
    csp_utts: int = 48  # utterances whose layer inputs form the sensing matrices
    csp_iters: int = 10  # hard-thresholding pursuit iterations
    csp_cg_iters: int = 12  # conjugate-gradient iterations of each least-squares refit
    csp_assign: bool = True  # set weights to the recovered sparse weights at each pruning step
    limit_train: int = 0  # use only the first N training utterances (tests)
    min_snr: float = 0.0  # leave out synthesized training clips with noise added below this SNR, dB (0: keep all)
    max_rt60: float = 0.0  # leave out synthesized training clips with reverb longer than this, s (0: keep all)
    # partial training: comma-separated parts of the model (enc, pred, join)
    freeze: str = ""  # not trained (e.g. freeze=enc: train the decoder on a fixed encoder)
    reinit: str = ""  # re-initialized after loading --init (e.g. reinit=pred,join)

    def spec(self) -> NNASpec:
        s = load_profile(self.profile)
        return s.replace(weight_bits=self.weight_bits) if self.weight_bits else s


def parse_overrides(cfg: TrainConfig, items: list[str]) -> TrainConfig:
    """Apply ``key=value`` overrides, typed by the dataclass fields."""
    types = {f.name: f.type for f in fields(cfg)}
    d = asdict(cfg)
    for it in items:
        if "=" not in it:
            raise ValueError(f"override {it!r} is not key=value")
        k, v = it.split("=", 1)
        if k not in types:
            raise ValueError(f"unknown config key {k!r}; known: {', '.join(sorted(types))}")
        t = type(d[k])
        d[k] = (v.lower() in ("1", "true", "yes")) if t is bool else t(v)
    return TrainConfig(**d)


def saved_config(path: str | Path) -> TrainConfig:
    """The config a checkpoint was trained with, the base of ``--resume`` (overrides go on
    top of it, not on the defaults). Keys this version does not know are dropped."""
    d = json.loads(load_checkpoint(path)["config"])
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in d.items() if k in known})


def _parts(spec: str, parts: dict) -> list[str]:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    bad = [n for n in names if n not in parts]
    if bad:
        raise ValueError(f"unknown model part(s) {', '.join(bad)}; known: {', '.join(parts)}")
    return names


def _log(msg: str, rank: int = 0) -> None:
    if rank == 0:
        print(msg, flush=True)


def spec_augment(feats: torch.Tensor, lens: torch.Tensor, mean: torch.Tensor, gen: torch.Generator):
    """Two frequency masks (<= 15 bins) and up to two time masks (<= 5 % each), set to mean.
    Vectorized over the batch (masks drawn on the CPU generator, applied on the device)."""
    B, T, Fd = feats.shape
    w = torch.randint(0, 16, (B, 2), generator=gen)
    f0 = (torch.rand(B, 2, generator=gen) * (Fd - w).clamp(min=1)).long()
    fr = torch.arange(Fd)
    fmask = ((fr >= f0[..., None]) & (fr < (f0 + w)[..., None])).any(1)  # [B, F]
    L = lens.cpu()
    tw = (torch.rand(B, 2, generator=gen) * ((0.05 * L).long().clamp(min=1) + 1)[:, None]).long()
    t0 = (torch.rand(B, 2, generator=gen) * (L[:, None] - tw).clamp(min=1)).long()
    tr = torch.arange(T)
    tmask = ((tr >= t0[..., None]) & (tr < (t0 + tw)[..., None])).any(1)  # [B, T]
    mask = (fmask[:, None, :] | tmask[:, :, None]).to(feats.device)
    return torch.where(mask, mean.to(feats.dtype), feats)


def warp_frequencies(frames: np.ndarray, alpha: float, cfg: FrontendConfig | None = None) -> np.ndarray:
    """Vocal-tract-length perturbation in the log-mel domain: the output's mel band at
    frequency f takes the input's value at ``f / alpha`` (interpolated between bands), so
    ``alpha > 1`` moves formants and harmonics up, like a shorter vocal tract. Above 80 % of
    the top band the map bends linearly so the band edges stay where they are (Kaldi's
    piecewise-linear VTLP)."""
    x = np.asarray(frames, dtype=np.float32)
    cfg = cfg or FrontendConfig(n_mels=x.shape[1])
    hz = mel_points(cfg)[1:-1]  # band centres
    mels = hz_to_mel(hz)
    top = hz[-1]
    knee = 0.8 * top
    src = np.where(hz <= knee, hz / alpha, knee / alpha + (top - knee / alpha) * (hz - knee) / (top - knee))
    pos = np.interp(hz_to_mel(src), mels, np.arange(cfg.n_mels))  # fractional input band
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, cfg.n_mels - 1)
    w = (pos - i0).astype(np.float32)
    return x[:, i0] * (1 - w) + x[:, i1] * w


def perturb(frames: np.ndarray, rng: np.random.Generator, tempo: float, gain_db: float,
            warp: float = 0.0, tilt: float = 0.0) -> np.ndarray:
    """Feature-domain augmentation of one utterance: tempo change by nearest-frame
    resampling (rate in [1 - tempo, 1 + tempo]), a level change (log-mel offset), a
    vocal-tract-length warp of the frequency axis (factor in [1 - warp, 1 + warp]) and a
    spectral tilt (log-mel plus a straight line across the bands, from -t at the lowest to
    +t at the highest, t in [-tilt, tilt]: voices and microphones differ most in how much
    high-frequency energy they have)."""
    x = np.asarray(frames, dtype=np.float32)
    if tempo:
        rate = rng.uniform(1 - tempo, 1 + tempo)
        idx = np.minimum(np.round(np.arange(0, len(x), rate)).astype(np.int64), len(x) - 1)
        x = x[idx]
    if gain_db:
        x = x + np.float32(rng.uniform(-gain_db, gain_db) * np.log(10) / 10)  # ln power
    if warp:
        x = warp_frequencies(x, rng.uniform(1 - warp, 1 + warp))
    if tilt:
        x = x + np.linspace(-1.0, 1.0, x.shape[1], dtype=np.float32) * np.float32(rng.uniform(-tilt, tilt))
    return x


def lr_at(step: int, cfg: TrainConfig, time_frac: float = 0.0, warm_from: int = 0) -> float:
    """Warm-up, flat, cosine decay over the last ``decay_frac`` of the run. The run's
    progress is ``step / steps``, or, when a ``minutes`` budget is given and ends sooner,
    the fraction of that budget spent (``time_frac``): a time-boxed run still decays.
    ``warm_from``: a run resumed without optimizer state ramps up again over ``warmup``
    steps from this step."""
    if step < cfg.warmup:
        lr = cfg.lr * (step + 1) / cfg.warmup
    else:
        prog = max(step / max(1, cfg.steps), time_frac)
        start = 1 - cfg.decay_frac
        if prog < start:
            lr = cfg.lr
        else:
            p = min(1.0, (prog - start) / max(1e-9, cfg.decay_frac))
            lr = cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))
    if warm_from:
        lr *= min(1.0, (step - warm_from + 1) / max(1, cfg.warmup))
    return lr


def collate(fs, idx, device, augment=None, pin=False):
    """Pad a batch; ``augment(frames) -> frames`` is applied per utterance first. ``pin``:
    page-locked CPU tensors (built in a thread, copied to the GPU without blocking)."""
    frames = [np.asarray(fs.frames(i), dtype=np.float32) for i in idx]
    if augment is not None:
        frames = [augment(f) for f in frames]
    lens = torch.tensor([len(f) for f in frames])
    T = int(lens.max())
    x = torch.zeros(len(idx), T, fs.feats.shape[1])
    for j, f in enumerate(frames):
        x[j, : len(f)] = torch.from_numpy(f)
    toks = [fs.tokens[i] for i in idx]
    tl = torch.tensor([len(t) for t in toks])
    y = torch.zeros(len(idx), max(1, int(tl.max())), dtype=torch.long)
    for j, t in enumerate(toks):
        y[j, : len(t)] = torch.tensor(t)
    if pin:
        return x.pin_memory(), lens.pin_memory(), y.pin_memory(), tl.pin_memory()
    return x.to(device), lens.to(device), y.to(device), tl.to(device)


RNNT_IMPLS = ("auto", "torch", "torch-autograd", "torchaudio")


def cpu_has_bf16_units() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AMX or AVX512-BF16; read from
    Linux's /proc/cpuinfo): there bf16 autocast makes CPU training steps much faster.
    Elsewhere bf16 would be emulated and slower than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def compute_loss(model, x, lens, y, yl, ctc_weight: float, rnnt_impl: str = "auto",
                 inter_ctc_weight: float = 0.0):
    """-> (loss, RNN-T, CTC, intermediate CTC), per utterance. ``model``: the RNNT, or its
    DistributedDataParallel wrapper (whose forward it calls; the CTC heads and the
    architecture are read from the wrapped model)."""
    logits, enc, enc_lens = model(x, lens, y, yl)
    model = getattr(model, "module", model)
    inter_out, model._inter = model._inter, None
    enc_lens = enc_lens.clamp(min=1, max=logits.shape[1])
    if rnnt_impl in ("torch", "torch-autograd") or (rnnt_impl == "auto" and logits.device.type == "cpu"):
        rnnt = rnnt_loss(logits, y, enc_lens, yl, blank=model.arch.blank_id,
                         fused=rnnt_impl != "torch-autograd").sum()
    elif rnnt_impl in ("torchaudio", "auto"):
        import torchaudio.functional as AF

        rnnt = AF.rnnt_loss(logits.float(), y.int(), enc_lens.int(), yl.int(),
                            blank=model.arch.blank_id, reduction="sum", clamp=-1)
    else:
        raise ValueError(f"rnnt_impl={rnnt_impl!r}: one of {', '.join(RNNT_IMPLS)}")
    loss = rnnt
    def ctc_loss(head, h, h_lens):
        lp = F.log_softmax(head(h).float(), dim=-1).transpose(0, 1)
        return F.ctc_loss(lp, y, h_lens, yl, blank=model.arch.blank_id, reduction="sum", zero_infinity=True)

    ctc = inter = torch.zeros(())
    if ctc_weight > 0:
        ctc = ctc_loss(model.ctc, enc, enc_lens)
        loss = loss + ctc_weight * ctc
    if inter_ctc_weight > 0 and inter_out is not None:
        h, h_lens = inter_out
        inter = ctc_loss(model.ctc_inter.out, h, h_lens.clamp(min=1, max=h.shape[1]))
        loss = loss + inter_ctc_weight * inter
    B = x.shape[0]
    return loss / B, rnnt.detach() / B, ctc.detach() / B, inter.detach() / B


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False, progress: bool = True,
                 new_budget: bool = False) -> None:
        """``resume``: continue ``OUT/last.pt``; its ``minutes`` budget goes on where it stopped
        (the LR decay planned on it too) unless ``new_budget``: then ``cfg.minutes`` more."""
        self.cfg = cfg
        self.new_budget = new_budget
        self.progress = progress
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            self.device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(self.device)
            torch.backends.cuda.matmul.allow_tf32 = True  # float training; AAT turns it off
            torch.backends.cudnn.allow_tf32 = True
        else:
            self.device = torch.device("cpu")
            if cfg.threads:
                torch.set_num_threads(cfg.threads)
        if self.world > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        # bf16 autocast: float training only (AAT's integer emulation needs exact fp32)
        self.amp = bool(cfg.amp and not cfg.aat and (self.device.type == "cuda" or cpu_has_bf16_units()))
        if self.device.type == "cpu":
            # oneDNN (mkldnn) does the CPU's bf16 matrix products: 7.5x fp32 for the joiner's
            # output layer on AMX, and bf16 steps 1.8x faster (docs/training.md). In fp32 it
            # stays off as session 1 measured it (CPU LSTM ~25x slower with it then).
            torch.backends.mkldnn.enabled = self.amp
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self._setup(resume)

    # --- set-up -------------------------------------------------------------------------
    def _setup(self, resume: bool) -> None:
        import sentencepiece as spm

        cfg = self.cfg
        data = Path(cfg.data)
        last = self.out / "last.pt"
        ckpt = None
        if resume:
            if not last.exists():
                raise FileNotFoundError(f"--resume: no checkpoint at {last}")
            ckpt = load_checkpoint(last)
            _log(f"resuming from {last} at step {ckpt['step']}", self.rank)
        init = load_checkpoint(cfg.init) if (cfg.init and ckpt is None) else None
        if cfg.tokenizer not in ("init", "data"):
            raise ValueError(f"tokenizer={cfg.tokenizer!r}: init (the checkpoint's) or data (DATA/tokenizer.model)")
        if cfg.init_vocab not in ("map", "fresh"):
            raise ValueError(f"init_vocab={cfg.init_vocab!r}: map (from the old pieces) or fresh (random)")
        new_vocab = init is not None and cfg.tokenizer == "data"
        for key, new in (("init_reduce_after", "reduce_after"), ("init_enc_hidden", "enc_hidden")):
            if getattr(cfg, key) != getattr(TrainConfig, key) and not cfg.init:
                raise ValueError(f"{key} changes an --init checkpoint's shape; a new model takes {new}=N")
        src = ckpt or init
        if src is not None and not new_vocab:
            self.tok_proto = tokenizer_from_tensor(src["tokenizer"])
        else:
            tok_path = data / "tokenizer.model"
            if not tok_path.exists():
                raise FileNotFoundError(f"{tok_path}: no tokenizer; run `nnasr synth` first")
            self.tok_proto = tok_path.read_bytes()
        self.sp = spm.SentencePieceProcessor()
        self.sp.LoadFromSerializedProto(self.tok_proto)
        arch = None if src is not None else Architecture(
            num_classes=self.sp.get_piece_size() + 1, enc_hidden=cfg.enc_hidden, enc_layers=cfg.enc_layers,
            pred_embed=cfg.pred_embed, pred_hidden=cfg.pred_hidden, joiner_dim=cfg.joiner_dim,
            stack=cfg.stack, reduce_after=cfg.reduce_after)
        if init is not None:
            arch = self._init_shape(init, new_vocab)
        if arch is not None:
            arch.check()  # said before the features load, not after
        manifests = [m for m in cfg.train.split(",") if m] or [data / "train.jsonl"]
        self.train_fs = concat_features([
            load_features(m, self.sp, progress=self.progress and self.rank == 0, limit=cfg.limit_train or None,
                          workers=cfg.feature_workers or os.cpu_count() or 1) for m in manifests])
        if len(manifests) > 1:
            _log(f"training on {len(manifests)} manifests, {len(self.train_fs)} utterances", self.rank)
        if cfg.min_snr > 0 or cfg.max_rt60 > 0:
            self.train_fs, n = filter_by_augmentation(self.train_fs, cfg.min_snr, cfg.max_rt60)
            _log(f"min_snr={cfg.min_snr:g} max_rt60={cfg.max_rt60:g}: training on {n['kept']} of {n['of']} utterances "
                 f"({n['noise']} noisier, {n['reverb']} more reverberant left out; {n['unknown']} of unknown "
                 "augmentation kept)", self.rank)
            if not n["kept"]:
                raise ValueError("min_snr/max_rt60 left no training utterance")
        n = len(make_batches(self.train_fs.lengths, cfg.max_frames, cfg.seed, 0)) if self.world > 1 else 1
        if n < self.world:  # each rank takes every world-th batch (make_batches): some would get none
            raise ValueError(f"{len(self.train_fs)} training utterances make {n} batch(es) of max_frames="
                             f"{cfg.max_frames}: fewer than the {self.world} ranks, each of which needs its "
                             "own; lower max_frames, or train on fewer processes or more data")
        dev = data / "dev.jsonl"
        from trainer.data.manifest import read_manifest

        self.dev_records = read_manifest(dev)[: cfg.eval_utts] if dev.exists() else []
        if init is not None and arch is not None:
            self.model = self._adapted(init, arch, new_vocab)
        elif src is not None:
            self.model = model_from_checkpoint(src, self.device)
        else:
            torch.manual_seed(cfg.seed)  # the same seed, the same initial weights
            self.model = RNNT(arch).to(self.device)
            mean, std = global_stats(self.train_fs)
            self.model.feat_mean.copy_(torch.from_numpy(mean))
            self.model.feat_std.copy_(torch.from_numpy(std))
        if cfg.inter_ctc_weight > 0:
            inherited = self.model.ctc_inter is not None
            if not inherited:
                self.model.add_inter_ctc(cfg.inter_ctc_layer or self.model.arch.enc_layers // 2)
            _log(f"intermediate CTC loss on encoder layer {int(self.model.ctc_inter.layer)}'s output (of "
                 f"{self.model.arch.enc_layers}), weight {cfg.inter_ctc_weight:g}"
                 + (", its head from the checkpoint" if inherited else ""), self.rank)
        self.spec = cfg.spec()
        if cfg.aat:
            if not (self.model.in_scale > 0):
                from .export import calibrate

                i_s, o_s = calibrate(self.model, self.train_fs, spec=self.spec)
                self.model.in_scale.fill_(i_s)
                self.model.out_scale.fill_(o_s)
                _log(f"AAT: calibrated in_scale={i_s:.5g} out_scale={o_s:.5g}", self.rank)
            self.model.enable_aat(self.spec)
        self.pruner = None
        if cfg.prune != "none":
            from .prune import make_pruner

            self.pruner = make_pruner(cfg, self.model, self.train_fs, self.device)
            if ckpt is not None and "prune" in ckpt:
                self.pruner.load_state_dict(ckpt["prune"])
        parts = self.model.groups()
        for name in _parts(cfg.reinit, parts) if ckpt is None else []:
            torch.manual_seed(cfg.seed)
            for mod in parts[name]:
                for sub in mod.modules():
                    if hasattr(sub, "reset_parameters"):
                        sub.reset_parameters()
            _log(f"re-initialized {name}", self.rank)
        self.frozen = _parts(cfg.freeze, parts)
        for name in self.frozen:
            for mod in parts[name]:
                mod.requires_grad_(False)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"freeze={cfg.freeze!r} leaves nothing to train")
        if cfg.rnnt_impl not in RNNT_IMPLS:
            raise ValueError(f"rnnt_impl={cfg.rnnt_impl!r}: one of {', '.join(RNNT_IMPLS)}")
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.warm_from = 0  # a resume without optimizer state warms the LR up again from its step
        self.history: list[dict] = []
        self.wall = 0.0
        self.audio_seen = 0.0
        self.budget_spent = 0.0  # seconds of the ``minutes`` budget used before this process
        if ckpt is not None:
            if "optimizer" in ckpt:
                self.opt.load_state_dict(ckpt["optimizer"])
            else:  # a compact (weights-only) checkpoint, e.g. the one committed to the repo
                self.warm_from = ckpt["step"]
                _log(f"{last}: no optimizer state; AdamW starts fresh with a {cfg.warmup}-step "
                     "re-warm-up", self.rank)
            self.step, self.epoch = ckpt["step"], ckpt["epoch"]
            self.batch_in_epoch = ckpt["batch_in_epoch"]
            self.history = json.loads(ckpt.get("history", "[]"))
            self.wall = float(ckpt.get("wall_seconds", 0.0))
            self.audio_seen = float(ckpt.get("audio_seen", 0.0))
            if not self.new_budget and cfg.minutes:
                self.budget_spent = float(ckpt.get("budget_seconds", 0.0))
                left = cfg.minutes - self.budget_spent / 60
                _log(f"{left:.1f} of the run's {cfg.minutes:g}-minute budget left" if left > 0 else
                     f"the run's {cfg.minutes:g}-minute budget is spent: give --minutes N to train N more",
                     self.rank)
        elif init is not None:
            self.history = json.loads(init.get("history", "[]"))
            self.wall = float(init.get("wall_seconds", 0.0))
            self.audio_seen = float(init.get("audio_seen", 0.0))  # totals include the init's
        self.ddp = self.model
        if self.world > 1:
            # a CTC head without its loss gets no gradient: DDP must be told to expect that
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.local_rank] if self.device.type == "cuda" else None,
                find_unused_parameters=cfg.ctc_weight <= 0 or (self.model.ctc_inter is not None and (
                    cfg.inter_ctc_weight <= 0 or cfg.aat)))

    def _init_shape(self, init: dict, new_vocab: bool) -> Architecture | None:
        """The shape ``init``'s model takes in this run: another vocabulary (``tokenizer=data``),
        time reduction (``init_reduce_after``) or encoder width (``init_enc_hidden``); None
        when it trains as it is."""
        cfg, own = self.cfg, init["arch"]
        changes = {"num_classes": self.sp.get_piece_size() + 1} if new_vocab else {}
        if cfg.init_reduce_after >= 0:
            changes["reduce_after"] = cfg.init_reduce_after
        if cfg.init_enc_hidden:
            if cfg.init_enc_hidden < own["enc_hidden"]:
                raise ValueError(f"init_enc_hidden={cfg.init_enc_hidden}: the checkpoint's encoder has "
                                 f"{own['enc_hidden']} units and can grow, not shrink")
            changes["enc_hidden"] = cfg.init_enc_hidden
        arch = Architecture(**{**own, **changes})
        return None if arch == Architecture(**own) and not new_vocab else arch

    def _adapted(self, init: dict, arch: Architecture, new_vocab: bool) -> RNNT:
        """``init``'s model in the shape ``arch``: another tokenizer (``new_vocab``: the
        embedding, the joiner's output layer and the CTC head start from fresh weights; every
        other weight is kept) and/or another place for the encoder's time reduction
        (``init_reduce_after``). An encoder layer whose input narrows from ``r`` concatenated
        frames to one gets the sum of its ``r`` input-weight blocks (the same pre-activation
        for a steady input); one whose input widens gets its input weights tiled and divided
        by ``r``; recurrent weights and biases are kept as they are. A wider encoder
        (``init_enc_hidden``) is grown first (``trainer.model.widen_encoder``)."""
        old = Architecture(**init["arch"])
        torch.manual_seed(self.cfg.seed)
        model = RNNT(arch)
        own = model.state_dict()
        src = dict(init["model"])
        if arch.enc_hidden != old.enc_hidden:
            gen = torch.Generator().manual_seed(self.cfg.seed)
            src = widen_encoder(src, old, arch.enc_hidden, gen)
            _log(f"encoder widened from {old.enc_hidden} to {arch.enc_hidden} units per layer "
                 f"({old.num_params():,} -> {arch.num_params():,} parameters); the outputs are unchanged", self.rank)
            old = replace(old, enc_hidden=arch.enc_hidden)
        r = arch.reduce_factor
        for i in range(arch.enc_layers):
            k = f"enc.{i}.weight_ih_l0"
            w, d_old, d_new = src[k], old.enc_input_dim(i), arch.enc_input_dim(i)
            if d_old == d_new * r:
                src[k] = w.reshape(w.shape[0], r, d_new).sum(1)
            elif d_new == d_old * r:
                src[k] = w.repeat(1, r) / r
        mapped = None
        if new_vocab and self.cfg.init_vocab == "map":
            import sentencepiece as spm

            old_sp = spm.SentencePieceProcessor(model_proto=tokenizer_from_tensor(init["tokenizer"]))
            src, mapped = remap_vocabulary(
                src, own, [old_sp.id_to_piece(i) for i in range(old_sp.get_piece_size())],
                [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())])
        keep = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(keep, strict=False)
        fresh = sorted({k.rsplit(".", 1)[0] for k in own if k not in keep})
        if mapped:
            _log(f"new vocabulary ({arch.num_classes - 1} pieces, was {old.num_classes - 1}): embed, join_out "
                 f"and ctc rebuilt from the old pieces: {mapped['exact']} kept, {mapped['spelled']} spelled "
                 f"by old pieces, {mapped['fresh']} fresh", self.rank)
        elif new_vocab:
            _log(f"new vocabulary ({arch.num_classes - 1} pieces, was {old.num_classes - 1}): "
                 f"{', '.join(fresh) or 'nothing'} start afresh", self.rank)
        if arch.reduce_after != old.reduce_after:
            _log(f"encoder time reduction after layer {old.reduce_after} -> {arch.reduce_after} "
                 f"({old.encoder_frame_ms:g} -> {arch.encoder_frame_ms:g} ms encoder frames)", self.rank)
        return model.to(self.device)

    # --- checkpoints --------------------------------------------------------------------
    def checkpoint(self) -> dict:
        return {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.opt.state_dict(),
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "config": json.dumps(asdict(self.cfg)), "arch": asdict(self.model.arch),
            "spec": json.dumps(self.spec.to_dict()) if self.cfg.aat else "",
            "aat": bool(self.cfg.aat),
            "tokenizer": tokenizer_to_tensor(self.tok_proto),
            "history": json.dumps(self.history), "wall_seconds": self.wall,
            "audio_seen": self.audio_seen, "budget_seconds": self.budget_spent,
            **({"prune": self.pruner.state_dict()} if self.pruner else {}),
        }

    def _all_agree_to_stop(self, mine: bool) -> bool:
        """Whether any rank wants to stop (one tiny all-reduce per step under torchrun): each
        rank's clock and signals are its own, and a rank that left the loop alone would leave
        the others waiting in their next gradient all-reduce for ever."""
        if self.world == 1:
            return mine
        flag = torch.tensor([float(mine)], device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())

    def save(self) -> None:
        if self.rank == 0:
            save_checkpoint(self.out / "last.pt", self.checkpoint())
            (self.out / "history.json").write_text(json.dumps(self.history, indent=1))
            self._snapshot()

    def _snapshot(self) -> None:
        """Model weights only, ``OUT/snapshots/step-N.pt``; the newest ``keep_snapshots``
        are kept for checkpoint averaging (``nnasr export --average K``)."""
        snap = self.out / "snapshots"
        snap.mkdir(exist_ok=True)
        save_checkpoint(snap / f"step-{self.step:07d}.pt",
                        {"model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                         "step": self.step})
        for old in sorted(snap.glob("step-*.pt"))[: -self.cfg.keep_snapshots]:
            old.unlink()

    # --- evaluation ---------------------------------------------------------------------
    def evaluate(self) -> dict:
        """Dev WER through the engine (float reference for float models, the integer
        emulator for AAT), on ``eval_utts`` dev utterances."""
        if not self.dev_records or self.rank != 0:
            return {}
        import tempfile

        m = self.model
        m.eval()
        with tempfile.TemporaryDirectory() as d:
            i_s, o_s, _ = export_ranges(m, self.cfg.aat, self.train_fs, n=16, spec=self.spec)
            p = export_model(m, self.tok_proto, Path(d) / "dev.nnasr", spec=self.spec,
                             in_scale=i_s, out_scale=o_s)
            em = load_model(p)
            mode = "placed" if self.cfg.aat else "float"
            r = evaluate_engine(em, self.dev_records, mode=mode)
        m.train()
        return {"dev_wer": round(r.wer, 4), "dev_mode": mode, "dev_utts": r.utterances}

    def precision_line(self) -> str:
        """Where and in what precision this run computes: CPU training speed differs about 2x
        between CPUs with bf16 units (AMX, AVX512-BF16: bf16 autocast) and those without (fp32)."""
        if self.device.type == "cuda":
            where = f"{torch.cuda.get_device_name(self.device)} x{self.world}"
        else:
            where = f"CPU, {torch.get_num_threads()} threads"
        if self.amp:
            how = "bf16 autocast"
        elif self.cfg.aat:
            how = "fp32 (AAT's integer emulation is exact in fp32 only)"
        elif not self.cfg.amp:
            how = "fp32 (amp=false)"
        else:
            how = "fp32 (this CPU has no bf16 units: no amx_bf16 or avx512_bf16 in /proc/cpuinfo)"
        return f"computing on {where}, {how}"

    # --- the loop -----------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        model, opt = self.model, self.opt
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 7919 + self.step)
        lengths = self.train_fs.lengths
        t_start = time.time()
        wall0 = self.wall
        t_budget = t_start - self.budget_spent  # the ``minutes`` budget's start
        last_save = time.time()
        stop = {"flag": False}

        def _sig(signum, frame):
            stop["flag"] = True

        old = signal.signal(signal.SIGTERM, _sig)
        _log(self.precision_line(), self.rank)
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        cols = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
        ema = None
        utts = 0
        rng = np.random.default_rng(cfg.seed * 7919 + self.step)
        augment = None
        if cfg.tempo or cfg.gain_db or cfg.warp or cfg.tilt:
            def augment(f):
                return perturb(f, rng, cfg.tempo, cfg.gain_db, cfg.warp, cfg.tilt)
        model.dropout = 0.0 if "enc" in self.frozen else cfg.dropout
        t_rate = time.time()
        last_eval = time.time()

        def time_frac() -> float:
            return (time.time() - t_budget) / 60 / cfg.minutes if cfg.minutes else 0.0

        # the next batch (padding, feature augmentation: numpy on one core) is built in a thread
        # while the device computes this one; augmentation draws from ``rng`` in batch order as before
        on = cfg.prefetch if cfg.prefetch >= 0 else int(self.device.type == "cuda")
        pool = ThreadPoolExecutor(1, thread_name_prefix="batch") if on else None
        pin = self.device.type == "cuda"
        pending = None  # the next batch of this epoch, being built
        try:
            with Progress(*cols, disable=not self.progress or self.rank != 0) as bar:
                task = bar.add_task("train", total=cfg.steps, completed=self.step, info="")
                halt = False  # agreed by every rank (a SIGTERM or the budget), so all stop at one step
                while self.step < cfg.steps and not halt:
                    batches = make_batches(lengths, cfg.max_frames, cfg.seed, self.epoch,
                                           shortest_first=(self.epoch == 0 and not cfg.init), rank=self.rank,
                                           world=self.world)
                    while self.batch_in_epoch < len(batches):
                        if self.step >= cfg.steps:
                            break
                        out_of_time = bool(cfg.minutes) and (time.time() - t_budget) / 60 >= cfg.minutes
                        if self._all_agree_to_stop(stop["flag"] or out_of_time):
                            halt = True
                            break
                        idx = batches[self.batch_in_epoch]
                        if pending is not None:
                            x, lens, y, yl = (t.to(self.device, non_blocking=True) for t in pending.result())
                        else:
                            x, lens, y, yl = collate(self.train_fs, idx, self.device, augment)
                        pending = None
                        if pool is not None and self.batch_in_epoch + 1 < len(batches):
                            pending = pool.submit(collate, self.train_fs, batches[self.batch_in_epoch + 1],
                                                  torch.device("cpu"), augment, pin)
                        if cfg.specaug:
                            x = spec_augment(x, lens, model.feat_mean, gen)
                        lr = lr_at(self.step, cfg, time_frac(), self.warm_from)
                        for g in opt.param_groups:
                            g["lr"] = lr
                        if self.pruner:
                            self.pruner.before_step(self.step)
                        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                            loss, rnnt, ctc, inter = compute_loss(self.ddp, x, lens, y, yl, cfg.ctc_weight,
                                                                  cfg.rnnt_impl, cfg.inter_ctc_weight)
                            if self.pruner:
                                loss = loss + self.pruner.loss_term()
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                        if torch.isfinite(gn):
                            opt.step()
                        if self.pruner:
                            self.pruner.after_step(self.step)
                        self.step += 1
                        self.batch_in_epoch += 1
                        utts += len(idx)
                        self.audio_seen += float(lens.sum()) / 100.0
                        lv = float(rnnt)
                        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
                        if self.step % cfg.log_every == 0:
                            rate = utts / max(1e-6, time.time() - t_rate)
                            info = (f"rnnt {ema:.2f} ctc {float(ctc):.2f} "
                                    + (f"inter {float(inter):.2f} " if cfg.inter_ctc_weight > 0 else "")
                                    + f"lr {lr:.2e} {rate:.1f} utt/s")
                            bar.update(task, completed=self.step, info=info)
                            if not self.progress and self.rank == 0:
                                _log(f"step {self.step} {info}")
                            utts, t_rate = 0, time.time()
                            self.history.append({"step": self.step, "loss": round(ema, 4),
                                                 "wall_s": round(wall0 + time.time() - t_start, 1),
                                                 "audio_h": round(self.audio_seen / 3600, 3)})
                        due = cfg.eval_minutes and (time.time() - last_eval) / 60 >= cfg.eval_minutes
                        if (cfg.eval_every and self.step % cfg.eval_every == 0) or due:
                            ev = self.evaluate()
                            last_eval = time.time()
                            if ev:
                                self.history.append({"step": self.step, **ev,
                                                     "wall_s": round(wall0 + time.time() - t_start, 1),
                                                     "audio_h": round(self.audio_seen / 3600, 3)})
                                _log(f"step {self.step}: dev WER {ev['dev_wer']:.3f} ({ev['dev_mode']})", self.rank)
                        if (time.time() - last_save) / 60 >= cfg.save_minutes:
                            self.wall = wall0 + time.time() - t_start
                            self.budget_spent = time.time() - t_budget
                            self.save()
                            last_save = time.time()
                    else:
                        self.epoch += 1
                        self.batch_in_epoch = 0
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            signal.signal(signal.SIGTERM, old)
            self.wall = wall0 + time.time() - t_start
            self.budget_spent = time.time() - t_budget
            self.save()
        return {"step": self.step, "epoch": self.epoch, "wall_s": self.wall, "run_s": time.time() - t_start,
                "out": str(self.out / "last.pt")}

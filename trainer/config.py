"""The training configuration: one dataclass, overridable as ``key=value`` from the command
line (``nnasr train --set key=value``), saved in every checkpoint as JSON and read back by
``--resume`` (keys a version does not know are dropped)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from engine.fields import field_docs as engine_field_docs
from engine.nna.spec import NNASpec, load_profile, parse_value

from .checkpoint import load_checkpoint


@dataclass
class TrainConfig:
    data: str = "data/corpus"  # directory with train.jsonl, dev.jsonl, tokenizer.model
    train: str = ""  # training manifests, comma-separated (default: DATA/train.jsonl); each cached beside itself
    out: str = "runs/float"  # run directory: last.pt, snapshots/, history.json
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
    enc_hidden: int = 256  # encoder LSTM units per layer
    enc_layers: int = 3  # encoder LSTM layers
    pred_embed: int = 128  # predictor token embedding size
    pred_hidden: int = 256  # predictor LSTM units (a stateless predictor's width)
    # 0: an LSTM predictor; N > 0: a stateless one, tanh of a linear op over the last N tokens'
    # embeddings (no recurrence: the NNA reads its small matrix once per beam round, and its
    # state is N - 1 tokens). With init: init_pred_context
    pred_context: int = 0
    joiner_dim: int = 256  # joiner hidden size
    stack: int = 4  # 10 ms feature frames stacked into one encoder input frame
    reduce_after: int = 1  # the encoder halves its frame rate after this layer (0: none)
    # feature normalization: 0 subtracts the training set's global mean; N > 0 a causal running
    # mean of the last N speech frames (10 ms each; Kaldi's online CMN over the frames a speech
    # detector marks, engine.frontend.CausalMean). With init: init_cmn_window
    cmn_window: int = 0
    cmn_prior: int = 200  # frames of the global mean a causal mean starts from (at most the window)
    # the front-end's floor on mel power, log(max(power, floor)) (0: the engine's, 1e-6). Quiet
    # speech loses its weaker bands to it; a lower floor keeps them. With init: init_log_floor
    log_floor: float = 0.0
    # with init: move the encoder's time reduction to after this layer (0: none, i.e. 40 ms instead
    # of 80 ms encoder frames); -1 keeps the checkpoint's. A layer whose input widens or narrows by
    # reduce_factor starts from its old input weights tiled (/reduce_factor) or summed over frames
    init_reduce_after: int = -1
    # with init: widen every encoder LSTM to this many units (0: keep the checkpoint's), computing
    # the same function at the start (with init_grow_scale 0: the new units' outgoing weights start
    # at zero, Net2Net-style)
    init_enc_hidden: int = 0
    # with init_enc_hidden: 0 keeps the function (the weights that read a new unit start at zero);
    # >0 draws the new units' weights and those that read them at this times the mean magnitude of
    # the trained weights beside them. A pruning run wants >0, or it prunes the new units first, as
    # the weights of least effect, and the model runs at its old width (trainer/surgery.py)
    init_grow_scale: float = 0.0
    # with init: normalize features with a causal running mean of this many frames (0: the
    # global mean; -1 keeps the checkpoint's), cmn_prior frames of prior. The weights are kept:
    # the model learns the new input in training
    init_cmn_window: int = -1
    # with init: the front-end's log floor (0: the checkpoint's). The global mean and std are
    # measured again on the new features and AAT ranges calibrated again; the weights are kept
    init_log_floor: float = 0.0
    # with init: the predictor (0: an LSTM; N: stateless over N tokens; -1 keeps the
    # checkpoint's). Another predictor (an LSTM for a stateless one, another N) starts afresh;
    # the embedding, encoder and joiner are kept
    init_pred_context: int = -1
    # optimization
    steps: int = 20000  # planned steps (the LR schedule's length)
    minutes: float = 0.0  # stop after this wall-clock budget (0: no limit); resumable
    max_frames: int = 16000  # padded 10-ms frames per batch
    lr: float = 1.5e-3  # peak learning rate (AdamW)
    warmup: int = 400  # steps of linear warm-up
    decay_frac: float = 0.2  # the last share of the steps (or of the minutes budget) over which the LR decays (cosine, to 5 %)
    weight_decay: float = 1e-5  # AdamW weight decay
    clip: float = 5.0  # gradient norm clipping
    ctc_weight: float = 0.3  # weight of the CTC loss on the encoder output beside the RNN-T loss
    # intermediate CTC (InterCTC): a CTC loss on encoder layer inter_ctc_layer's output (0: the
    # middle layer, enc_layers // 2) through a head of its own; float training only, never exported
    inter_ctc_weight: float = 0.0
    inter_ctc_layer: int = 0  # with inter_ctc_weight: the encoder layer (0: the middle one)
    rnnt_impl: str = "auto"  # RNN-T loss: torchaudio | torch (trainer/rnnt_loss.py) | torch-autograd (the same, slower) | auto (torch on CPU)
    # >0: pruned RNN-T, the joiner and loss only at this many label positions per frame, chosen
    # by the CTC head's alignment (float training; the joiner is most of a CPU step's time)
    rnnt_window: int = 0
    specaug: bool = True  # SpecAugment time and frequency masks (float training)
    amp: bool = True  # bf16 autocast (float training) on CUDA, and on CPUs with bf16 units (AMX, AVX512-BF16)
    dropout: float = 0.0  # between encoder LSTM layers (float training)
    tempo: float = 0.0  # feature-domain tempo perturbation: rate in [1-tempo, 1+tempo]
    gain_db: float = 0.0  # random level change of up to +-gain_db per utterance
    quiet: float = 0.0  # probability of a further 10-30 dB attenuation per utterance, down to the front-end's log floor (trainer.augment)
    warp: float = 0.0  # vocal-tract-length perturbation: frequency axis scaled by [1-warp, 1+warp]
    tilt: float = 0.0  # spectral tilt: log-mel + a line from -t to +t across the bands, t in [-tilt, tilt]
    lowpass: float = 0.0  # probability of a band limit per utterance (corner 3-7 kHz; trainer.augment)
    hum: float = 0.0  # probability of a stationary hum or whine per utterance (5-30 dB below the speech)
    onset: float = 0.0  # probability of cutting the silence before the speech (trainer.augment.speech_onset)
    seed: int = 0  # random seed: data order and augmentation
    threads: int = 0  # torch CPU threads (0: all cores)
    prefetch: int = -1  # build the next batch in a thread during the step: 1 on, 0 off, -1 on CUDA only
    # evaluation and checkpoints
    eval_every: int = 1000
    eval_minutes: float = 0.0  # also evaluate every this many minutes of wall time (0: off)
    feature_workers: int = 0  # processes computing the feature cache (0: all cores)
    eval_utts: int = 150  # dev utterances decoded at each evaluation
    save_minutes: float = 5.0  # save OUT/last.pt and a snapshot this often
    keep_snapshots: int = 5  # newest weight snapshots kept in OUT/snapshots (checkpoint averaging)
    log_every: int = 20  # steps between progress lines (and history entries)
    # accelerator-aware training
    aat: bool = False
    profile: str = "reference-speaker"  # NNA profile for --aat: a name in engine/profiles or a JSON path
    weight_bits: int = 0  # override the profile's weight bits (4..8); 0 = profile's
    # pruning
    prune: str = "none"  # none | magnitude | csp
    sparsity: float = 0.0  # with prune: the target share of zero weights
    prune_start: float = 0.1  # fraction of steps
    prune_end: float = 0.6  # fraction of steps where pruning reaches its target
    prune_every: int = 100  # steps between pruning updates
    csp_lambda: float = 1e-3  # weight of the pull toward the recovered sparse weights
    prune_layers: str = "all"  # which matrices (name prefixes or patterns), optional per-group sparsity: enc=0.8,enc.*.wh=0.9,pred,join
    csp_utts: int = 48  # utterances whose layer inputs form the sensing matrices
    csp_iters: int = 10  # hard-thresholding pursuit iterations
    csp_cg_iters: int = 12  # conjugate-gradient iterations of each least-squares refit
    csp_assign: bool = True  # set weights to the recovered sparse weights at each pruning step
    # knowledge distillation (trainer.distill): weight of the KL divergence to a frozen dense
    # teacher's lattice distributions, beside the RNN-T loss, for pruning, AAT and low-bit fine-tunes (0: off)
    distill: float = 0.0
    teacher: str = ""  # with distill: the teacher checkpoint (default: the --init checkpoint)
    teacher_aat: bool = False  # with distill: an AAT teacher runs its integer emulation (as its model file does), not its float forward
    limit_train: int = 0  # use only the first N training utterances (tests)
    min_snr: float = 0.0  # leave out synthesized training clips with noise added below this SNR, dB (0: keep all)
    max_rt60: float = 0.0  # leave out synthesized training clips with reverb longer than this, s (0: keep all)
    # partial training: comma-separated parts of the model (enc, pred, join)
    freeze: str = ""  # not trained (e.g. freeze=enc: train the decoder on a fixed encoder)
    reinit: str = ""  # re-initialized after loading --init (e.g. reinit=pred,join)

    def problems(self) -> list[str]:
        """Values no run can use, in words; checked before any data is read."""
        out = [f"{k}={getattr(self, k)} ({want})" for k, ok, want in (
            ("steps", self.steps >= 0, "0 or more"),
            ("minutes", self.minutes >= 0, "0: no limit, or more"),
            ("max_frames", self.max_frames > 0, "frames per batch, more than 0"),
            ("lr", self.lr > 0, "more than 0"),
            ("warmup", self.warmup >= 0, "0 or more"),
            ("log_every", self.log_every > 0, "more than 0"),
            ("eval_every", self.eval_every >= 0, "0: never, or more"),
            ("save_minutes", self.save_minutes >= 0, "0: after every step, or more"),
        ) if not ok]
        return out

    def spec(self) -> NNASpec:
        s = load_profile(self.profile)
        return s.replace(weight_bits=self.weight_bits) if self.weight_bits else s


# what a run is trained from and as: its architecture and its start (--init and the surgery on
# it). A resumed run continues its checkpoint's model, so changing one of these does nothing:
# the trainer refuses them on resume (Trainer._check_resume_options; the log floor in _frontend)
# the layer sizes of a new model (an --init checkpoint keeps its own: Trainer._check_init_shape)
MODEL_SHAPE_FIELDS = ("enc_hidden", "enc_layers", "pred_embed", "pred_hidden", "joiner_dim", "stack",
                      "reduce_after")
RUN_SHAPE_FIELDS = MODEL_SHAPE_FIELDS + ("cmn_window", "cmn_prior", "pred_context", "init", "tokenizer",
                                         "init_vocab", "init_reduce_after", "init_enc_hidden", "init_grow_scale",
                                         "init_cmn_window", "init_pred_context")


def field_docs() -> list[tuple[str, object, str]]:
    """``(name, default, comment)`` of every :class:`TrainConfig` field, in order: the comment
    on its line, else the comment lines just above it (``nnasr train --set help``)."""
    return engine_field_docs(TrainConfig)


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
        try:
            d[k] = parse_value(k, v, d[k])
        except ValueError as e:
            if isinstance(d[k], bool):
                raise
            raise ValueError(f"{e} (now {d[k]!r})") from None
    return TrainConfig(**d)



def saved_config(path: str | Path) -> TrainConfig:
    """The config a checkpoint was trained with, the base of ``--resume`` (overrides go on
    top of it, not on the defaults). Keys this version does not know are dropped."""
    d = json.loads(load_checkpoint(path)["config"])
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in d.items() if k in known})


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

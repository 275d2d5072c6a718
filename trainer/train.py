"""Training: float RNN-T, accelerator-aware (``aat``), and pruned (``prune``), one loop.

:class:`Trainer` sets a run up (a new model, ``--init`` from a checkpoint, or ``--resume``)
and :meth:`Trainer.run` loops over :meth:`Trainer.train_step`. The pieces are modules of
their own: the config (``trainer.config``), the loss (``trainer.loss``: RNN-T + CTC),
augmentation (``trainer.augment``: SpecAugment, tempo, level, VTLP, tilt), batching
(``trainer.dataset``: length-bucketed, shortest first in the first epoch), checkpoint
surgery (``trainer.surgery``). Warm-up then a flat learning rate with cosine decay over the
last ``decay_frac`` of the planned steps, gradient clipping, bf16 autocast on CUDA and on
CPUs with bf16 units. Checkpoints (``OUT/last.pt``) are written atomically every
``save_minutes`` and on exit; ``--resume`` continues from the saved step, epoch and batch,
with the saved config (``saved_config``) and the rest of an interrupted ``minutes`` budget.
Every evaluation that beats the run's best dev WER so far also writes ``OUT/best.pt``.
Runs unchanged under ``torchrun`` (DDP; gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from engine.arch import MAX_PRED_CONTEXT
from engine.frontend import FrontendConfig
from engine.model import Architecture, load_model

from .augment import make_augment, spec_augment
from .checkpoint import (
    checkpoint_frontend,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    tokenizer_from_tensor,
    tokenizer_to_tensor,
)
from .config import (
    MODEL_SHAPE_FIELDS,
    RUN_SHAPE_FIELDS,
    TrainConfig,
    cpu_has_bf16_units,
    parse_overrides,
    saved_config,
)
from .dataset import collate, global_stats, make_batches, training_data
from .evaluate import evaluate_engine  # imported up front, with the engine: a run never mixes
from .export import export_model, export_ranges  # code versions if the tree changes under it
from .loss import RNNT_IMPLS, compute_loss
from .model import RNNT
from .surgery import adapted, init_shape

__all__ = ["TrainConfig", "Trainer", "compute_loss", "cpu_has_bf16_units", "lr_at", "parse_overrides",
           "saved_config"]


def _parts(spec: str, parts: dict) -> list[str]:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    bad = [n for n in names if n not in parts]
    if bad:
        raise ValueError(f"unknown model part(s) {', '.join(bad)}; known: {', '.join(parts)}")
    return names


def _log(msg: str, rank: int = 0) -> None:
    if rank == 0:
        print(msg, flush=True)


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


class Trainer:
    """One training run: ``Trainer(cfg).run()``."""

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
            # output layer on AMX, and bf16 steps 1.8x faster (docs/experiments.md). In fp32 it
            # stays off: the CPU LSTM measured about 25x slower with it.
            torch.backends.mkldnn.enabled = self.amp
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self._setup(resume)

    def close(self) -> None:
        """Leave the torchrun process group, every rank together. A process that exits
        without it can abort at interpreter exit while gloo's threads still hold tensors
        ("terminate called without an active exception", pytorch/pytorch#190489)."""
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()

    # --- set-up -------------------------------------------------------------------------
    def _setup(self, resume: bool) -> None:
        cfg = self.cfg
        ckpt = self._resume_checkpoint() if resume else None
        init = load_checkpoint(cfg.init) if (cfg.init and ckpt is None) else None
        if ckpt is not None:
            self._check_resume_options(ckpt)
        self._check_init_options(init)
        new_vocab = init is not None and cfg.tokenizer == "data"
        src = ckpt or init
        self._load_tokenizer(src, new_vocab)
        arch = None if src is not None else Architecture(
            num_classes=self.sp.get_piece_size() + 1, enc_hidden=cfg.enc_hidden, enc_layers=cfg.enc_layers,
            pred_embed=cfg.pred_embed, pred_hidden=cfg.pred_hidden, joiner_dim=cfg.joiner_dim,
            stack=cfg.stack, reduce_after=cfg.reduce_after, pred_context=cfg.pred_context,
            **Architecture.cmn_fields(cfg.cmn_window, cfg.cmn_prior))
        if init is not None:
            arch = init_shape(init["arch"], cfg, self.sp.get_piece_size() + 1 if new_vocab else 0)
        if arch is not None:
            arch.check()  # said before the features load, not after
        fe = self._frontend(src, init)
        self.train_fs, self.dev_records = training_data(
            cfg, self.sp, fe, self.world, progress=self.progress and self.rank == 0, log=lambda m: _log(m, self.rank))
        if init is not None and arch is not None:
            self.model = adapted(init, arch, self.sp if new_vocab else None, self.cfg,
                                 lambda msg: _log(msg, self.rank)).to(self.device)
        elif src is not None:
            self.model = model_from_checkpoint(src, self.device)
        else:
            torch.manual_seed(cfg.seed)  # the same seed, the same initial weights
            self.model = RNNT(arch).to(self.device)
            self._measure_global_stats()
        self.model.frontend = fe
        if init is not None and fe != checkpoint_frontend(init):
            self._renormalize(checkpoint_frontend(init))
        self._add_inter_ctc()
        self.spec = cfg.spec()
        self._enable_aat()
        self.pruner = None
        if cfg.prune != "none":
            from .prune import make_pruner

            self.pruner = make_pruner(cfg, self.model, self.train_fs, self.device)
            if ckpt is not None and "prune" in ckpt:
                self.pruner.load_state_dict(ckpt["prune"])
        self.teacher = self._teacher()
        params = self._trainable_parameters(reinit=ckpt is None)
        if cfg.rnnt_impl not in RNNT_IMPLS:
            raise ValueError(f"rnnt_impl={cfg.rnnt_impl!r}: one of {', '.join(RNNT_IMPLS)}")
        if cfg.rnnt_window < 0 or (cfg.rnnt_window and (cfg.aat or cfg.ctc_weight <= 0)):
            raise ValueError(f"rnnt_window={cfg.rnnt_window}: a pruned lattice is for float training "
                             "(not --aat) with the CTC loss on (ctc_weight > 0): its head chooses the windows")
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self._restore_progress(ckpt, init)
        self.ddp = self.model
        if self.world > 1:
            # a CTC head without its loss gets no gradient: DDP must be told to expect that
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.local_rank] if self.device.type == "cuda" else None,
                find_unused_parameters=cfg.ctc_weight <= 0 or (self.model.ctc_inter is not None and (
                    cfg.inter_ctc_weight <= 0 or cfg.aat)))

    def _frontend(self, src: dict | None, init: dict | None) -> FrontendConfig:
        """The front-end of this run's features: a resumed run's or the ``--init`` checkpoint's
        own (``init_log_floor``: with another log floor), or the engine's (``log_floor``)."""
        cfg = self.cfg
        if src is None:
            return FrontendConfig(**({"log_floor": cfg.log_floor} if cfg.log_floor else {}))
        fe = checkpoint_frontend(src)
        if init is not None and cfg.init_log_floor:
            fe = replace(fe, log_floor=cfg.init_log_floor)
        want = cfg.init_log_floor if cfg.init else cfg.log_floor
        if init is None and want and want != fe.log_floor:  # a resumed run
            raise ValueError(f"the run resumed was trained on a log floor of {fe.log_floor:g}; it cannot "
                             f"change to {want:g} (a new run from it can: --init with init_log_floor)")
        return fe

    def _measure_global_stats(self) -> None:
        """The model's feature mean and std, measured on this run's training features."""
        mean, std = global_stats(self.train_fs)
        self.model.feat_mean.copy_(torch.from_numpy(mean))
        self.model.feat_std.copy_(torch.from_numpy(std))

    def _renormalize(self, old: FrontendConfig) -> None:
        """After a front-end change from ``--init``: the global mean and std measured on the
        new features, the NNA ranges (measured on the old input) calibrated again."""
        self._measure_global_stats()
        calibrated = bool(self.model.in_scale > 0)
        self.model.in_scale.zero_()
        self.model.out_scale.zero_()
        _log(f"front-end log floor {old.log_floor:g} -> {self.model.frontend.log_floor:g}: the feature "
             "mean and std are measured again" + ("; the NNA ranges too" if calibrated else ""), self.rank)

    def _resume_checkpoint(self) -> dict:
        last = self.out / "last.pt"
        if not last.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {last}")
        ckpt = load_checkpoint(last)
        _log(f"resuming from {last} at step {ckpt['step']}", self.rank)
        return ckpt

    def _check_init_options(self, init: dict | None) -> None:
        """The ``init_*`` options and shape fields against whether there is an ``--init``
        checkpoint (``init``) and its shape: what would be ignored is refused."""
        cfg = self.cfg
        if cfg.tokenizer not in ("init", "data"):
            raise ValueError(f"tokenizer={cfg.tokenizer!r}: init (the checkpoint's) or data (DATA/tokenizer.model)")
        if cfg.init_vocab not in ("map", "fresh"):
            raise ValueError(f"init_vocab={cfg.init_vocab!r}: map (from the old pieces) or fresh (random)")
        for key, new in (("init_reduce_after", "reduce_after"), ("init_enc_hidden", "enc_hidden"),
                         ("init_cmn_window", "cmn_window"), ("init_log_floor", "log_floor"),
                         ("init_pred_context", "pred_context")):
            if getattr(cfg, key) != getattr(TrainConfig, key) and not cfg.init:
                raise ValueError(f"{key} changes an --init checkpoint's shape; a new model takes {new}=N")
        if cfg.cmn_window < 0 or cfg.init_cmn_window < -1:
            raise ValueError("cmn_window and init_cmn_window take 0 (the global mean) or N speech frames "
                             "(init_cmn_window=-1: the checkpoint's)")
        if cfg.init and cfg.cmn_window != TrainConfig.cmn_window:
            raise ValueError(f"cmn_window={cfg.cmn_window} is for a new model; from --init the "
                             f"normalization changes with init_cmn_window={cfg.cmn_window}")
        if cfg.log_floor < 0 or cfg.init_log_floor < 0 or max(cfg.log_floor, cfg.init_log_floor) >= 1:
            raise ValueError("log_floor and init_log_floor take a floor on mel power between 0 and 1, "
                             "e.g. 1e-10 (0: the engine's or the checkpoint's)")
        if cfg.pred_context < 0 or cfg.init_pred_context < -1:
            key = "pred_context" if cfg.pred_context < 0 else "init_pred_context"
            raise ValueError(f"{key}={getattr(cfg, key)}: 0 (an LSTM predictor) or 1..{MAX_PRED_CONTEXT} "
                             "tokens (a stateless one)" + ("; -1 keeps the checkpoint's" if key[0] == "i" else ""))
        if cfg.init and cfg.pred_context:
            raise ValueError(f"pred_context={cfg.pred_context} is for a new model; from --init the "
                             f"predictor changes with init_pred_context={cfg.pred_context}")
        if cfg.init and cfg.log_floor:
            raise ValueError(f"log_floor={cfg.log_floor:g} is for a new model; from --init the "
                             f"front-end changes with init_log_floor={cfg.log_floor:g}")
        if cfg.init_grow_scale and not cfg.init_enc_hidden:
            raise ValueError("init_grow_scale sets how strong the units that init_enc_hidden adds start; "
                             "without init_enc_hidden=N no unit is added")

        if init is not None:
            self._check_init_shape(init["arch"])

    def _check_init_shape(self, arch: dict) -> None:
        """A new model's shape fields other than the checkpoint's, with ``--init`` (whose model
        keeps its shape but for the ``init_*`` changes): refused, not recorded and ignored."""
        cfg = self.cfg
        bad = [k for k in MODEL_SHAPE_FIELDS if getattr(cfg, k) != getattr(TrainConfig, k) and getattr(cfg, k) != arch.get(k)]
        if bad:
            raise ValueError(f"{', '.join(f'{k}={getattr(cfg, k)}' for k in bad)}: a new model's shape; the --init "
                             f"checkpoint keeps its own ({', '.join(f'{k}={arch.get(k)}' for k in bad)}) but for "
                             "init_enc_hidden, init_reduce_after, init_cmn_window, init_pred_context and tokenizer=data")

    def _check_resume_options(self, ckpt: dict) -> None:
        """A resumed run goes on with its checkpoint's model: a change of its architecture or of
        how it started (``RUN_SHAPE_FIELDS``) against the run's saved config would be recorded
        and do nothing; refused, unless it names what the model already is (an architecture
        field as the checkpoint has it)."""
        cfg, saved = self.cfg, json.loads(ckpt.get("config") or "{}")
        changed = [k for k in RUN_SHAPE_FIELDS if getattr(cfg, k) != saved.get(k, getattr(TrainConfig, k))]
        has = {k: ckpt.get("arch", {}).get(k, saved.get(k, getattr(TrainConfig, k))) for k in changed}
        changed = [k for k in changed if getattr(cfg, k) != has[k]]
        if changed:
            last = self.out / "last.pt"
            raise ValueError(f"--resume continues the run's model as it is ({', '.join(f'{k}={has[k]!r}' for k in changed)}); "
                             f"{', '.join(changed)} cannot change in it. A new run from it can: "
                             f"nnasr train --init {last} --out NEW --set init_... (nnasr train --set help)")

    def _load_tokenizer(self, src: dict | None, new_vocab: bool) -> None:
        """The checkpoint's tokenizer, or DATA/tokenizer.model for a new model or vocabulary."""
        import sentencepiece as spm

        if src is not None and not new_vocab:
            self.tok_proto = tokenizer_from_tensor(src["tokenizer"])
        else:
            tok_path = Path(self.cfg.data) / "tokenizer.model"
            if not tok_path.exists():
                raise FileNotFoundError(f"{tok_path}: no tokenizer; run `nnasr synth` first")
            self.tok_proto = tok_path.read_bytes()
        self.sp = spm.SentencePieceProcessor()
        self.sp.LoadFromSerializedProto(self.tok_proto)

    def _add_inter_ctc(self) -> None:
        cfg = self.cfg
        if cfg.inter_ctc_weight > 0:
            inherited = self.model.ctc_inter is not None
            if not inherited:
                self.model.add_inter_ctc(cfg.inter_ctc_layer or self.model.arch.enc_layers // 2)
            _log(f"intermediate CTC loss on encoder layer {int(self.model.ctc_inter.layer)}'s output (of "
                 f"{self.model.arch.enc_layers}), weight {cfg.inter_ctc_weight:g}"
                 + (", its head from the checkpoint" if inherited else ""), self.rank)

    def _teacher(self):
        """The frozen teacher of ``distill`` (``trainer.distill``), or None."""
        cfg = self.cfg
        if cfg.distill < 0:
            raise ValueError(f"distill={cfg.distill}: a loss weight, 0 (off) or more")
        if not cfg.distill:
            return None
        path = cfg.teacher or cfg.init
        if not path:
            raise ValueError("distill needs a teacher: --init CHECKPOINT (the teacher by default) or --set teacher=PATH")
        if cfg.rnnt_window:
            raise ValueError(f"distill and rnnt_window={cfg.rnnt_window}: distillation needs the whole lattice")
        from .distill import Teacher

        t = Teacher(path, self.device, self.model.arch.num_classes, emulate=cfg.teacher_aat,
                    frontend=self.model.frontend)
        how = "integer emulation" if t.emulated else "float forward"
        _log(f"distillation from {path} ({how}, frozen), weight {cfg.distill:g}", self.rank)
        return t

    def _enable_aat(self) -> None:
        if not self.cfg.aat:
            return
        if not (self.model.in_scale > 0):
            from .export import calibrate

            i_s, o_s = calibrate(self.model, self.train_fs, spec=self.spec)
            self.model.in_scale.fill_(i_s)
            self.model.out_scale.fill_(o_s)
            _log(f"AAT: calibrated in_scale={i_s:.5g} out_scale={o_s:.5g}", self.rank)
        self.model.enable_aat(self.spec)

    def _trainable_parameters(self, reinit: bool) -> list:
        """Re-initialize (a new run only) and freeze the parts ``cfg.reinit``/``freeze`` name."""
        cfg = self.cfg
        parts = self.model.groups()
        for name in _parts(cfg.reinit, parts) if reinit else []:
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
        return params

    def _restore_progress(self, ckpt: dict | None, init: dict | None) -> None:
        """Step, epoch, history, clocks and optimizer state of a resumed run (an --init run
        inherits the history and totals of its checkpoint)."""
        cfg = self.cfg
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.warm_from = 0  # a resume without optimizer state warms the LR up again from its step
        self.history: list[dict] = []
        self.wall = 0.0
        self.audio_seen = 0.0
        self.budget_spent = 0.0  # seconds of the ``minutes`` budget used before this process
        self.best_wer = math.inf  # this run's best dev WER (OUT/best.pt), kept across --resume
        if ckpt is not None:
            if "optimizer" in ckpt:
                self.opt.load_state_dict(ckpt["optimizer"])
            else:  # a compact (weights-only) checkpoint, e.g. the one committed to the repo
                self.warm_from = ckpt["step"]
                _log(f"{self.out / 'last.pt'}: no optimizer state; AdamW starts fresh with a {cfg.warmup}-step "
                     "re-warm-up", self.rank)
            self.step, self.epoch = ckpt["step"], ckpt["epoch"]
            self.batch_in_epoch = ckpt["batch_in_epoch"]
            self.history = json.loads(ckpt.get("history", "[]"))
            self.wall = float(ckpt.get("wall_seconds", 0.0))
            self.audio_seen = float(ckpt.get("audio_seen", 0.0))
            self.best_wer = float(ckpt.get("best_dev_wer", math.inf))
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

    # --- checkpoints --------------------------------------------------------------------
    def checkpoint(self) -> dict:
        return {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.opt.state_dict(),
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "config": json.dumps(asdict(self.cfg)), "arch": asdict(self.model.arch),
            "frontend": self.model.frontend.to_dict(),
            "spec": json.dumps(self.spec.to_dict()) if self.cfg.aat else "",
            "aat": bool(self.cfg.aat),
            "tokenizer": tokenizer_to_tensor(self.tok_proto),
            "history": json.dumps(self.history), "wall_seconds": self.wall,
            "audio_seen": self.audio_seen, "budget_seconds": self.budget_spent,
            "best_dev_wer": self.best_wer,
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

    def _save_best(self, clock: _Clock) -> None:
        """``OUT/best.pt``: the weights of the run's best dev WER so far (no optimizer state;
        export or ``--init`` from it like any checkpoint), with the run's clocks as of now."""
        self.wall, self.budget_spent = clock.wall(), clock.budget_spent()
        if self.rank == 0:
            ckpt = self.checkpoint()
            ckpt.pop("optimizer")
            save_checkpoint(self.out / "best.pt", ckpt)

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
    def train_step(self, x, lens, y, yl, lr: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One optimizer step on a padded batch at learning rate ``lr`` (SpecAugment, the
        pruner's hooks, autocast, clipping; a step whose gradient is not finite is skipped).
        Returns the batch's (RNN-T, CTC, intermediate CTC) losses per utterance."""
        cfg, model, opt = self.cfg, self.model, self.opt
        distill = None
        if self.teacher is not None:
            x_teacher = x  # the teacher hears the features before SpecAugment

            def distill(logits):
                return cfg.distill * self.teacher.loss(x_teacher, lens, y, yl, logits)
        if cfg.specaug:
            x = spec_augment(x, lens, model.feat_mean, self._gen)
        for g in opt.param_groups:
            g["lr"] = lr
        if self.pruner:
            self.pruner.before_step(self.step)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss, rnnt, ctc, inter = compute_loss(self.ddp, x, lens, y, yl, cfg.ctc_weight,
                                                  cfg.rnnt_impl, cfg.inter_ctc_weight, cfg.rnnt_window, distill)
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
        return rnnt, ctc, inter

    def run(self) -> dict:
        """Train until ``steps``, the ``minutes`` budget or SIGTERM; save on the way out."""
        cfg = self.cfg
        self.model.train()
        self._gen = torch.Generator().manual_seed(cfg.seed * 7919 + self.step)
        clock = _Clock(self.wall, self.budget_spent)
        stop = {"flag": False}
        old = signal.signal(signal.SIGTERM, lambda signum, frame: stop.update(flag=True))
        _log(self.precision_line(), self.rank)
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        cols = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
        augment = make_augment(cfg, np.random.default_rng(cfg.seed * 7919 + self.step), self.model.frontend)
        self.model.dropout = 0.0 if "enc" in self.frozen else cfg.dropout
        try:
            with Progress(*cols, disable=not self.progress or self.rank != 0) as bar, \
                    closing(self._batches(augment, stop, clock)) as batches:
                task = bar.add_task("train", total=cfg.steps, completed=self.step, info="")
                for idx, (x, lens, y, yl) in batches:
                    lr = lr_at(self.step, cfg, clock.budget_frac(cfg.minutes), self.warm_from)
                    losses = self.train_step(x, lens, y, yl, lr)
                    self.batch_in_epoch += 1
                    self.audio_seen += float(lens.sum()) / 100.0
                    self._after_step(clock, len(idx), losses, lr, lambda info: bar.update(
                        task, completed=self.step, info=info))
        finally:
            signal.signal(signal.SIGTERM, old)
            self.wall, self.budget_spent = clock.wall(), clock.budget_spent()
            self.save()
        return {"step": self.step, "epoch": self.epoch, "wall_s": self.wall, "run_s": clock.run_seconds(),
                "out": str(self.out / "last.pt")}

    def _batches(self, augment, stop: dict, clock: _Clock):
        """The run's batches, epoch after epoch, as (indices, padded tensors on the device),
        until ``steps`` or until every rank agrees to stop (SIGTERM, the ``minutes``
        budget). The next batch (padding, augmentation: numpy on one core) is built in a
        thread while the device computes this one (``prefetch``); augmentation draws from its
        generator in batch order either way."""
        cfg = self.cfg
        on = cfg.prefetch if cfg.prefetch >= 0 else int(self.device.type == "cuda")
        pool = ThreadPoolExecutor(1, thread_name_prefix="batch") if on else None
        pin = self.device.type == "cuda"
        try:
            while self.step < cfg.steps:
                batches = make_batches(self.train_fs.lengths, cfg.max_frames, cfg.seed, self.epoch,
                                       shortest_first=(self.epoch == 0 and not cfg.init), rank=self.rank,
                                       world=self.world)
                pending = None  # the next batch of this epoch, being built
                while self.batch_in_epoch < len(batches):
                    out_of_time = bool(cfg.minutes) and clock.budget_frac(cfg.minutes) >= 1
                    if self.step >= cfg.steps or self._all_agree_to_stop(stop["flag"] or out_of_time):
                        return
                    idx = batches[self.batch_in_epoch]
                    if pending is not None:
                        batch = tuple(t.to(self.device, non_blocking=True) for t in pending.result())
                    else:
                        batch = collate(self.train_fs, idx, self.device, augment)
                    pending = None
                    if pool is not None and self.batch_in_epoch + 1 < len(batches):
                        pending = pool.submit(collate, self.train_fs, batches[self.batch_in_epoch + 1],
                                              torch.device("cpu"), augment, pin)
                    yield idx, batch
                self.epoch += 1
                self.batch_in_epoch = 0
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _after_step(self, clock: _Clock, utts: int, losses, lr: float, show) -> None:
        """Progress line and history every ``log_every`` steps, evaluation and saving when due."""
        cfg = self.cfg
        rnnt, ctc, inter = losses
        clock.utts += utts
        lv = float(rnnt)
        clock.ema = lv if clock.ema is None else 0.95 * clock.ema + 0.05 * lv
        if self.step % cfg.log_every == 0:
            rate = clock.utts / max(1e-6, time.time() - clock.t_rate)
            info = (f"rnnt {clock.ema:.2f} ctc {float(ctc):.2f} "
                    + (f"inter {float(inter):.2f} " if cfg.inter_ctc_weight > 0 else "")
                    + (f"kd {self.teacher.last:.2f} " if self.teacher is not None else "")
                    + f"lr {lr:.2e} {rate:.1f} utt/s")
            show(info)
            if not self.progress and self.rank == 0:
                _log(f"step {self.step} {info}")
            clock.utts, clock.t_rate = 0, time.time()
            self.history.append({"step": self.step, "loss": round(clock.ema, 4), "wall_s": round(clock.wall(), 1),
                                 "audio_h": round(self.audio_seen / 3600, 3)})
        due = cfg.eval_minutes and (time.time() - clock.last_eval) / 60 >= cfg.eval_minutes
        if (cfg.eval_every and self.step % cfg.eval_every == 0) or due:
            ev = self.evaluate()
            clock.last_eval = time.time()
            if ev:
                self.history.append({"step": self.step, **ev, "wall_s": round(clock.wall(), 1),
                                     "audio_h": round(self.audio_seen / 3600, 3)})
                best = ev["dev_wer"] < self.best_wer
                _log(f"step {self.step}: dev WER {100 * ev['dev_wer']:.2f}% ({ev['dev_mode']})"
                     + (f", best so far: {self.out / 'best.pt'}" if best else f", best {100 * self.best_wer:.2f}%"),
                     self.rank)
                if best:
                    self.best_wer = ev["dev_wer"]
                    self._save_best(clock)
        if (time.time() - clock.last_save) / 60 >= cfg.save_minutes:
            self.wall, self.budget_spent = clock.wall(), clock.budget_spent()
            self.save()
            clock.last_save = time.time()


class _Clock:
    """A run's clocks and rates: wall time (this process's plus the run's before it), the
    ``minutes`` budget, the last save and evaluation, the loss average and throughput."""

    def __init__(self, wall0: float, budget_spent: float) -> None:
        self.t_start = time.time()
        self.wall0 = wall0
        self.t_budget = self.t_start - budget_spent  # the ``minutes`` budget's start
        self.last_save = self.last_eval = self.t_rate = self.t_start
        self.ema: float | None = None
        self.utts = 0

    def wall(self) -> float:
        return self.wall0 + time.time() - self.t_start

    def run_seconds(self) -> float:
        return time.time() - self.t_start

    def budget_spent(self) -> float:
        return time.time() - self.t_budget

    def budget_frac(self, minutes: float) -> float:
        """Fraction of a ``minutes`` budget spent (0 without one)."""
        return self.budget_spent() / 60 / minutes if minutes else 0.0

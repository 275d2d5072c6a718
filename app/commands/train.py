"""nnasr train: float, accelerator-aware (--aat) and pruned (--prune) RNN-T training."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = (
        "Train an RNN-T on a corpus directory (train.jsonl, dev.jsonl, tokenizer.model, as written by\n"
        "`nnasr synth`, or your own manifests with the keys audio_filepath, text, duration).\n\n"
        "examples:\n"
        "  nnasr train --data data/corpus --out runs/float --minutes 60      # float, 1 h budget\n"
        "  nnasr train --out runs/float --resume                             # continue after a kill\n"
        "  nnasr train --out runs/float --resume --minutes 30 --set lr=5e-4   # 30 min more, one change\n"
        "  nnasr train --train data/a/train.jsonl data/b/train.jsonl --init runs/float/last.pt --out runs/ft\n"
        "  nnasr train --init runs/float/last.pt --out runs/ft --set min_snr=15 max_rt60=0.4   # no clip below\n"
        "                                                  # 15 dB SNR or with RT60 > 0.4 s (nnasr synth clips)\n"
        "  nnasr train --init runs/float/last.pt --out runs/v1k --set tokenizer=data   # DATA's vocabulary,\n"
        "                                                  # each new piece starting from the old ones that\n"
        "                                                  # spell it (init_vocab=fresh: random rows)\n"
        "  nnasr train --init runs/float/last.pt --out runs/r40 --set init_reduce_after=0   # 40 ms encoder\n"
        "                                                  # frames (no time reduction), from the 80 ms model\n"
        "  nnasr train --init runs/float/last.pt --out runs/w320 --set init_enc_hidden=320   # a wider\n"
        "                                                  # encoder that starts out computing the same function\n"
        "  nnasr train --init runs/float/last.pt --out runs/cmn --set init_cmn_window=600   # features\n"
        "                                                  # less a causal running mean of 6 s (online CMN)\n"
        "  nnasr train --init runs/float/last.pt --out runs/sl --set init_pred_context=2   # a stateless\n"
        "                                                  # predictor over the last 2 tokens, started afresh\n"
        "  nnasr train --out runs/float --resume --set rnnt_window=8   # pruned RNN-T: the joiner and\n"
        "                                                  # loss at 8 label positions a frame (1.4-1.9x\n"
        "                                                  # faster CPU steps; float training, CTC loss on)\n"
        "  nnasr train --init runs/float/last.pt --aat --out runs/aat --steps 2000\n"
        "  nnasr train --init runs/aat/last.pt --aat --prune csp --sparsity 0.8 --out runs/aat-csp\n"
        "  nnasr train --init runs/aat/last.pt --aat --prune csp --sparsity 0.8 --out runs/aat-csp-kd \\\n"
        "      --set distill=1                             # and learn from the dense model it started\n"
        "                                                  # from (knowledge distillation, trainer/distill.py)\n"
        "  torchrun --nproc_per_node 8 -m app train --data ... --out ...     # many GPUs\n"
    )
    p.add_argument("--data", help="corpus directory (default: data/corpus; with --resume: the run's)")
    p.add_argument("--train", nargs="+", action="extend", metavar="MANIFEST",
                   help="training manifests (default: DATA/train.jsonl); several are mixed, each with "
                        "its own feature cache beside it; DATA still gives dev.jsonl and the tokenizer")
    p.add_argument("--out", default="runs/float", help="run directory; checkpoint OUT/last.pt")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/last.pt with the config saved in it (options and --set given "
                        "now change only what they name) and the rest of its --minutes budget")
    p.add_argument("--init", default="", help="start from this checkpoint's weights (fine-tune)")
    p.add_argument("--steps", type=int, help="planned optimizer steps (LR schedule length)")
    p.add_argument("--minutes", type=float,
                   help="stop (resumably) after this many minutes; the LR decays over the end of the "
                        "budget (with --resume: a new budget of this many more minutes)")
    p.add_argument("--aat", action="store_true", help="accelerator-aware training (NNA arithmetic in the forward)")
    p.add_argument("--weight-bits", type=int, help="NNA weight bits for --aat (4..8)")
    p.add_argument("--profile", help="NNA profile name or JSON path (default: reference-speaker)")
    p.add_argument("--prune", choices=["none", "magnitude", "csp"], help="pruning method")
    p.add_argument("--sparsity", type=float, help="target sparsity of the prunable matrices (0..1)")
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                   help="override any training config field, e.g. --set lr=1e-3 max_frames=20000; "
                        "`--set help` lists the fields with their defaults and what each does "
                        "(TrainConfig in trainer/config.py)")
    p.add_argument("--no-progress", action="store_true",
                   help="log lines instead of a progress bar (the default when the output is not a "
                        "terminal, e.g. `nnasr train ... > train.log &`)")


def run(args) -> int:
    import dataclasses
    import warnings

    from app.cli import UserError

    try:
        from trainer.train import TrainConfig, Trainer, parse_overrides, saved_config
    except ImportError as e:
        raise UserError(f"training needs the [train] extra ({e}); run `make test` or pip install -e '.[train]'") from None
    if any(a in ("help", "list") for a in args.set):
        return _print_fields()
    if args.resume:  # the run's own config; what is given now changes only what it names
        last = Path(args.out) / "last.pt"
        if not last.exists():
            raise UserError(f"--resume: no checkpoint at {last}")
        try:
            with warnings.catch_warnings():  # torch's note on pickle protocols of a bad file
                warnings.filterwarnings("ignore", message="Detected pickle protocol")
                cfg = saved_config(last)
        except Exception as e:  # noqa: BLE001 - any unreadable file gets one line
            from app.commands.export import _checkpoint_error

            raise UserError(_checkpoint_error(str(last), e)) from None
        saved = dataclasses.replace(cfg)  # what the run had, to say what changes
        cfg.out = args.out
        if args.init and args.init != cfg.init:
            print(f"--resume: continuing {last}; --init {args.init} is ignored", file=sys.stderr)
        if args.data:  # another corpus: its train.jsonl, unless --train names manifests
            cfg.data, cfg.train = args.data, ""
        if args.train:
            cfg.train = ",".join(args.train)
    else:
        cfg = TrainConfig(data=args.data or "data/corpus", out=args.out, init=args.init,
                          train=",".join(args.train or []))
    for k in ("steps", "minutes", "weight_bits", "profile", "prune", "sparsity"):
        v = getattr(args, k)
        if v is not None:
            setattr(cfg, k, v)
    cfg.aat = cfg.aat or bool(args.aat)
    try:
        cfg = parse_overrides(cfg, args.set)
        if cfg.prune != "none" and not 0 < cfg.sparsity < 1:
            raise ValueError("--prune needs --sparsity between 0 and 1")
        if bad := cfg.problems():
            raise ValueError(f"{', '.join(bad)}")
    except (FileNotFoundError, ValueError) as e:
        raise UserError(str(e)) from None
    ckpt = f"{args.out}/last.pt" if args.resume else args.init  # the checkpoint read, if any
    try:
        with warnings.catch_warnings():  # torch's note on pickle protocols of a bad file
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            trainer = Trainer(cfg, resume=args.resume, progress=not args.no_progress and sys.stdout.isatty(),
                              new_budget=args.minutes is not None)
    except (FileNotFoundError, ValueError) as e:
        from app.commands.export import _checkpoint_error  # one line, even for torch's refusals

        raise UserError(_checkpoint_error(ckpt, e)) from None
    except (KeyError, TypeError, IndexError, AttributeError) as e:  # a torch file `nnasr train` did not write
        if not ckpt:
            raise
        raise UserError(f"{ckpt}: not an nnasr training checkpoint ({type(e).__name__}: {e})") from None
    if args.resume:  # options given now change what they name (the trainer took them): say which
        changed = [f"{f.name} {getattr(saved, f.name)!r} -> {getattr(cfg, f.name)!r}"
                   for f in dataclasses.fields(cfg)
                   if f.name != "out" and getattr(saved, f.name) != getattr(cfg, f.name)]
        if changed and trainer.rank == 0:
            print(f"--resume: changed from the run's own config: {', '.join(changed)}", file=sys.stderr)
    if not args.resume and 0 < cfg.steps < cfg.warmup:
        print(f"note: {cfg.steps} steps, fewer than the {cfg.warmup}-step warm-up: the learning rate "
              f"reaches {cfg.lr * cfg.steps / cfg.warmup:.2e} of its {cfg.lr:.2e} (--set warmup=N)",
              file=sys.stderr)
    resume = f"nnasr train --out {args.out} --resume"
    try:
        r = trainer.run()
    except KeyboardInterrupt:  # the trainer saved on the way out
        trainer.close()
        if trainer.rank == 0:
            print(f"nnasr train: interrupted at step {trainer.step}; checkpoint {Path(args.out) / 'last.pt'} "
                  f"(continue: {resume})", file=sys.stderr)
        return 130
    trainer.close()  # after a run every rank ended; after an error torchrun ends the others
    if trainer.rank == 0:  # under torchrun every rank returns here; one report
        total = (f", {r['wall_s'] / 60:.1f} min in all with the run{'s' if args.resume else ''} it "
                 f"{'continues' if args.resume else 'started from'}" if r["wall_s"] - r["run_s"] > 30 else "")
        more = (f" (continue: {resume}{' --minutes N' if cfg.minutes else ''})"
                if r["step"] < cfg.steps else "")
        print(f"stopped at step {r['step']} (epoch {r['epoch']}), {r['run_s'] / 60:.1f} min of training{total}; "
              f"checkpoint {r['out']}{more}")
    return 0


def _print_fields() -> int:
    """``--set help``: every config field, its default and its comment."""
    from app.cli import print_field_docs
    from trainer.config import field_docs

    print_field_docs("nnasr train --set KEY=VALUE ...  (the fields and their defaults; --resume keeps "
                     "a run's own values)", field_docs())
    return 0

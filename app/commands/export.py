"""nnasr export: a trained checkpoint -> an engine model file (.nnasr)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = (
        "Write the engine's model file from a checkpoint. Float checkpoints are quantized after\n"
        "training (PTQ, ranges calibrated on a few training utterances); AAT checkpoints carry\n"
        "their ranges and export exactly.\n\n"
        "examples:\n"
        "  nnasr export runs/float/last.pt --out my-ptq.nnasr      # then: nnasr models my-ptq.nnasr\n"
        "  nnasr export runs/float/last.pt --out ptq-cpu.nnasr --cpu join.out,pred.0\n"
        "  nnasr export runs/aat/last.pt --out my-aat.nnasr --no-float\n"
        "(`make models` writes the shipped models in assets/models; an --out there replaces one.)\n"
    )
    p.add_argument("checkpoint", help="checkpoint file (e.g. runs/float/last.pt)")
    p.add_argument("--out", required=True, help="model file to write (.nnasr)")
    p.add_argument("--data", help="corpus for PTQ calibration: its train.jsonl (default: the corpus the "
                                  "checkpoint was trained on, where it is here; else data/corpus)")
    p.add_argument("--calib", type=int, default=64, help="calibration utterances (default: %(default)s)")
    p.add_argument("--cpu", default="", help="comma-separated ops to place on the CPU (float32)")
    p.add_argument("--profile", help="NNA profile (default: the checkpoint's, else reference-speaker)")
    p.add_argument("--weight-bits", type=int, help="weight bits (PTQ), 4..8")
    p.add_argument("--no-float", action="store_true",
                   help="store float weights only for CPU ops (smaller file; float reference then uses dequantized weights)")
    p.add_argument("--chunk-ms", type=int, default=160, help="default chunk size (default: %(default)s)")
    p.add_argument("--name", help="model name recorded in the file")
    p.add_argument("--average", type=int, default=0, metavar="K",
                   help="average the newest K snapshots of the checkpoint's run (checkpoint averaging)")


def _checkpoint_error(path: str, e: Exception) -> str:
    """One line for a checkpoint that does not load. torch's weights-only refusal is long and
    suggests weights_only=False, which nnasr never does: say what happened instead."""
    msg = str(e)
    if _is_safetensors(path):
        return (f"{path}: an engine model file (safetensors), not a training checkpoint: --init, "
                "--resume and export read `nnasr train`'s .pt files (e.g. assets/checkpoints/float.pt)")
    if "Weights only load failed" not in msg:
        return " ".join(msg.split())
    import re

    m = re.search(r"(Unsupported .*?|Trying to load unsupported .*?)(?:\.\s|\.?$)", msg, re.M)
    why = m.group(1).strip() if m else ""
    return (f"{path}: refused: not an nnasr checkpoint; it holds Python objects other than "
            f"tensors, and checkpoints are only read with torch.load(weights_only=True)"
            + (f" ({why})" if why else ""))


def _is_safetensors(path: str) -> bool:
    """Whether ``path`` starts as a safetensors file does (an engine model, whatever its name):
    an 8-byte little-endian header length, then the JSON header."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except (OSError, TypeError):
        return False
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < 1 << 30


def load_training_checkpoint(path: str, average: int = 0):
    """A `nnasr train` checkpoint -> (checkpoint dict, float torch model, tokenizer proto,
    averaged steps), with one-line UserErrors for a file that is not one. ``average``: the
    mean of the newest K snapshots of its run (pruning masks re-applied)."""
    import warnings
    from pathlib import Path

    from app.cli import UserError

    try:
        from trainer.checkpoint import load_checkpoint, model_from_checkpoint, tokenizer_from_tensor
    except ImportError as e:
        raise UserError(f"reading a checkpoint needs the [train] extra ({e})") from None
    if Path(path).suffix == ".nnasr":
        raise UserError(f"{path}: an exported engine model already, not a training checkpoint "
                        "(export reads `nnasr train`'s .pt; an engine model is used as it is)")
    try:
        with warnings.catch_warnings():  # torch's note on pickle protocols: noise here
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ck = load_checkpoint(path)
    except (FileNotFoundError, ValueError) as e:
        raise UserError(_checkpoint_error(path, e)) from None
    if not isinstance(ck, dict) or not {"arch", "model", "tokenizer"} <= set(ck):
        raise UserError(f"{path}: not an nnasr training checkpoint (no arch, model and "
                        "tokenizer entries; `nnasr train` writes them)")
    averaged = []
    if average:
        from trainer.checkpoint import average_snapshots

        try:
            ck, averaged = average_snapshots(ck, Path(path).parent, average)
            if "prune" in ck:  # averaging snapshots must not bring pruned weights back
                from trainer.prune import mask_state_dict

                ck["model"] = mask_state_dict(ck["model"], ck["prune"])
        except FileNotFoundError as e:
            raise UserError(str(e)) from None
    try:
        model = model_from_checkpoint(ck)
        proto = tokenizer_from_tensor(ck["tokenizer"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        raise UserError(f"{path}: not an nnasr training checkpoint "
                        f"({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None
    return ck, model, proto, averaged


def run(args) -> int:
    import json
    from pathlib import Path

    from app.cli import UserError

    try:
        from trainer.export import export_model, export_ranges
    except ImportError as e:
        raise UserError(f"export needs the [train] extra ({e})") from None
    from engine.model import ModelFormatError, load_model
    from engine.nna.spec import NNASpec, load_profile

    ck, model, proto, averaged = load_training_checkpoint(args.checkpoint, getattr(args, "average", 0))
    if args.profile:
        spec = load_profile(args.profile)
    elif ck.get("spec"):  # an AAT checkpoint carries the spec it was trained for
        spec = NNASpec.from_dict(json.loads(ck["spec"]))
    else:
        spec = load_profile("reference-speaker")
    if args.weight_bits:
        try:
            spec = spec.replace(weight_bits=args.weight_bits)
        except ValueError as e:
            raise UserError(f"--weight-bits {args.weight_bits}: {e}") from None
    placement = {}
    for op in filter(None, (s.strip() for s in args.cpu.split(","))):
        if op not in model.arch.op_names():
            raise UserError(f"unknown op {op!r}; ops: {', '.join(model.arch.op_names())}")
        placement[op] = "cpu"
    cfg = json.loads(ck["config"]) if ck.get("config") else {}
    if args.data is None:  # the corpus the checkpoint was trained on, where it is here
        trained = cfg.get("data") or ""
        args.data = trained if trained and (Path(trained) / "train.jsonl").exists() else "data/corpus"

    def features():
        import sentencepiece as spm

        from trainer.dataset import load_features

        sp = spm.SentencePieceProcessor()
        sp.LoadFromSerializedProto(proto)
        man = Path(args.data) / "train.jsonl"
        if not man.exists():
            raise UserError(f"PTQ calibration needs {man} (use --data)")
        return load_features(man, sp, model.frontend, limit=max(args.calib * 4, 200))

    try:
        i_s, o_s, how = export_ranges(model, bool(ck.get("aat")), features, n=args.calib, spec=spec)
    except ValueError as e:  # an empty calibration manifest
        raise UserError(f"{Path(args.data) / 'train.jsonl'}: {e} (use --data)") from None
    hist = json.loads(ck.get("history", "[]"))
    devs = [h for h in hist if "dev_wer" in h]
    facts = {
        "name": args.name or Path(args.out).stem,
        "quantization": how,
        "training_steps": int(ck.get("step", 0)),
        "training_wall_s": round(float(ck.get("wall_seconds", 0.0)), 1),
        "training_audio_h": round(float(ck.get("audio_seen", 0.0)) / 3600, 2),
        "aat": bool(ck.get("aat", False)),
        "pruning": cfg.get("prune", "none"),
        # a pruned model's target and per-group split (nnasr train --sparsity, --set prune_layers)
        **({"prune_sparsity": cfg.get("sparsity"), "prune_layers": cfg.get("prune_layers", "all")}
           if cfg.get("prune", "none") != "none" else {}),
        # the checkpoint's last dev WER in training (torch, before export): not the model's
        # own, which `nnasr eval --record SET` stores (shown by `nnasr models`)
        **({"training_last_dev_wer": devs[-1]["dev_wer"]} if devs else {}),
        **({"averaged_steps": averaged} if averaged else {}),
    }
    out = export_model(model, proto, args.out, spec=spec, in_scale=i_s, out_scale=o_s,
                       placement=placement, float_ops=[] if args.no_float else None,
                       chunk_ms=args.chunk_ms, facts=facts)
    try:
        m = load_model(out)
    except ModelFormatError as e:
        raise UserError(f"exported file failed validation: {e}") from None
    from app.models import facts_of, human_bytes

    d, f = m.describe(), facts_of(m)
    print(f"wrote {out}: {d['params']:,} params, sparsity {f.sparsity_text}, "
          f"{spec.weight_bits}-bit weights, {human_bytes(d['file_bytes'])}, CPU ops: {d['cpu_ops'] or 'none'}; {how}")
    if not getattr(args, "in_memory", False):
        print(f"record its WER in the file: nnasr eval --model {out} --manifest DEV.jsonl --record 'dev'")
    return 0

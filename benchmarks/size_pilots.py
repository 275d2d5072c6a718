"""Model size by measurement: short pilots of several sizes for equal wall time, from scratch.

    python benchmarks/size_pilots.py --minutes 20 \\
        --train data/corpus/train.jsonl data/words/train.jsonl \\
        --sizes 4x288 4x448:320 6x512:320

Each size (``LAYERSxUNITS`` of the encoder LSTM, ``:P`` the predictor's LSTM and the joiner's
width, default 256) trains from random weights with ``nnasr train`` for the same ``--minutes``
(or the same ``--steps``), on the same manifests, tokenizer, recipe and seed, into
``--out/SIZE`` (rerun to resume: a pilot whose budget is spent is only evaluated again). The
tokenizer is the one of ``--tokenizer-from`` (default: the committed float checkpoint's), so
every pilot and the shipped model spell with the same pieces. Along the way each run records
its dev WER every ``eval_minutes`` (the trainer's own curve: 100 utterances of the corpus's
dev split, greedy, float). At the end every pilot's last checkpoint is decoded greedily by
torch on each ``--dev`` manifest (default: the corpus dev split and, when present, the human
dev set and the words & letters dev split), and its RNN-T loss per piece is measured there: a
short pilot from scratch can still write nothing right (100 % WER) while its loss already
ranks the sizes.

Writes ``<report>.json`` (sizes, parameters, audio hours trained, curves, final WERs, the
command), ``<report>.md`` (the table) and ``<report>.png`` (dev WER against wall minutes and
against hours of audio), default ``benchmarks/results/size_pilots``. The table says which
size is best at this budget; rerun with a longer ``--minutes`` (on a GPU:
``nnasr train`` uses it by itself) to see whether the order changes as the budget grows.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from common import machine

from engine.arch import MAX_PRED_CONTEXT

ROOT = Path(__file__).resolve().parent.parent

# the float recipe of scripts/make_models.sh for a model from nothing, evaluation more often
RECIPE = ["dropout=0.15", "tempo=0.1", "gain_db=6", "warp=0.12", "tilt=1.0", "max_frames=16000",
          "eval_every=0", "eval_utts=100", "save_minutes=5"]
SIZE = re.compile(r"^(\d+)x(\d+)(?::(\d+))?(?:s(\d+))?$")


def parse_size(s: str) -> dict:
    """``"4x448:320"`` -> the architecture overrides of ``nnasr train --set``; a suffix ``sN``
    (``"4x288s2"``) gives the model a stateless predictor over N tokens (``pred_context``)."""
    m = SIZE.match(s)
    if not m:
        raise argparse.ArgumentTypeError(f"{s!r}: a size is LAYERSxUNITS[:PRED][sN], e.g. 4x448:320 or "
                                         "4x288s2 (a stateless predictor over 2 tokens)")
    layers, units, pred = int(m[1]), int(m[2]), int(m[3] or 256)
    out = {"enc_layers": layers, "enc_hidden": units, "pred_hidden": pred, "joiner_dim": pred}
    if m[4] is None:
        return out
    if not 1 <= int(m[4]) <= MAX_PRED_CONTEXT:
        raise argparse.ArgumentTypeError(f"{s!r}: sN takes N = 1..{MAX_PRED_CONTEXT} tokens")
    return out | {"pred_context": int(m[4])}


def size_arg(s: str) -> str:
    """``--sizes``' type: a size, checked (a usage error names what is wrong), also as the
    architecture it builds (``1x64`` has no layer after the time reduction)."""
    from engine.arch import Architecture

    try:
        Architecture(num_classes=2, **parse_size(s)).check()
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{s!r}: {e}") from None
    return s


def pilot_data(out: Path, data: Path, tokenizer_from: Path) -> Path:
    """A data directory for the pilots: ``data``'s dev split beside the tokenizer of
    ``tokenizer_from`` (a checkpoint), so that new models use the shipped model's pieces."""
    from trainer.checkpoint import load_checkpoint, tokenizer_from_tensor

    d = out / "data"
    d.mkdir(parents=True, exist_ok=True)
    (d / "tokenizer.model").write_bytes(tokenizer_from_tensor(load_checkpoint(tokenizer_from)["tokenizer"]))
    from trainer.data.manifest import read_manifest, write_manifest

    write_manifest(d / "dev.jsonl", read_manifest(data / "dev.jsonl"))  # its audio paths absolute
    return d


def train(size: str, args, data: Path) -> Path:
    """One pilot, resumable; returns its run directory."""
    run = Path(args.out) / size.replace(":", "-")
    arch = parse_size(size)
    cmd = [sys.executable, "-m", "app", "train", "--data", str(data), "--train", *args.train,
           "--out", str(run), "--no-progress"]
    budget = ["--minutes", str(args.minutes)] if args.minutes else ["--steps", str(args.steps)]
    if (run / "last.pt").exists():
        # the saved recipe and minutes budget go on where they stopped; a step budget may grow
        cmd += ["--resume", *budget * bool(args.steps)]
    else:
        cmd += [*budget, "--set", *[f"{k}={v}" for k, v in arch.items()], *RECIPE,
                f"eval_minutes={args.eval_minutes}", f"seed={args.seed}", *args.set]
        if args.minutes:
            cmd.append("steps=1000000")  # the wall-clock budget ends it (the LR decays over its end)
    print(f"pilot {size}: {' '.join(cmd[2:])}", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return run


def measure(size: str, run: Path, devs: list[Path], limit: int) -> dict:
    """A finished pilot's parameters, training totals, curve and greedy WER on each dev set."""
    import torch

    from app.commands.export import load_training_checkpoint
    from trainer.data.manifest import read_manifest
    from trainer.evaluate import evaluate_torch

    ck, model, proto, _ = load_training_checkpoint(str(run / "last.pt"))
    hist = json.loads(ck.get("history", "[]"))
    params = sum(p.numel() for n, p in model.named_parameters() if "ctc" not in n)  # what is exported
    wers = {}
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for d in devs:
        recs = read_manifest(d)[: limit or None]
        r = evaluate_torch(model, proto, recs)
        wers[str(d)] = {"wer": r.wer, "utterances": len(recs), "loss_per_piece": dev_loss(model, proto, recs)}
    return {"size": size, **parse_size(size), "params": params, "steps": int(ck["step"]),
            "wall_minutes": float(ck["wall_seconds"]) / 60, "audio_hours": float(ck.get("audio_seen", 0)) / 3600,
            "curve": [[h["wall_s"] / 60, h["audio_h"], h["dev_wer"]] for h in hist if "dev_wer" in h],
            "dev": wers}


def dev_loss(model, proto: bytes, records: list[dict]) -> float:
    """The RNN-T loss in nats per piece over ``records`` with a transcript (float, eval mode):
    it ranks models long before their greedy WER leaves 100 %."""
    import sentencepiece as spm
    import torch

    from engine.audio import load_audio
    from engine.frontend import compute_features
    from trainer.loss import compute_loss

    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(proto)
    fe = model.frontend  # the front-end the model was trained on
    model = model.eval()
    total, pieces = 0.0, 0
    with torch.no_grad():
        for r in records:
            ids = [i + 1 for i in sp.encode(r["text"])]  # class k = piece k-1
            if not ids:
                continue
            x = torch.from_numpy(compute_features(load_audio(r["audio_filepath"], fe.sample_rate), fe))[None]
            _, rnnt, _, _ = compute_loss(model, x, torch.tensor([x.shape[1]]), torch.tensor([ids]),
                                         torch.tensor([len(ids)]), 0.0)
            total, pieces = total + float(rnnt), pieces + len(ids)
    return total / max(pieces, 1)


def table(rows: list[dict]) -> str:
    devs = list(rows[0]["dev"]) if rows else []
    head = ["size", "parameters", "steps", "wall min", "audio h", "last curve point (dev-100)"] + \
           [f"{Path(d).parent.name}/{Path(d).name} WER" for d in devs] + \
           [f"{Path(devs[0]).parent.name}/{Path(devs[0]).name} loss, nats per piece"] * bool(devs)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        last = f"{100 * r['curve'][-1][2]:.1f} %" if r["curve"] else "-"
        lines.append("| " + " | ".join([r["size"], f"{r['params'] / 1e6:.2f} M", str(r["steps"]),
                                        f"{r['wall_minutes']:.1f}", f"{r['audio_hours']:.1f}", last]
                                       + [f"{100 * r['dev'][d]['wer']:.1f} %" for d in devs]
                                       + [f"{r['dev'][devs[0]]['loss_per_piece']:.3f}"] * bool(devs)) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for r in rows:
        if not r["curve"]:
            continue
        w, a, x = zip(*r["curve"])
        label = f"{r['size']} ({r['params'] / 1e6:.1f} M)"
        axes[0].plot(w, [100 * v for v in x], marker="o", label=label)
        axes[1].plot(a, [100 * v for v in x], marker="o", label=label)
    axes[0].set_xlabel("wall minutes")
    axes[1].set_xlabel("hours of audio trained")
    axes[0].set_ylabel("dev WER % (100 utterances, greedy, float)")
    axes[0].legend()
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle("Size pilots: equal wall time, from scratch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["4x288", "4x448:320", "6x512:320"], type=size_arg,
                   help="encoder LAYERSxUNITS[:PRED][sN] per pilot (default: 4x288 4x448:320 6x512:320, "
                        "3.9 / 8.3 / 14.6 M parameters with the CTC heads; sN: a stateless predictor "
                        "over N tokens, e.g. 4x288s2)")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes", type=float, help="wall-clock budget of every pilot (equal wall time)")
    budget.add_argument("--steps", type=int, help="steps of every pilot instead (equal steps; for quick tries)")
    p.add_argument("--data", default="data/corpus", help="corpus whose dev split the trainer's curve uses")
    p.add_argument("--train", nargs="+", default=None, help="training manifests (default: DATA/train.jsonl)")
    p.add_argument("--tokenizer-from", default="assets/checkpoints/float.pt",
                   help="checkpoint whose tokenizer the pilots use (default: the committed float model's); "
                        "'data': DATA/tokenizer.model")
    p.add_argument("--dev", nargs="*", default=None,
                   help="manifests decoded at the end (default: DATA/dev.jsonl, data/human/dev.jsonl, "
                        "data/words/dev.jsonl where present)")
    p.add_argument("--dev-limit", type=int, default=300, help="utterances per --dev manifest (0: all)")
    p.add_argument("--eval-minutes", type=float, default=5.0, help="a curve point every this many minutes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="more `nnasr train --set` overrides")
    p.add_argument("--out", default="runs/pilots", help="run directories (one per size)")
    p.add_argument("--report", default="benchmarks/results/size_pilots",
                   help="writes REPORT.json, REPORT.md and REPORT.png")
    args = p.parse_args(argv)
    data = Path(args.data)
    args.train = args.train or [str(data / "train.jsonl")]
    devs = [Path(d) for d in args.dev] if args.dev is not None else [
        d for d in (data / "dev.jsonl", Path("data/human/dev.jsonl"), Path("data/words/dev.jsonl")) if d.exists()]
    pdata = data if args.tokenizer_from == "data" else pilot_data(Path(args.out), data, Path(args.tokenizer_from))
    rows = []
    t0 = time.time()
    for size in args.sizes:
        run = train(size, args, pdata)
        rows.append(measure(size, run, devs, args.dev_limit))
        print(table(rows[-1:]), flush=True)
    command = "python benchmarks/size_pilots.py " + " ".join(sys.argv[1:] if argv is None else argv)
    report = {"command": command, "date": time.strftime("%Y-%m-%d"), "machine": machine(),
              "seconds": round(time.time() - t0), "pilots": rows}
    rep = Path(args.report)
    rep.parent.mkdir(parents=True, exist_ok=True)
    from trainer.data.manifest import write_json_atomic

    write_json_atomic(rep.with_suffix(".json"), report)
    rep.with_suffix(".md").write_text(f"`{command}` on {report['date']} ({report['machine']}).\n\n{table(rows)}\n")
    plot(rows, rep.with_suffix(".png"))
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

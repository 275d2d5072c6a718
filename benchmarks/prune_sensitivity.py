"""Where a pruned model loses its accuracy: each group of its pruned matrices made dense again.

    python benchmarks/prune_sensitivity.py --pruned runs/aat-csp/last.pt --dense runs/aat/last.pt \\
        --manifest data/corpus/test.jsonl

For each group (default: every encoder layer, all of the encoder, the predictor, the joiner)
the pruned checkpoint gets that group's prunable matrices back from the dense checkpoint it
was pruned from (``--dense``, the ``--init`` of the pruning run); biases, embeddings and every
other matrix stay as pruned. Each variant is exported like the pruned model (an AAT
checkpoint with its trained ranges, a float one with post-training quantization on
``--data``) and decoded through the engine on the same clips. The table gives each group's
share of the prunable weights and of their zeros, the WER, and the paired bootstrap of the
WER difference to the pruned model: the points a group's sparsity costs, given the rest
pruned: where a pruned model's accuracy went.

A group made dense after the others were fine-tuned around its pruned weights is an
estimate around that model, not what the group costs pruned from the start: a
``prune_layers`` split chosen by these figures alone did not beat the recipe's
(docs/experiments.md, "The same zeros spent where they cost less"). ``--json OUT`` writes the rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path


def _log(msg: str) -> None:
    print(f"[prune-sensitivity] {msg}", file=sys.stderr, flush=True)


def default_groups(names: list[str]) -> list[str]:
    """Every encoder layer (``enc.0`` ...), ``enc``, ``pred``, ``join``: those present."""
    layers = sorted({".".join(n.split(".")[:2]) for n in names if n.startswith("enc.")},
                    key=lambda s: int(s.split(".")[1]))
    groups = [*layers, "enc", "pred", "join"]
    return [g for g in groups if any(n == g or n.startswith(g + ".") for n in names)]


def swapped(pruned: dict, dense: dict, names: list[str]) -> dict:
    """``pruned`` (a checkpoint) with the matrices ``names`` (engine tensor names) from ``dense``;
    no pruner or optimizer state (an exportable weights-only checkpoint)."""
    from engine.arch import state_key

    out = {k: v for k, v in pruned.items() if k not in ("prune", "optimizer")}
    out["model"] = dict(pruned["model"])
    for n in names:
        k = state_key(n)
        if dense["model"][k].shape != out["model"][k].shape:
            raise ValueError(f"{n}: dense {tuple(dense['model'][k].shape)}, pruned "
                             f"{tuple(out['model'][k].shape)}: --dense is not the pruned model's parent")
        out["model"][k] = dense["model"][k].clone()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--pruned", required=True, help="the pruned checkpoint (.pt)")
    ap.add_argument("--dense", required=True, help="the dense checkpoint it was pruned from (.pt)")
    ap.add_argument("--manifest", required=True, help="clips to decode (JSON lines with audio_filepath, text)")
    ap.add_argument("--groups", nargs="+", metavar="PREFIX",
                    help="engine tensor-name prefixes, one group each (default: each encoder layer, "
                         "enc, pred, join); PREFIX+PREFIX makes one group of several, e.g. pred+join")
    ap.add_argument("--data", default="data/corpus", help="calibration clips for a float checkpoint's PTQ")
    ap.add_argument("--beam", type=int, default=1, help="beam size (default 1: greedy)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N clips")
    ap.add_argument("--json", metavar="OUT", help="also write the rows as JSON")
    args = ap.parse_args(argv)

    from app.cli import main as nnasr
    from app.comparison import result_error_counts, wer_difference
    from engine.model import load_model
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
    from trainer.data.manifest import read_manifest
    from trainer.evaluate import evaluate_engine

    pruned, dense = load_checkpoint(args.pruned), load_checkpoint(args.dense)
    prunable = {n: p.detach() for n, p in model_from_checkpoint(pruned).prunable().items()}
    names = list(prunable)
    groups = [g.split("+") for g in (args.groups or default_groups(names))]
    records = read_manifest(args.manifest)[: args.limit or None]
    total = sum(p.numel() for p in prunable.values())
    zeros = sum(int((p == 0).sum()) for p in prunable.values())

    def decode(ckpt: dict, label: str, d: Path):
        pt, nn = d / f"{label}.pt", d / f"{label}.nnasr"
        save_checkpoint(pt, ckpt)
        opts = ["--no-float"] + ([] if ckpt.get("aat") else ["--data", args.data])
        with contextlib.redirect_stdout(sys.stderr):  # export's report: progress, not the table
            code = nnasr(["export", str(pt), "--out", str(nn), *opts])
        if code != 0:
            raise SystemExit(f"export of {label} failed")
        r = evaluate_engine(load_model(nn), records, beam=args.beam)
        return (r.wer, *result_error_counts(r.per_utterance))

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _log(f"the pruned model on {len(records)} clips")
        base_wer, base_err, words = decode(swapped(pruned, dense, []), "pruned", d)
        rows.append({"group": "(none: the pruned model)", "weights": 0.0, "zeros": 0.0, "wer": base_wer,
                     "diff": 0.0, "ci": [0.0, 0.0]})
        for g in groups:
            hit = [n for n in names if any(n == p or n.startswith(p + ".") for p in g)]
            if not hit:
                raise SystemExit(f"group {'+'.join(g)!r} matches no prunable matrix ({', '.join(names)})")
            label = "+".join(g)
            _log(f"{label} dense ({len(hit)} matrices)")
            wer, err, _ = decode(swapped(pruned, dense, hit), label.replace("/", "_"), d)
            diff = wer_difference(base_err, err, words)
            rows.append({"group": label, "matrices": hit,
                         "weights": sum(prunable[n].numel() for n in hit) / total,
                         "zeros": sum(int((prunable[n] == 0).sum()) for n in hit) / max(1, zeros),
                         "sparsity": sum(int((prunable[n] == 0).sum()) for n in hit)
                         / sum(prunable[n].numel() for n in hit),
                         "wer": wer, "diff": diff["diff"] if diff else None, "ci": diff["ci"] if diff else None})
    print(f"{args.pruned} ({100 * zeros / total:.1f} % of {total:,} prunable weights zero), groups made dense "
          f"from {args.dense}; {len(records)} clips of {args.manifest}, beam {args.beam}")
    print(f"{'dense again':26s} {'weights':>8s} {'zeros':>7s} {'sparsity':>9s} {'WER':>7s} {'Δ points [95 % CI]':>22s}")
    for r in rows:
        ci = f"{100 * r['diff']:+.1f} [{100 * r['ci'][0]:+.1f}, {100 * r['ci'][1]:+.1f}]" if r["diff"] is not None else "-"
        sp = f"{100 * r['sparsity']:.0f} %" if "sparsity" in r else ""
        print(f"{r['group']:26s} {100 * r['weights']:7.1f}% {100 * r['zeros']:6.1f}% {sp:>9s} "
              f"{100 * r['wer']:6.1f}% {ci if r['weights'] else '':>22s}")
    if args.json:
        Path(args.json).write_text(json.dumps({"pruned": args.pruned, "dense": args.dense,
                                               "manifest": args.manifest, "beam": args.beam, "rows": rows},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

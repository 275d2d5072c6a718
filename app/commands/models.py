"""`nnasr models`: the shipped and local models with their facts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = (
        "The shipped and local models with their facts: parameters, sparsity, weight and\n"
        "activation bits, file size, which ops run on the CPU, the predictor (a column shown\n"
        "where a model's is stateless), and the WER each model file records from its own\n"
        "evaluation (`nnasr eval --record SET`, run by `make models`), with the set it was\n"
        "measured on. The first (default) model is the one `nnasr live`\n"
        "and `nnasr transcribe` use.\n\n"
        "examples:\n"
        "  nnasr models                        # every model in $NNASR_MODEL_DIR and assets/models\n"
        "  nnasr models aat runs/x/model.nnasr # these two\n"
        "  nnasr models exports/               # every .nnasr file in a directory\n"
        "  nnasr models --json | jq '.[].wer'  # as JSON\n"
    )
    p.add_argument("paths", nargs="*", metavar="MODEL",
                   help="model files, names or directories (their .nnasr files) to describe "
                        "(default: every model found in $NNASR_MODEL_DIR and assets/models)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from app import models as M

    rows, errors, invalid = [], [], []
    paths = []
    for p in args.paths or ():
        if Path(p).is_dir():
            found = sorted(Path(p).glob("*.nnasr"))
            paths += found
            if not found:
                errors.append(f"nnasr models: error: {p}: no .nnasr model files in this directory")
        else:
            paths.append(M.resolve(p))
    if not args.paths:
        paths = M.discover()
    for p in paths:
        try:
            rows.append(M.facts_of(M.load(p), default=M.is_default(p)))
        except Exception as e:  # one bad file must not hide the others
            errors.append(f"nnasr models: error: {' '.join(str(e).split())}")
            invalid.append(Path(p))
    for e in errors:
        print(e, file=sys.stderr)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return 1 if errors else 0
    if not rows and not invalid:
        if not errors:
            print(M.NO_MODEL_HINT.format(dirs=", ".join(M._show(d) for d in M.model_dirs())) + ".",
                  file=sys.stderr)
            return 0
        return 1
    from rich.console import Console

    # piped: the table at its full width (rich would cut it at 80 columns)
    Console(width=None if sys.stdout.isatty() else 1000).print(facts_table(rows, invalid))
    return 1 if errors else 0


def facts_table(rows, invalid=()):
    """The models table; ``invalid``: paths of files that failed to load, shown as such."""
    from rich.table import Table

    from app import models as M

    # the predictor's column only where a model's is not the LSTM (the shipped models' kind)
    kinds = any(r.pred_context for r in rows)
    cols = [("model", "left"), ("params", "right"), ("sparsity", "right"), ("bits", "center"),
            ("file size", "right"), ("placement", "left")] + [("predictor", "left")] * kinds + [("WER", "right")]
    data = []
    for r in rows:
        wer = ", ".join(f"{100 * v:.1f}% on {k}" for k, v in r.wer.items()) or "not recorded"
        data.append([r.label + (" (default)" if r.default else ""), M.human_count(r.params),
                     r.sparsity_text, r.bits, M.human_bytes(r.file_bytes),
                     r.placement] + [r.predictor_kind] * kinds + [wer])
    for p in invalid:
        try:
            size = M.human_bytes(p.stat().st_size)
        except OSError:
            size = "-"
        data.append([f"{p.stem} (invalid)", "-", "-", "-", size] + ["-"] * (len(cols) - 5))
    dirs = sorted({M._show(Path(r.path).parent) for r in rows if r.path}
                  | {M._show(p.parent) for p in invalid})
    t = Table(title="nnasr models", title_justify="left", caption_justify="left",
              caption=("in " + ", ".join(dirs)) if dirs else None)
    for i, (name, justify) in enumerate(cols):
        width = max([len(name)] + [len(d[i]) for d in data])
        t.add_column(name, justify=justify, min_width=width, no_wrap=i < 5,
                     style="bold" if i == 0 else None)
    for d in data:
        t.add_row(*d)
    return t

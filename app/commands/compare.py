"""`nnasr compare --models A B ... (--manifest M.jsonl | FILE...)`: models side by side.

One run, models interleaved on the same audio. Reports WER (with a manifest's reference
texts), model size, sparsity, p50/p95 per-chunk host latency (measured) and NNA latency
(modeled), and RTF, each with its ratio to the first model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from app.models import DEFAULT_BEAM

PROG = "nnasr compare"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="audio files (or use --manifest); audio files listed after --models "
                        "are recognized by their extension")
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="model files or names; the first is the reference for ratios "
                        "(default: every model found, best first)")
    p.add_argument("--manifest", metavar="M.jsonl",
                   help="JSON-lines manifest (audio_filepath, text, duration): gives WER")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="use only the first N manifest entries / files")
    p.add_argument("--plot", metavar="OUT.png", help="draw the per-chunk latency distributions")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--beam", type=int, default=DEFAULT_BEAM,
                   help=f"beam size (1: greedy; default {DEFAULT_BEAM}, see docs/decoding.md)")
    p.add_argument("--chunk-ms", type=int, default=None,
                   help="audio per recognizer step in ms (default: each model's own)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au",
                  ".caf", ".w64", ".rf64", ".sph", ".nist", ".voc", ".m4a", ".webm", ".raw"}


def _split_files_from_models(args: argparse.Namespace) -> None:
    """`--models A B x.wav y.wav`: argparse gives every name to --models; take the audio back."""
    from pathlib import Path

    if not args.models:
        return
    audio = [m for m in args.models if Path(m).suffix.lower() in AUDIO_SUFFIXES]
    if audio:
        args.models = [m for m in args.models if m not in audio]
        args.files = list(args.files) + audio
        if not args.models:
            args.models = None


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    import engine
    from app import comparison as C
    from app import models as M
    from app.cli import UserError
    from app.commands.transcribe import _describe_failure
    from app.transcription import transcribe_file

    _split_files_from_models(args)
    if bool(args.manifest) == bool(args.files):
        raise UserError("give either --manifest M.jsonl or audio FILEs (one of the two)")
    items = C.read_manifest(args.manifest) if args.manifest else [C.Item(f) for f in args.files]
    if args.limit is not None:
        items = items[: max(0, args.limit)]
    paths = M.resolve_many(args.models)
    runs, recs = [], []
    for p in paths:
        model = M.load(p)
        try:
            recs.append(engine.Recognizer(model, chunk_ms=args.chunk_ms, beam=args.beam))
        except ValueError as e:
            raise UserError(str(e)) from None
        runs.append(C.ModelRun(M.facts_of(model)))
    names = [r.facts.name for r in runs]
    if len(set(names)) != len(names):  # two files with one stem: tell them apart
        for r, p in zip(runs, paths, strict=True):
            r.facts = dataclasses.replace(r.facts, name=str(p))

    stderr = Console(stderr=True)
    failed: list[str] = []
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=stderr, transient=True,
                        disable=args.quiet or not stderr.is_terminal)
    with progress:
        task = progress.add_task("comparing", total=len(items) * len(runs))
        for i, item in enumerate(items):
            order = [(i + k) % len(runs) for k in range(len(runs))]  # rotate the order per file
            done = {}
            try:
                for j in order:
                    progress.update(task, description=f"{runs[j].facts.name}: {item.audio}")
                    done[j] = transcribe_file(recs[j], item.audio)
                    progress.advance(task)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # a bad file is skipped for every model
                failed.append(item.audio)
                progress.console.print(f"{PROG}: error: {_describe_failure(item.audio, e)}",
                                       markup=False, highlight=False, soft_wrap=True)
                progress.advance(task, len(runs) - len(done))
                continue
            for j, t in done.items():
                runs[j].add(t, item.text)
    n_ok = len(items) - len(failed)
    if n_ok == 0:
        print(f"{PROG}: no audio could be read ({len(failed)} file(s) failed)", file=sys.stderr)
        return 1
    audio_s = runs[0].audio_s
    title = f"nnasr compare: {n_ok} file(s), {audio_s:.1f} s of audio"
    if args.plot:
        try:
            out = C.plot(runs, args.plot, title=title)
        except OSError as e:
            raise UserError(f"{args.plot}: cannot write plot ({e.strerror or e})") from None
        print(f"{PROG}: latency plot written to {out}", file=sys.stderr)
    if args.json:
        print(json.dumps(C.to_json(runs, n_ok, failed), indent=2))
    else:
        Console().print(C.table(runs, title))
        if not any(r.refs and any(x.strip() for x in r.refs) for r in runs[:1]):
            print("(no reference texts: pass --manifest with \"text\" fields for WER)")
    if failed:
        print(f"{PROG}: {len(failed)} of {len(items)} file(s) failed", file=sys.stderr)
    return 1 if failed else 0

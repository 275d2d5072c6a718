"""`nnasr compare --models A B ... [--peers P ...] (--manifest M.jsonl | FILE...)`: side by side.

One run, models (and peers: pocketsphinx, whisper tiny.en) interleaved on the same audio.
Reports WER and CER (with a manifest's reference texts, every system's text through the same
normalizer), size on disk, sparsity, streaming or not, p50/p95 per-chunk host latency
(measured) and NNA latency (modeled; peers have none), and RTF, each with its ratio to the
first model; each WER with its bootstrap interval and, after the first row, the paired
bootstrap of its difference to the first. ``--json`` adds every system's per-utterance texts
and errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile

from app.commands.eval import add_channel_argument, channel_option
from app.models import DEFAULT_BEAM, add_hotword_arguments, positive_int
from app.peers import DEFAULT_THREADS, INSTALL_HINT, PEERS, RATE

PROG = "nnasr compare"


EXAMPLES = """\
examples:
  nnasr compare --manifest assets/audio/demo.jsonl
  nnasr compare --models baseline-ptq aat-csp --peers pocketsphinx whisper-tiny \\
      --manifest data/human/dev.jsonl --by-voice   # and a table of WER per speaker
  nnasr compare --models aat-csp --peers whisper-tiny --manifest M.jsonl --json > out.json
  nnasr compare --models aat --peers pocketsphinx whisper-tiny --manifest data/corpus/dev.jsonl \\
      --channel lowpass:4000   # every system hears the clips through the same channel
  nnasr compare --models aat --peers pocketsphinx whisper-tiny --manifest M.jsonl \\
      --hotwords phrases.txt   # every system told the phrases to expect

WER 95% CI: a bootstrap over the utterances; under each row after the first, Δ is its WER
minus the first row's, in points, with its paired-bootstrap 95% interval: an interval that
holds 0 is a difference this audio cannot tell from noise (small sets: a few clips move WER
by points).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EXAMPLES
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="audio files (or use --manifest); audio files listed after --models "
                        "are recognized by their extension")
    p.add_argument("--models", nargs="+", action="extend", metavar="MODEL",
                   help="model files or names; the first is the reference for ratios "
                        "(default: every model found, the default model first)")
    p.add_argument("--manifest", metavar="M.jsonl",
                   help="JSON-lines manifest (audio_filepath, text, duration): gives WER and CER")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="use only the first N manifest entries / files")
    p.add_argument("--plot", metavar="OUT.png", help="draw the per-chunk latency distributions")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--beam", type=positive_int, default=DEFAULT_BEAM,
                   help=f"beam size (1: greedy; default {DEFAULT_BEAM}, see docs/decoding.md)")
    p.add_argument("--chunk-ms", type=positive_int, default=None,
                   help="audio per recognizer step in ms (default: each model's own)")
    p.add_argument("--peers", nargs="+", action="extend", metavar="PEER", default=[],
                   help="other recognizers to run on the same audio: "
                        f"{', '.join(PEERS)} (install them with: {INSTALL_HINT})")
    p.add_argument("--peer-threads", type=int, default=DEFAULT_THREADS, metavar="N",
                   help=f"CPU threads for whisper-tiny (default {DEFAULT_THREADS}; "
                        "pocketsphinx uses one)")
    add_channel_argument(p, "first, the same for every system")
    add_hotword_arguments(p, peers=True)
    p.add_argument("--by-voice", action="store_true",
                   help="also give every system's WER per voice (the manifest's 'voice' key: "
                        "a speaker, or a source of the human set), side by side")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au",
                  ".caf", ".w64", ".rf64", ".sph", ".nist", ".voc", ".m4a", ".webm", ".raw"}


def _split_files_from_models(args: argparse.Namespace) -> None:
    """`--models A B x.wav y.wav`: argparse gives every name to --models; take the audio back."""
    from pathlib import Path

    peers = list(getattr(args, "peers", None) or [])
    if peers:
        audio = [m for m in peers if Path(m).suffix.lower() in AUDIO_SUFFIXES]
        args.peers = [m for m in peers if m not in audio]
        args.files = list(args.files) + audio
    if not args.models:
        return
    audio = [m for m in args.models if Path(m).suffix.lower() in AUDIO_SUFFIXES]
    if audio:
        args.models = [m for m in args.models if m not in audio]
        args.files = list(args.files) + audio
        if not args.models:
            args.models = None


def _load_peers(args: argparse.Namespace, runs: list, systems: list) -> dict[str, str]:
    """Append a run and a system for each peer that loads; the others: {name: one line}."""
    from app import comparison as C
    from app import peers as P
    from app.cli import UserError

    unknown = [n for n in args.peers if n not in PEERS]
    if unknown:
        raise UserError(f"--peers {unknown[0]}: no such peer (choose from {', '.join(PEERS)})")
    unavailable = {}
    for name in dict.fromkeys(args.peers):
        try:
            peer = P.load(name, chunk_ms=args.chunk_ms, threads=args.peer_threads,
                          phrases=[t for t, _ in args.phrases] if args.phrases else None)
        except P.PeerUnavailable as e:
            unavailable[name] = str(e)  # said after the table, where it is seen
            continue
        facts = peer.facts
        runs.append(C.ModelRun(facts, kind="peer", streaming=facts.streaming, about=facts.about))
        systems.append(peer)
    return unavailable


def _open_models(args: argparse.Namespace) -> tuple[list, list]:
    """A :class:`~app.comparison.ModelRun` and a recognizer per ``--models`` entry."""
    import engine
    from app import comparison as C
    from app import models as M
    from app.cli import UserError

    paths = M.resolve_many(args.models)
    runs, recs = [], []
    args.phrases = None
    for p in paths:
        model = M.load(p)
        search = {}
        if args.hotwords:
            if args.phrases is None:
                args.phrases = M.hotwords(args.hotwords, model, args.hotword_score)
            search = {"hotwords": args.phrases, "hotword_score": args.hotword_score}
        try:
            recs.append(engine.Recognizer(model, chunk_ms=args.chunk_ms, beam=args.beam, **search))
        except ValueError as e:
            raise UserError(f"{p}: {e}") from None
        runs.append(C.ModelRun(M.facts_of(model, default=M.is_default(p)), about=f"nnasr engine, beam {args.beam}, "
                                                        f"{recs[-1].chunk_ms} ms chunks"
                                                        + (", hotwords" if search else "")))
    names = [r.facts.name for r in runs]
    if len(set(names)) != len(names):  # two files with one stem: tell them apart
        for r, p in zip(runs, paths, strict=True):
            r.facts = dataclasses.replace(r.facts, name=str(p))
    return runs, recs


def _decode_all(items: list, runs: list, recs: list, quiet: bool, channel=None) -> list[str]:
    """Every file through every system (the order rotated per file, so no system always
    runs first on a warm cache); a file that fails is skipped for all. The failed files.
    ``channel(samples, rate) -> samples``: each file goes through it once, into a temporary
    WAV that every system reads."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.commands.transcribe import _describe_failure
    from app.transcription import transcribe_file

    stderr = Console(stderr=True)
    failed: list[str] = []
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=stderr, transient=True,
                        disable=quiet or not stderr.is_terminal)
    with progress, tempfile.TemporaryDirectory(prefix="nnasr-channel-") as tmp:
        task = progress.add_task("comparing", total=len(items) * len(runs))
        for i, item in enumerate(items):
            order = [(i + k) % len(runs) for k in range(len(runs))]
            done = {}
            try:
                audio = _through(channel, item.audio, tmp) if channel else item.audio
                for j in order:
                    progress.update(task, description=f"{runs[j].facts.name}: {item.audio}")
                    if runs[j].kind == "peer":
                        done[j] = recs[j].run_file(audio)
                    else:
                        done[j] = transcribe_file(recs[j], audio)
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
                runs[j].add(t, item.text, item.audio, item.voice)
    return failed


def _through(channel, path: str, tmp: str) -> str:
    """``path`` at the peers' and models' 16 kHz through ``channel``, written to a float WAV in
    ``tmp`` (its path)."""
    import soundfile as sf

    from engine.audio import load_audio

    x = channel(load_audio(path, RATE), RATE)
    out = os.path.join(tmp, "clip.wav")
    sf.write(out, x, RATE, subtype="FLOAT")
    return out


def run(args: argparse.Namespace) -> int:
    from app import comparison as C
    from app.cli import UserError

    _split_files_from_models(args)
    if bool(args.manifest) == bool(args.files):
        raise UserError("give either --manifest M.jsonl or audio FILEs (one of the two)")
    items = C.read_manifest(args.manifest) if args.manifest else [C.Item(f) for f in args.files]
    if args.limit is not None:
        items = items[: args.limit]
    channel = channel_option(args.channel)
    runs, recs = _open_models(args)
    unavailable = _load_peers(args, runs, recs)
    failed = _decode_all(items, runs, recs, args.quiet, channel)
    n_ok = len(items) - len(failed)
    if n_ok == 0:
        print(f"{PROG}: no audio could be read ({len(failed)} file(s) failed)", file=sys.stderr)
        return 1
    audio_s = runs[0].audio_s
    title = f"nnasr compare: {n_ok} file(s), {audio_s:.1f} s of audio" + (
        f", through the channel {args.channel}" if args.channel else "") + (
        f", hotwords {args.hotwords} ({len(args.phrases)} phrases)" if args.phrases else "")
    if args.plot:
        try:
            out = C.plot(runs, args.plot, title=title)
        except OSError as e:
            raise UserError(f"{args.plot}: cannot write plot ({e.strerror or e})") from None
        print(f"{PROG}: latency plot written to {out}", file=sys.stderr)
    voices = C.by_voice(runs) if args.by_voice else None
    if args.json:
        d = C.to_json(runs, n_ok, failed, unavailable)
        if args.channel:
            d["channel"] = args.channel
        if args.phrases:
            d.update(hotwords=args.hotwords, hotword_score=args.hotword_score)
        if voices is not None:
            d["by_voice"] = voices
        print(json.dumps(d, indent=2))
    else:
        C.print_table(C.table(runs, title))
        if voices is not None:
            C.print_table(C.by_voice_table(voices))
        if not any(r.refs and any(x.strip() for x in r.refs) for r in runs[:1]):
            print("(no reference texts: pass --manifest with \"text\" fields for WER)")
    if failed:
        print(f"{PROG}: {len(failed)} of {len(items)} file(s) failed", file=sys.stderr)
    for line in unavailable.values():
        print(f"{PROG}: {line}", file=sys.stderr)
    return 1 if (failed or unavailable) else 0

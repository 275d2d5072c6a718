"""`nnasr transcribe FILE...`: audio files to text, JSON, SRT or WebVTT.

Any format libsndfile reads (WAV, FLAC, Ogg, ...), any sample rate, any channel count.
A file that cannot be read is reported on one line, ``nnasr transcribe: error: FILE:
problem``, the others are still transcribed, and the exit status is 1.

Standard input (``-``) is read as the audio arrives, and each utterance is written the
moment its endpoint is decoded (``app.transcription.SegmentWriter``), so ``arecord ... |
nnasr transcribe -`` is a live transcriber without the terminal UI. (A named pipe is read
as a stream too, but transcribed as a file: one document at its end.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.models import DEFAULT_BEAM, add_engine_arguments, add_lm_arguments, positive_int

PROG = "nnasr transcribe"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from app.transcription import FORMATS

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = (
        "Transcribe audio files (WAV, FLAC, Ogg, MP3; any rate, any channel count) with a\n"
        "shipped or trained model. Silence, noise and hum give no words (the engine's speech\n"
        "gate; --no-vad turns it off). A file that cannot be read gets one error line; the\n"
        "others are still transcribed.\n\n"
        "examples:\n"
        "  nnasr transcribe assets/audio/demo.flac                 # text on stdout\n"
        "  nnasr transcribe -f json talk.wav                       # words, timestamps, latency\n"
        "  nnasr transcribe -f srt -o subs/ a.wav b.flac           # subs/a.srt, subs/b.srt\n"
        "  nnasr transcribe --model aat --beam 1 talk.wav          # another model, greedy search\n"
        "  nnasr transcribe --lm lm.nnasr-lm talk.wav              # with an n-gram LM (nnasr lm)\n"
        "  nnasr transcribe --hotwords commands.txt talk.wav       # favour known phrases\n"
        "  NNASR_THREADS=2 nnasr transcribe long.wav               # two BLAS threads\n"
        "  arecord -f S16_LE -r 16000 -c 1 | nnasr transcribe -    # live: a line per utterance\n"
        "  ffmpeg -i talk.mp4 -f s16le -ac 1 -ar 16000 - | nnasr transcribe --raw 16000 -\n"
        "      # headerless PCM needs its rate; -f json then writes a JSON line per utterance\n"
        "      # (--partials: and one per change of the words so far)\n\n"
        "Standard input (-) is read as the audio arrives: each utterance is written\n"
        "the moment its end is heard (0.8 s of silence after it; see docs/decoding.md), with\n"
        "the words so far shown on stderr when it is a terminal. Ctrl-C ends the input there\n"
        "and still writes the last utterance.\n"
    )
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="audio files; - reads standard input as it arrives")
    p.add_argument("--partials", action="store_true",
                   help='with - and -f json: also a line {"partial": TEXT} whenever the words of '
                        "the utterance being decoded change (for programs that show them)")
    p.add_argument("--raw", type=int, metavar="RATE", default=None,
                   help="the input is headerless 16-bit little-endian mono PCM at RATE Hz "
                        "(arecord -t raw, ffmpeg -f s16le -ac 1); WAV, FLAC and Ogg say "
                        "their own rate")
    p.add_argument("--model", "-m", metavar="MODEL",
                   help="model file or name (default: the best shipped model; see `nnasr models`)")
    p.add_argument("--format", "-f", choices=FORMATS, default="text",
                   help="output format (default: text). json has words with timestamps, "
                        "per-chunk latency (host measured, NNA modeled) and RTF")
    p.add_argument("--output", "-o", metavar="PATH",
                   help="output file, or a directory (one FILE_STEM.EXT per input; used when "
                        "PATH is a directory, ends with '/', or there are several inputs). "
                        "Default: stdout")
    p.add_argument("--beam", type=positive_int, default=DEFAULT_BEAM,
                   help=f"beam size (1: greedy; default {DEFAULT_BEAM}, see docs/decoding.md)")
    p.add_argument("--chunk-ms", type=positive_int, default=None,
                   help="audio per recognizer step in ms (default: the model's)")
    add_lm_arguments(p)
    add_engine_arguments(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _error(console, msg: str) -> None:
    console.print(f"{PROG}: error: {msg}", markup=False, highlight=False, soft_wrap=True)


CLIP_WARN = 0.001  # a --gain that clips more than this share of the samples is reported


def _warn_clipping(console, path, stats: dict) -> None:
    """One line on stderr when ``--gain`` took more than CLIP_WARN of a file's samples past
    full scale: clipped speech is decoded worse, not better."""
    share = stats.get("gain_clipped", 0.0)
    if share > CLIP_WARN:
        console.print(f"{PROG}: {path}: --gain {stats['gain_db']:+g} dB clipped {share:.1%} of the samples; "
                      "a lower gain keeps the peaks", markup=False, highlight=False)


def _describe_failure(path: str, e: BaseException) -> str:
    """One line naming the file and the problem."""
    msg = " ".join(str(e).split()) or type(e).__name__
    import engine

    if not isinstance(e, engine.AudioError):
        msg = f"could not transcribe ({type(e).__name__}: {msg})"
    return msg if msg.startswith(path) else f"{path}: {msg}"


def _duration(path: str) -> float | None:
    if not Path(path).is_file():  # a pipe can be read once only: no probing
        return None
    try:
        import soundfile as sf

        info = sf.info(path)
        return info.frames / info.samplerate if info.samplerate else None
    except Exception:
        return None


def _outputs(files: list[str], output: str | None, fmt: str) -> list[Path | None]:
    """Where each input's transcript goes (None: stdout)."""
    from app.cli import UserError
    from app.transcription import EXTENSIONS

    if output is None:
        return [None] * len(files)
    out = Path(output).expanduser()
    as_dir = out.is_dir() or output.endswith(("/", "\\")) or len(files) > 1
    if not as_dir:
        if out.parent and not out.parent.exists():
            raise UserError(f"{out.parent}: output directory does not exist")
        return [out]
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory; several inputs need a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{out}: cannot create output directory ({e.strerror or e})") from None
    paths, used = [], set()
    for f in files:
        stem = "stdin" if f == "-" else (Path(f).stem or "audio")
        name, k = stem, 1
        while name in used:
            k += 1
            name = f"{stem}-{k}"
        used.add(name)
        paths.append(out / (name + EXTENSIONS[fmt]))
    return paths


class _Partial:
    """The words of the utterance being decoded, on one line of a terminal (stderr),
    cleared before anything else is written there or to the same terminal's stdout."""

    def __init__(self, console) -> None:
        self.file, self.width, self.shown = console.file, max(20, console.width - 1), ""

    def show(self, text: str) -> None:
        if text != self.shown:
            self.file.write("\r\033[K" + text[-self.width:])
            self.file.flush()
            self.shown = text

    def clear(self) -> None:
        self.show("")


def _stream_one(rec, path: str, target: Path | None, fmt: str, raw_rate: int | None,
                stderr, quiet: bool, header: str = "", partials: bool = False) -> None:
    """Transcribe standard input, writing each utterance as it ends (and, with
    ``partials``, a JSON line ``{"partial": TEXT}`` whenever the words so far change)."""
    from app.transcription import SegmentWriter, transcribe_file

    writer = SegmentWriter(fmt)
    out = sys.stdout if target is None else open(target, "w", encoding="utf-8")  # noqa: SIM115
    partial = _Partial(stderr) if stderr.is_terminal and not quiet else None
    last = [""]

    def write(text: str) -> None:
        if partial:
            partial.clear()
        out.write(text)
        out.flush()

    def on_partial(text: str) -> None:
        if partial:
            partial.show(text)
        if partials and text != last[0]:
            last[0] = text
            if text:
                write(json.dumps({"partial": text}, ensure_ascii=False) + "\n")

    def on_segment(seg) -> None:
        last[0] = ""
        write(writer.segment(seg))

    try:
        write(header + writer.header())
        transcribe_file(rec, path, block_seconds=0.1, raw_rate=raw_rate, on_segment=on_segment,
                        on_partial=on_partial if partial or partials else None, finish_on_interrupt=True)
    finally:
        if partial:
            partial.clear()
        if target is not None:
            out.close()


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    import engine
    from app import models as M
    from app.cli import UserError
    from app.transcription import render, transcribe_file

    if args.files.count("-") > 1:
        raise UserError("standard input (-) can be read once only")
    if M.auto_gain(args) and "-" in args.files:
        raise UserError("--gain auto reads each file once for its level before decoding it; standard "
                        "input (-) can be read once only: give a number of dB")
    if args.partials and (args.format != "json" or "-" not in args.files):
        raise UserError("--partials is for standard input (-) with -f json")
    if args.raw is not None and not (engine.audio.MIN_SAMPLE_RATE <= args.raw <= engine.audio.MAX_SAMPLE_RATE):
        raise UserError(f"--raw {args.raw}: a sample rate from {engine.audio.MIN_SAMPLE_RATE} "
                        f"to {engine.audio.MAX_SAMPLE_RATE} Hz")
    model = M.load(M.resolve(args.model))
    try:
        # max_finals=0: the transcript is collected from stream.results() as it comes
        # (app.transcription), so the stream need not keep a second copy of it
        rec = engine.Recognizer(model, chunk_ms=args.chunk_ms, beam=args.beam, max_finals=0,
                                **M.lm_options(args, model), **M.engine_options(args))
    except ValueError as e:
        raise UserError(str(e)) from None
    targets = _outputs(args.files, args.output, args.format)
    stderr = Console(stderr=True)
    many_stdout = len(args.files) > 1 and args.output is None
    failed = 0
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=stderr, transient=True,
        # standard input has no length, and its partials use the terminal's last line
        disable=args.quiet or not stderr.is_terminal or "-" in args.files,
    )
    with progress:
        files_task = progress.add_task(f"{len(args.files)} file(s)", total=len(args.files))
        for path, target in zip(args.files, targets, strict=True):
            if path == "-":  # read as it arrives, each utterance written as it ends
                try:
                    _stream_one(rec, path, target, args.format, args.raw, stderr, args.quiet,
                                header="==> - <==\n" if many_stdout and args.format == "text" else "",
                                partials=args.partials)
                except (KeyboardInterrupt, BrokenPipeError):
                    raise
                except Exception as e:
                    failed += 1
                    _error(stderr, _describe_failure("standard input", e))
                progress.advance(files_task)
                continue
            dur = _duration(path)
            file_task = progress.add_task(Path(path).name, total=dur)
            try:
                t = transcribe_file(
                    rec, path, raw_rate=args.raw, auto_gain=M.auto_gain(args),
                    on_progress=lambda s, ft=file_task: progress.update(ft, completed=s))
            except KeyboardInterrupt:
                raise
            except Exception as e:  # one bad file must not stop the batch
                failed += 1
                _error(progress.console, _describe_failure(path, e))
                continue
            finally:
                progress.remove_task(file_task)
                progress.advance(files_task)
            _warn_clipping(progress.console, path, t.stats)
            text = render(t, args.format)
            if target is not None:
                try:
                    target.write_text(text, encoding="utf-8")
                except OSError as e:
                    failed += 1
                    _error(progress.console, f"{target}: cannot write ({e.strerror or e})")
                continue
            if many_stdout and args.format == "json":
                text = json.dumps(t.to_json(), ensure_ascii=False) + "\n"  # JSON lines
            elif many_stdout:
                text = f"==> {path} <==\n{text}"
            progress.console.file.flush()
            sys.stdout.write(text)
            sys.stdout.flush()
    if failed:
        print(f"{PROG}: {failed} of {len(args.files)} file(s) failed", file=sys.stderr)
    return 1 if failed else 0

"""The `nnasr` command.

Each subcommand lives in ``app/commands/<name>.py`` and provides
``add_arguments(parser)`` and ``run(args) -> int``. Heavy imports (torch, textual)
happen inside ``run`` so that ``nnasr --help`` is instant and the runtime never
needs torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (name, one-line help). Order is the order shown in --help.
COMMANDS: list[tuple[str, str]] = [
    ("live", "live transcription in a terminal UI (microphone, or an audio file in real time)"),
    ("transcribe", "transcribe audio files to text, JSON, SRT or VTT"),
    ("compare", "compare models (and peers: pocketsphinx, whisper) side by side: WER, size, latency"),
    ("cost", "where the modeled NNA time goes, op by op (and on a what-if accelerator)"),
    ("eval", "word error rate of a model (engine file or torch checkpoint) on a manifest"),
    ("synth", "synthesize an offline speech corpus with offline TTS voices (Debian's, Kokoro, Piper)"),
    ("train", "train an RNN-T (float, accelerator-aware --aat, pruned --prune)"),
    ("export", "export a trained checkpoint to an engine model file (.nnasr)"),
    ("lm", "build a token n-gram language model for shallow fusion in the decoder"),
    ("models", "list the shipped and local models with their facts"),
]


class UserError(Exception):
    """An error the user can fix; printed as one line, exit status 2."""


def why_unreadable(e: BaseException) -> str:
    """Why a file could not be read, in words (an OSError's text without its errno and path)."""
    if isinstance(e, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e)


def print_field_docs(title: str, docs: list[tuple[str, object, str]]) -> None:
    """``--set help``: ``title``, then each ``(field, value, comment)`` (as
    :func:`engine.fields.field_docs` gives them), the comment wrapped to the terminal."""
    import shutil
    import textwrap

    width = max(len(f"{k}={v!r}") for k, v, _ in docs) + 2
    cols = max(60, shutil.get_terminal_size((100, 20)).columns)
    print(title)
    for k, v, doc in docs:
        lines = textwrap.wrap(doc, max(20, cols - width)) or [""]
        print(f"{k}={v!r}".ljust(width) + lines[0])
        for more in lines[1:]:
            print(" " * width + more)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnasr",
        description=(
            "nnasr: a streaming on-device speech recognizer. Train RNN-T models that run in "
            "fixed point on a neural network accelerator (NNA), prune them, and see what "
            "they cost chunk by chunk."
        ),
        epilog="Run `nnasr COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--version", action="version", version="nnasr 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _load(name).add_arguments(p)
        p.set_defaults(_command=name)
    return parser


def _load(name: str):
    """The module of a command: ``add_arguments(parser)`` and ``run(args)``."""
    return importlib.import_module(f"app.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    mod = _load(args.command)
    try:
        return int(mod.run(args) or 0)
    except UserError as e:
        print(f"nnasr {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nnasr {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `nnasr transcribe x.wav | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

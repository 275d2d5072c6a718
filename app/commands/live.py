"""`nnasr live`: live transcription in a terminal UI.

From the default microphone (``--device`` picks another; ``--list-devices`` lists them),
or an audio file streamed in real time (``--input FILE``). Without a microphone or
PortAudio, the app says so and streams the bundled demo audio in real time instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.models import DEFAULT_BEAM, add_engine_arguments, add_lm_arguments, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = (
        "Live transcription in a terminal UI: from the microphone, or an audio file streamed in\n"
        "real time. Without a microphone it says so and streams the bundled demo audio. While\n"
        "nobody speaks it shows \"listening…\" (the engine's speech gate). Keys: space pause,\n"
        "c clear, s save, m next model, k compare models on the last 30 s, i input, q quit.\n\n"
        "examples:\n"
        "  nnasr live                                  # default microphone, default model\n"
        "  nnasr live --demo                           # the bundled demo audio, looping\n"
        "  nnasr live --input talk.flac --speed 2      # a file at twice real time\n"
        "  nnasr live --list-devices                   # then: nnasr live --device 3\n"
        "  nnasr live --model aat-csp --beam 1         # the pruned model, greedy search\n"
        "  nnasr live --no-transcript                  # no transcript file\n"
        "  nnasr live --hotwords commands.txt          # favour the phrases you expect\n"
    )
    p.add_argument("--model", "-m", metavar="MODEL",
                   help="model file or name to start with (default: the best shipped model); "
                        "`m` in the app cycles through every model found")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", "-i", metavar="FILE",
                     help="stream this audio file in real time instead of the microphone")
    src.add_argument("--demo", action="store_true",
                     help="stream the bundled demo audio in real time (no microphone needed)")
    src.add_argument("--device", "-d", metavar="DEVICE",
                     help="input device: index or name substring (see --list-devices)")
    p.add_argument("--list-devices", action="store_true", help="list the input devices and exit")
    p.add_argument("--speed", type=float, default=1.0,
                   help="file streaming speed, x real time (default 1; 0: as fast as possible, "
                        "dropping nothing)")
    p.add_argument("--loop", action="store_true", help="start the --input file over at its end")
    p.add_argument("--transcript", metavar="PATH",
                   help="append finals to this file (default: "
                        "~/.local/share/nnasr/transcripts/<date-time>.txt)")
    p.add_argument("--no-transcript", action="store_true", help="do not write a transcript file")
    p.add_argument("--beam", type=positive_int, default=DEFAULT_BEAM,
                   help=f"beam size (1: greedy; default {DEFAULT_BEAM}, see docs/decoding.md)")
    p.add_argument("--chunk-ms", type=positive_int, default=None,
                   help="audio per recognizer step in ms (default: the model's)")
    add_lm_arguments(p)
    add_engine_arguments(p)


def _device(arg: str | None):
    if arg is None:
        return None
    return int(arg) if arg.strip().isdigit() else arg


def list_devices() -> int:
    from app.audio_sources import AudioSourceError, list_input_devices

    try:
        devices = list_input_devices()
    except AudioSourceError as e:
        print(f"nnasr live: {e}", file=sys.stderr)
        return 1
    if not devices:
        print("No input devices found (no microphone). `nnasr live --demo` streams the bundled "
              "demo audio instead.")
        return 0
    for d in devices:
        star = "*" if d["default"] else " "
        print(f"{star} {d['index']:3d}  {d['name']}  ({d['channels']} ch, "
              f"{d['default_samplerate']:.0f} Hz)")
    print("(* default input; use --device INDEX or a name substring)")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list_devices:
        return list_devices()
    app = build_app(args)
    app.run()
    if app.transcript.lines:
        print(f"nnasr live: transcript in {app.transcript.path}")
    return int(app.return_code or 0)


def _check_transcript_path(path: Path) -> None:
    """``--transcript PATH`` that could never be written (a directory, a file in the way of
    its folder, no permission): one line before the UI opens, not a notice at the first final.
    The file itself is made at the first final, as before."""
    import os

    from app.cli import UserError

    if path.is_dir():
        raise UserError(f"--transcript {path}: a directory; give a file path (finals are appended to it)")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UserError(f"--transcript {path}: not writable")
        return
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"--transcript {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--transcript {path}: cannot create files in {parent}")


def build_app(args: argparse.Namespace):
    """The :class:`app.live.LiveApp` for these arguments (user errors raised before the UI)."""
    from app import models as M
    from app.audio_sources import AudioSourceError, FileSource, MicrophoneSource
    from app.cli import UserError

    found = M.discover()
    if args.model:
        first = M.resolve(args.model).resolve()
        models = [first] + [p for p in found if p.resolve() != first]
    elif found:
        models = found
    else:
        raise UserError(M.NO_MODEL_HINT.format(dirs=", ".join(M._show(d) for d in M.model_dirs())))
    first_model = M.load(models[0])  # a bad model file: one line here, not inside the UI
    lm_options = M.lm_options(args, first_model)
    engine_options = M.engine_options(args)
    if M.auto_gain(args) and args.no_vad:
        raise UserError("--gain auto raises the gain when the speech it hears is too quiet, and hears "
                        "speech with the speech gate: leave out --no-vad, or give a number of dB")
    if args.speed < 0:
        raise UserError("--speed must be >= 0")
    if args.transcript and not args.no_transcript:
        _check_transcript_path(Path(args.transcript).expanduser())

    demo = M.DEMO_AUDIO

    def demo_source():
        return FileSource(demo, speed=args.speed, loop=True, label=f"demo audio: {demo.name}")

    fallback = demo_source
    try:
        if args.input:
            # paced: audio the decoder cannot keep up with is dropped, as from a device;
            # --speed 0 (as fast as possible) decodes every sample instead
            source = FileSource(Path(args.input).expanduser(), speed=args.speed, loop=args.loop,
                                lossless=args.speed <= 0)
            fallback = None
        elif args.demo:
            source = demo_source()
            fallback = None
        else:
            source = MicrophoneSource(device=_device(args.device))
    except AudioSourceError as e:
        raise UserError(str(e)) from None

    from app.live import LiveApp, default_transcript_path

    if args.no_transcript:
        transcript = None
    elif args.transcript:
        transcript = Path(args.transcript).expanduser()
    else:
        transcript = default_transcript_path()
    return LiveApp(models, source=source, fallback=fallback, transcript_path=transcript,
                   chunk_ms=args.chunk_ms, beam=args.beam, demo_audio=demo, lm_options=lm_options,
                   engine_options=engine_options, auto_gain=M.auto_gain(args))

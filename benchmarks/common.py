"""What the benchmark scripts share: the repository root, the machine's description and the
tests' synthetic inputs.

The scripts import ``engine``, ``app`` and ``trainer`` as installed (``make test`` installs
this repository in editable mode); none of them edits ``sys.path``. Run them from
anywhere: ``python benchmarks/NAME.py --help``.
"""

from __future__ import annotations

import importlib.util
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_helpers():
    """``tests/helpers.py`` (speech-like signals, a 256-piece tokenizer, random-weight
    models), loaded from its file: the benchmarks measure on the inputs the tests use."""
    spec = importlib.util.spec_from_file_location("nnasr_test_helpers", ROOT / "tests" / "helpers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo; else the platform's processor or architecture)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(gpu: bool = True) -> str:
    """What measured a figure: the GPU when torch sees one (and ``gpu``), else the CPU, and
    the core count. Host times and float rounding differ between CPUs, so the CPU's name goes
    with them."""
    if gpu:
        try:
            import torch

            if torch.cuda.is_available():
                return f"{torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores"
        except ImportError:
            pass
    return f"{cpu_name()} ({platform.machine()}), {os.cpu_count()} CPU cores, no GPU"


def claim_work(work: Path, args, keys: tuple[str, ...]) -> None:
    """A resumable script's work folder holds results made with these ``keys`` of ``args``
    (``WORK/arguments.json``): a rerun with other values would reuse results of other
    arguments under the new ones' labels, so it stops, naming them. A first run records them."""
    import json
    import sys

    now = {k: getattr(args, k) for k in keys}
    path = Path(work) / "arguments.json"
    if path.exists():
        was = json.loads(path.read_text())
        differ = [f"--{k.replace('_', '-')} {was.get(k)!r} -> {now[k]!r}" for k in keys if was.get(k) != now[k]]
        if differ:
            sys.exit(f"{work} holds results made with other arguments ({'; '.join(differ)}): give another "
                     "--work, or remove it to start again")
        return
    Path(work).mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(now, indent=1))


def at_least(low: float, cast=float):
    """An argparse type: a number (``cast``) of ``low`` or more, else a usage error (not a
    traceback deep in the measurement)."""
    import argparse
    import math

    def parse(s: str):
        try:
            v = cast(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r}: not a {'whole ' if cast is int else ''}number") from None
        if not (math.isfinite(v) and v >= low):
            raise argparse.ArgumentTypeError(f"{s!r}: {low:g} or more")
        return v

    return parse


def beam_list(s: str) -> list[int]:
    """An argparse type: beam widths, comma-separated whole numbers of 1 or more ("1,4")."""
    import argparse

    try:
        beams = [int(b) for b in s.split(",") if b.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r}: beam widths, e.g. 1,4") from None
    if not beams or min(beams) < 1:
        raise argparse.ArgumentTypeError(f"{s!r}: beam widths of 1 or more, e.g. 1,4")
    return beams

"""What the benchmark scripts share: the repository root and the tests' synthetic inputs.

The scripts import ``engine``, ``app`` and ``trainer`` as installed (``make test`` installs
this repository in editable mode); none of them edits ``sys.path``. Run them from
anywhere: ``python benchmarks/NAME.py --help``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_helpers():
    """``tests/helpers.py`` (speech-like signals, a 256-piece tokenizer, random-weight
    models), loaded from its file: the benchmarks measure on the inputs the tests use."""
    spec = importlib.util.spec_from_file_location("nnasr_test_helpers", ROOT / "tests" / "helpers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

"""benchmarks/common.py: a resumable benchmark's work folder is bound to the arguments its
results depend on (prune_experiment and aat_experiment reused results of other arguments
under the new ones' labels)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from common import claim_work  # noqa: E402


def test_a_work_folder_refuses_other_arguments(tmp_path):
    work = tmp_path / "w"
    claim_work(work, SimpleNamespace(steps=2, limit=3, out="a"), ("steps", "limit"))
    claim_work(work, SimpleNamespace(steps=2, limit=3, out="b"), ("steps", "limit"))  # a resume
    with pytest.raises(SystemExit, match=r"other arguments \(--steps 2 -> 50; --limit 3 -> 1\)"):
        claim_work(work, SimpleNamespace(steps=50, limit=1, out="a"), ("steps", "limit"))

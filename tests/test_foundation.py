"""The product's skeleton: the `nnasr` command and its subcommands, the package split."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.cli import COMMANDS, main

EXPECTED = ["live", "transcribe", "compare", "cost", "eval", "synth", "train", "export", "lm", "models"]


def test_help_lists_every_subcommand(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in EXPECTED:
        assert name in out
    assert [c for c, _ in COMMANDS] == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    assert "usage: nnasr " + name in capsys.readouterr().out


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "app", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "transcribe" in r.stdout


def test_user_errors_are_one_line_without_traceback():
    r = subprocess.run([sys.executable, "-m", "app", "eval", "--model", "/nonexistent.nnasr",
                        "--manifest", "/nonexistent.jsonl"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

"""`make models` (scripts/make_models.sh) as a dry run (NNASR=echo): a finished fine-tune is
left as it is, one whose starting checkpoint changed begins again with the old run kept, and
the float run follows the committed checkpoint, so a new float.pt rebuilds everything after it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(runs: Path, tmp: Path, **env_extra: str) -> str:
    py = tmp / "py"  # step_of's `python -c` runs; the benchmark scripts are only echoed
    py.write_text(f'#!/bin/sh\nif [ "$1" = "-c" ]; then exec {sys.executable} "$@"; fi\necho PY "$@"\n')
    py.chmod(0o755)
    env = {**os.environ, "NNASR": "echo", "PY": str(py), "RUNS": str(runs), **env_extra}
    r = subprocess.run(["bash", str(ROOT / "scripts" / "make_models.sh")], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r.stdout


def _saved_run(runs: Path, name: str, step: int) -> None:
    """A run of make models' layout whose checkpoint is at ``step``."""
    (runs / name).mkdir(parents=True)
    torch.save({"step": step}, runs / name / "last.pt")


def _trains(out: str, name: str) -> bool:
    return any(line.startswith("train ") and f"--out {name} " in line for line in out.splitlines())


@pytest.mark.skipif(not (ROOT / "assets" / "checkpoints" / "float.pt").exists(), reason="no committed float model")
def test_finished_runs_stay_and_a_changed_start_begins_again(tmp_path):
    runs = tmp_path / "runs"
    for name, step in (("aat", 300), ("aat-csp", 700)):
        _saved_run(runs, name, step)
    out = _dry_run(runs, tmp_path, PRUNE_WIDTH="0")  # the older recipe: aat-csp prunes aat
    assert (runs / "float" / "last.pt").read_bytes() == (ROOT / "assets/checkpoints/float.pt").read_bytes()
    assert "aat is finished" in out and not _trains(out, f"{runs}/aat")  # 300 of 300 steps
    assert _trains(out, f"{runs}/aat-csp") and f"--out {runs}/aat-csp --init {runs}/aat/last.pt --aat --resume" in out
    assert _trains(out, f"{runs}/aat-w4")  # not begun: begins
    stamp = (runs / "aat" / "init.sha256").read_text().strip()
    assert len(stamp) == 64

    # the float run trained elsewhere (or an older float.pt): the committed one replaces it, the
    # old run is kept, and aat (started from the other bytes) begins again
    torch.save({"step": 5}, runs / "float" / "last.pt")
    (runs / "aat" / "init.sha256").write_text("0" * 64 + "\n")
    out = _dry_run(runs, tmp_path, PRUNE_WIDTH="0")
    assert (runs / "float.prev" / "last.pt").exists()
    assert (runs / "float" / "last.pt").read_bytes() == (ROOT / "assets/checkpoints/float.pt").read_bytes()
    assert "aat starts again" in out and (runs / "aat.prev" / "last.pt").exists()
    assert _trains(out, f"{runs}/aat") and f"--out {runs}/aat --init {runs}/float/last.pt --aat --steps" in out
    assert (runs / "aat" / "init.sha256").read_text().strip() == stamp
    # aat-csp began from the old aat's bytes, which are gone: it begins again too
    assert "aat-csp starts again" in out and (runs / "aat-csp.prev" / "last.pt").exists()


@pytest.mark.skipif(not (ROOT / "assets" / "checkpoints" / "float.pt").exists(), reason="no committed float model")
def test_decoder_refresh_follows_the_float_run(tmp_path):
    """The optional decoder refresh (REFRESH_STEPS) keeps a stamp like the AAT runs: finished,
    it is left alone; after a new float checkpoint it begins again and AAT starts from it."""
    runs = tmp_path / "runs"
    _saved_run(runs, "float-refresh", 600)
    out = _dry_run(runs, tmp_path, REFRESH_STEPS="600")
    assert "float-refresh is finished" in out and not _trains(out, f"{runs}/float-refresh")
    assert f"--out {runs}/aat --init {runs}/float-refresh/last.pt --aat --steps" in out

    (runs / "float-refresh" / "init.sha256").write_text("0" * 64 + "\n")  # begun from another float model
    out = _dry_run(runs, tmp_path, REFRESH_STEPS="600")
    assert "float-refresh starts again" in out and (runs / "float-refresh.prev" / "last.pt").exists()
    assert f"--out {runs}/float-refresh --init {runs}/float/last.pt --steps 600" in out


@pytest.mark.skipif(not (ROOT / "assets" / "checkpoints" / "float.pt").exists(), reason="no committed float model")
def test_a_wider_model_pruned_both_methods_alike(tmp_path):
    """The default: each pruning method prunes the float model grown to 384 encoder units in
    float steps ($RUNS/NAME-float), then AAT holds its zeros; both methods get the same
    settings and PRUNE_TRAIN's manifests (the other runs keep the recipe's), and a finished
    float stage is left as it is. PRUNE_GROW_SCALE starts the grown units alive in both."""
    runs = tmp_path / "runs"
    _saved_run(runs, "aat-csp-float", 2400)
    out = _dry_run(runs, tmp_path, PRUNE_TRAIN="p/a.jsonl p/b.jsonl")
    assert "aat-csp-float is finished" in out and not _trains(out, f"{runs}/aat-csp-float")
    assert f"--out {runs}/aat-csp --init {runs}/aat-csp-float/last.pt --aat --steps 300" in out
    mag = [x for x in out.splitlines() if _trains(x, f"{runs}/aat-mag-float")]
    assert len(mag) == 1 and f"--init {runs}/float/last.pt --prune magnitude" in mag[0]
    assert "init_enc_hidden=384" in mag[0] and "prune_layers=enc=0.8286,enc.*.wh=0.92,pred=0.3,join=0.3" in mag[0]
    assert f"--out {runs}/aat-mag --init {runs}/aat-mag-float/last.pt --aat --steps 300" in out
    csp_aat = next(x for x in out.splitlines() if _trains(x, f"{runs}/aat-csp"))
    mag_aat = next(x for x in out.splitlines() if _trains(x, f"{runs}/aat-mag"))
    assert csp_aat.replace("aat-csp", "X").replace("csp", "M") == mag_aat.replace("aat-mag", "X").replace("magnitude", "M")
    for line in (mag[0], csp_aat, mag_aat):
        assert "--train p/a.jsonl p/b.jsonl --out" in line
    aat = next(x for x in out.splitlines() if _trains(x, f"{runs}/aat"))
    assert "--train data/corpus/train.jsonl" in aat and "p/a.jsonl" not in aat
    assert "init_grow_scale" not in out  # grown units at zero: the recipe as the shipped pair was made
    out = _dry_run(tmp_path / "runs2", tmp_path, PRUNE_GROW_SCALE="1")  # grown units as strong as the old
    floats = [x for x in out.splitlines() if "-float --init" in x]
    assert len(floats) == 2 and all("init_enc_hidden=384" in x and "init_grow_scale=1" in x for x in floats)


@pytest.mark.skipif(not (ROOT / "assets" / "checkpoints" / "float.pt").exists(), reason="no committed float model")
def test_a_changed_recipe_begins_again(tmp_path):
    """A finished run is kept only while its training options are the recipe's: with another
    PRUNE_LAYERS the pruning stages begin again (the old runs kept as NAME.prev), and a run from
    before the recipe stamps is taken as made by the recipe as it is now."""
    runs = tmp_path / "runs"
    _saved_run(runs, "aat-csp-float", 2400)  # no recipe.txt: made by today's recipe
    out = _dry_run(runs, tmp_path, MAG_STEPS="0")
    assert "aat-csp-float is finished" in out
    recipe = (runs / "aat-csp-float" / "recipe.txt").read_text()
    assert "prune_layers=enc=0.8286,enc.*.wh=0.92,pred=0.3,join=0.3" in recipe and "--prune csp" in recipe
    out = _dry_run(runs, tmp_path, MAG_STEPS="0")  # the same recipe again: still finished
    assert "aat-csp-float is finished" in out and not (runs / "aat-csp-float.prev").exists()

    split = "enc=0.83,enc.0.wh=0.92,pred=0.3,join=0.3"
    out = _dry_run(runs, tmp_path, MAG_STEPS="0", PRUNE_LAYERS=split)
    assert "aat-csp-float starts again" in out and "its options changed" in out
    assert (runs / "aat-csp-float.prev" / "last.pt").exists()
    assert _trains(out, f"{runs}/aat-csp-float") and f"prune_layers={split}" in out
    assert f"prune_layers={split}" in (runs / "aat-csp-float" / "recipe.txt").read_text()
    # the AAT stage's recipe holds the layers too
    assert f"prune_layers={split}" in (runs / "aat-csp" / "recipe.txt").read_text()

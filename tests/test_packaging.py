"""Packaging: every package is in the wheel, and the shipped models, demo audio and model
card travel as package data, found by ``app.assets`` the same way from a wheel as from this
checkout (installed in editable mode)."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python 3.11+")

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_is_listed():
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("app", "engine", "trainer")
             for p in (ROOT / top).rglob("__init__.py")}
    assert set(CONFIG["packages"]) == found | {"nnasr_assets"}
    assert CONFIG["package-dir"] == {"nnasr_assets": "assets"}


def test_every_shipped_model_and_demo_file_is_package_data():
    patterns = CONFIG["package-data"]["nnasr_assets"]
    shipped = [p.relative_to(ROOT / "assets").as_posix()
               for d in ("models", "audio") for p in (ROOT / "assets" / d).iterdir()]
    assert shipped and all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in shipped), shipped


def test_assets_are_found_as_package_data():
    from importlib.resources import files

    from app.assets import DEMO_AUDIO, MODELS_DIR

    assert MODELS_DIR.parent == Path(str(files("nnasr_assets")))
    default = (MODELS_DIR / "DEFAULT").read_text().strip()
    assert (MODELS_DIR / f"{default}.nnasr").is_file() and DEMO_AUDIO.is_file()


@pytest.mark.slow
def test_a_wheel_carries_the_models(tmp_path):
    """Builds a wheel from a copy of the sources (so the checkout gets no build files)."""
    pytest.importorskip("setuptools", reason="building a wheel without network needs setuptools")
    src = tmp_path / "src"
    for name in ("app", "engine", "trainer", "assets"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "checkpoints"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    names = zipfile.ZipFile(next((tmp_path / "dist").glob("*.whl"))).namelist()
    models = sorted(p.name for p in (ROOT / "assets" / "models").iterdir())
    assert all(f"nnasr_assets/models/{m}" in names for m in models)
    assert "nnasr_assets/audio/demo.flac" in names and "app/assets.py" in names
    assert not [n for n in names if n.endswith(".pt")]  # training checkpoints stay out


def test_the_readme_python_example_runs(monkeypatch, capsys):
    """README.md's Python API example, as a user pastes it (from the repository root), prints
    results and the stats summary its comment promises."""
    import re

    (code,) = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    if not (ROOT / "assets" / "models" / "baseline-ptq.nnasr").exists():
        pytest.skip("no shipped model")
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "True " in out  # a final result
    assert all(k in out for k in ("host_ms_p50", "modeled_nna_ms_p95", "rtf"))

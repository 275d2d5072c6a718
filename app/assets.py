"""Where the shipped assets are: the shipped models (``models/``), the demo audio
(``audio/``) and the model card, found as the package data of ``nnasr_assets`` by
:mod:`importlib.resources`, the same way from a wheel and from a checkout (which
``make run`` and ``make test`` install in editable mode: there it is ``assets/``)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

ASSETS_DIR = Path(str(files("nnasr_assets")))
MODELS_DIR = ASSETS_DIR / "models"
AUDIO_DIR = ASSETS_DIR / "audio"
DEMO_AUDIO = AUDIO_DIR / "demo.flac"

"""The engine never imports torch: load a model and decode with torch made unimportable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked for this test")
            return None

    sys.meta_path.insert(0, NoTorch())
    sys.path[:0] = [{root!r}, {tests!r}]
    import engine
    import engine.audio, engine.frontend, engine.model, engine.network, engine.quantize
    import engine.recognizer, engine.nna.cost, engine.nna.kernels, engine.nna.lut
    from helpers import make_random_model, speechlike

    p = make_random_model({out!r}, hidden=16, layers=2, sparsity=0.5)
    m = engine.load_model(p)
    s = engine.Recognizer(m, chunk_ms=160).create_stream()
    s.accept_waveform(speechlike(1.0), 16000)
    s.input_finished()
    float_run = engine.Recognizer(m, mode="float").create_stream()
    float_run.accept_waveform(speechlike(0.5), 16000)
    assert not [k for k in sys.modules if k == "torch" or k.startswith("torch.")]
    print("OK", len(s.stats.chunks))
    """
)


def test_engine_runs_without_torch(tmp_path):
    code = SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"), out=str(tmp_path / "m.nnasr"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("OK 7")

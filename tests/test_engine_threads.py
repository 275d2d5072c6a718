"""BLAS threads (engine/threads.py): one by default where the engine starts, NNASR_THREADS
or --threads to change it, 0 for the library's default. Each case runs in a fresh process
(a thread limit is per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from helpers import make_random_model

from app.cli import main

CHILD = r"""
import json, sys
import engine
from threadpoolctl import threadpool_info
before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
kw = json.loads(sys.argv[2])
engine.Recognizer(engine.load_model(sys.argv[1]), **kw)
after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
print(json.dumps({"before": before, "after": after}))
"""


def _blas(model, env_threads=None, **kw) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NNASR_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if env_threads is not None:
        env["NNASR_THREADS"] = env_threads
    out = subprocess.run([sys.executable, "-c", CHILD, str(model), json.dumps(kw)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_random_model(tmp_path_factory.mktemp("threads") / "m.nnasr")


def test_the_engine_runs_blas_on_one_thread_by_default(model):
    r = _blas(model)
    if not r["before"]:
        pytest.skip("numpy's BLAS is not visible to threadpoolctl")
    assert r["after"] and all(n == 1 for n in r["after"])


def test_threads_from_the_environment_and_the_argument(model):
    r = _blas(model, env_threads="2")
    if not r["before"]:
        pytest.skip("numpy's BLAS is not visible to threadpoolctl")
    assert all(n == 2 for n in r["after"])
    assert all(n == 1 for n in _blas(model, env_threads="2", threads=1)["after"])
    r = _blas(model, threads=0)  # the library's own default, untouched
    assert r["after"] == r["before"]


def test_a_bad_thread_count_is_one_line(model, capsys, tmp_path):
    wav = tmp_path / "x.wav"
    sf.write(wav, np.zeros(1600, np.float32), 16000)
    rc = main(["transcribe", "-q", "--model", str(model), "--threads", "-1", str(wav)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "threads must be >= 0" in err

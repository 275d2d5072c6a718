"""`nnasr train` under torchrun (DistributedDataParallel, gloo on the CPU): the README's
multi-process command trains, reports once, resumes, and every rank stops at the same step."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchaudio")

from helpers import make_tiny_corpus  # noqa: E402

TINY = ["enc_hidden=32", "enc_layers=2", "pred_hidden=32", "pred_embed=16", "joiner_dim=32",
        "specaug=false", "warmup=5", "log_every=2", "threads=1"]
SENTENCES = ["turn on the light", "what time is it", "play some music", "stop", "yes please", "go home"]


def _torchrun(*args, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--standalone", "-m", "app", "train", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("corpus"), SENTENCES)


def test_torchrun_trains_reports_once_and_resumes(corpus, tmp_path):
    from trainer.checkpoint import load_checkpoint

    out = tmp_path / "run"
    # max_frames small enough for several batches: each rank takes every second one
    common = ["--data", str(corpus), "--out", str(out), "--no-progress"]
    r = _torchrun(*common, "--steps", "6", "--set", *TINY, "max_frames=400", "eval_every=6")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("stopped at step 6") == 1, r.stdout  # one report, from rank 0
    assert "dev WER" in r.stdout
    assert int(load_checkpoint(out / "last.pt")["step"]) == 6
    r = _torchrun(*common, "--resume", "--steps", "10")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "resuming from" in r.stdout and r.stdout.count("stopped at step 10") == 1, r.stdout
    assert int(load_checkpoint(out / "last.pt")["step"]) == 10


def test_torchrun_without_ctc_loss_and_with_too_little_data(corpus, tmp_path):
    """ctc_weight=0 leaves the CTC head without gradients (DDP must expect unused
    parameters); one batch for two ranks is refused in one line instead of hanging."""
    r = _torchrun("--data", str(corpus), "--out", str(tmp_path / "a"), "--steps", "4", "--no-progress",
                  "--set", *TINY, "max_frames=400", "ctc_weight=0", "eval_every=0")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("stopped at step 4") == 1
    r = _torchrun("--data", str(corpus), "--out", str(tmp_path / "b"), "--steps", "4", "--no-progress",
                  "--set", *TINY, "max_frames=100000", timeout=200)
    assert r.returncode != 0
    assert "fewer than the 2 ranks" in r.stderr


def _agree(rank: int, port: int, wants: list[bool], out) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    from trainer.train import Trainer

    t = Trainer.__new__(Trainer)  # only the stop agreement: no data, no model
    t.world, t.device = 2, torch.device("cpu")
    out.put((rank, t._all_agree_to_stop(wants[rank])))
    torch.distributed.destroy_process_group()


@pytest.mark.parametrize("wants", [[False, True], [False, False]])
def test_every_rank_stops_when_one_wants_to(wants):
    """One rank's SIGTERM or clock says stop: both ranks leave the loop at the same step."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=_agree, args=(r, port, wants, q)) for r in range(2)]
    for p in ps:
        p.start()
    got = dict(q.get(timeout=120) for _ in ps)
    for p in ps:
        p.join(30)
    assert got == {0: any(wants), 1: any(wants)}

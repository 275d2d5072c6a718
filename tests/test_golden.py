"""The engine's outputs on the shipped models are bit-identical to the recorded ones
(``tests/golden.py``: what is recorded, and how to re-record after a change that is meant
to change the arithmetic). The default run checks the cost model, and one clip op by op
on every model; ``-m slow`` checks every clip, the recognizer's greedy and beam search,
the float reference, the export and the AAT forward."""

from __future__ import annotations

import json

import golden
import pytest

RECORDED = json.loads(golden.GOLDEN.read_text())
ENGINE = RECORDED["engine"]
RERECORD = ("re-record with `python tests/golden.py --write` only if this change is meant to "
            "change the engine's outputs")


@pytest.fixture(scope="module")
def models():
    from engine.model import load_model

    return {n: load_model(golden.ROOT / "assets" / "models" / f"{n}.nnasr") for n in golden.MODELS}


@pytest.fixture(scope="module")
def clips():
    return golden.clips()


@pytest.mark.parametrize("name", golden.MODELS)
def test_cost_model_unchanged(models, name):
    want = ENGINE[name]["cost"]
    counts = ENGINE[name]["clips"]["demo"]["greedy"]["counts"]
    assert golden.cost_record(models[name], counts) == want, RERECORD


@pytest.mark.parametrize("name", golden.MODELS)
def test_network_outputs_unchanged_op_by_op(models, clips, name):
    got = golden.network_run(models[name], clips["demo-head"])
    assert got == ENGINE[name]["clips"]["demo-head"]["network"], RERECORD


@pytest.mark.slow
@pytest.mark.parametrize("name", golden.MODELS)
def test_every_clip_unchanged(models, clips, name):
    for clip, want in ENGINE[name]["clips"].items():
        m = models[name]
        assert golden.network_run(m, clips[clip]) == want["network"], (clip, RERECORD)
        if "float" in want:
            f = golden.network_run(m, clips[clip], mode="float", record=golden.float_sample)
            for k, v in want["float"].items():
                assert f[k] == v if k == "greedy_tokens" else golden.float_close(f[k], v), (clip, k, RERECORD)


@pytest.mark.slow
@pytest.mark.parametrize("name", golden.MODELS)
def test_recognizer_tokens_unchanged(models, clips, name):
    """Greedy and beam search through the recognizer (chunked streaming, endpointing): a
    change to the recognizer's own decisions (e.g. what it gates as non-speech) changes
    these on purpose; the op-by-op checks above must still hold."""
    for clip, want in ENGINE[name]["clips"].items():
        assert golden.recognizer_run(models[name], clips[clip], 1) == want["greedy"], (clip, RERECORD)
        if "beam4" in want:
            assert golden.recognizer_run(models[name], clips[clip], 4) == want["beam4"], (clip, RERECORD)


@pytest.mark.slow
def test_export_and_aat_forward_unchanged():
    pytest.importorskip("torch", reason="the trainer needs the [train] extra")
    assert golden.trainer_record() == RECORDED["trainer"], RERECORD

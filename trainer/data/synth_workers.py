"""The workers of ``nnasr synth``: synthesize a batch of utterance specs, process, validate
and write each clip atomically (one process per core; festival runs a batch per process)."""

from __future__ import annotations

import atexit
import os
import shutil
from concurrent.futures import Future

import numpy as np

from . import audio as A
from .nonspeech import make_nonspeech
from .voices import SynthError, Voice, make_tmpdir, synth_festival_batch, synth_one

_TMPDIR: str | None = None


def _tmpdir() -> str:
    global _TMPDIR
    if _TMPDIR is None or not os.path.isdir(_TMPDIR):
        _TMPDIR = make_tmpdir()
        atexit.register(shutil.rmtree, _TMPDIR, True)
    return _TMPDIR


# This worker's latest finished speech clips: the other voices that babble is made of.
_BABBLE: list[np.ndarray] = []


def _nonspeech_clip(t: dict) -> np.ndarray:
    aug = t["aug"]
    x = make_nonspeech(t["voice"]["name"], int(aug.get("noise_seed", 0)), float(aug["nonspeech_s"]))
    rng = np.random.default_rng(int(aug.get("noise_seed", 0)) + 1)
    if aug.get("channel") == "mic" and len(x) > 1:
        x = A.mic_channel(x, rng)
    return np.clip(x, -0.9, 0.9).astype(np.float32)


def _finish(t: dict, res) -> dict:
    if t["voice"]["engine"] == "nonspeech":
        x = _nonspeech_clip(t)
        A.write_wav_atomic(t["path"], x)
        return {"key": t["key"], "duration": len(x) / A.SAMPLE_RATE}
    if isinstance(res, Exception):
        return {"key": t["key"], "drop": "tts_error", "detail": str(res)[:200]}
    raw, sr = res
    reason = A.check_raw(raw, sr)
    if reason:
        return {"key": t["key"], "drop": reason}
    babble = None
    if "babble_snr_db" in t["aug"] and _BABBLE:
        k = min(len(_BABBLE), 2 + int(t["aug"].get("noise_seed", 0)) % 3)
        babble = _BABBLE[-k:]
    x = A.process(raw, sr, t["aug"], babble=babble)
    if "babble_snr_db" not in t["aug"]:  # speech without babble: babble for the next clips
        _BABBLE.append(x)
        del _BABBLE[:-6]
    reason = A.check_final(x, t["min_duration"], t["max_duration"])
    if reason:
        return {"key": t["key"], "drop": reason, "detail": f"{len(x) / A.SAMPLE_RATE:.2f}s"}
    A.write_wav_atomic(t["path"], x)
    return {"key": t["key"], "duration": len(x) / A.SAMPLE_RATE}


def synth_tasks(tasks: list[dict]) -> list[dict]:
    """Worker entry point: synthesize, process, validate and write a batch."""
    tmp = _tmpdir()
    out: list[dict] = []
    fest = [t for t in tasks if t["voice"]["engine"] == "festival"]
    rest = [t for t in tasks if t["voice"]["engine"] not in ("festival", "nonspeech")]
    out += [_safe_finish(t, None) for t in tasks if t["voice"]["engine"] == "nonspeech"]
    if fest:
        res = synth_festival_batch(
            [(Voice(**t["voice"]), t["text"], t["rate"], t["pitch"]) for t in fest], tmp
        )
        for t, r in zip(fest, res, strict=True):
            out.append(_safe_finish(t, r))
    for t in rest:
        try:
            r = synth_one(Voice(**t["voice"]), t["text"], t["rate"], t["pitch"], tmp)
        except SynthError as e:
            r = e
        out.append(_safe_finish(t, r))
    return out


def _safe_finish(t: dict, r) -> dict:
    try:
        return _finish(t, r)
    except Exception as e:  # a bad clip must not take the batch down
        return {"key": t["key"], "drop": "processing_error", "detail": repr(e)[:200]}


class _InlineExecutor:
    """Runs tasks in the calling process (``--workers 1``)."""

    def submit(self, fn, *args) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*args))
        except Exception as e:  # noqa: BLE001 - Ctrl-C stops the run at once, as with workers
            f.set_exception(e)
        return f

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass

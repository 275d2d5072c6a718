"""Issue 10, faults: corpus synthesis killed (SIGKILL) mid-run and rerun completes without
duplicates or lost clips; microphone start failures are one sentence. (Training killed
and resumed: tests/test_trainer.py::test_resume_after_kill_continues; an unplugged or
overflowing microphone in the app: tests/test_app_live.py, tests/test_app_sources.py.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _have_wordnet() -> bool:
    try:
        from trainer.data.sentences import find_wordnet_dir
    except ImportError:
        return False
    return find_wordnet_dir() is not None


def _synth_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "app", "synth", "--out", str(out), "--hours", "0.03",
            "--dev-hours", "0.003", "--test-hours", "0.003", "--workers", "1", "--seed", "5",
            "--voices", "espeak-ng", "--vocab-size", "40", "--no-progress"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_synth_killed_mid_run_then_rerun_completes_without_duplicates(tmp_path):
    if not _have_wordnet():
        pytest.skip("wordnet-base not installed (apt-get install wordnet-base)")
    import soundfile as sf

    from engine.audio import load_audio

    out = tmp_path / "corpus"
    # the audio lives in the default cache (NNASR_CACHE), out/audio links there
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NNASR_CACHE": str(tmp_path / "cache")}
    p = subprocess.Popen(_synth_cmd(out), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t0 = time.time()
    try:  # kill it once it has written some training clips (dev and test come first)
        while time.time() - t0 < 120 and p.poll() is None:
            if len(list((out / "audio" / "train").rglob("*.wav"))) >= 4:
                break
            time.sleep(0.02)
        assert p.poll() is None, "synthesis finished before it could be killed"
        p.send_signal(signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
    made_before = {str(q.relative_to(out)) for q in (out / "audio").rglob("*.wav")}
    assert len(made_before) >= 4 and not (out / "corpus.json").exists()

    r = subprocess.run(_synth_cmd(out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((out / "corpus.json").read_text())
    listed: dict[str, dict] = {}
    for split in ("train", "dev", "test"):
        recs = _lines(out / f"{split}.jsonl")
        paths = [x["audio_filepath"] for x in recs]
        texts = [x["text"] for x in recs]
        assert len(paths) == len(set(paths)), f"{split}: duplicate clips"
        spoken = [t for t in texts if t]  # non-speech clips have empty transcripts
        assert len(spoken) == len(set(spoken)), f"{split}: duplicate texts"
        assert sum(x["duration"] for x in recs) >= {"train": 0.03, "dev": 0.003, "test": 0.003}[split] * 3600
        for x in recs:
            x = dict(x, split=split)
            listed[x["audio_filepath"]] = x
    # every listed clip decodes, with the duration its manifest line says
    for rel, x in listed.items():
        audio = load_audio(out / rel)
        assert np.all(np.isfinite(audio)) and abs(len(audio) / 16000 - x["duration"]) < 1e-3
        assert sf.info(str(out / rel)).subtype == "PCM_16"
    # no finished work lost: every clip the killed run wrote is in a manifest, and reused
    on_disk = {str(q.relative_to(out)) for q in (out / "audio").rglob("*.wav")}
    assert made_before <= on_disk == set(listed)
    made_again = sum(summary["splits"][s]["made_this_run"] for s in ("train", "dev", "test"))
    assert made_again <= len(listed) - len(made_before)
    # splits stay disjoint in text
    by_split = {s: {x["text"] for x in listed.values() if x["split"] == s and x["text"]}
                for s in ("train", "dev", "test")}
    assert by_split["train"].isdisjoint(by_split["dev"]) and by_split["train"].isdisjoint(by_split["test"])
    # a third run has nothing left to do
    r = subprocess.run(_synth_cmd(out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0
    again = json.loads((out / "corpus.json").read_text())
    assert all(again["splits"][s]["made_this_run"] == 0 for s in ("train", "dev", "test"))


# --- microphone -------------------------------------------------------------------------
class _FakeSD:
    """A sounddevice stand-in whose device opens or starts badly."""

    class PortAudioError(Exception):
        pass

    def __init__(self, open_fails=(), start_fails=False):
        self.open_fails = set(open_fails)
        self.start_fails = start_fails
        self.tried: list[int] = []

    def query_devices(self, device=None, kind=None):
        return {"name": "Fake USB Mic", "default_samplerate": 44100, "max_input_channels": 1}

    def InputStream(self, samplerate, **kw):  # noqa: N802 (sounddevice's name)
        self.tried.append(samplerate)
        if samplerate in self.open_fails:
            raise self.PortAudioError(f"Invalid sample rate [PaErrorCode -9997]\n(at {samplerate})")
        sd = self

        class _Stream:
            active = False

            def start(self):
                if sd.start_fails:
                    raise sd.PortAudioError("Device unavailable [PaErrorCode -9985]")
                self.active = True

            def abort(self):
                self.active = False

            def close(self):
                pass

        return _Stream()


def test_microphone_open_and_start_failures_are_one_sentence(monkeypatch):
    from app import audio_sources as S

    fake = _FakeSD(open_fails={16000})
    monkeypatch.setattr(S, "_sounddevice", lambda: fake)
    mic = S.MicrophoneSource(sample_rate=16000)
    mic.start()  # 16 kHz refused: falls back to the device's own rate
    assert fake.tried == [16000, 44100] and mic.sample_rate == 44100 and mic.active
    mic.stop()
    assert mic.error is None  # a stop we asked for is not an error

    fake = _FakeSD(open_fails={16000, 44100})
    monkeypatch.setattr(S, "_sounddevice", lambda: fake)
    with pytest.raises(S.AudioSourceError) as e:
        S.MicrophoneSource().start()
    assert str(e.value).startswith("The microphone could not be opened (Invalid sample rate")
    assert "\n" not in str(e.value)

    fake = _FakeSD(start_fails=True)
    monkeypatch.setattr(S, "_sounddevice", lambda: fake)
    with pytest.raises(S.AudioSourceError, match=r"^The microphone could not be started \(Device unavailable"):
        S.MicrophoneSource().start()


def test_live_file_input_refuses_a_pipe(tmp_path):
    """`nnasr live --input` rereads its file (looping, probing): a pipe is refused with a
    sentence instead of hanging (`nnasr transcribe` reads pipes)."""
    import threading

    import soundfile as sf
    from helpers import speechlike

    from app.audio_sources import AudioSourceError, FileSource

    wav = tmp_path / "a.wav"
    sf.write(wav, speechlike(0.5), 16000)
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)

    def feed():
        try:
            with open(fifo, "wb") as f:
                f.write(wav.read_bytes())
        except BrokenPipeError:
            pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    with pytest.raises(AudioSourceError, match="not a regular file"):
        FileSource(fifo)
    t.join(5)


def test_live_file_that_turns_corrupt_half_way(tmp_path):
    """A FLAC whose second half is garbage: the file source delivers the good part, then
    stops with a one-line error (the app shows it and keeps running, as for an unplugged
    microphone: tests/test_app_live.py)."""
    import io

    import soundfile as sf
    from helpers import speechlike

    from app.audio_sources import FileSource

    buf = io.BytesIO()
    sf.write(buf, speechlike(20.0), 16000, format="FLAC")
    data = buf.getvalue()
    path = tmp_path / "half.flac"
    path.write_bytes(data[: len(data) // 2] + np.random.default_rng(0).bytes(len(data) // 2))
    src = FileSource(path, speed=0, lossless=True)
    src.start()
    got, t0 = 0, time.monotonic()
    while not src.exhausted and time.monotonic() - t0 < 10:
        b = src.read(0.05)
        got += 0 if b is None else len(b)
    assert src.exhausted and got > 16000
    assert src.error and "truncated or corrupt" in src.error and "\n" not in src.error

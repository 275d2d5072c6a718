"""Audio sources: bounded queues, drop counting, pacing, looping, microphone faults."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from helpers import speechlike

from app.audio_sources import (
    AudioSourceError,
    FakeSource,
    FileSource,
    MicrophoneSource,
    list_input_devices,
)


def _drain(src, timeout=5.0):
    blocks, t0 = [], time.monotonic()
    while not src.exhausted and time.monotonic() - t0 < timeout:
        b = src.read(0.05)
        if b is not None:
            blocks.append(b)
    return blocks


def test_fake_source_lossless_delivers_everything_in_order():
    x = speechlike(1.23)
    src = FakeSource(x, 16000, block_ms=100)
    src.start()
    blocks = _drain(src)
    src.stop()
    assert np.array_equal(np.concatenate(blocks), x)
    assert all(len(b) == 1600 for b in blocks[:-1])
    assert src.dropped_blocks == 0


def test_queue_is_bounded_and_drops_are_counted():
    x = speechlike(3.0)
    src = FakeSource(x, 16000, block_ms=100, max_queue_s=0.5, lossless=False)  # 5 blocks
    src.start()
    src.finished.wait(5)
    assert src.queue.qsize() == 5
    assert src.dropped_blocks == 25
    assert src.dropped_seconds == pytest.approx(2.5)
    assert (src.queue.qsize() * 1600 + src.dropped_samples) == len(x)


def test_file_source_paces_in_real_time_and_loops(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, speechlike(0.5, 8000), 8000)
    src = FileSource(path, speed=5.0, loop=True)  # 0.1 s of wall time per pass
    assert src.sample_rate == 8000 and src.duration_s == pytest.approx(0.5)
    t0 = time.monotonic()
    src.start()
    got = 0
    while time.monotonic() - t0 < 0.35:
        b = src.read(0.05)
        got += 0 if b is None else len(b)
    src.stop()
    assert src.looped >= 2
    assert 0.2 * 8000 * 5 <= got <= 0.5 * 8000 * 5  # paced: about 0.35 s x 5 of audio


def test_file_source_pause_holds_the_audio(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, speechlike(2.0), 16000)
    src = FileSource(path, speed=10.0)
    src.set_paused(True)
    src.start()
    time.sleep(0.3)
    assert src.queue.empty()
    src.set_paused(False)
    assert len(_drain(src)) == 20
    src.stop()


def test_file_source_bad_files(tmp_path):
    with pytest.raises(AudioSourceError, match="no such file"):
        FileSource(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioSourceError, match=f"{bad}: not a readable audio file"):
        FileSource(bad)


def test_fake_source_unplugged_mid_stream():
    src = FakeSource(speechlike(3.0), 16000, fail_after_s=1.0)
    src.start()
    blocks = _drain(src)
    assert sum(len(b) for b in blocks) == 16000
    assert src.error and "unplugged" in src.error


def test_no_microphone_is_one_sentence(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as if PortAudio were missing
    with pytest.raises(AudioSourceError, match="PortAudio"):
        MicrophoneSource().start()
    with pytest.raises(AudioSourceError, match="PortAudio"):
        list_input_devices()


def test_microphone_without_device(monkeypatch):
    import sounddevice as sd

    def no_device(*a, **k):
        raise sd.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sd, "query_devices", no_device)
    with pytest.raises(AudioSourceError, match="^No microphone found"):
        MicrophoneSource().start()


def test_microphone_callback_counts_overflow_and_drops():
    mic = MicrophoneSource(block_ms=100, max_queue_s=0.3)  # 3 blocks
    ok = SimpleNamespace(input_overflow=False)
    over = SimpleNamespace(input_overflow=True)
    block = np.ones((1600, 1), np.float32)
    for i in range(5):
        mic._callback(block, 1600, None, over if i == 0 else ok)
    block[:] = 7  # the queue holds copies, not the driver's buffer
    assert mic.overflows == 1
    assert mic.queue.qsize() == 3 and mic.dropped_blocks == 2
    assert float(mic.read()[0]) == 1.0
    mic._finished()  # the stream stopped without stop(): unplugged
    assert mic.finished.is_set() and "unplugged" in mic.error

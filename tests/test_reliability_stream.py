"""Issue 10, long runs: what one engine stream keeps grows by a few bytes per chunk, and not
at all with max_finals; the stats API reads as before (a list of ChunkStat)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from helpers import make_random_model, speechlike

import engine
from engine.recognizer import ChunkLog, ChunkStat, StreamStats


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream-models")
    # tokens on speech-like bursts, none on silence: endpoints cut utterances
    return engine.load_model(make_random_model(d / "m.nnasr", seed=1, blank_bias=0.5, enc_gain=2.0))


def _audio(seconds: float, seed: int = 0) -> np.ndarray:
    parts = []
    for k in range(int(seconds // 4)):
        parts += [speechlike(2.5, seed=seed + k), np.zeros(24000, np.float32)]
    return np.concatenate(parts)


def test_chunk_log_reads_like_a_list():
    cs = [ChunkStat(i, 160.0, 1.0 + i, 0.5 * i, 0.16 * (i + 1)) for i in range(10)]
    log = ChunkLog(cs)
    assert len(log) == 10 and log == cs and list(log) == cs
    assert log[3] == cs[3] and log[-1] == cs[-1] and log[2:5] == cs[2:5] and log[8:] == cs[8:]
    assert [c.index for c in log[::3]] == [0, 3, 6, 9]
    with pytest.raises(IndexError):
        log[10]
    assert np.array_equal(log.column("host_ms"), [c.host_ms for c in cs])
    assert log.audio_ms_total == sum(c.audio_ms for c in cs)
    s = StreamStats(chunks=cs)  # a list is still accepted
    assert isinstance(s.chunks, ChunkLog) and s.audio_seconds == pytest.approx(1.6)
    assert s.summary()["chunks"] == 10
    empty = StreamStats()
    assert empty.rtf == 0.0 and empty.summary()["host_ms_p95"] == 0.0 and len(empty.chunks) == 0


def test_chunk_log_is_compact():
    """40 bytes per chunk in 4096-chunk blocks (a ChunkStat object per chunk took ~225)."""
    tracemalloc.start()
    try:
        log = ChunkLog()
        before, _ = tracemalloc.get_traced_memory()
        for i in range(3 * ChunkLog.BLOCK):
            log.add(i, 160.0, 1.5, 0.7, 0.16 * i)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_chunk = (after - before) / len(log)
    assert per_chunk < 48, per_chunk
    assert log.nbytes == 3 * ChunkLog.BLOCK * 40


def test_stream_state_per_chunk_is_small(model):
    """After warm-up, feeding a stream more audio adds only its per-chunk stats (and, with
    max_finals, no final results beyond the kept ones)."""
    rec = engine.Recognizer(model, max_finals=2)
    s = rec.create_stream()
    audio = _audio(60.0)
    for i in range(0, len(audio), 1600):  # warm-up minute
        s.accept_waveform(audio[i : i + 1600], 16000)
        list(s.results())
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        n0 = len(s.stats.chunks)
        for _ in range(3):
            for i in range(0, len(audio), 1600):
                s.accept_waveform(audio[i : i + 1600], 16000)
                list(s.results())
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    chunks = len(s.stats.chunks) - n0
    assert chunks > 1000 and len(s.finals) == 2 and s._n_finals > 20
    assert (after - before) / chunks < 200, f"{(after - before) / chunks:.0f} bytes per chunk"


def test_max_finals_keeps_the_newest_and_delivers_all(model):
    audio = _audio(40.0)
    out = {}
    for keep in (None, 3, 0):
        s = engine.Recognizer(model, max_finals=keep).create_stream()
        got = []
        for i in range(0, len(audio), 2000):
            s.accept_waveform(audio[i : i + 2000], 16000)
            got += [r for r in s.results() if r.is_final]
        s.input_finished()
        got += [r for r in s.results() if r.is_final]
        out[keep] = (got, s)
    all_finals, s_all = out[None]
    assert len(all_finals) >= 6 and s_all.finals == all_finals
    for keep in (3, 0):
        got, s = out[keep]
        assert [r.text for r in got] == [r.text for r in all_finals]  # every final delivered
        assert [r.segment for r in got] == list(range(len(all_finals)))
        assert s.finals == all_finals[len(all_finals) - keep:] if keep else s.finals == []
        assert len(s.stats.upl_ms) == len(s_all.stats.upl_ms)  # one per final, kept or not
    with pytest.raises(ValueError, match="max_finals"):
        engine.Recognizer(model, max_finals=-1)


def test_unread_partials_are_superseded(model):
    """A reader that never calls results() does not pile up partials: the queue holds the
    unread finals and at most one partial per segment (the latest)."""
    s = engine.Recognizer(model).create_stream()
    audio = _audio(40.0)
    for i in range(0, len(audio), 1600):
        s.accept_waveform(audio[i : i + 1600], 16000)
    pending = list(s._out)
    finals = [r for r in pending if r.is_final]
    assert len(finals) == len(s.finals) >= 6
    partial_segments = [r.segment for r in pending if not r.is_final]
    assert len(partial_segments) == len(set(partial_segments)) <= len(finals) + 1
    # and a reader that drains often still sees partials before each final
    s2 = engine.Recognizer(model).create_stream()
    kinds = []
    for i in range(0, len(audio), 1600):
        s2.accept_waveform(audio[i : i + 1600], 16000)
        kinds += [r.is_final for r in s2.results()]
    assert kinds.count(False) > kinds.count(True) >= 6

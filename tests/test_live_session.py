"""The live loop without a UI (app/live_session.py), on a shipped model and the demo audio
between stretches of silence and noise; and the live app's "listening" while nobody speaks."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

import engine
from app import live_session
from app.audio_sources import FakeSource
from app.live_session import LiveSession, TranscriptFile
from app.models import ASSETS_DIR, DEMO_AUDIO

MODELS = sorted((ASSETS_DIR / "models").glob("*.nnasr"))
pytestmark = pytest.mark.skipif(not MODELS, reason="no shipped model in assets/models")


def _audio() -> np.ndarray:
    """3 s of quiet white noise, the demo, 3 s of the same noise."""
    demo = engine.load_audio(DEMO_AUDIO, 16000)
    x = np.concatenate([np.zeros(3 * 16000, np.float32), demo, np.zeros(3 * 16000, np.float32)])
    noise = np.random.default_rng(0).standard_normal(len(x)).astype(np.float32) * 0.003  # -50 dBFS
    return x + noise


def _run(session: LiveSession, until, timeout: float = 60.0) -> list:
    updates = []
    t0 = time.monotonic()
    for u in session.run(lambda: until(updates) or time.monotonic() - t0 > timeout):
        updates.append(u)
    return updates


def test_session_yields_text_only_for_speech(tmp_path):
    x = _audio()
    src = FakeSource(x, 16000)
    session = LiveSession(MODELS[:1], source=src, transcript=TranscriptFile(tmp_path / "t.txt"))
    ended = lambda us: any(u.source and u.source[0] == "ended" for u in us)  # noqa: E731
    updates = _run(session, ended)
    assert ended(updates) and not src._thread.is_alive()  # the source is stopped at the end
    assert updates[0].facts is not None and updates[0].facts.name == MODELS[0].stem
    finals = [f for u in updates for f in u.finals]
    assert finals and len(" ".join(finals).split()) >= 8
    assert (tmp_path / "t.txt").read_text().count("\n") == len(finals)
    # listening (nobody speaks) while the noise runs, not while the demo is spoken
    heard, chunks = [], 0
    for u in updates:
        chunks += len(u.host_ms)
        if u.listening is not None:
            heard.append((chunks * 0.16, u.listening))
    assert all(listening for t, listening in heard if t < 2.5)
    assert any(not listening for t, listening in heard if 3.5 < t < 11.0)
    assert heard[-1][1] is True
    # no text before the speech starts
    chunks = 0
    for u in updates:
        chunks += len(u.host_ms)
        if chunks * 0.16 < 3.0:
            assert not u.finals and not u.partial
    assert all(v > 0 for u in updates for v in u.host_ms)
    assert sum(len(u.host_ms) for u in updates) == pytest.approx(len(x) / 16000 / 0.16, abs=2)


def test_session_reports_the_hotwords_it_heard(tmp_path):
    """With hotwords, each final's completed phrases reach the UI and the transcript file."""
    from app import models as M

    demo = engine.load_audio(DEMO_AUDIO, 16000)
    src = FakeSource(np.concatenate([demo, np.zeros(16000, np.float32)]), 16000)
    session = LiveSession([M.resolve(None, [ASSETS_DIR / "models"])], source=src, beam=4,
                          transcript=TranscriptFile(tmp_path / "t.txt"),
                          recognizer_options={"hotwords": ["turn on the lights", "play some music"]})
    updates = _run(session, lambda us: any(u.source and u.source[0] == "ended" for u in us))
    heard = [h for u in updates for h in u.hotwords]
    assert "turn on the lights" in heard and "play some music" in heard
    assert "[hotwords: turn on the lights" in (tmp_path / "t.txt").read_text()


def test_session_switches_model_and_source():
    if len(MODELS) < 2:
        pytest.skip("needs two shipped models")
    first = FakeSource(_audio(), 16000, speed=4.0, loop=True, name="first input")
    second = FakeSource(_audio(), 16000, speed=4.0, loop=True, name="second input")
    session = LiveSession(MODELS[:2], source=first)
    steps = {"model": False, "source": False}

    def until(us):
        names = [u.facts.name for u in us if u.facts is not None]
        if len(names) == 1 and not steps["model"] and sum(len(u.host_ms) for u in us) > 5:
            steps["model"] = True
            session.switch_model(1)
        if len(names) == 2 and not steps["source"]:
            steps["source"] = True
            session.switch_source(lambda: second)
        return any(u.source and u.source[1] == "second input" for u in us) and \
            sum(len(u.host_ms) for u in us[-5:]) > 0 and us[-1].source is None

    updates = _run(session, until)
    names = [u.facts.name for u in updates if u.facts is not None]
    assert names == [MODELS[0].stem, MODELS[1].stem]
    assert any(u.toast and u.toast[2] == "switched" for u in updates)
    assert session.model_index == 1 and session.source is second
    assert not first._thread.is_alive()  # the old input was stopped


def test_session_recycles_its_engine_stream(monkeypatch):
    """Bounded memory: the engine stream keeps no transcript (max_finals=0) and is replaced
    at the first final past RECYCLE_CHUNKS chunks (made small here)."""
    monkeypatch.setattr(live_session, "RECYCLE_CHUNKS", 30)
    session = LiveSession(MODELS[:1], source=FakeSource(_audio(), 16000, loop=True))
    made = []
    open_model = session.open_model

    def counting(index):
        rec, facts = open_model(index)
        create = rec.create_stream

        def create_stream():
            made.append(create())
            return made[-1]

        rec.create_stream = create_stream
        return rec, facts

    session.open_model = counting
    updates = _run(session, lambda us: len([f for u in us for f in u.finals]) >= 3)
    assert len([f for u in updates for f in u.finals]) >= 3
    assert len(made) >= 3  # recycled after each final past 30 chunks (and one at the end)
    assert all(s.finals == [] for s in made)
    assert all(len(s.stats.chunks) < 30 + 150 for s in made)


def test_live_app_shows_listening_while_nobody_speaks(tmp_path):
    from app.live import LiveApp

    x = _audio()
    src = FakeSource(x, 16000, speed=2.0)
    app = LiveApp(MODELS[:1], source=src, transcript_path=tmp_path / "t.txt", demo_audio=None)

    async def run():
        async with app.run_test(size=(120, 36)) as pilot:
            t0 = time.monotonic()
            while not app.chunks_seen:
                assert time.monotonic() - t0 < 20
                await pilot.pause(0.05)
            assert app.listening and "listening…" in str(app.query_one("#partial").render())
            while app.listening or not app.chunks_seen * 0.16 > 3.5:
                assert time.monotonic() - t0 < 30
                await pilot.pause(0.05)
            assert "listening" not in str(app.query_one("#partial").render())
            while app.state != "ended":
                assert time.monotonic() - t0 < 40
                await pilot.pause(0.05)
            assert app.finals
            await pilot.press("q")

    asyncio.run(run())


def test_session_says_when_the_speech_is_too_quiet():
    """The demo 30 dB down (its speech blocks at a median -45 dBFS) gets one notice naming its
    level and a --gain; the notice is cleared when loud speech follows. As it is, or that quiet
    with the --gain the notice asks for, or without the speech gate (every block would count
    as speech, silence too), it gets none."""
    demo = engine.load_audio(DEMO_AUDIO, 16000)
    ended = lambda us: any(u.source and u.source[0] == "ended" for u in us)  # noqa: E731

    def notices(x, **options):
        s = LiveSession(MODELS[:1], source=FakeSource(x, 16000), recognizer_options=options)
        return [u.notice for u in _run(s, ended) if u.notice is not None]

    quiet = demo * np.float32(10 ** (-30 / 20))
    said = notices(quiet)
    assert len(said) == 1 and "dBFS, too quiet" in said[0], said
    gain = float(said[0].split("--gain ")[1].rstrip("."))
    assert 20 <= gain <= 35
    assert notices(demo) == []
    assert notices(quiet, gain_db=gain) == []
    assert notices(np.concatenate([quiet, demo])) == [said[0], ""]
    hiss = np.random.default_rng(0).standard_normal(5 * 16000).astype(np.float32) * 0.0006  # -65 dBFS
    assert notices(np.concatenate([hiss, demo]), vad=False) == []


def test_auto_gain_raises_the_gain_of_quiet_speech_and_keeps_it(monkeypatch):
    """``--gain auto``: the demo 30 dB down gets no notice but one toast, and the stream's
    input gain is raised by what the notice would have asked for; every stream made after it
    (recycled on a long run, or after the input's end) keeps it, and the comparison screen's
    options carry it. Loud speech leaves the gain where it is; another input starts again
    from the starting gain."""
    demo = engine.load_audio(DEMO_AUDIO, 16000)
    ended = lambda us: any(u.source and u.source[0] == "ended" for u in us)  # noqa: E731
    quiet = demo * np.float32(10 ** (-30 / 20))
    monkeypatch.setattr(live_session, "RECYCLE_CHUNKS", 30)  # a fresh stream at about every final
    made = []
    real = live_session._Run.new_stream

    def spy(run):
        real(run)
        made.append(run.stream)

    monkeypatch.setattr(live_session._Run, "new_stream", spy)
    s = LiveSession(MODELS[:1], source=FakeSource(np.concatenate([quiet, quiet]), 16000), auto_gain=True)
    ups = _run(s, ended)
    toasts = [u.toast for u in ups if u.toast]
    assert not [u.notice for u in ups if u.notice], "auto gain: no notice"
    assert len(toasts) == 1 and toasts[0][2] == "Input gain", toasts
    assert 20 <= s.input_gain_db <= 35 and f"{s.input_gain_db:+g} dB" in toasts[0][0]
    assert len(made) >= 2 and all(st.gain_db == s.input_gain_db for st in made)
    loud = LiveSession(MODELS[:1], source=FakeSource(demo, 16000), auto_gain=True)
    assert not [u.toast for u in _run(loud, ended) if u.toast] and loud.input_gain_db == 0.0
    # loud speech after the quiet: the gain comes down before it would clip, and nothing clips
    both = LiveSession(MODELS[:1], source=FakeSource(np.concatenate([quiet, demo]), 16000), auto_gain=True)
    ups = _run(both, ended)
    said = [u.toast[0] for u in ups if u.toast]
    assert len(said) == 2 and "would clip" in said[1], said
    peak = float(np.max(np.abs(demo)))
    assert peak * 10 ** (both.input_gain_db / 20) <= 1.0 and both.input_gain_db < 20

    rec = engine.Recognizer(engine.load_model(MODELS[0]))
    run = live_session._Run(rec, rec.create_stream())
    run.gain_db = s.input_gain_db = 20.0
    s._want_source = lambda: FakeSource(demo, 16000)
    list(s._requests(run))
    assert run.stream.gain_db == 0.0 and s.input_gain_db == 0.0 and run.gain_db is None
    s.source.stop()

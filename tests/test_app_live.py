"""`nnasr live` headless: transcript, stats panel, model switching, pause/clear/save,
the no-microphone fallback, an unplugged input, the comparison view and a screenshot."""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import make_random_model, speechlike

from app.audio_sources import AudioSourceError, FakeSource
from app.live import CompareScreen, LiveApp

SIZE = (120, 36)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("live-models")
    return [make_random_model(d / "first.nnasr", seed=0),
            make_random_model(d / "second.nnasr", seed=1, sparsity=0.5)]


def _app(models, tmp_path, source, **kw) -> LiveApp:
    return LiveApp(models, source=source, transcript_path=tmp_path / "t" / "transcript.txt",
                   demo_audio=None, **kw)


async def _until(pilot, cond, timeout=15.0) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


async def _until_quiet(pilot, value, quiet=0.3, timeout=15.0) -> None:
    """Until ``value()`` has not changed for ``quiet`` seconds (work already queued drained:
    on a loaded machine the decoder may run behind a source read at 4x real time)."""
    t0 = time.monotonic()
    last, since = value(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out waiting for the app to go quiet")
        await pilot.pause(0.05)
        if value() != last:
            last, since = value(), time.monotonic()


def _text(app, selector) -> str:
    return str(app.query_one(selector).render())


def test_streams_a_file_to_a_transcript_and_stats(models, tmp_path):
    src = FakeSource(speechlike(3.0), 16000, name="fake file")
    app = _app(models, tmp_path, src)

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: app.state == "ended" and app.finals)
            assert app.chunks_seen >= 15  # 3 s in 160 ms chunks
            assert "p50" in _text(app, "#host-nums") and "p95" in _text(app, "#nna-nums")
            assert "RTF" in _text(app, "#rtf")
            assert "dropped audio: 0.0 s" in _text(app, "#dropped")
            facts = _text(app, "#facts")
            assert "first" in facts and "params" in facts and "sparsity" in facts
            assert "all on NNA" in facts and "8-bit weights" in facts
            assert "END OF INPUT" in _text(app, "#state")
            assert app.query_one("#host-spark").data
            await pilot.press("q")
        assert app.return_code in (0, None)

    asyncio.run(run())
    lines = (tmp_path / "t" / "transcript.txt").read_text().splitlines()
    assert lines and lines[-1].endswith(app.finals[-1])
    assert not src._thread.is_alive()  # the source was stopped on quit


def test_hotwords_reach_the_recognizer_and_the_panel_says_so(models, tmp_path):
    src = FakeSource(speechlike(2.0), 16000, name="fake file")
    opts = {"hotwords": [("turn on the light", None), ("play some music", 3.0)], "hotword_score": 2.0}
    app = _app(models, tmp_path, src, beam=2, lm_options=opts)

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: app.state == "ended")
            assert "beam 2 · 2 hotwords" in _text(app, "#facts")
            rec, _ = app.session.open_model(0)  # as the session opens each model
            assert rec.context is not None and rec.context.num_phrases == 2
            await pilot.press("q")

    asyncio.run(run())


def test_switch_model_pause_clear_save(models, tmp_path):
    src = FakeSource(speechlike(2.0), 16000, speed=4.0, loop=True)
    app = _app(models, tmp_path, src)

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: app.model_facts is not None and app.chunks_seen > 3)
            assert app.model_facts.name == "first"
            await pilot.press("m")
            await _until(pilot, lambda: app.model_facts.name == "second")
            assert app.sub_title == "second" and "second" in _text(app, "#facts")
            assert "sparsity   49.5%" in _text(app, "#facts")  # the second model's
            seen = app.chunks_seen
            await _until(pilot, lambda: app.chunks_seen > seen)  # decoding goes on
            await pilot.press("space")
            assert app.paused and "PAUSED" in _text(app, "#state")
            await _until_quiet(pilot, lambda: app.chunks_seen)  # blocks read before the pause
            seen = app.chunks_seen
            await pilot.pause(0.4)
            assert app.chunks_seen == seen  # paused: nothing decoded
            await pilot.press("p")
            assert not app.paused and "STREAMING" in _text(app, "#state")
            await _until(pilot, lambda: app.finals)  # the switch committed a final
            await pilot.press("s")
            await pilot.pause(0.1)
            await pilot.press("space")  # paused, so no new final lands between the clear and the check
            await _until_quiet(pilot, lambda: (app.chunks_seen, len(app.finals)))
            await pilot.press("c")
            assert app.finals == [] and not app.query_one("#finals").display
            await pilot.press("q")

    asyncio.run(run())
    saved = list((tmp_path / "t").glob("transcript-saved-*.txt"))
    assert len(saved) == 1 and saved[0].read_text().strip()


def test_no_microphone_falls_back_to_demo_audio(models, tmp_path):
    mic = FakeSource(speechlike(1.0), start_error="No microphone found: no input device", live=True)
    demo = FakeSource(speechlike(2.0), 16000, name="demo audio: demo.flac")
    app = _app(models, tmp_path, mic, fallback=lambda: demo)

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: app.notice_text and app.state in ("streaming", "ended"))
            notice = app.notice_text
            assert notice.startswith("No microphone found")
            assert "demo audio" in notice and "real time" in notice
            assert app.query_one("#notice").display
            assert "demo audio: demo.flac" in _text(app, "#source")
            await _until(pilot, lambda: app.finals)
            await pilot.press("q")

    asyncio.run(run())


def test_live_command_without_microphone_streams_bundled_demo(models, tmp_path, monkeypatch):
    """`nnasr live` as the README runs it, on a machine with no microphone."""
    from app.audio_sources import MicrophoneSource
    from app.cli import build_parser
    from app.commands.live import build_app
    from app.models import DEMO_AUDIO

    if not DEMO_AUDIO.exists():
        pytest.skip("no bundled demo audio")

    def no_mic(self):
        raise AudioSourceError("No microphone found: the default input device is not available")

    monkeypatch.setattr(MicrophoneSource, "start", no_mic)
    args = build_parser().parse_args(["live", "--model", str(models[0]), "--speed", "8",
                                      "--transcript", str(tmp_path / "tr.txt")])
    app = build_app(args)

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: app.state == "streaming" and app.chunks_seen > 5)
            assert "No microphone found" in app.notice_text
            assert DEMO_AUDIO.name in app.notice_text
            assert app.source.name == f"demo audio: {DEMO_AUDIO.name}" and app.source.loop
            await pilot.press("q")

    asyncio.run(run())


def test_unplugged_input_keeps_the_app_running(models, tmp_path):
    src = FakeSource(speechlike(3.0), 16000, fail_after_s=1.0, live=True, name="microphone: fake")
    app = _app(models, tmp_path, src)

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: app.state == "ended")
            assert "The input stopped" in app.notice_text and "unplugged" in app.notice_text
            assert "press i" in app.notice_text.lower()
            assert app.is_running
            await pilot.press("q")

    asyncio.run(run())


def test_compare_view_and_screenshot(models, tmp_path):
    src = FakeSource(speechlike(4.0), 16000)
    app = _app(models, tmp_path, src)

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: app.state == "ended")
            main_svg = app.save_screenshot("main.svg", path=str(tmp_path))
            await pilot.press("k")
            screen = app.screen
            assert isinstance(screen, CompareScreen)
            await _until(pilot, lambda: screen.results)
            assert [r["name"] for r in screen.results] == ["first", "second"]
            assert all(r["host"] and r["nna"] for r in screen.results)
            await pilot.pause(0.1)
            cmp_svg = app.save_screenshot("compare.svg", path=str(tmp_path))
            await pilot.press("escape")
            assert not isinstance(app.screen, CompareScreen)
            await pilot.press("q")
        return main_svg, cmp_svg

    main_svg, cmp_svg = asyncio.run(run())
    svg = open(main_svg, encoding="utf-8").read().replace("&#160;", " ")
    for text in ("nnasr", "transcript", "host", "measured", "NNA", "modeled", "pause", "compare",
                 "quit", "END", "params"):
        assert text in svg, text
    svg = open(cmp_svg, encoding="utf-8").read().replace("&#160;", " ")
    for text in ("Comparing", "first", "second", "measured", "modeled", "RTF"):
        assert text in svg, text


def test_silent_or_overflowing_microphone_is_reported(models, tmp_path, monkeypatch):
    from types import SimpleNamespace

    import numpy as np

    from app.audio_sources import MicrophoneSource

    def fake_start(self):  # an open device that delivers nothing
        self.name = "microphone: fake"
        self.last_block_at = time.monotonic() - 10

    monkeypatch.setattr(MicrophoneSource, "start", fake_start)
    mic = MicrophoneSource()
    app = _app(models, tmp_path, mic)

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: "No audio from the microphone" in app.notice_text)
            assert app.state == "listening" and "LISTENING" in _text(app, "#state")
            block = np.zeros((1600, 1), np.float32)
            mic._callback(block, 1600, None, SimpleNamespace(input_overflow=True))
            await _until(pilot, lambda: "device overflows: 1" in _text(app, "#dropped"))
            assert app.notice_text == ""  # audio flows again
            await pilot.press("q")

    asyncio.run(run())


def test_live_command_takes_a_language_model(models, tmp_path):
    """`nnasr live --lm F`: the LM reaches every recognizer the app makes; a file built for
    another tokenizer, or not an LM at all, is one line before the UI starts."""
    from helpers import TEXT, tokenizer_proto

    import engine
    from app.cli import UserError, build_parser
    from app.commands.live import build_app
    from trainer.lm import build_lm_file

    good = build_lm_file(tmp_path / "good.lm", TEXT, engine.load_model(models[0]).tokenizer_proto, order=3)
    other = build_lm_file(tmp_path / "other.lm", TEXT, tokenizer_proto(vocab_size=30), order=3)
    base = ["live", "--model", str(models[0]), "--input", str(tmp_path / "x.wav"), "--no-transcript"]
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "x.wav", np.zeros(1600, np.float32), 16000)
    app = build_app(build_parser().parse_args(base + ["--lm", str(good), "--lm-weight", "0.2"]))
    rec, _ = app.session.open_model(0)
    assert rec.lm is not None and rec.lm_weight == 0.2 and rec.lm_bonus == 0.5
    for bad, msg in ((other, "another tokenizer"), (models[1], "not an nnasr language model")):
        with pytest.raises(UserError, match=msg):
            build_app(build_parser().parse_args(base + ["--lm", str(bad)]))


def test_live_gain_auto_reaches_the_session_and_needs_the_speech_gate(models, tmp_path):
    """`nnasr live --gain auto`: the session raises the gain itself (no fixed gain in the
    recognizers); with --no-vad, which hears no speech to measure, it is one line before the UI."""
    import numpy as np
    import soundfile as sf

    from app.cli import UserError, build_parser
    from app.commands.live import build_app

    sf.write(tmp_path / "x.wav", np.zeros(1600, np.float32), 16000)
    base = ["live", "--model", str(models[0]), "--input", str(tmp_path / "x.wav"), "--no-transcript"]
    app = build_app(build_parser().parse_args(base + ["--gain", "auto"]))
    rec, _ = app.session.open_model(0)
    assert app.session.auto_gain and rec.gain_db == 0.0 and app.session.input_gain_db == 0.0
    assert not build_app(build_parser().parse_args(base + ["--gain", "6"])).session.auto_gain
    with pytest.raises(UserError, match="leave out --no-vad"):
        build_app(build_parser().parse_args(base + ["--gain", "auto", "--no-vad"]))


def test_a_transcript_path_that_cannot_be_written_is_one_line_before_the_ui(models, tmp_path):
    """`--transcript DIR` (or a path under a file) used to start the UI, claim "finals appended
    to DIR" and say otherwise only at the first final."""
    import numpy as np
    import soundfile as sf

    from app.cli import UserError, build_parser
    from app.commands.live import build_app

    sf.write(tmp_path / "x.wav", np.zeros(1600, np.float32), 16000)
    (tmp_path / "afile").write_text("x")
    base = ["live", "--model", str(models[0]), "--input", str(tmp_path / "x.wav")]
    for path, msg in ((tmp_path, "a directory; give a file path"),
                      (tmp_path / "afile" / "t.txt", "is a file, not a folder")):
        with pytest.raises(UserError, match=msg):
            build_app(build_parser().parse_args(base + ["--transcript", str(path)]))
    ok = tmp_path / "new" / "deeper" / "t.txt"  # folders are made at the first final
    assert build_app(build_parser().parse_args(base + ["--transcript", str(ok)])).transcript.path == ok
    assert not ok.exists()


def test_the_panel_shows_the_sparsity_of_what_runs():
    """A model whose pruning took whole units: the panel says the sparsity as it runs, with the
    stored matrices' beside it, as `nnasr models` does (it said the stored figure alone)."""
    from app.live import facts_text
    from app.models import ModelFacts

    f = ModelFacts(name="p", path="p.nnasr", params=100, sparsity=0.795, weight_bits=8, act_bits=8,
                   file_bytes=1000, cpu_ops=(), spec="reference-speaker", wer={}, live_sparsity=0.678)
    assert "sparsity   67.8% (79.5% stored)" in facts_text(f)

"""The live loop without a UI: audio source, model, decoding, stats, stream recycling.

:class:`LiveSession` reads blocks from an :class:`app.audio_sources.AudioSource`, feeds
them to an engine stream and yields :class:`Update` objects: what a display needs to
know (partial and final text, whether anyone is speaking, input level, per-chunk host
latency *measured* and NNA latency *modeled*, RTF, dropped audio, notices). It never
touches a UI: ``nnasr live``'s Textual worker only posts each update to the screen, and
tests drive it directly. Requests from another thread (switch model or input, pause) are
single assignments that the loop picks up between blocks.

Long runs: one mechanism bounds memory. The engine stream keeps no transcript
(``max_finals=0``: finals are delivered once, by ``results()``) and is replaced by a fresh
one at the first final after :data:`RECYCLE_CHUNKS` chunks, which bounds its per-chunk
log; everything else the session keeps has a fixed size (the last
:data:`RECENT_AUDIO_S` seconds of audio for the comparison view).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from app.audio_sources import AudioSource, AudioSourceError
from app.models import MAX_GAIN_DB
from engine.level import MAX_AUTO_GAIN_DB

RECYCLE_CHUNKS = 4000  # a fresh engine stream at the first final past this many chunks
RECENT_AUDIO_S = 30.0  # audio kept for the comparison view
STALL_S = 2.0  # a live input silent this long is reported
LEVEL_FLOOR_DB = -60.0  # the level meter's floor
POST_EVERY_S = 0.05  # at most this often an update without a final
# Speech whose median block level (with --gain) is below this, over QUIET_AFTER_S of speech,
# gets a notice: the front-end's log floor takes its weaker bands (benchmarks/log_floor.py;
# the shipped model's WER on the corpus dev split: 48 % at a median -32 dBFS, 52 % at -42,
# 67 % at -52)
QUIET_SPEECH_DB = -45.0
QUIET_AFTER_S = 3.0
# the median speech-block level that a suggested gain (the notice's) or one raised by
# --gain auto aims for, in 5 dB steps
SPEECH_TARGET_DB = -30.0


class TranscriptFile:
    """Appends each final as it arrives (flushed and synced, so a crash loses nothing).
    The file is created at the first final."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.error: str | None = None
        self.lines = 0

    def append(self, line: str) -> None:
        if self.path is None or self.error:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line.rstrip("\n") + "\n")
                f.flush()
                os.fsync(f.fileno())
            self.lines += 1
        except OSError as e:
            self.error = f"cannot write the transcript to {self.path} ({e.strerror or e})"


@dataclass
class Update:
    """What changed since the last update. ``None`` means unchanged."""

    partial: str | None = None
    finals: list[str] = field(default_factory=list)
    hotwords: list[str] = field(default_factory=list)  # phrases the new finals completed
    listening: bool | None = None  # True: nobody speaks (the engine's speech gate is closed)
    level_db: float | None = None  # input RMS, dBFS
    peak: float = 0.0
    host_ms: list[float] = field(default_factory=list)  # measured, per new chunk
    nna_ms: list[float] = field(default_factory=list)  # modeled, per new chunk
    rtf: float | None = None
    dropped_s: float | None = None
    dropped_blocks: int = 0
    overflows: int = 0
    notice: str | None = None  # "" clears the notice
    source: tuple[str, str] | None = None  # (state, label): listening/streaming/ended/no input
    facts: object | None = None  # app.models.ModelFacts of a model now decoding
    toast: tuple[str, str, str] | None = None  # (message, severity, title) shown briefly


def rms_db(block: np.ndarray) -> float:
    """A block's RMS level, dBFS (-240 for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))) if len(block) else 0.0
    return 20 * math.log10(rms + 1e-12)


@dataclass
class _Run:
    """The decoding state of a session's loop: recognizer, engine stream, totals."""

    rec: object
    stream: object
    seen: int = 0  # chunk stats already reported from this stream
    host_total: float = 0.0  # ms, since the model was opened
    audio_total: float = 0.0
    ended: bool = False  # the input's end was reported
    stall_reported: bool = False
    speech_levels: list = field(default_factory=list)  # (dB, seconds) of blocks heard in speech
    quiet_reported: bool = False
    gain_db: float | None = None  # an input gain raised by --gain auto (kept across streams)

    def new_stream(self) -> None:
        """The next engine stream, with the input gain that ``--gain auto`` raised, if it did."""
        self.stream, self.seen = self.rec.create_stream(), 0
        if self.gain_db is not None:
            self.stream.set_gain(self.gain_db)

    def restart(self, rec=None) -> None:
        """A fresh engine stream (of ``rec``, a newly opened model, if given)."""
        if rec is not None:
            self.rec, self.host_total, self.audio_total = rec, 0.0, 0.0
        self.new_stream()
        self.speech_levels, self.quiet_reported = [], False


class LiveSession:
    """Source, model and decoding of ``nnasr live``, as a generator of :class:`Update`.

    ``models``: model files (``model_index`` first); ``source`` is started by :meth:`run`;
    if it cannot start (no microphone), ``fallback()`` (the demo audio) is, and a notice
    says so. ``recognizer_options``: extra ``engine.Recognizer`` arguments (LM, speech gate,
    threads, gain). ``auto_gain``: speech heard too quiet raises the input gain (by the
    amount the quiet notice would suggest) instead of a notice."""

    def __init__(self, models: list[Path], *, model_index: int = 0, source: AudioSource,
                 fallback: Callable[[], AudioSource] | None = None,
                 transcript: TranscriptFile | None = None, chunk_ms: int | None = None,
                 beam: int = 1, recognizer_options: dict | None = None, auto_gain: bool = False) -> None:
        self.models = list(models)
        self.model_index = model_index
        self.source: AudioSource | None = source
        self.fallback = fallback
        self.transcript = transcript or TranscriptFile(None)
        self.chunk_ms, self.beam = chunk_ms, beam
        self.recognizer_options = recognizer_options or {}
        self.auto_gain = auto_gain
        self._start_gain_db = float(self.recognizer_options.get("gain_db", 0.0))
        self.input_gain_db = self._start_gain_db  # as --gain auto left it
        self.paused = False
        self._want_model: int | None = None
        self._want_source: Callable[[], AudioSource] | None = None
        self._recent: deque[np.ndarray] = deque()
        self._recent_samples = 0
        self._recent_rate = 16000
        self._recent_lock = threading.Lock()

    # --- requests (any thread) -------------------------------------------------------------
    def switch_model(self, index: int) -> None:
        self._want_model = index

    def switch_source(self, make: Callable[[], AudioSource]) -> None:
        self._want_source = make

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if self.source is not None:
            self.source.set_paused(paused)

    def recent_audio(self) -> tuple[np.ndarray | None, int, str]:
        """The last :data:`RECENT_AUDIO_S` seconds of input, its rate and a description."""
        with self._recent_lock:
            if not self._recent:
                return None, self._recent_rate, ""
            name = self.source.name if self.source is not None else "the input"
            return (np.concatenate(list(self._recent)), self._recent_rate,
                    f"the last {self._recent_samples / self._recent_rate:.0f} s of {name}")

    # --- the loop ----------------------------------------------------------------------------
    def open_model(self, index: int):
        """An ``engine.Recognizer`` for model ``index`` and the model's facts."""
        import engine
        from app.models import facts_of, load

        model = load(self.models[index])
        rec = engine.Recognizer(model, chunk_ms=self.chunk_ms, beam=self.beam, max_finals=0,
                                **self.recognizer_options)
        return rec, facts_of(model)

    def run(self, stopped: Callable[[], bool]) -> Iterator[Update]:
        """Decode until ``stopped()``; the source is stopped at the end."""
        try:
            rec, facts = self.open_model(self.model_index)
        except Exception as e:
            yield Update(notice=f"Cannot load the model: {' '.join(str(e).split())}")
            return
        yield Update(facts=facts)
        src, notice = self._start(self.source)
        self.source = src
        if notice:
            yield Update(notice=notice)
        yield Update(source=self._source_state(src))
        try:
            yield from self._loop(rec, stopped)
        except Exception as e:  # an engine failure: say so, the UI stays up
            yield Update(notice=f"The decoder stopped: {type(e).__name__}: {' '.join(str(e).split())}")
        finally:
            if self.source is not None:
                self.source.stop()

    def _source_state(self, src: AudioSource | None) -> tuple[str, str]:
        if src is None:
            return ("no input", "")
        return ("listening" if src.live else "streaming", src.name)

    def _start(self, src: AudioSource) -> tuple[AudioSource | None, str]:
        """Start ``src``, else the fallback (demo audio): the source and a notice."""
        try:
            src.start()
            return src, ""
        except AudioSourceError as e:
            reason = str(e).rstrip(".")
        if self.fallback is None:
            return None, f"{reason}."
        try:
            fb = self.fallback()
            fb.start()
        except AudioSourceError as e2:
            return None, (f"{reason}, and the demo audio cannot be streamed instead ({e2}). "
                          "Pass --input FILE.")
        return fb, (f"{reason}. Streaming the bundled demo audio "
                    f"({getattr(fb, 'path', Path('demo')).name}) in real time instead; "
                    "--input FILE streams your own audio.")

    def _loop(self, rec, stopped: Callable[[], bool]) -> Iterator[Update]:
        run = _Run(rec, rec.create_stream())
        last_post = 0.0
        pending = Update()
        while not stopped():
            yield from self._requests(run)
            src = self.source
            if src is None:
                time.sleep(0.1)
                continue
            block = src.read(timeout=0.1)
            if block is None:
                if pending.level_db is not None:  # nothing new is coming soon: show what we have
                    yield pending
                    pending, last_post = Update(), time.monotonic()
                yield from self._idle(run, src)
                continue
            self._decode(run, src, block, pending)
            now = time.monotonic()
            if pending.finals or pending.notice is not None or now - last_post >= POST_EVERY_S:
                yield pending
                pending, last_post = Update(), now
        yield self._finish(run.stream, run.seen)

    def _requests(self, run: _Run) -> Iterator[Update]:
        """Carry out a pending switch of input or model (asked for from another thread)."""
        if self._want_source is not None:
            make, self._want_source = self._want_source, None
            yield self._finish(run.stream, run.seen)
            run.gain_db, self.input_gain_db = None, self._start_gain_db  # another input: its own level
            run.restart()
            run.ended = run.stall_reported = False
            if self.source is not None:
                self.source.stop()
            try:
                new = make()
            except AudioSourceError as e:
                yield Update(notice=str(e))
                new = None
            src, notice = self._start(new) if new is not None else (None, "")
            self.source = src
            if src is not None:
                src.set_paused(self.paused)
            if notice:
                fresh = notice
            else:  # a new input that started: an old notice is stale
                fresh = "" if src is not None and src is new else None
            yield Update(notice=fresh, source=self._source_state(src))
        if self._want_model is not None:
            idx, self._want_model = self._want_model, None
            try:
                rec, facts = self.open_model(idx)
            except Exception as e:
                yield Update(toast=(f"Cannot switch model: {' '.join(str(e).split())}", "error", ""))
                return
            yield self._finish(run.stream, run.seen)
            run.restart(rec)
            self.model_index = idx
            yield Update(facts=facts, toast=(f"Model: {facts.name}", "information", "switched"))

    def _check_quiet(self, run: _Run, u: Update, block_db: float, seconds: float) -> None:
        """Say when the speech is too quiet for the front-end (its median block level
        ``block_db`` over QUIET_AFTER_S of speech, with the recognizer's input gain), and clear
        the notice once it is not. Only with the speech gate: without it every block counts
        as speech."""
        if not run.rec.vad.enabled:
            return
        gain = run.stream.gain_db
        run.speech_levels.append((block_db + gain, seconds))
        if sum(s for _, s in run.speech_levels) < QUIET_AFTER_S:
            return
        heard = float(np.median([db for db, _ in run.speech_levels]))
        run.speech_levels.clear()
        if heard >= QUIET_SPEECH_DB:
            if run.quiet_reported:
                run.quiet_reported = False
                u.notice = ""
            return
        if run.quiet_reported:
            return
        more = 5 * math.ceil((SPEECH_TARGET_DB - heard) / 5)
        if self.auto_gain and gain < MAX_AUTO_GAIN_DB:
            new = min(gain + more, MAX_AUTO_GAIN_DB)
            self._set_auto_gain(run, u, new, f"the speech arrived at {heard:.0f} dBFS, too quiet for this model")
            return
        run.quiet_reported = True
        with_gain = f" with --gain {gain:g}" if gain else ""
        u.notice = (f"The speech arrives at {heard:.0f} dBFS{with_gain}, too quiet for this model: below "
                    f"about {QUIET_SPEECH_DB:.0f} dBFS it loses the weaker bands. Raise the microphone's "
                    f"level, or start with --gain {min(gain + more, MAX_GAIN_DB):g}.")

    def _check_clipping(self, run: _Run, u: Update, peak: float) -> None:
        """``--gain auto``: a block (of sample peak ``peak``) that the raised gain would take past
        full scale lowers the gain first, to the most it can be without clipping that block
        (whole dB)."""
        gain = run.stream.gain_db
        if gain <= 0 or peak <= 0 or peak * 10 ** (gain / 20) <= 1.0:
            return
        new = max(0.0, float(math.floor(-20 * math.log10(peak))))
        self._set_auto_gain(run, u, new, f"at {gain:+g} dB the input would clip")

    def _set_auto_gain(self, run: _Run, u: Update, gain_db: float, why: str) -> None:
        """``--gain auto`` changes the input gain: this stream's and every later one's, with a toast."""
        run.gain_db = self.input_gain_db = gain_db
        run.stream.set_gain(gain_db)
        u.toast = (f"Input gain {gain_db:+g} dB: {why} (--gain auto)", "information", "Input gain")

    def _idle(self, run: _Run, src: AudioSource) -> Iterator[Update]:
        """No block came: the end of a file, or a microphone that stalled."""
        if src.exhausted and not run.ended:
            yield self._finish(run.stream, run.seen)
            run.new_stream()
            run.ended = True
            u = Update(source=("ended", src.name))
            if src.error:
                u.notice = f"The input stopped: {src.error}. Press i to pick another input."
            yield u
        elif src.live and not self.paused and not run.stall_reported and not src.finished.is_set():
            last = getattr(src, "last_block_at", 0.0)
            if last and time.monotonic() - last > STALL_S:
                run.stall_reported = True
                yield Update(notice=f"No audio from the microphone for {STALL_S:.0f} s "
                                    "(unplugged or muted?). Press i to pick another input.")

    def _decode(self, run: _Run, src: AudioSource, block: np.ndarray, u: Update) -> None:
        """One block: level, decoding (not while a microphone is paused), stats, into ``u``."""
        if run.stall_reported:
            run.stall_reported = False
            u.notice = ""
        self._remember(block, src.sample_rate)
        block_db = rms_db(block)
        u.level_db = max(LEVEL_FLOOR_DB, block_db)
        peak = float(np.max(np.abs(block))) if len(block) else 0.0
        u.peak = max(u.peak, peak)
        if not (self.paused and src.live):  # a paused microphone is heard (level), not decoded
            if self.auto_gain:
                self._check_clipping(run, u, peak)
            run.stream.accept_waveform(block, src.sample_rate)
            self._collect(run.stream, u)
            u.listening = not run.stream.in_speech
            if run.stream.in_speech:
                self._check_quiet(run, u, block_db, len(block) / src.sample_rate)
            chunks = run.stream.stats.chunks
            for c in chunks[run.seen:]:
                if c.audio_ms > 0:
                    u.host_ms.append(c.host_ms)
                    u.nna_ms.append(c.modeled_nna_ms)
                    run.host_total += c.host_ms
                    run.audio_total += c.audio_ms
            run.seen = len(chunks)
            if u.finals and run.seen > RECYCLE_CHUNKS:  # bounded memory on long runs
                run.new_stream()
        u.rtf = run.host_total / run.audio_total if run.audio_total else None
        u.dropped_s = src.dropped_seconds
        u.dropped_blocks = src.dropped_blocks
        u.overflows = src.overflows

    def _collect(self, stream, u: Update) -> None:
        """The stream's new results into ``u``; finals also into the transcript file."""
        for r in stream.results():
            if r.is_final:
                if r.text:
                    u.finals.append(r.text)
                    hits = [h.word for h in r.hotwords]
                    u.hotwords.extend(hits)
                    self.transcript.append(f"[{datetime.now():%Y-%m-%d %H:%M:%S}] {r.text}"
                                           + (f"  [hotwords: {'; '.join(hits)}]" if hits else ""))
                u.partial = ""
            else:
                u.partial = r.text

    def _finish(self, stream, seen: int) -> Update:
        """End an engine stream: its last words become a final; its last chunks are shown."""
        u = Update(partial="", listening=True)
        try:
            stream.input_finished()
        except Exception:
            return u
        for c in stream.stats.chunks[seen:]:
            if c.audio_ms > 0:
                u.host_ms.append(c.host_ms)
                u.nna_ms.append(c.modeled_nna_ms)
        self._collect(stream, u)
        u.partial = ""
        return u

    def _remember(self, block: np.ndarray, rate: int) -> None:
        with self._recent_lock:
            if rate != self._recent_rate:
                self._recent.clear()
                self._recent_samples = 0
                self._recent_rate = rate
            self._recent.append(block)
            self._recent_samples += len(block)
            while self._recent and self._recent_samples - len(self._recent[0]) >= RECENT_AUDIO_S * rate:
                self._recent_samples -= len(self._recent.popleft())

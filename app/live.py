"""`nnasr live`: live transcription in a Textual terminal UI.

Threads: the audio source (PortAudio callback, or a pacing thread for files) only copies
blocks into a bounded queue; one decode worker (``@work(thread=True)``) runs a
:class:`app.live_session.LiveSession` (reads the queue, runs the engine: no UI in it) and
posts each of its updates to the UI through ``call_from_thread``; the UI thread only
draws. When decoding falls behind, the source drops audio and the count is shown.

Layout: a notice line (only when there is something to say), the input state and level
meter, the transcript (finals committed, the partial below them, or "listening…" while
nobody speaks), and the stats panel
(per-chunk host latency *measured* and NNA latency *modeled*, p50/p95, RTF, dropped
audio, the model's facts). Keys are in the footer.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Header, Label, OptionList, Sparkline, Static
from textual.widgets.option_list import Option

from app.audio_sources import AudioSource, AudioSourceError, FileSource
from app.live_compare import CompareScreen, _pcts
from app.live_session import LEVEL_FLOOR_DB, LiveSession, TranscriptFile, Update
from app.models import DEMO_AUDIO, human_bytes, human_count

SPARK_CHUNKS = 80  # chunks shown in the sparklines
WINDOW_CHUNKS = 1000  # chunks in the rolling p50/p95
SHOWN_FINALS = 500  # finals shown on screen (all of them are in the transcript file)
KEPT_FINALS = 10000  # finals kept in memory (for `s`ave); bounded for long sessions


def _home(p: Path) -> str:
    try:
        return "~/" + str(p.resolve().relative_to(Path.home().resolve()))
    except ValueError:
        return str(p)


def default_transcript_path(now: datetime | None = None) -> Path:
    """``$XDG_DATA_HOME/nnasr/transcripts/<YYYYmmdd-HHMMSS>.txt`` (~/.local/share by default)."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return base / "nnasr" / "transcripts" / f"{stamp}.txt"


# --- widgets --------------------------------------------------------------------------------
class LevelMeter(Static):
    """Input level (RMS, dBFS) as a bar from -60 to 0 dB; the peak marks clipping."""

    FLOOR_DB = LEVEL_FLOOR_DB

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.level_db = self.FLOOR_DB
        self.peak = 0.0
        self.dim = False

    def set_level(self, level_db: float, peak: float = 0.0, dim: bool = False) -> None:
        self.level_db, self.peak, self.dim = level_db, peak, dim
        self.refresh()

    def render(self) -> Text:
        width = max(10, self.size.width - 24)
        frac = min(1.0, max(0.0, (self.level_db - self.FLOOR_DB) / -self.FLOOR_DB))
        n = int(round(frac * width))
        color = "grey50" if self.dim else ("green" if frac < 0.8 else "yellow" if frac < 0.95 else "red")
        t = Text("level ")
        t.append("█" * n, style=color)
        t.append("·" * (width - n), style="grey23")
        t.append(f" {self.level_db:6.1f} dBFS")
        if self.peak >= 0.999:
            t.append(" CLIP", style="bold red")
        return t


class StatsPanel(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Label("host latency per chunk · measured", classes="stat-title")
        yield Sparkline([], summary_function=max, id="host-spark")
        yield Static("-", id="host-nums", classes="stat-nums")
        yield Label("NNA latency per chunk · modeled", classes="stat-title")
        yield Sparkline([], summary_function=max, id="nna-spark")
        yield Static("-", id="nna-nums", classes="stat-nums")
        yield Static("RTF -", id="rtf")
        yield Static("dropped audio: 0.0 s", id="dropped")
        yield Label("model", classes="stat-title")
        yield Static("loading…", id="facts")


def search_text(beam: int, options: dict) -> str:
    """The search the live app decodes with: beam, and an LM or hotwords when given."""
    parts = ["greedy" if beam == 1 else f"beam {beam}"]
    if options.get("lm") is not None:
        parts.append(f"LM x{options.get('lm_weight')}")
    if options.get("hotwords"):
        parts.append(f"{len(options['hotwords'])} hotwords")
    return " · ".join(parts)


def facts_text(f, search: str | None = None) -> str:
    wer = ", ".join(f"{100 * v:.1f}% on {k}" for k, v in f.wer.items()) or "not recorded"
    lines = [
        f"[b]{f.name}[/b]",
        f"params     {human_count(f.params)}",
        f"sparsity   {f.sparsity_text}",
        f"bits       {f.weight_bits}-bit weights, {f.act_bits}-bit act.",
        f"file size  {human_bytes(f.file_bytes)}",
        f"placement  {f.placement}",
        f"NNA spec   {f.spec}",
    ]
    lines.append(f"WER        {wer}")
    if search:
        lines.append(f"search     {search}")
    return "\n".join(lines)


# --- screens --------------------------------------------------------------------------------
class InputScreen(ModalScreen):
    """Pick an input: a microphone (input device) or the bundled demo audio."""

    BINDINGS = [Binding("escape", "dismiss_none", "back")]

    def __init__(self, demo: Path | None) -> None:
        super().__init__()
        self.demo = demo

    def compose(self) -> ComposeResult:
        from app.audio_sources import list_input_devices

        options: list[Option] = []
        try:
            devices = list_input_devices()
            for d in devices:
                label = f"microphone: {d['name']} ({d['channels']} ch)" + (" - default" if d["default"] else "")
                options.append(Option(label, id=f"dev:{d['index']}"))
            note = None if devices else "No input devices found."
        except AudioSourceError as e:
            note = str(e)
        if self.demo is not None and self.demo.exists():
            options.append(Option(f"demo audio: {self.demo.name} (real time, looping)", id="demo"))
        with Vertical(id="input-dialog"):
            yield Label("Choose the input", classes="dialog-title")
            if note:
                yield Static(note, classes="dialog-note")
            yield OptionList(*options, id="inputs")
            yield Static("enter: use it · escape: back", classes="dialog-note")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


# --- the app --------------------------------------------------------------------------------
class LiveApp(App):
    """Live transcription. The decoding is a :class:`app.live_session.LiveSession` run by one
    worker thread, which only posts the session's updates to the UI; ``source`` is started by
    the session; if it cannot start (no microphone), ``fallback()`` (the demo audio) is used
    and a notice says so."""

    CSS_PATH = "live.tcss"
    TITLE = "nnasr live"
    BINDINGS = [
        Binding("space,p", "toggle_pause", "pause", key_display="space"),
        Binding("c", "clear", "clear"),
        Binding("s", "save", "save"),
        Binding("m", "switch_model", "model"),
        Binding("k", "compare", "compare"),
        Binding("i", "pick_input", "input"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(
        self,
        models: list[Path],
        *,
        model_index: int = 0,
        source: AudioSource,
        fallback: Callable[[], AudioSource] | None = None,
        transcript_path: Path | None = None,
        chunk_ms: int | None = None,
        beam: int = 1,
        demo_audio: Path | None = DEMO_AUDIO,
        lm_options: dict | None = None,
        engine_options: dict | None = None,
        auto_gain: bool = False,
    ) -> None:
        super().__init__()
        if not models:
            raise ValueError("LiveApp needs at least one model")
        self.models = list(models)
        self.lm_options = lm_options or {}  # lm (an engine.lm.NgramLM), lm_weight, lm_bonus, hotwords
        self.engine_options = engine_options or {}  # vad, threads
        self.session = LiveSession(self.models, model_index=model_index, source=source,
                                   fallback=fallback, transcript=TranscriptFile(transcript_path),
                                   chunk_ms=chunk_ms, beam=beam,
                                   recognizer_options={**self.lm_options, **self.engine_options},
                                   auto_gain=auto_gain)
        self.transcript = self.session.transcript
        self.chunk_ms = chunk_ms
        self.beam = beam
        self.demo_audio = demo_audio
        self.paused = False
        self.state = "starting"
        self.listening = True  # nobody speaks (the engine's speech gate is closed)
        self.notice_text = ""
        self.finals: list[str] = []
        self.partial = ""
        self.host_ms: deque[float] = deque(maxlen=WINDOW_CHUNKS)
        self.nna_ms: deque[float] = deque(maxlen=WINDOW_CHUNKS)
        self.model_facts = None
        self.chunks_seen = 0
        self._stop = threading.Event()
        self._decoder = None

    @property
    def source(self) -> AudioSource | None:
        return self.session.source

    @property
    def model_index(self) -> int:
        return self.session.model_index

    # --- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="notice")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                with Horizontal(id="status-row"):
                    yield Static("starting…", id="state")
                    yield Static("", id="source")
                yield LevelMeter(id="level")
                with VerticalScroll(id="transcript-box"):
                    yield Static("", id="finals")
                    yield Static("", id="partial")
            yield StatsPanel(id="stats")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.models[self.model_index].stem
        self.query_one("#notice").display = False
        self.query_one("#finals").display = False
        box = self.query_one("#transcript-box")
        box.border_title = "transcript"
        if self.transcript.path is not None:
            box.border_subtitle = f"finals appended to {_home(self.transcript.path)}"
        self.query_one("#stats").border_title = "engine"
        self._decoder = self._decode()

    # --- actions -------------------------------------------------------------------------
    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.session.set_paused(self.paused)
        meter = self.query_one("#level", LevelMeter)
        meter.set_level(meter.level_db, meter.peak, dim=self.paused)
        self._show_state()
        self._show_partial()

    def action_clear(self) -> None:
        self.finals.clear()
        self.partial = ""
        self.query_one("#finals", Static).update("")
        self.query_one("#finals", Static).display = False
        self._show_partial()

    def action_save(self) -> None:
        base = self.transcript.path or default_transcript_path()
        out = base.with_name(f"{base.stem}-saved-{datetime.now():%H%M%S}.txt")
        text = "\n".join(self.finals + ([self.partial] if self.partial else [])) + "\n"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as e:
            self.notify(f"Could not save the transcript: {e.strerror or e}", severity="error")
            return
        self.notify(f"Transcript saved to {out}", title="saved")

    def action_switch_model(self) -> None:
        if len(self.models) < 2:
            self.notify("Only one model is available (see `nnasr models`).", severity="warning")
            return
        idx = (self.model_index + 1) % len(self.models)
        self.session.switch_model(idx)
        self.sub_title = f"{self.models[idx].stem} (loading…)"

    def action_compare(self) -> None:
        audio, rate, origin = self.recent_audio()
        if audio is None or len(audio) < 3 * rate:
            if self.demo_audio is not None and self.demo_audio.exists():
                import engine

                try:
                    audio, rate, origin = engine.load_audio(self.demo_audio, 16000), 16000, f"demo audio {self.demo_audio.name}"
                except Exception:
                    pass
        self.push_screen(CompareScreen(self.models, audio, rate, origin or "live input",
                                       self.chunk_ms, self.beam, {**self.lm_options, **self.engine_options,
                                                                  "gain_db": self.session.input_gain_db}))

    def action_pick_input(self) -> None:
        def chosen(choice: str | None) -> None:
            if not choice:
                return
            if choice == "demo":
                demo = self.demo_audio
                self.session.switch_source(lambda: FileSource(demo, loop=True, label=f"demo audio: {demo.name}"))
            elif choice.startswith("dev:"):
                from app.audio_sources import MicrophoneSource

                idx = int(choice[4:])
                self.session.switch_source(lambda: MicrophoneSource(device=idx))

        self.push_screen(InputScreen(self.demo_audio), chosen)

    async def action_quit(self) -> None:
        self._stop.set()
        if self._decoder is not None:
            try:
                import asyncio

                await asyncio.wait_for(self._decoder.wait(), timeout=3.0)
            except Exception:
                pass
        self.exit()

    def on_unmount(self) -> None:
        self._stop.set()

    # --- UI updates (UI thread) -------------------------------------------------------------
    def recent_audio(self) -> tuple[np.ndarray | None, int, str]:
        return self.session.recent_audio()

    def set_notice(self, text: str) -> None:
        self.notice_text = text
        w = self.query_one("#notice", Static)
        w.update(text)
        w.display = bool(text)

    def _show_state(self) -> None:
        w = self.query_one("#state", Static)
        if self.paused:
            w.update(Text("❚❚ PAUSED", style="bold yellow"))
        elif self.state == "listening":
            w.update(Text("● LISTENING", style="bold green"))
        elif self.state == "streaming":
            w.update(Text("▶ STREAMING", style="bold green"))
        elif self.state == "ended":
            w.update(Text("■ END OF INPUT", style="bold"))
        elif self.state == "no input":
            w.update(Text("■ NO INPUT", style="bold red"))
        else:
            w.update(Text("… STARTING", style="bold"))

    def _show_partial(self) -> None:
        """The words being heard, or "listening…" while nobody speaks."""
        w = self.query_one("#partial", Static)
        if self.partial:
            w.update(Text(self.partial, style="italic"))
        elif self.listening and self.state in ("listening", "streaming") and not self.paused:
            w.update(Text("listening…", style="dim italic"))
        else:
            w.update("")

    def _set_source(self, state: str, label: str) -> None:
        self.state = state
        self.query_one("#source", Static).update(label)
        self._show_state()
        self._show_partial()

    def _set_model(self, facts) -> None:
        self.model_facts = facts
        self.sub_title = facts.name
        self.host_ms.clear()
        self.nna_ms.clear()
        self.query_one("#facts", Static).update(facts_text(facts, search_text(self.beam, self.lm_options)))
        self.query_one("#host-spark", Sparkline).data = []
        self.query_one("#nna-spark", Sparkline).data = []

    def _apply(self, u: Update) -> None:
        if u.facts is not None:
            self._set_model(u.facts)
        if u.source is not None:
            self._set_source(*u.source)
        if u.notice is not None:
            self.set_notice(u.notice)
        if u.toast is not None:
            message, severity, title = u.toast
            self.notify(message, severity=severity, title=title)
        if u.hotwords:
            self.notify("; ".join(u.hotwords), title="heard")
        if u.finals:
            self.finals.extend(u.finals)
            del self.finals[:-KEPT_FINALS]
            w = self.query_one("#finals", Static)
            w.update(Text("\n".join(self.finals[-SHOWN_FINALS:])))
            w.display = True
        if u.partial is not None or u.listening is not None:
            if u.partial is not None:
                self.partial = u.partial
            if u.listening is not None:
                self.listening = u.listening
            self._show_partial()
        if u.finals or u.partial:
            self.query_one("#transcript-box", VerticalScroll).scroll_end(animate=False)
        if u.level_db is not None:
            self.query_one("#level", LevelMeter).set_level(u.level_db, u.peak, dim=self.paused)
        if u.host_ms:
            self.host_ms.extend(u.host_ms)
            self.nna_ms.extend(u.nna_ms)
            self.chunks_seen += len(u.host_ms)
            self.query_one("#host-spark", Sparkline).data = list(self.host_ms)[-SPARK_CHUNKS:]
            self.query_one("#nna-spark", Sparkline).data = list(self.nna_ms)[-SPARK_CHUNKS:]
            h, n = _pcts(self.host_ms), _pcts(self.nna_ms)
            self.query_one("#host-nums", Static).update(
                f"p50 {h[0]:.3g} · p95 {h[1]:.3g} ms  (last {len(self.host_ms)} chunks)")
            self.query_one("#nna-nums", Static).update(
                f"p50 {n[0]:.3g} · p95 {n[1]:.3g} ms")
        if u.rtf is not None:
            self.query_one("#rtf", Static).update(
                f"RTF {u.rtf:.3f}  (host compute ÷ audio)")
        if u.dropped_s is not None:
            drop = f"dropped audio: {u.dropped_s:.1f} s ({u.dropped_blocks} blocks)"
            if u.overflows:
                drop += f" · device overflows: {u.overflows}"
            self.query_one("#dropped", Static).update(
                Text(drop, style="bold red" if (u.dropped_blocks or u.overflows) else ""))
        if self.transcript.error:
            self.set_notice(self.transcript.error)

    # --- decode worker (its own thread): posts the session's updates -------------------------
    def _post(self, fn, *args, **kwargs) -> None:
        """Run ``fn`` on the UI thread (from the worker); a no-op once the app is closing."""
        if self._stop.is_set():
            return
        try:
            self.call_from_thread(fn, *args, **kwargs)
        except Exception:  # the app is closing
            self._stop.set()

    @work(thread=True, exclusive=True, group="decode", exit_on_error=False)
    def _decode(self) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        for update in self.session.run(lambda: self._stop.is_set() or worker.is_cancelled):
            self._post(self._apply, update)

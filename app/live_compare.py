"""The live app's comparison view (key ``k``): every available model on the same audio,
host latency (measured) and NNA latency (modeled) distributions side by side."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, Sparkline, Static

from app.models import facts_of, human_bytes, human_count


def _pcts(v) -> tuple[float, float]:
    a = np.fromiter(v, dtype=np.float64)
    if not len(a):
        return (math.nan, math.nan)
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


class CompareScreen(Screen):
    """Every available model on the same audio: latency distributions side by side."""

    BINDINGS = [Binding("escape,k", "app.pop_screen", "back"), Binding("q", "app.quit", "quit")]
    BINS = 24

    def __init__(self, models: list[Path], audio: np.ndarray | None, rate: int, origin: str,
                 chunk_ms: int | None, beam: int, recognizer_options: dict | None = None) -> None:
        super().__init__()
        self.models, self.audio, self.rate, self.origin = models, audio, rate, origin
        self.chunk_ms, self.beam = chunk_ms, beam
        self.recognizer_options = recognizer_options or {}  # LM, hotwords, gate, threads, gain
        self.results: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Header()
        secs = 0.0 if self.audio is None else len(self.audio) / self.rate
        yield Static(f"Comparing {len(self.models)} model(s) on the same {secs:.1f} s of audio "
                     f"({self.origin}). Host latency is measured on this machine; NNA latency "
                     "is modeled by the cost model.", id="compare-intro")
        yield Static("running…", id="compare-status")
        yield Horizontal(id="compare-columns")
        yield Footer()

    def on_mount(self) -> None:
        if self.audio is None or not len(self.audio):
            self.query_one("#compare-status", Static).update(
                "No audio to compare on: let the input run a few seconds, or add the demo audio.")
            return
        self._run()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _run(self) -> None:
        from textual.worker import get_current_worker

        import engine
        from app.transcription import transcribe_samples

        worker = get_current_worker()
        results = []
        for i, p in enumerate(self.models):
            if worker.is_cancelled:
                return
            self.app.call_from_thread(self._status, f"running {p.stem} ({i + 1}/{len(self.models)})…")
            try:
                model = engine.load_model(p)
                rec = engine.Recognizer(model, chunk_ms=self.chunk_ms, beam=self.beam, **self.recognizer_options)
                t = transcribe_samples(rec, self.audio, self.rate, name=self.origin)
            except Exception as e:
                results.append({"name": p.stem, "error": " ".join(str(e).split())})
                continue
            results.append({"name": model.name, "facts": facts_of(model), "host": t.host_ms,
                            "nna": t.modeled_nna_ms, "rtf": t.rtf, "text": t.text})
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, results)

    def _status(self, msg: str) -> None:
        self.query_one("#compare-status", Static).update(msg)

    def _show(self, results: list[dict]) -> None:
        self.results = results
        ok = [r for r in results if "error" not in r]
        self._status(f"done: {len(ok)} of {len(results)} model(s). escape: back")
        cols = self.query_one("#compare-columns", Horizontal)
        # shared bins, up to the p99 of all models (slower outliers go in the last bin)
        hmax = _p99([v for r in ok for v in r["host"]])
        nmax = _p99([v for r in ok for v in r["nna"]])
        base = ok[0] if ok else None
        for r in results:
            col = Vertical(classes="compare-col")
            cols.mount(col)
            if "error" in r:
                col.mount(Label(f"[b]{r['name']}[/b]"), Static(f"could not run: {r['error']}"))
                continue
            hp, np_ = _pcts(r["host"]), _pcts(r["nna"])
            ratio = ""
            if base is not None and r is not base and _pcts(base["host"])[0] > 0:
                bh, bn = _pcts(base["host"])[0], _pcts(base["nna"])[0]
                ratio = f"vs {base['name']}: host ×{hp[0] / bh:.2f}, NNA ×{np_[0] / bn if bn else math.nan:.2f}"
            f = r["facts"]
            col.mount(
                Label(f"[b]{r['name']}[/b]"),
                Static(f"{human_count(f.params)} params · {f.sparsity_text} sparse · "
                       f"{human_bytes(f.file_bytes)} · {f.placement}", classes="compare-facts"),
                Label("host ms per chunk · measured", classes="stat-title"),
                Sparkline(_histogram(r["host"], hmax, self.BINS), summary_function=max,
                          classes="hist"),
                Static(f"bins 0 … {hmax:.3g}+ ms\np50 {hp[0]:.3g} · p95 {hp[1]:.3g} ms", classes="stat-nums"),
                Label("NNA ms per chunk · modeled", classes="stat-title"),
                Sparkline(_histogram(r["nna"], nmax, self.BINS), summary_function=max,
                          classes="hist"),
                Static(f"bins 0 … {nmax:.3g}+ ms\np50 {np_[0]:.3g} · p95 {np_[1]:.3g} ms", classes="stat-nums"),
                Static(f"RTF {r['rtf']:.3f}  {ratio}"),
                Label("heard", classes="stat-title"),
                Static(Text(r["text"] or "(nothing)", style="italic"), classes="compare-text"),
            )


def _p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else 1.0


def _histogram(values: list[float], vmax: float, bins: int) -> list[float]:
    """Counts of ``values`` in ``bins`` equal bins over [0, vmax] (shared across models);
    values above ``vmax`` count in the last bin."""
    if not values:
        return [0.0] * bins
    v = np.minimum(np.asarray(values, dtype=np.float64), vmax)
    counts, _ = np.histogram(v, bins=bins, range=(0.0, vmax * 1.0001 or 1.0))
    return [float(c) for c in counts]

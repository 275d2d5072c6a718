"""Comparing models on the same audio: WER, size, sparsity, host and modeled NNA latency.

Models are interleaved: for each file, every model runs in turn (the order rotates from
file to file), so a change in machine load during the run hits all models alike.
Host latency is *measured* (wall clock on this machine); NNA latency is *modeled* (the
engine's cost model for the model's NNA spec). The two are always labelled so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.cli import UserError


# --- text normalization for WER -------------------------------------------------------------
def _fallback_normalize(s: str) -> str:
    s = s.lower().replace("\u2019", "'")
    s = re.sub(r"[^a-z0-9' ]+", " ", s)
    s = re.sub(r"(^|\s)'+|'+(\s|$)", " ", s)
    return " ".join(s.split())


def normalizer():
    """The trainer's ``normalize_text`` (torch-free) if present, else lowercase + no punctuation."""
    try:
        from trainer.data.text import normalize_text
    except Exception:
        return _fallback_normalize
    return normalize_text


def word_error_rate(refs: list[str], hyps: list[str]) -> float | None:
    """Corpus WER (fraction): total edits / total reference words; None without references."""
    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r.strip()]
    if not pairs:
        return None
    import jiwer

    out = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    return float(out.wer)


# --- manifests ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    audio: str
    text: str | None = None  # reference transcript, if known
    duration: float | None = None


def read_manifest(path: str | Path) -> list[Item]:
    """JSON lines with ``audio_filepath`` (relative to the manifest's directory, or absolute),
    ``text`` and ``duration``."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: no such manifest") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read manifest ({e})") from None
    items = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{n}: not a JSON line ({e.msg})") from None
        if not isinstance(d, dict) or not isinstance(d.get("audio_filepath"), str):
            raise UserError(f"{path}:{n}: needs an \"audio_filepath\" string")
        audio = Path(d["audio_filepath"]).expanduser()
        if not audio.is_absolute():
            audio = path.parent / audio
        text = d.get("text")
        dur = d.get("duration")
        items.append(Item(str(audio), str(text) if text is not None else None,
                          float(dur) if isinstance(dur, (int, float)) else None))
    if not items:
        raise UserError(f"{path}: manifest has no entries")
    return items


# --- results -------------------------------------------------------------------------------
def percentiles(v: list[float]) -> dict:
    if not v:
        return {"p50": None, "p95": None, "mean": None}
    a = np.asarray(v, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "mean": float(a.mean())}


@dataclass
class ModelRun:
    """One model's results over all the audio."""

    facts: object  # app.models.ModelFacts
    hyps: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    host_ms: list[float] = field(default_factory=list)  # measured, per chunk
    modeled_nna_ms: list[float] = field(default_factory=list)  # modeled, per chunk
    audio_s: float = 0.0

    @property
    def rtf(self) -> float:
        return sum(self.host_ms) / 1000.0 / self.audio_s if self.audio_s else 0.0

    @property
    def wer(self) -> float | None:
        norm = normalizer()
        return word_error_rate([norm(r) for r in self.refs], [norm(h) for h in self.hyps])

    def add(self, transcript, ref: str | None) -> None:
        self.hyps.append(transcript.text)
        self.refs.append(ref or "")
        self.host_ms.extend(transcript.host_ms)
        self.modeled_nna_ms.extend(transcript.modeled_nna_ms)
        self.audio_s += transcript.audio_s

    def metrics(self) -> dict:
        h, m = percentiles(self.host_ms), percentiles(self.modeled_nna_ms)
        return {
            "wer": self.wer, "file_bytes": self.facts.file_bytes, "sparsity": self.facts.sparsity,
            "host_ms_p50": h["p50"], "host_ms_p95": h["p95"],
            "modeled_nna_ms_p50": m["p50"], "modeled_nna_ms_p95": m["p95"],
            "rtf": self.rtf,
        }


RATIO_KEYS = ("wer", "file_bytes", "host_ms_p50", "host_ms_p95", "modeled_nna_ms_p50",
              "modeled_nna_ms_p95", "rtf")


def ratios(metrics: dict, base: dict) -> dict:
    out = {}
    for k in RATIO_KEYS:
        a, b = metrics.get(k), base.get(k)
        out[k] = (a / b) if (a is not None and b) else None
    return out


def to_json(runs: list[ModelRun], n_files: int, failed: list[str]) -> dict:
    base = runs[0].metrics() if runs else {}
    models = []
    for r in runs:
        m = r.metrics()
        models.append({
            **r.facts.to_dict(), **m,
            "host_ms_measured": True, "modeled_nna_ms_measured": False,
            "chunks": len(r.host_ms), "audio_s": round(r.audio_s, 3),
            "ratios_vs_first": ratios(m, base),
        })
    return {"files": n_files, "failed": failed, "models": models}


def table(runs: list[ModelRun], title: str):
    """A rich table; under each model after the first, a dim row of ratios to the first."""
    from rich.table import Table

    from app.models import human_bytes

    base = runs[0].metrics()
    from rich import box

    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
              caption=f"host ms: measured on this machine; NNA ms: modeled by the cost model; "
                      f"×r: ratio to {runs[0].facts.name}", caption_justify="left")
    t.add_column("model", style="bold", no_wrap=True)
    for col in ("WER", "size", "sparsity", "host ms\np50 / p95", "NNA ms\np50 / p95", "RTF"):
        t.add_column(col, justify="right", no_wrap=True)

    def x(r: float | None) -> str:
        return "" if r is None else f"×{r:.2f}"

    for i, run in enumerate(runs):
        m = run.metrics()
        t.add_row(
            run.facts.name,
            "-" if m["wer"] is None else f"{100 * m['wer']:.1f}%",
            human_bytes(m["file_bytes"]),
            f"{100 * m['sparsity']:.1f}%",
            f"{_ms(m['host_ms_p50'])} / {_ms(m['host_ms_p95'])}",
            f"{_ms(m['modeled_nna_ms_p50'])} / {_ms(m['modeled_nna_ms_p95'])}",
            f"{m['rtf']:.3f}",
        )
        if i:
            q = ratios(m, base)
            t.add_row(
                "", x(q["wer"]), x(q["file_bytes"]), "",
                f"{x(q['host_ms_p50'])} / {x(q['host_ms_p95'])}",
                f"{x(q['modeled_nna_ms_p50'])} / {x(q['modeled_nna_ms_p95'])}",
                x(q["rtf"]), style="dim",
            )
    return t


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}"


def plot(runs: list[ModelRun], out: str | Path, title: str = "") -> Path:
    """Latency distributions per chunk: measured host (left), modeled NNA (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    names = [r.facts.name for r in runs]
    fig, axes = plt.subplots(1, 2, figsize=(max(7.0, 2.2 * len(runs) + 4), 4.2))
    panels = [
        (axes[0], [r.host_ms or [0.0] for r in runs],
         "host latency per chunk — measured\n(wall clock on this machine)", "ms"),
        (axes[1], [r.modeled_nna_ms or [0.0] for r in runs],
         "NNA latency per chunk — modeled\n(cost model of the NNA spec, not measured)", "ms"),
    ]
    for ax, data, label, unit in panels:
        ax.boxplot(data, showfliers=True, whis=(5, 95))
        ax.set_xticks(range(1, len(names) + 1), names, rotation=15)
        for i, d in enumerate(data, start=1):
            p50 = float(np.percentile(d, 50))
            ax.annotate(f"p50 {p50:.3g}", (i, p50), textcoords="offset points", xytext=(14, 0),
                        fontsize=8, va="center")
        ax.set_title(label, fontsize=10)
        ax.set_ylabel(unit)
        top = max(max(d) for d in data)
        ax.set_ylim(0, top * 1.12 if top > 0 else 1.0)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or "nnasr compare: per-chunk latency (whiskers: p5–p95)", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out

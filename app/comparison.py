"""Comparing models on the same audio: WER, CER, size, sparsity, host and modeled NNA latency.

Models (and peers, :mod:`app.peers`) are interleaved: for each file, every system runs in
turn (the order rotates from file to file), so a change in machine load during the run hits
all alike. Host latency is *measured* (wall clock on this machine); NNA latency is *modeled*
(the engine's cost model for the model's NNA spec; peers have none). The two are always
labelled so. Every system's text goes through the same :func:`normalizer` before scoring.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.cli import UserError, why_unreadable


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


def char_error_rate(refs: list[str], hyps: list[str]) -> float | None:
    """Corpus CER (fraction): total character edits / total reference characters (spaces
    count); None without references."""
    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r.strip()]
    if not pairs:
        return None
    import jiwer

    out = jiwer.process_characters([r for r, _ in pairs], [h for _, h in pairs])
    return float(out.cer)


def utterance_errors(ref: str, hyp: str) -> dict:
    """Word errors of one normalized (reference, hypothesis) pair; all None without a reference."""
    if not ref.strip():
        return {"ref_words": None, "substitutions": None, "deletions": None, "insertions": None,
                "wer": None}
    import jiwer

    o = jiwer.process_words(ref, hyp)
    n = o.hits + o.substitutions + o.deletions
    return {"ref_words": n, "substitutions": o.substitutions, "deletions": o.deletions,
            "insertions": o.insertions,
            "wer": (o.substitutions + o.deletions + o.insertions) / n}


# --- how sure a WER is -------------------------------------------------------------------
# Bootstrap over utterances (Bisani & Ney, "Bootstrap estimates for confidence intervals in
# ASR performance evaluation", ICASSP 2004): a set of 123 clips and 190 words, like the human
# dev set, moves by several points when a handful of clips change. Resampling whole utterances
# keeps the words of one clip together (their errors are not independent).
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_LEVEL = 0.95


def _resampled_sums(columns: list[np.ndarray], n: int, seed: int):
    """Yield, in batches, the sums of each column over ``n`` resamples (with replacement) of
    the utterances; the same resamples for every column (what makes the bootstrap paired)."""
    rng = np.random.default_rng(seed)
    size = len(columns[0])
    batch = max(1, min(n, 2_000_000 // max(size, 1)))
    done = 0
    while done < n:
        k = min(batch, n - done)
        counts = rng.multinomial(size, np.full(size, 1.0 / size), size=k).astype(np.float64)
        yield [counts @ c for c in columns]
        done += k


def _interval(v: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(v, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def wer_interval(errors, words, *, n: int = BOOTSTRAP_RESAMPLES, level: float = BOOTSTRAP_LEVEL,
                 seed: int = 0) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of a corpus WER (fraction) from per-utterance word errors
    (S + D + I) and reference words; None with fewer than two utterances with reference words
    (nothing to resample)."""
    e, w = np.asarray(errors, np.float64), np.asarray(words, np.float64)
    if np.count_nonzero(w) < 2:
        return None
    wers = [se / np.maximum(sw, 1.0) for se, sw in _resampled_sums([e, w], n, seed)]
    return _interval(np.concatenate(wers), level)


def wer_difference(errors_a, errors_b, words, *, n: int = BOOTSTRAP_RESAMPLES,
                   level: float = BOOTSTRAP_LEVEL, seed: int = 0) -> dict | None:
    """Paired bootstrap of WER(b) - WER(a), two systems' word errors on the same utterances:
    ``diff`` (fraction), ``ci`` (its interval at ``level``: one that excludes 0 says the
    difference is more than this audio's sampling noise) and ``p_b_lower`` (the share of
    resamples in which b has the lower WER). None with fewer than two utterances with
    reference words."""
    a, b = np.asarray(errors_a, np.float64), np.asarray(errors_b, np.float64)
    w = np.asarray(words, np.float64)
    if not (len(a) == len(b) == len(w)):
        raise ValueError("wer_difference: the systems must be scored on the same utterances")
    if np.count_nonzero(w) < 2:
        return None
    diffs = [(sb - sa) / np.maximum(sw, 1.0) for sa, sb, sw in _resampled_sums([a, b, w], n, seed)]
    d = np.concatenate(diffs)
    return {"diff": float((b.sum() - a.sum()) / w.sum()), "ci": list(_interval(d, level)),
            "level": level, "p_b_lower": float(np.mean(d < 0)), "resamples": n}


def utterance_error_counts(utterances: list[dict]) -> tuple[list[int], list[int]]:
    """(word errors, reference words) per utterance with a reference, from
    :func:`utterance_errors` dicts (``ModelRun.utterances()``); clips without one count 0."""
    errs = [(u["substitutions"] + u["deletions"] + u["insertions"]) if u["ref_words"] else 0
            for u in utterances]
    return errs, [u["ref_words"] or 0 for u in utterances]


def result_error_counts(per_utterance: list[dict]) -> tuple[list[int], list[int]]:
    """(word errors, reference words) per utterance of an evaluation's ``per_utterance``
    (``trainer.evaluate.EvalResult``: texts as written), scored after :func:`normalizer`."""
    norm = normalizer()
    return utterance_error_counts([utterance_errors(norm(u["ref"]), norm(u["hyp"] or ""))
                                   for u in per_utterance])


# --- manifests ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    audio: str
    text: str | None = None  # reference transcript, if known
    duration: float | None = None
    voice: str | None = None  # the manifest's speaker or condition key, if any


def read_manifest(path: str | Path) -> list[Item]:
    """JSON lines with ``audio_filepath`` (relative to the manifest's directory, or absolute),
    ``text`` and ``duration``."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: no such manifest") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a manifest (a .jsonl file)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read the manifest ({why_unreadable(e)})") from None
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
        voice = d.get("voice")
        items.append(Item(str(audio), str(text) if text is not None else None,
                          float(dur) if isinstance(dur, (int, float)) else None,
                          str(voice) if voice is not None else None))
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
    """One system's results over all the audio: an nnasr model, or a peer (``kind="peer"``)."""

    facts: object  # app.models.ModelFacts, or app.peers.PeerFacts
    kind: str = "nnasr"  # "nnasr" or "peer"
    streaming: bool = True
    about: str = ""  # how it decodes (engine settings, peer versions), for the table's caption
    audio: list[str] = field(default_factory=list)  # per utterance
    voices: list[str | None] = field(default_factory=list)  # per utterance: the manifest's voice
    hyps: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    host_ms: list[float] = field(default_factory=list)  # measured, per chunk
    modeled_nna_ms: list[float] = field(default_factory=list)  # modeled, per chunk
    compute_ms: float = 0.0  # measured, all chunks (whole utterances for non-streaming peers)
    audio_s: float = 0.0
    utt_compute_ms: list[float] = field(default_factory=list)  # measured, per utterance
    utt_audio_s: list[float] = field(default_factory=list)

    @property
    def rtf(self) -> float:
        return self.compute_ms / 1000.0 / self.audio_s if self.audio_s else 0.0

    def _normalized(self) -> tuple[list[str], list[str]]:
        norm = normalizer()
        return [norm(r) for r in self.refs], [norm(h) for h in self.hyps]

    @property
    def wer(self) -> float | None:
        return word_error_rate(*self._normalized())

    @property
    def cer(self) -> float | None:
        return char_error_rate(*self._normalized())

    def add(self, transcript, ref: str | None, audio: str = "", voice: str | None = None) -> None:
        """One utterance: an engine ``Transcript`` or a peer's ``PeerResult``."""
        self.audio.append(str(audio))
        self.voices.append(voice)
        self.hyps.append(transcript.text)
        self.refs.append(ref or "")
        self.host_ms.extend(transcript.host_ms)
        self.modeled_nna_ms.extend(transcript.modeled_nna_ms)
        compute_ms = getattr(transcript, "compute_ms", None)
        compute_ms = sum(transcript.host_ms) if compute_ms is None else compute_ms
        self.compute_ms += compute_ms
        self.audio_s += transcript.audio_s
        self.utt_compute_ms.append(compute_ms)
        self.utt_audio_s.append(transcript.audio_s)

    def utterances(self) -> list[dict]:
        """Per utterance: the texts as written and as scored, the word errors, and the
        measured compute time (ms) for its audio (s)."""
        refs, hyps = self._normalized()
        return [{"audio": a, "ref": r, "hyp": h, "ref_normalized": rn, "hyp_normalized": hn,
                 **utterance_errors(rn, hn), "audio_s": round(sec, 3),
                 "compute_ms": round(ms, 3)}
                for a, r, h, rn, hn, sec, ms in zip(self.audio, self.refs, self.hyps, refs, hyps,
                                                    self.utt_audio_s, self.utt_compute_ms,
                                                    strict=True)]

    def metrics(self) -> dict:
        h, m = percentiles(self.host_ms), percentiles(self.modeled_nna_ms)
        return {
            "wer": self.wer, "cer": self.cer, "file_bytes": self.facts.file_bytes,
            "sparsity": self.facts.sparsity,
            "live_sparsity": getattr(self.facts, "live_sparsity", None),
            "host_ms_p50": h["p50"], "host_ms_p95": h["p95"],
            "modeled_nna_ms_p50": m["p50"], "modeled_nna_ms_p95": m["p95"],
            "rtf": self.rtf,
        }


RATIO_KEYS = ("wer", "cer", "file_bytes", "host_ms_p50", "host_ms_p95", "modeled_nna_ms_p50",
              "modeled_nna_ms_p95", "rtf")


def ratios(metrics: dict, base: dict) -> dict:
    out = {}
    for k in RATIO_KEYS:
        a, b = metrics.get(k), base.get(k)
        out[k] = (a / b) if (a is not None and b) else None
    return out


def wer_spread(utterances: list[list[dict]]) -> list[dict]:
    """Per run, from its ``ModelRun.utterances()``: ``wer_ci`` (bootstrap interval of its WER
    over the utterances) and, for every run after the first, ``wer_vs_first`` (paired bootstrap
    of its WER minus the first run's, :func:`wer_difference`). Nulls without references."""
    counts = [utterance_error_counts(u) for u in utterances]
    out = []
    for i, (errs, words) in enumerate(counts):
        ci = wer_interval(errs, words)
        vs = wer_difference(counts[0][0], errs, words) if i else None
        out.append({"wer_ci": list(ci) if ci else None, "wer_vs_first": vs})
    return out


def to_json(runs: list[ModelRun], n_files: int, failed: list[str],
            unavailable: dict[str, str] | None = None) -> dict:
    """Every row (model or peer) has the same keys; a key that means nothing for a row
    (a peer's sparsity, modeled NNA latency) is null."""
    base = runs[0].metrics() if runs else {}
    utterances = [r.utterances() for r in runs]
    rows = []
    for r, utts, spread in zip(runs, utterances, wer_spread(utterances), strict=True):
        m = r.metrics()
        rows.append({
            **r.facts.to_dict(), **m, **spread,
            "kind": r.kind, "streaming": r.streaming, "about": r.about,
            "host_ms_measured": True, "modeled_nna_ms_measured": False,
            "chunks": len(r.host_ms), "compute_s": round(r.compute_ms / 1000.0, 4),
            "audio_s": round(r.audio_s, 3),
            "ratios_vs_first": ratios(m, base),
            "utterances": utts,
        })
    keys = list(dict.fromkeys(k for row in rows for k in row))
    rows = [{k: row.get(k) for k in keys} for row in rows]
    return {"files": n_files, "failed": failed, "unavailable": dict(unavailable or {}),
            "models": rows}


def table(runs: list[ModelRun], title: str):
    """A rich table; under each row after the first, a dim row of ratios to the first."""
    from rich import box
    from rich.table import Table

    from app.models import human_bytes

    base = runs[0].metrics()
    spread = wer_spread([r.utterances() for r in runs])
    caption = (f"host ms: measured on this machine, per chunk; NNA ms: modeled by the cost model "
               f"(-: a peer, no NNA); RTF: measured compute ÷ audio; WER/CER after the same "
               f"text normalization; ×r: ratio to {runs[0].facts.name}; WER 95% CI: bootstrap "
               f"over the utterances; Δ: paired bootstrap of the WER difference to "
               f"{runs[0].facts.name}, points, [95% CI]: an interval without 0 is more than "
               f"this audio's sampling noise")
    for r in runs:
        if r.kind == "peer" and r.about:
            caption += f"\n{r.facts.name}: {r.about}"
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
              caption=caption, caption_justify="left")
    t.add_column("model", style="bold", no_wrap=True)
    for col in ("WER", "WER 95% CI", "CER", "size", "sparsity", "streaming",
                "host ms\np50 / p95", "NNA ms\np50 / p95", "RTF"):
        t.add_column(col, justify="right", no_wrap=True)

    def x(r: float | None) -> str:
        return "" if r is None else f"×{r:.2f}"

    def pair(a: str, b: str) -> str:
        return f"{a} / {b}" if (a or b) else ""

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    def interval(ci: list | None) -> str:
        return "-" if ci is None else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}%"

    def delta(vs: dict | None) -> str:
        if vs is None:
            return ""
        lo, hi = vs["ci"]
        return f"Δ {100 * vs['diff']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"

    for i, run in enumerate(runs):
        m = run.metrics()
        t.add_row(
            run.facts.name + (" (peer)" if run.kind == "peer" else ""),
            pct(m["wer"]), interval(spread[i]["wer_ci"]), pct(m["cer"]),
            human_bytes(m["file_bytes"]),
            getattr(run.facts, "sparsity_text", None) or pct(m["sparsity"]),  # a peer: -
            "yes" if run.streaming else "no",
            f"{_ms(m['host_ms_p50'])} / {_ms(m['host_ms_p95'])}",
            f"{_ms(m['modeled_nna_ms_p50'])} / {_ms(m['modeled_nna_ms_p95'])}",
            f"{m['rtf']:.3f}",
        )
        if i:
            q = ratios(m, base)
            t.add_row(
                "", x(q["wer"]), delta(spread[i]["wer_vs_first"]), x(q["cer"]),
                x(q["file_bytes"]), "", "",
                pair(x(q["host_ms_p50"]), x(q["host_ms_p95"])),
                pair(x(q["modeled_nna_ms_p50"]), x(q["modeled_nna_ms_p95"])),
                x(q["rtf"]), style="dim",
            )
    return t


def by_voice(runs: list[ModelRun]) -> list[dict]:
    """WER per voice (the manifest's ``voice`` of each utterance; "-" where it has none)
    for every system on the same utterances: the whole set first, then the voices, most
    words first. Each row: ``voice``, ``utterances``, ``words``, ``wer`` {system: WER or None}."""
    per_run = [r.utterances() for r in runs]
    groups: dict[str, list[int]] = {}
    for k, voice in enumerate(runs[0].voices):
        groups.setdefault(voice or "-", []).append(k)

    def words(idx) -> int:
        return sum(per_run[0][k]["ref_words"] for k in idx)

    rows = []
    for voice, idx in [("all", list(range(len(per_run[0]))))] + sorted(
            groups.items(), key=lambda kv: (-words(kv[1]), kv[0])):
        n = words(idx)
        wer = {r.facts.name: (sum(us[k]["substitutions"] + us[k]["deletions"] + us[k]["insertions"]
                                  for k in idx) / n if n else None)
               for r, us in zip(runs, per_run, strict=True)}
        rows.append({"voice": voice, "utterances": len(idx), "words": n, "wer": wer})
    return rows


def by_voice_table(rows: list[dict], title: str = "WER per voice"):
    """:func:`by_voice`'s rows as a rich table, one column per system."""
    from rich import box
    from rich.table import Table

    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("voice", style="bold", no_wrap=True)
    t.add_column("utts", justify="right")
    t.add_column("words", justify="right")
    names = list(rows[0]["wer"]) if rows else []
    for name in names:
        t.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        t.add_row(row["voice"], str(row["utterances"]), str(row["words"]),
                  *("-" if row["wer"][n] is None else f"{100 * row['wer'][n]:.1f}%" for n in names),
                  style="bold" if row["voice"] == "all" else None)
    return t


def print_table(t, file=None) -> None:
    """Print a rich table; to a file or a pipe at its full width, not cut at 80 columns."""
    from rich.console import Console

    console = Console(file=file)
    if not console.is_terminal:
        width = console.measure(t, options=console.options.update_width(10_000)).maximum
        console = Console(file=file, width=max(80, width))
    console.print(t)


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}"


def plot(runs: list[ModelRun], out: str | Path, title: str = "") -> Path:
    """Latency distributions per chunk: measured host (left), modeled NNA (right). Peers
    appear on the left when they stream (per-chunk times), never on the right (no NNA)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    host = [r for r in runs if r.kind == "nnasr" or r.host_ms]
    nna = [r for r in runs if r.kind == "nnasr"] or host
    fig, axes = plt.subplots(1, 2, figsize=(max(7.0, 2.2 * len(host) + 4), 4.2))
    panels = [
        (axes[0], host, [r.host_ms or [0.0] for r in host],
         "host latency per chunk — measured\n(wall clock on this machine)", "ms"),
        (axes[1], nna, [r.modeled_nna_ms or [0.0] for r in nna],
         "NNA latency per chunk — modeled\n(cost model of the NNA spec, not measured)", "ms"),
    ]
    for ax, shown, data, label, unit in panels:
        names = [r.facts.name for r in shown]
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

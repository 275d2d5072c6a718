"""Transcribing files with the engine, and writing the results (text, JSON, SRT, VTT).

Files are streamed in blocks (``engine.audio.iter_audio_blocks``), so memory stays
bounded for hours-long files; the recognizer resamples whatever rate the file has.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMATS = ("text", "json", "srt", "vtt")
EXTENSIONS = {"text": ".txt", "json": ".json", "srt": ".srt", "vtt": ".vtt"}


@dataclass
class Segment:
    """One final result: an utterance between endpoints. Times in seconds."""

    text: str
    start: float
    end: float
    words: list[dict]  # {"word", "start", "end"}


@dataclass
class Transcript:
    path: str
    model: str
    segments: list[Segment]
    audio_s: float
    host_ms: list[float] = field(repr=False)  # per chunk, measured on this host
    modeled_nna_ms: list[float] = field(repr=False)  # per chunk, cost model
    stats: dict = field(default_factory=dict)  # engine StreamStats.summary()
    wall_s: float = 0.0  # wall-clock time of the whole transcription, decode + file I/O
    op_counts: dict = field(default_factory=dict, repr=False)  # NNA/CPU op invocations (nnasr cost)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text)

    @property
    def rtf(self) -> float:
        return float(self.stats.get("rtf", 0.0))

    def to_json(self) -> dict:
        return {
            "file": self.path,
            "model": self.model,
            "text": self.text,
            "segments": [
                {"text": s.text, "start": s.start, "end": s.end} for s in self.segments
            ],
            "words": [w for s in self.segments for w in s.words],
            "audio_s": round(self.audio_s, 3),
            "rtf": round(self.rtf, 5),
            "latency": latency_summary(self.host_ms, self.modeled_nna_ms),
            "upl_ms": self.stats.get("upl_ms", []),
        }


def latency_summary(host_ms: list[float], modeled_ms: list[float]) -> dict:
    """Per-chunk latency percentiles (ms): host is measured, NNA is modeled."""

    def pct(v: list[float]) -> dict:
        if not v:
            return {"p50": None, "p95": None, "max": None, "mean": None}
        a = np.asarray(v, dtype=np.float64)
        return {"p50": round(float(np.percentile(a, 50)), 4),
                "p95": round(float(np.percentile(a, 95)), 4),
                "max": round(float(a.max()), 4), "mean": round(float(a.mean()), 4)}

    return {"chunks": len(host_ms),
            "host_ms": {"measured": True, **pct(host_ms)},
            "modeled_nna_ms": {"measured": False, **pct(modeled_ms)}}


def _segment(r, offset: float, frame_s: float) -> Segment:
    words = [{"word": w.word, "start": round(offset + w.start, 3), "end": round(offset + w.end, 3)}
             for w in r.words]
    if words:
        start, end = words[0]["start"], words[-1]["end"]
    else:
        start = offset + r.start
        end = offset + (r.timestamps[-1] + frame_s if r.timestamps else r.start)
    return Segment(r.text, round(start, 3), round(end, 3), words)


def feed_results(stream, results, finals: list[Segment], offset: float = 0.0) -> None:
    """Collect the final results among ``results`` into ``finals``."""
    frame_s = stream.rec.frame_s
    for r in results:
        if r.is_final and r.text:
            finals.append(_segment(r, offset, frame_s))


def transcribe_file(
    rec,
    path: str | Path,
    *,
    block_seconds: float = 10.0,
    on_progress: Callable[[float], None] | None = None,
) -> Transcript:
    """Stream one file through a fresh stream of ``rec``.

    Raises ``engine.AudioError`` (message names the file) for unreadable audio.
    ``on_progress(seconds_of_audio_done)`` is called after every block.
    """
    from engine.audio import AudioError, iter_audio_blocks

    if Path(path).is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    t0 = time.perf_counter()
    stream = rec.create_stream()
    finals: list[Segment] = []
    done = 0.0
    for block, rate in iter_audio_blocks(path, block_seconds=block_seconds):
        stream.accept_waveform(block, rate)
        feed_results(stream, stream.results(), finals)
        done += len(block) / rate
        if on_progress:
            on_progress(done)
    stream.input_finished()
    feed_results(stream, stream.results(), finals)
    return _transcript(stream, str(path), rec.model.name, finals, time.perf_counter() - t0)


def transcribe_samples(rec, samples: np.ndarray, rate: int, name: str = "<audio>") -> Transcript:
    """Transcribe audio already in memory (fed in one call; the engine chunks it)."""
    t0 = time.perf_counter()
    stream = rec.create_stream()
    finals: list[Segment] = []
    stream.accept_waveform(samples, rate)
    feed_results(stream, stream.results(), finals)
    stream.input_finished()
    feed_results(stream, stream.results(), finals)
    return _transcript(stream, name, rec.model.name, finals, time.perf_counter() - t0)


def _transcript(stream, path: str, model: str, finals: list[Segment], wall: float) -> Transcript:
    chunks = [c for c in stream.stats.chunks if c.audio_ms > 0]
    return Transcript(
        path=path, model=model, segments=finals, audio_s=stream.stats.audio_seconds,
        host_ms=[c.host_ms for c in chunks], modeled_nna_ms=[c.modeled_nna_ms for c in chunks],
        stats=stream.stats.summary(), wall_s=wall, op_counts=dict(stream.stats.op_counts),
    )


# --- output formats ---------------------------------------------------------------------
def _ts(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(t: Transcript, max_words: int = 12) -> list[tuple[float, float, str]]:
    """Subtitle cues: one per segment, long segments split every ``max_words`` words."""
    cues = []
    for s in t.segments:
        if not s.words:
            cues.append((s.start, max(s.end, s.start + 0.5), s.text))
            continue
        for i in range(0, len(s.words), max_words):
            ws = s.words[i : i + max_words]
            cues.append((ws[0]["start"], ws[-1]["end"], " ".join(w["word"] for w in ws)))
    # cues must not overlap and must have positive length
    out = []
    for i, (a, b, text) in enumerate(cues):
        if out and a < out[-1][1]:
            a = out[-1][1]
        b = max(b, a + 0.2)
        if i + 1 < len(cues):
            b = min(b, max(cues[i + 1][0], a + 0.2))
        out.append((a, b, text))
    return out


def render(t: Transcript, fmt: str) -> str:
    if fmt == "text":
        return t.text + "\n"
    if fmt == "json":
        return json.dumps(t.to_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "srt":
        return "".join(
            f"{i}\n{_ts(a, ',')} --> {_ts(b, ',')}\n{text}\n\n"
            for i, (a, b, text) in enumerate(_cues(t), start=1)
        )
    if fmt == "vtt":
        body = "".join(f"{_ts(a, '.')} --> {_ts(b, '.')}\n{text}\n\n" for a, b, text in _cues(t))
        return "WEBVTT\n\n" + body
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")

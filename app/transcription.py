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
    hotwords: list[dict] = field(default_factory=list)  # {"phrase", "start", "end"}: completed


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
    # per chunk, as modeled_nna_ms, where the recognizer keeps them (keep_chunk_counts)
    chunk_op_counts: list[dict] | None = field(default=None, repr=False)

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
            **({"hotwords": hits} if (hits := [h for s in self.segments for h in s.hotwords]) else {}),
            "audio_s": round(self.audio_s, 3),
            "rtf": round(self.rtf, 5),
            "latency": latency_summary(self.host_ms, self.modeled_nna_ms),
            "upl_ms": self.stats.get("upl_ms", []),
            **{k: self.stats[k] for k in ("gain", "gain_db", "gain_clipped") if k in self.stats},
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
    hits = [{"phrase": w.word, "start": round(offset + w.start, 3), "end": round(offset + w.end, 3)}
            for w in r.hotwords]
    return Segment(r.text, round(start, 3), round(end, 3), words, hits)


def feed_results(stream, results, finals: list[Segment], offset: float = 0.0,
                 on_segment: Callable[[Segment], None] | None = None) -> None:
    """Collect the final results among ``results`` into ``finals`` (and hand each to
    ``on_segment`` as it comes)."""
    frame_s = stream.rec.frame_s
    for r in results:
        if r.is_final and r.text:
            finals.append(_segment(r, offset, frame_s))
            if on_segment:
                on_segment(finals[-1])


def transcribe_file(
    rec,
    path: str | Path,
    *,
    block_seconds: float = 10.0,
    on_progress: Callable[[float], None] | None = None,
    on_segment: Callable[[Segment], None] | None = None,
    on_partial: Callable[[str], None] | None = None,
    raw_rate: int | None = None,
    finish_on_interrupt: bool = False,
    auto_gain: bool = False,
) -> Transcript:
    """Stream one file through a fresh stream of ``rec``.

    Raises ``engine.AudioError`` (message names the file) for unreadable audio.
    ``on_progress(seconds_of_audio_done)`` is called after every block,
    ``on_segment(segment)`` for every final as soon as its endpoint is decoded, and
    ``on_partial(text)`` with the utterance decoded so far after every block. ``path``
    ``-`` is standard input; ``raw_rate``: headerless 16-bit mono PCM at that rate
    (``engine.audio.iter_audio_blocks``). ``finish_on_interrupt``: a ``KeyboardInterrupt``
    ends the input there, and what was heard is decoded to its end and returned (a live
    input's way to stop); otherwise it propagates. ``auto_gain``: the file is read once first
    for its level, and the stream's input gain set from it (:class:`engine.level.LevelMeter`;
    not for standard input).
    """
    from engine.audio import AudioError, iter_audio_blocks

    if Path(path).is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    t0 = time.perf_counter()
    stream = rec.create_stream()
    if auto_gain:
        if str(path) == "-" or (Path(path).exists() and not Path(path).is_file()):
            raise AudioError(f"{path}: --gain auto reads a file twice, for its level first; this input "
                             "can be read once only")
        from engine.level import LevelMeter

        meter = LevelMeter()
        for block, rate in iter_audio_blocks(path, block_seconds=block_seconds, raw_rate=raw_rate):
            meter.accept(block, rate)
        stream.set_gain(meter.gain_db())
    finals: list[Segment] = []
    done = 0.0
    try:
        for block, rate in iter_audio_blocks(path, block_seconds=block_seconds, raw_rate=raw_rate):
            stream.accept_waveform(block, rate)
            feed_results(stream, stream.results(), finals, on_segment=on_segment)
            if on_partial:
                on_partial(stream.result.text)
            done += len(block) / rate
            if on_progress:
                on_progress(done)
    except KeyboardInterrupt:
        if not finish_on_interrupt:
            raise
    stream.input_finished()
    feed_results(stream, stream.results(), finals, on_segment=on_segment)
    t = _transcript(stream, str(path), rec.model.name, finals, time.perf_counter() - t0)
    if auto_gain:  # the gain chosen, 0 included
        t.stats.update(gain="auto", gain_db=stream.gain_db, gain_clipped=t.stats.get("gain_clipped", 0.0))
    return t


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
    log, kept = stream.stats.chunks, stream.stats.chunk_op_counts
    full = log.column("audio_ms") > 0
    return Transcript(
        path=path, model=model, segments=finals, audio_s=stream.stats.audio_seconds,
        host_ms=log.column("host_ms")[full].tolist(), modeled_nna_ms=log.column("modeled_nna_ms")[full].tolist(),
        stats=stream.stats.summary(), wall_s=wall, op_counts=dict(stream.stats.op_counts),
        chunk_op_counts=None if kept is None else [dict(c) for c, f in zip(kept, full) if f],
    )


# --- output formats ---------------------------------------------------------------------
def _ts(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(segments: list[Segment], floor: float = 0.0, max_words: int = 12) -> list[tuple[float, float, str]]:
    """Subtitle cues: one per segment, long segments split every ``max_words`` words; no
    cue starts before ``floor`` (the end of the cues already written)."""
    cues = []
    for s in segments:
        if not s.words:
            cues.append((s.start, max(s.end, s.start + 0.5), s.text))
            continue
        for i in range(0, len(s.words), max_words):
            ws = s.words[i : i + max_words]
            cues.append((ws[0]["start"], ws[-1]["end"], " ".join(w["word"] for w in ws)))
    # cues must not overlap and must have positive length
    out = []
    for i, (a, b, text) in enumerate(cues):
        a = max(a, out[-1][1] if out else floor)
        b = max(b, a + 0.2)
        if i + 1 < len(cues):
            b = min(b, max(cues[i + 1][0], a + 0.2))
        out.append((a, b, text))
    return out


def _srt(cues, first: int = 1) -> str:
    return "".join(f"{i}\n{_ts(a, ',')} --> {_ts(b, ',')}\n{text}\n\n"
                   for i, (a, b, text) in enumerate(cues, start=first))


def _vtt(cues) -> str:
    return "".join(f"{_ts(a, '.')} --> {_ts(b, '.')}\n{text}\n\n" for a, b, text in cues)


def render(t: Transcript, fmt: str) -> str:
    if fmt == "text":
        return t.text + "\n"
    if fmt == "json":
        return json.dumps(t.to_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "srt":
        return _srt(_cues(t.segments))
    if fmt == "vtt":
        return "WEBVTT\n\n" + _vtt(_cues(t.segments))
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


class SegmentWriter:
    """Each format written segment by segment, as a stream's finals come: text one line
    per segment, json one JSON object per line (``text``, ``start``, ``end``, ``words``),
    SRT and WebVTT cue by cue (a cue is not shortened to the next segment's start, which
    is not known yet). ``header()`` first, then ``segment(s)`` for each."""

    def __init__(self, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        self.fmt, self.cues, self.end = fmt, 0, 0.0

    def header(self) -> str:
        return "WEBVTT\n\n" if self.fmt == "vtt" else ""

    def segment(self, s: Segment) -> str:
        if self.fmt == "text":
            return s.text + "\n"
        if self.fmt == "json":
            return json.dumps({"text": s.text, "start": s.start, "end": s.end, "words": s.words,
                               **({"hotwords": s.hotwords} if s.hotwords else {})},
                              ensure_ascii=False) + "\n"
        cues = _cues([s], floor=self.end)
        self.end = cues[-1][1]
        first, self.cues = self.cues + 1, self.cues + len(cues)
        return _srt(cues, first) if self.fmt == "srt" else _vtt(cues)


"""Streaming recognizer: the engine API (after sherpa-onnx).

    model = engine.load_model("assets/models/aat-csp.nnasr")
    rec = engine.Recognizer(model, chunk_ms=160, beam=1)
    stream = rec.create_stream()
    stream.accept_waveform(samples, sample_rate)   # any rate, mono/stereo, int or float
    for r in stream.results(): ...                 # partial and final results
    stream.input_finished()
    stream.stats                                   # measured host ms, modeled NNA ms, RTF, UPL

Audio is resampled to the model's rate and processed in steps of exactly ``chunk_ms``;
every stage is causal and frame-exact, so the transcript does not depend on how the
audio is cut into ``accept_waveform`` calls (streaming == offline), nor on ``chunk_ms``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .audio import StreamingResampler, to_float_mono
from .frontend import StreamingFrontend
from .model import EngineModel
from .network import Network


@dataclass(frozen=True)
class EndpointConfig:
    """Endpoint rules (seconds), as sherpa-onnx: an utterance ends when

    rule 1: nothing decoded yet and trailing silence >= ``rule1_min_trailing_silence``;
    rule 2: something decoded and trailing silence >= ``rule2_min_trailing_silence``;
    rule 3: utterance length >= ``rule3_max_utterance_length``.
    Trailing silence = time since the last non-blank token (or the utterance start).
    """

    enabled: bool = True
    rule1_min_trailing_silence: float = 2.4
    rule2_min_trailing_silence: float = 0.8
    rule3_max_utterance_length: float = 20.0


@dataclass
class Word:
    word: str
    start: float  # seconds from stream start
    end: float


@dataclass
class Result:
    text: str
    is_final: bool
    tokens: list[str]
    token_ids: list[int]
    timestamps: list[float]  # seconds, start of the encoder frame that emitted each token
    words: list[Word]
    segment: int
    start: float  # segment start, seconds


@dataclass
class ChunkStat:
    index: int
    audio_ms: float
    host_ms: float  # measured: wall-clock compute on this host (time.perf_counter)
    modeled_nna_ms: float  # modeled: cost model over the ops executed for this chunk
    audio_end_s: float  # stream time at the end of this chunk


@dataclass
class StreamStats:
    chunks: list[ChunkStat] = field(default_factory=list)
    upl_ms: list[float] = field(default_factory=list)  # simulated real-time, per final

    @property
    def audio_seconds(self) -> float:
        return sum(c.audio_ms for c in self.chunks) / 1000.0

    @property
    def host_seconds(self) -> float:
        return sum(c.host_ms for c in self.chunks) / 1000.0

    @property
    def rtf(self) -> float:
        return self.host_seconds / self.audio_seconds if self.audio_seconds else 0.0

    def summary(self) -> dict:
        h = np.array([c.host_ms for c in self.chunks if c.audio_ms > 0] or [0.0])
        m = np.array([c.modeled_nna_ms for c in self.chunks if c.audio_ms > 0] or [0.0])
        return {
            "chunks": len(self.chunks),
            "audio_s": round(self.audio_seconds, 3),
            "host_ms_p50": float(np.percentile(h, 50)),
            "host_ms_p95": float(np.percentile(h, 95)),
            "host_ms_max": float(h.max()),
            "modeled_nna_ms_p50": float(np.percentile(m, 50)),
            "modeled_nna_ms_p95": float(np.percentile(m, 95)),
            "modeled_nna_ms_max": float(m.max()),
            "rtf": self.rtf,
            "upl_ms": [round(u, 1) for u in self.upl_ms],
        }


@dataclass
class _Hyp:
    ids: list[int]
    times: list[int]  # encoder frame index per token
    logp: float
    pred: tuple  # (lstm state, join.pred output)


class Recognizer:
    """Holds a model and decoding options; makes streams.

    ``chunk_ms``: audio per processing step (default: the model's); ``beam``: 1 = greedy
    search (up to ``max_symbols_per_frame`` tokens per encoder frame), more = modified beam
    search; ``mode``: "placed" (the model's NNA/CPU placement) or "float" (the float
    reference); ``kernel``: how the host computes single-vector integer matmuls, "auto",
    "dense" (BLAS) or "sparse" (ELL) -- identical results, only host time differs
    (:data:`engine.nna.kernels.SPARSE_MAX_DENSITY`).
    """

    def __init__(
        self,
        model: EngineModel,
        chunk_ms: int | None = None,
        beam: int = 1,
        endpoint: EndpointConfig | None = None,
        mode: str = "placed",
        max_symbols_per_frame: int = 3,
        kernel: str = "auto",
    ) -> None:
        self.model = model
        self.chunk_ms = int(model.chunk_ms if chunk_ms is None else chunk_ms)
        if self.chunk_ms <= 0:
            raise ValueError("chunk_ms must be > 0")
        if beam < 1:
            raise ValueError("beam must be >= 1")
        self.beam = beam
        self.endpoint = endpoint or EndpointConfig()
        self.mode = mode
        self.max_symbols_per_frame = max_symbols_per_frame
        self.network = Network(model, mode=mode, kernel=kernel)
        self.sp = model.tokenizer()
        self.pieces = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]
        self.sample_rate = model.frontend.sample_rate
        self.frame_s = model.arch.encoder_frame_ms / 1000.0

    def create_stream(self) -> Stream:
        return Stream(self)


class Stream:
    def __init__(self, rec: Recognizer) -> None:
        self.rec = rec
        self.net = rec.network
        self.stats = StreamStats()
        self._resamplers: dict[int, StreamingResampler] = {}
        self._rate: int | None = None
        self._pending = np.zeros(0, np.float32)
        self._chunk_samples = int(round(rec.chunk_ms * rec.sample_rate / 1000))
        self._frontend = StreamingFrontend(rec.model.frontend)
        self._enc_state = self.net.init_encoder_state()
        self._frame = 0  # encoder frames processed
        self._samples_in = 0
        self._finished = False
        self._out: deque[Result] = deque()
        self.finals: list[Result] = []
        self._clock = 0.0  # simulated real-time clock (s), for UPL
        self._new_segment(0)

    # --- public API -------------------------------------------------------------------
    def accept_waveform(self, samples: np.ndarray, sample_rate: int) -> None:
        """Feed audio: any rate, mono ``[n]`` or ``[n, channels]``, int or float."""
        if self._finished:
            raise RuntimeError("input_finished() was called; create a new stream")
        sample_rate = int(sample_rate)
        if self._rate is None:
            self._rate = sample_rate
        elif sample_rate != self._rate:
            raise ValueError(f"sample rate changed from {self._rate} to {sample_rate} within a stream")
        x = to_float_mono(samples)
        x = self._resampler().accept(x)
        self._pending = np.concatenate([self._pending, x])
        while len(self._pending) >= self._chunk_samples:
            chunk, self._pending = (self._pending[: self._chunk_samples], self._pending[self._chunk_samples :])
            self._process(chunk)

    def input_finished(self) -> None:
        """No more audio: decode what is buffered and emit the final result."""
        if self._finished:
            return
        tail = self._resampler().accept(np.zeros(0, np.float32), final=True) if self._rate else np.zeros(0, np.float32)
        rest = np.concatenate([self._pending, tail])
        self._pending = np.zeros(0, np.float32)
        if len(rest):
            self._process(rest)
        self._finished = True
        self._finalize(force=True)

    def results(self):
        """New results since the last call: partials (text changed) and finals."""
        while self._out:
            yield self._out.popleft()

    @property
    def result(self) -> Result:
        """The current (partial) result of the segment being decoded."""
        return self._make_result(False)

    @property
    def text(self) -> str:
        """All final text so far plus the current partial, space-joined."""
        parts = [r.text for r in self.finals if r.text] + ([self.result.text] if self.result.text else [])
        return " ".join(parts)

    # --- internals ---------------------------------------------------------------------
    def _resampler(self) -> StreamingResampler:
        rate = self._rate or self.rec.sample_rate
        if rate not in self._resamplers:
            self._resamplers[rate] = StreamingResampler(rate, self.rec.sample_rate)
        return self._resamplers[rate]

    def _new_segment(self, start_frame: int) -> None:
        pred = self.net.init_predictor()
        self._hyps = [_Hyp([], [], 0.0, pred)]
        self._seg_start = start_frame
        self._last_token_frame: int | None = None
        self._last_partial = ""
        self._partial_key: tuple | None = None
        self._segment_index = len(self.finals)

    def _process(self, chunk: np.ndarray) -> None:
        t0 = time.perf_counter()
        self.net.take_counts()
        feats = self._frontend.accept(chunk)
        finals_before = len(self.finals)
        if len(feats):
            enc, kind = self.net.encode(self.net.normalize(feats), self._enc_state)
            if len(enc):
                proj = self.net.project_encoder(enc, kind)
                for i in range(len(enc)):
                    self._decode_frame((proj[0], proj[1][i]))
                    self._frame += 1
                    self._check_endpoint()
        counts = self.net.take_counts()
        host = time.perf_counter() - t0
        self._samples_in += len(chunk)
        audio_end = self._samples_in / self.rec.sample_rate
        self._clock = max(self._clock, audio_end) + host
        self.stats.chunks.append(
            ChunkStat(len(self.stats.chunks), 1000 * len(chunk) / self.rec.sample_rate, 1000 * host,
                      1000 * self.net.modeled_seconds(counts), audio_end)
        )
        for r in self.finals[finals_before:]:
            self._record_upl(r)
        key = (self._segment_index, tuple(self._hyps[0].ids))
        if key != self._partial_key:  # the text can only change with the tokens
            self._partial_key = key
            partial = self._make_result(False)
            if partial.text != self._last_partial:
                self._last_partial = partial.text
                self._out.append(partial)

    def _record_upl(self, r: Result) -> None:
        end_speech = (r.timestamps[-1] + self.rec.frame_s) if r.timestamps else None
        if end_speech is not None:
            self.stats.upl_ms.append(1000 * (self._clock - end_speech))

    def _decode_frame(self, e) -> None:
        if self.rec.beam == 1:
            self._greedy_frame(e)
        else:
            self._beam_frame(e, self.rec.beam)

    def _greedy_frame(self, e) -> None:
        """Greedy search: up to ``max_symbols_per_frame`` symbols on this frame."""
        net, blank = self.net, self.net.arch.blank_id
        t = self._frame
        h = self._hyps[0]
        for _ in range(self.rec.max_symbols_per_frame):
            _, best = net.joint(e, h.pred[1])
            k = int(best)
            if k == blank:
                break
            h.ids.append(k)
            h.times.append(t)
            h.pred = net.predict(k, h.pred[0])
            self._last_token_frame = t

    def _beam_frame(self, e, beam: int) -> None:
        """Modified beam search: at most one symbol per hypothesis per frame.

        Equal scores resolve as in greedy search (blank first, then the lowest class index),
        so a beam of 1 decodes exactly as greedy search with one symbol per frame.
        """
        net, blank = self.net, self.net.arch.blank_id
        t = self._frame
        cands = []
        for h in self._hyps:
            logits, _ = net.joint(e, h.pred[1])
            lp = logits - _logsumexp(logits)
            cands.append((h.logp + float(lp[blank]), h, None))
            top = np.argsort(-lp, kind="stable")[: beam + 1]
            for k in top:
                if int(k) != blank:
                    cands.append((h.logp + float(lp[k]), h, int(k)))
        merged: dict[tuple, tuple] = {}
        for score, h, k in cands:
            key = tuple(h.ids) + ((k,) if k is not None else ())
            if key in merged:
                old = merged[key]
                merged[key] = (np.logaddexp(old[0], score), old[1], old[2]) if score <= old[0] else (np.logaddexp(old[0], score), h, k)
            else:
                merged[key] = (score, h, k)
        best = sorted(merged.values(), key=lambda c: -c[0])[:beam]
        new = []
        for score, h, k in best:
            if k is None:
                new.append(_Hyp(list(h.ids), list(h.times), score, h.pred))
            else:
                new.append(_Hyp(h.ids + [k], h.times + [t], score, net.predict(k, h.pred[0])))
        self._hyps = new
        if new[0].times and new[0].times[-1] == t:
            self._last_token_frame = t

    def _check_endpoint(self) -> None:
        ep = self.rec.endpoint
        if not ep.enabled:
            return
        fs = self.rec.frame_s
        seg_len = (self._frame - self._seg_start) * fs
        best = self._hyps[0]
        if best.ids:
            silence = (self._frame - 1 - best.times[-1]) * fs
            hit = silence >= ep.rule2_min_trailing_silence
        else:
            hit = seg_len >= ep.rule1_min_trailing_silence
        if hit or seg_len >= ep.rule3_max_utterance_length:
            self._finalize()

    def _finalize(self, force: bool = False) -> None:
        r = self._make_result(True)
        if r.text or force:
            if r.text:
                self.finals.append(r)
                self._out.append(r)
                if force:
                    self._record_upl(r)
            elif force and self._last_partial:
                self._out.append(r)
        self._new_segment(self._frame)

    def _make_result(self, final: bool) -> Result:
        h = self._hyps[0]
        sp = self.rec.sp
        pieces = [self.rec.pieces[i - 1] for i in h.ids]
        text = sp.decode([i - 1 for i in h.ids]).strip() if h.ids else ""
        fs = self.rec.frame_s
        times = [round(t * fs, 3) for t in h.times]
        words: list[Word] = []
        for p, t in zip(pieces, times):
            piece = p.replace("\u2581", " ")
            if p.startswith("\u2581") or not words:
                w = piece.strip()
                if w or not words:
                    words.append(Word(w, t, t + fs))
                    continue
            words[-1].word += piece.strip()
            words[-1].end = t + fs
        words = [w for w in words if w.word]
        return Result(text, final, pieces, list(h.ids), times, words, self._segment_index,
                      round(self._seg_start * fs, 3))


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x))
    return m + float(np.log(np.sum(np.exp(x - m))))

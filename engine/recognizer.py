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

import math
import os
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .audio import AudioError, StreamingResampler, to_float_mono
from .context import HOTWORD_SCORE, ContextGraph
from .frontend import StreamingFrontend
from .lm import LM_BONUS, LM_WEIGHT, NgramLM
from .model import EngineModel
from .network import Network
from .stats import ChunkLog, ChunkStat, StreamStats  # noqa: F401 (ChunkLog, ChunkStat: the stats API)
from .threads import pin_blas
from .vad import CMN_SPEECH, SpeechGate, VadConfig

MAX_GAIN_DB = 120.0  # an input gain's bound either way


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
    # at an endpoint the encoder starts afresh too, as each training utterance did (the
    # front-end, the speech gate and the feature statistics go on). The models learned on
    # clips of a few seconds: an LSTM state carried over minutes drifts and inserts words
    # (docs/decoding.md, "Endpointing"). False: the encoder state goes on across utterances
    reset_encoder: bool = True

    def __post_init__(self) -> None:
        bad = [f"{k}={getattr(self, k)!r}" for k in ("rule1_min_trailing_silence", "rule2_min_trailing_silence",
                                                    "rule3_max_utterance_length")
               if not (isinstance(getattr(self, k), (int, float)) and getattr(self, k) > 0)]
        if bad:  # 0 or less ended every utterance at once (an empty transcript)
            raise ValueError(f"endpoint rules are seconds, more than 0: {', '.join(bad)}")


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
    # with hotwords: every phrase the text completes (its text, first and last token's time)
    hotwords: list[Word] = field(default_factory=list)


@dataclass
class _Hyp:
    ids: list[int]
    times: list[int]  # encoder frame index per token
    logp: float
    pred: tuple  # (predictor state: an LSTM's, or a stateless one's last tokens; join.pred output)
    ctx: int = 0  # hotwords: the context graph's state after ids


class Recognizer:
    """Holds a model and decoding options; makes streams. Its streams may be decoded in
    separate threads, each stream in one thread at a time (op counts are kept per thread).

    ``chunk_ms``: audio per processing step (default: the model's); ``beam``: 1 = greedy
    search (up to ``max_symbols_per_frame`` tokens per encoder frame), more = beam search
    (as many tokens per frame); ``mode``: "placed" (the model's NNA/CPU placement) or "float" (the float
    reference); ``kernel``: how the host computes single-vector integer matmuls, "auto",
    "dense" (BLAS) or "sparse" (ELL) -- identical results, only host time differs
    (:data:`engine.nna.kernels.SPARSE_MAX_DENSITY`); ``max_finals``: keep at most this many
    final results in ``Stream.finals`` (and so in ``Stream.text``), oldest dropped first;
    None (default) keeps all. Every final is still delivered by ``Stream.results()``; bound
    it for a stream that runs for hours, whose finals would otherwise grow with the
    transcript (about 230 bytes per token).

    ``lm``: a token n-gram language model (:class:`engine.lm.NgramLM` or the path of one,
    built for this model's tokenizer with ``nnasr lm``) for shallow fusion: each non-blank
    token scores ``log P_rnnt + lm_weight * log P_lm + lm_bonus``, in greedy and beam search
    alike, and a beam's finished hypotheses are ranked with ``lm_weight * log P_lm(</s>)``
    added. The LM runs on the host after the joiner: it changes no modeled NNA cost.

    ``hotwords``: phrases the search is tempted towards (contextual biasing,
    :mod:`engine.context`): text as the model's transcripts write it, ``str`` or ``(str,
    score)``, or a built :class:`engine.context.ContextGraph`; each token that spells one
    earns ``hotword_score`` (or the phrase's own score), kept only if the phrase is
    completed. Greedy and beam search alike; on the host, no modeled NNA cost.

    ``vad``: the speech gate (:class:`engine.vad.VadConfig`; default: its defaults; ``False``
    or ``VadConfig(enabled=False)``: decode every frame). The decoder runs only on encoder
    frames at or shortly after speech, so silence, noise and hum give no words (and cost
    no joiner or predictor steps); the encoder runs on every frame either way.

    ``gain_db``: a level change applied to the input before anything else hears it (after
    resampling; clipped at full scale), for a quiet microphone: the front-end's log floor
    takes the weaker bands of speech below about -45 dBFS (``benchmarks/log_floor.py``).
    Each stream starts with it; :meth:`Stream.set_gain` changes a stream's own
    (:func:`engine.level.auto_gain_db` gives one for a recording).

    ``threads``: BLAS threads for the process (:func:`engine.threads.pin_blas`; default: the
    ``NNASR_THREADS`` environment variable, else 1; 0 leaves the library's own default).

    ``keep_chunk_counts``: each stream also keeps every chunk's op counts
    (``StreamStats.chunk_op_counts``), to price the chunks again on another accelerator.
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
        max_finals: int | None = None,
        lm=None,
        lm_weight: float = LM_WEIGHT,
        lm_bonus: float = LM_BONUS,
        hotwords=None,
        hotword_score: float = HOTWORD_SCORE,
        vad: VadConfig | bool | None = None,
        threads: int | None = None,
        keep_chunk_counts: bool = False,
        gain_db: float = 0.0,
    ) -> None:
        if isinstance(model, (str, os.PathLike)):
            raise TypeError(f"Recognizer takes a loaded model, not a path: engine.load_model({str(model)!r})")
        for name, v, lo in (("beam", beam, 1), ("max_symbols_per_frame", max_symbols_per_frame, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name}={v!r}: a whole number, {lo} or more")
        if endpoint is not None and not isinstance(endpoint, EndpointConfig):
            raise TypeError(f"endpoint={endpoint!r}: an engine.EndpointConfig (or None: the default rules)")
        if vad is not None and not isinstance(vad, (bool, VadConfig)):
            raise TypeError(f"vad={vad!r}: True, False or an engine VadConfig (None: the default gate)")
        pin_blas(threads)
        self.gain_db = _checked_gain(gain_db)
        self.keep_chunk_counts = keep_chunk_counts
        self.model = model
        self.chunk_ms = int(model.chunk_ms if chunk_ms is None else chunk_ms)
        if self.chunk_ms <= 0:
            raise ValueError("chunk_ms must be > 0")
        self.beam = int(beam)
        if max_finals is not None and max_finals < 0:
            raise ValueError("max_finals must be >= 0 (or None: keep all)")
        self.max_finals = max_finals
        self.endpoint = endpoint or EndpointConfig()
        self.mode = mode
        self.max_symbols_per_frame = int(max_symbols_per_frame)
        self.network = Network(model, mode=mode, kernel=kernel)
        self.sp = model.tokenizer()
        self.pieces = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]
        self.sample_rate = model.frontend.sample_rate
        self.frame_s = model.arch.encoder_frame_ms / 1000.0
        if lm is not None and not isinstance(lm, NgramLM):
            lm = NgramLM(lm)
        if lm is not None:
            lm.check_tokenizer(model.tokenizer_proto)  # the same tokenizer: the same pieces
            if model.arch.blank_id != 0:
                raise ValueError("LM fusion needs blank = class 0 (class k = piece k-1)")
        self.lm = lm
        self.lm_weight = float(lm_weight)
        self.lm_bonus = float(lm_bonus)
        if hotwords is not None and not isinstance(hotwords, ContextGraph):
            hotwords = ContextGraph.from_texts(hotwords, self.sp, hotword_score)
        if hotwords is not None:
            if hotwords.vocab != len(self.pieces):
                raise ValueError(f"the hotwords graph has {hotwords.vocab} pieces, the model {len(self.pieces)}")
            if model.arch.blank_id != 0:
                raise ValueError("hotwords need blank = class 0 (class k = piece k-1)")
        self.context = hotwords
        if vad is None or vad is True:
            vad = VadConfig()
        elif vad is False:
            vad = VadConfig(enabled=False)
        self.vad = vad
        a = model.arch
        self.frames_per_encoder_frame = a.stack * (a.reduce_factor if a.reduce_after else 1)

    @property
    def fuses(self) -> bool:
        """Whether the search adds anything to the joiner's scores (an LM or hotwords)."""
        return self.lm is not None or self.context is not None

    def fused_logprobs(self, logits: np.ndarray, ids: list[int], ctx: int = 0) -> np.ndarray:
        """Log-softmax of the joiner's logits, plus the LM's score and the hotwords' score
        change from context state ``ctx`` on every non-blank class (class k is sentencepiece
        piece k-1; class 0 is blank)."""
        lp = logits - _logsumexp(logits)
        if self.fuses:
            lp = lp.astype(np.float64)
        if self.lm is not None:
            lm = self.lm.logprobs(self._lm_history(ids))
            lp[1:] += self.lm_weight * lm[: len(lp) - 1] + self.lm_bonus
        if self.context is not None:
            lp[1:] += self.context.transitions(ctx)[1][: len(lp) - 1]
        return lp

    def next_context(self, ctx: int, k: int) -> int:
        """The hotwords state after class ``k`` (0 without hotwords)."""
        return 0 if self.context is None else int(self.context.transitions(ctx)[0][k - 1])

    def end_score(self, ids: list[int], ctx: int = 0) -> float:
        """What a finished hypothesis adds when beams are ranked: the LM's weighted log
        P(</s> | ids), less the provisional bonus of an unfinished hotword (0 without either)."""
        s = 0.0
        if self.lm is not None and ids:
            s += self.lm_weight * float(self.lm.logprobs(self._lm_history(ids))[self.lm.eos])
        if self.context is not None:
            s += self.context.end_score(ctx)
        return s

    def _lm_history(self, ids: list[int]) -> list[int]:
        """The pieces the LM conditions on: the last order-1 tokens only (a segment's token
        list grows without bound; this runs for every hypothesis on every frame)."""
        return [i - 1 for i in ids[max(0, len(ids) - self.lm.order + 1):]]

    def create_stream(self) -> Stream:
        return Stream(self)


def _checked_gain(db: float) -> float:
    if not (math.isfinite(db) and abs(db) <= MAX_GAIN_DB):
        raise ValueError(f"gain_db must be a finite number of dB within -{MAX_GAIN_DB:g}..{MAX_GAIN_DB:g}, got {db}")
    return float(db)


class Stream:
    def __init__(self, rec: Recognizer) -> None:
        self.rec = rec
        self.net = rec.network
        self.stats = StreamStats(chunk_op_counts=[] if rec.keep_chunk_counts else None)
        self.set_gain(rec.gain_db)
        self._resamplers: dict[int, StreamingResampler] = {}
        self._rate: int | None = None
        self._pending = np.zeros(0, np.float32)
        self._chunk_samples = int(round(rec.chunk_ms * rec.sample_rate / 1000))
        self._frontend = StreamingFrontend(rec.model.frontend)
        self._gate = SpeechGate(rec.vad, rec.model.frontend)
        self._gate_is_cmn = rec.vad == CMN_SPEECH  # its per-frame speech is what a causal mean needs
        self._gate_open: deque[bool] = deque()  # per front-end frame not yet in an encoder frame
        self._enc_state = self.net.init_encoder_state()
        self._frame = 0  # encoder frames processed
        self._samples_in = 0
        self._finished = False
        self._out: deque[Result] = deque()
        self.finals: list[Result] = []
        self._n_finals = 0  # finals made, including any dropped from self.finals
        self._chunk_finals: list[Result] = []  # finals of the chunk being processed, for UPL
        self._clock = 0.0  # simulated real-time clock (s), for UPL
        self._new_segment(0)

    # --- public API -------------------------------------------------------------------
    def accept_waveform(self, samples: np.ndarray, sample_rate: int) -> None:
        """Feed audio: any rate, mono ``[n]`` or ``[n, channels]``, int or float."""
        if self._finished:
            raise RuntimeError("input_finished() was called; create a new stream")
        sample_rate = _checked_rate(sample_rate)
        if self._rate is None:
            self._rate = sample_rate
        elif sample_rate != self._rate:
            raise ValueError(f"sample rate changed from {self._rate} to {sample_rate} within a stream")
        x = to_float_mono(samples, warn_scale=True)
        x = self._gained(self._resampler().accept(x))
        self._pending = np.concatenate([self._pending, x])
        while len(self._pending) >= self._chunk_samples:
            chunk, self._pending = (self._pending[: self._chunk_samples], self._pending[self._chunk_samples :])
            self._process(chunk)

    def input_finished(self) -> None:
        """No more audio: decode what is buffered and emit the final result."""
        if self._finished:
            return
        tail = (self._gained(self._resampler().accept(np.zeros(0, np.float32), final=True)) if self._rate
                else np.zeros(0, np.float32))
        rest = np.concatenate([self._pending, tail])
        self._pending = np.zeros(0, np.float32)
        if len(rest):
            self._process(rest)
        self._finished = True
        self._finalize(force=True)

    def results(self):
        """New results since the last call: partials (text changed) and finals.

        A partial not yet read when a newer one of the same segment arrives is replaced by
        it, so a reader that calls this seldom gets the latest partial, and the queue holds
        the unread finals and at most one partial per segment."""
        while self._out:
            yield self._out.popleft()

    @property
    def result(self) -> Result:
        """The current (partial) result of the segment being decoded."""
        return self._make_result(False)

    @property
    def in_speech(self) -> bool:
        """Whether the speech gate is open (speech now or within its hangover); always
        True with the gate disabled once audio has arrived."""
        return self._gate.is_open if self.rec.vad.enabled else self._gate.frames > 0

    @property
    def text(self) -> str:
        """All final text so far plus the current partial, space-joined."""
        parts = [r.text for r in self.finals if r.text] + ([self.result.text] if self.result.text else [])
        return " ".join(parts)

    # --- internals ---------------------------------------------------------------------
    def set_gain(self, gain_db: float) -> None:
        """This stream's input gain (dB) from the next sample it is given on; the stream's
        stats keep the last one set (``gain_db``) and count the samples any gain clipped."""
        self.gain_db = _checked_gain(gain_db)
        self._gain = np.float32(10.0 ** (self.gain_db / 20.0))
        self.stats.gain_db = self.gain_db

    def _gained(self, x: np.ndarray) -> np.ndarray:
        if self.gain_db == 0.0:
            return x
        y = x * self._gain
        self.stats.gain_samples += len(y)
        self.stats.gain_clipped += int(np.count_nonzero(np.abs(y) > 1.0))
        return np.clip(y, -1.0, 1.0).astype(np.float32)

    def _resampler(self) -> StreamingResampler:
        rate = self._rate or self.rec.sample_rate
        if rate not in self._resamplers:
            self._resamplers[rate] = StreamingResampler(rate, self.rec.sample_rate)
        return self._resamplers[rate]

    def _encode_and_decode(self, x: np.ndarray, first: int) -> tuple[np.ndarray, int]:
        """Encode normalized frames ``x`` (the stream's frames ``first``..) and decode them.
        At an endpoint with ``EndpointConfig.reset_encoder`` the encoder starts afresh and
        the frames after the endpoint's encoder frame come back, with their index, to be
        encoded again from that state (as any chunking would have them); else nothing."""
        enc, kind = self.net.encode(x, self._enc_state)
        if not len(enc):
            return x[:0], first
        proj = self.net.project_encoder(enc, kind)
        per = self.rec.frames_per_encoder_frame
        for i in range(len(enc)):
            opened = [self._gate_open.popleft() for _ in range(per)]
            if any(opened):  # outside speech the frame is blank: nothing to decode
                self._decode_frame((proj[0], proj[1][i]))
            self._frame += 1
            self._check_endpoint()
            if self._seg_start == self._frame and self.rec.endpoint.reset_encoder:
                # the channel's statistics go on
                self._enc_state = self.net.init_encoder_state(cmn=self._enc_state["cmn"])
                self.stats.encoder_resets += 1
                rest = self._frame * per - first  # encoder frames are aligned to the stream's start
                return x[rest:], first + rest
        return x[:0], first

    def _new_segment(self, start_frame: int) -> None:
        pred = self.net.init_predictor()
        self._hyps = [_Hyp([], [], 0.0, pred)]
        self._pred_cache: dict[tuple, tuple] = {}  # token sequence -> predictor output (beam)
        self._seg_start = start_frame
        self._last_token_frame: int | None = None
        self._last_partial = ""
        self._partial_key: tuple | None = None
        self._segment_index = self._n_finals

    def _process(self, chunk: np.ndarray) -> None:
        t0 = time.perf_counter()
        self.net.take_counts()
        feats = self._frontend.accept(chunk)
        if len(feats):
            self._gate_open.extend(self._gate.accept(feats).tolist())
            # a causal mean takes its frames from the gate's detector when it is the same one
            x = self.net.normalize(feats, self._enc_state, self._gate.last_speech if self._gate_is_cmn else None)
            first = self._frontend.frames_emitted - len(x)  # the stream's index of x[0]
            while len(x):
                x, first = self._encode_and_decode(x, first)
        counts = self.net.take_counts()
        host = time.perf_counter() - t0
        self.stats.op_counts.update(counts)
        if self.stats.chunk_op_counts is not None:
            self.stats.chunk_op_counts.append(counts)
        self._samples_in += len(chunk)
        audio_end = self._samples_in / self.rec.sample_rate
        self._clock = max(self._clock, audio_end) + host
        self.stats.chunks.add(len(self.stats.chunks), 1000 * len(chunk) / self.rec.sample_rate,
                              1000 * host, 1000 * self.net.modeled_seconds(counts), audio_end)
        for r in self._chunk_finals:
            self._record_upl(r)
        self._chunk_finals.clear()
        key = (self._segment_index, tuple(self._hyps[0].ids))
        if key != self._partial_key:  # the text can only change with the tokens
            self._partial_key = key
            partial = self._make_result(False)
            if partial.text != self._last_partial:
                self._last_partial = partial.text
                last = self._out[-1] if self._out else None
                if last is not None and not last.is_final and last.segment == partial.segment:
                    self._out[-1] = partial  # an unread partial is superseded: _out stays small
                else:
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
            logits, best = net.joint(e, h.pred[1])
            k = int(best) if not self.rec.fuses else int(np.argmax(self.rec.fused_logprobs(logits, h.ids, h.ctx)))
            if k == blank:
                break
            h.ctx = self.rec.next_context(h.ctx, k)
            h.ids.append(k)
            h.times.append(t)
            h.pred = net.predict(k, h.pred[0])
            self._last_token_frame = t

    def _beam_frame(self, e, beam: int) -> None:
        """Beam search with up to ``max_symbols_per_frame`` tokens per hypothesis per frame.

        A frame is expanded in rounds. In each round every still-active hypothesis either
        ends the frame (blank: it joins the frame's finished set, where hypotheses with the
        same tokens are merged by log-sum-exp, i.e. summed over their alignments) or emits
        one of its ``beam + 1`` best tokens; the ``beam`` best emissions that still beat the
        ``beam``-th finished score stay active for the next round. After the last round the
        ``beam`` best finished hypotheses carry on. Unlike "modified" beam search (one token
        per frame), a hypothesis pays the blank of the frame it emitted on, and the 80 ms
        frames of these models, which need 0.62 tokens per frame on average, may emit
        several (measured in docs/decoding.md). Equal scores keep the earlier candidate.
        A round's hypotheses go through the joiner, and its new extensions through the
        predictor, as one invocation each on several vectors (one weight stream per round).
        """
        net, blank = self.net, self.net.arch.blank_id
        t = self._frame
        active = [(h.logp, h) for h in self._hyps]
        done: dict[tuple, list] = {}  # tokens -> [score, hypothesis]
        rounds = self.rec.max_symbols_per_frame + 1
        for r in range(rounds):
            ext: dict[tuple, list] = {}  # tokens -> [score, parent, token]
            preds = [h.pred[1] for _, h in active]
            logits, _ = net.joint(e, (preds[0][0], np.stack([p[1] for p in preds])))  # one call
            for (score, h), row in zip(active, logits):
                lp = self.rec.fused_logprobs(row, h.ids, h.ctx)
                key = tuple(h.ids)
                _merge(done, key, score + float(lp[blank]), h)
                if r == rounds - 1:
                    continue
                for k in np.argsort(-lp, kind="stable")[: beam + 1]:
                    k = int(k)
                    if k != blank:
                        _merge(ext, key + (k,), score + float(lp[k]), h, k)
            if not ext:
                break
            ranked = sorted(done.values(), key=lambda c: -c[0])
            floor = ranked[beam - 1][0] if len(ranked) >= beam else -np.inf
            best = [c for c in sorted(ext.values(), key=lambda c: -c[0])[:beam] if c[0] > floor]
            if not best:
                break
            outs = self._predict([(h, k) for _, h, k in best])
            active = [(sc, _Hyp(h.ids + [k], h.times + [t], sc, out, self.rec.next_context(h.ctx, k)))
                      for (sc, h, k), out in zip(best, outs)]
        best = sorted(done.values(), key=lambda c: -c[0])[:beam]
        self._hyps = [_Hyp(list(h.ids), list(h.times), sc, h.pred, h.ctx) for sc, h in best]
        if self._hyps[0].times and self._hyps[0].times[-1] == t:
            self._last_token_frame = t

    def _predict(self, ext: list[tuple[_Hyp, int]]) -> list[tuple]:
        """The predictor after each ``h.ids + [k]`` of a round's extensions, those not kept
        yet in one batched step (one weight stream for the round, as a device would run
        it). Beam search proposes the same extension frame after frame, so outputs are kept
        per token sequence within a segment (at most 4096, then forgotten at once): a device
        would keep them too, and the cost model counts only the predictor steps actually
        run. A stateless predictor's output is a function of the last ``pred_context``
        tokens alone: it is kept per those, and run once for the hypotheses that share them."""
        n = self.net.arch.pred_context
        if n:
            pad = (self.net.arch.blank_id,) * n
            keys = [(*pad, *h.ids[-n:], k)[-n:] for h, k in ext]
        else:
            keys = [(*h.ids, k) for h, k in ext]

        def missing() -> list[int]:
            """The first extension of each key not kept (a key is run once)."""
            first: dict[tuple, int] = {}
            for i, key in enumerate(keys):
                if key not in self._pred_cache:
                    first.setdefault(key, i)
            return list(first.values())

        todo = missing()
        if todo and len(self._pred_cache) + len(todo) > 4096:
            self._pred_cache.clear()
            todo = missing()
        if todo:
            outs = self.net.predict_batch([ext[i][1] for i in todo], [ext[i][0].pred[0] for i in todo])
            for i, out in zip(todo, outs):
                self._pred_cache[keys[i]] = out
        return [self._pred_cache[key] for key in keys]

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
                self._keep_final(r)
                self._out.append(r)
                if force:
                    self._record_upl(r)
                else:
                    self._chunk_finals.append(r)
            elif force and self._last_partial:
                self._out.append(r)
        self._new_segment(self._frame)

    def _keep_final(self, r: Result) -> None:
        self.finals.append(r)
        self._n_finals += 1
        m = self.rec.max_finals
        if m is not None and len(self.finals) > m:
            del self.finals[: len(self.finals) - m]

    def _make_result(self, final: bool) -> Result:
        h = self._hyps[0]
        if final and self.rec.fuses and len(self._hyps) > 1:
            h = max(self._hyps, key=lambda x: x.logp + self.rec.end_score(x.ids, x.ctx))  # first on ties
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
                    words.append(Word(w, t, round(t + fs, 3)))
                    continue
            words[-1].word += piece.strip()
            words[-1].end = round(t + fs, 3)
        words = [w for w in words if w.word]
        hits = []
        if self.rec.context is not None and h.ids:
            g = self.rec.context
            hits = [Word(g.texts[k], times[a], times[b - 1] + fs)
                    for k, a, b in g.matches([i - 1 for i in h.ids])]
        return Result(text, final, pieces, list(h.ids), times, words, self._segment_index,
                      round(self._seg_start * fs, 3), hits)


def _merge(table: dict, key: tuple, score: float, *rest) -> None:
    """Add a candidate: same key -> log-sum-exp of the scores, the better one's details
    (the earlier one on a tie)."""
    old = table.get(key)
    if old is None:
        table[key] = [score, *rest]
    else:
        keep = old[1:] if old[0] >= score else list(rest)
        table[key] = [float(np.logaddexp(old[0], score)), *keep]


def _checked_rate(rate) -> int:
    """A sample rate as a stream takes it: a positive whole number of Hz (0 used to mean
    16 kHz, 16000.7 was cut to 16000)."""
    ok = not isinstance(rate, bool) and isinstance(rate, (int, float, np.integer, np.floating))
    if not ok or not (math.isfinite(rate) and rate > 0 and rate == int(rate)):
        raise AudioError(f"sample_rate={rate!r}: a positive whole number of Hz")
    return int(rate)


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x))
    return m + float(np.log(np.sum(np.exp(x - m))))

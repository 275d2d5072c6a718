"""Word error rate of an engine model file or a torch checkpoint on a manifest.

Torch-free for engine models (``nnasr eval --model x.nnasr`` needs only the runtime);
checkpoints are exported in memory (PTQ calibration, or the AAT ranges) and run through
the engine's float reference (``mode="float"``) or the integer emulator (``"placed"``),
so a checkpoint and its export are scored by the same decoder.

Text normalization for WER (stated once): ``trainer.data.text.normalize_text`` on both
reference and hypothesis: lowercase, numbers and symbols spelled out, punctuation
stripped, whitespace collapsed. CER: the same edit distance over characters (spaces
included) of the normalized texts; it says how near a wrong word was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from engine.audio import load_audio
from engine.recognizer import EndpointConfig, Recognizer
from trainer.data.text import normalize_text


@dataclass
class EvalResult:
    wer: float
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int
    utterances: int
    audio_seconds: float
    host_seconds: float
    host_ms_p50: float = 0.0
    host_ms_p95: float = 0.0
    modeled_nna_ms_p50: float = 0.0
    modeled_nna_ms_p95: float = 0.0
    per_utterance: list[dict] = field(default_factory=list)
    cer: float = 0.0

    @property
    def rtf(self) -> float:
        return self.host_seconds / self.audio_seconds if self.audio_seconds else 0.0

    def to_dict(self, per_utterance: bool = False) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "per_utterance"}
        d["rtf"] = self.rtf
        if per_utterance:
            d["per_utterance"] = self.per_utterance
        return d

    def by_voice(self) -> dict[str, dict]:
        """WER counts per voice (the manifest's ``voice``; "?" where it has none), worst first."""
        return self.by_group(lambda u: u.get("voice") or "?")

    def by_condition(self) -> dict[str, dict]:
        """WER counts per acoustic condition of ``nnasr synth`` clips (added noise's SNR band,
        reverb or dry; :func:`trainer.data.synth.clip_condition`), worst first."""
        from trainer.data.synth import clip_augmentation, clip_condition

        configs: dict = {}
        return self.by_group(lambda u: clip_condition(
            clip_augmentation(u["audio_filepath"], u["ref"], u.get("voice") or "?", configs)))

    def by_group(self, key) -> dict[str, dict]:
        """WER counts per group, ``key(per-utterance dict) -> name``, worst first."""
        groups: dict[str, tuple[list[str], list[str]]] = {}
        for u in self.per_utterance:
            refs, hyps = groups.setdefault(key(u), ([], []))
            refs.append(u["ref"])
            hyps.append(u["hyp"])
        out = {v: {**wer_counts(r, h), "utterances": len(r)} for v, (r, h) in groups.items()}
        return dict(sorted(out.items(), key=lambda kv: -kv[1]["wer"]))


def wer_counts(refs: list[str], hyps: list[str]) -> dict:
    import jiwer

    refs_n = [normalize_text(r) for r in refs]
    hyps_n = [normalize_text(h) for h in hyps]
    pairs = [(r, h) for r, h in zip(refs_n, hyps_n) if r]
    if not pairs:
        return {"wer": 0.0, "substitutions": 0, "deletions": 0, "insertions": 0, "ref_words": 0, "cer": 0.0}
    rs, hs = [r for r, _ in pairs], [h if h else "" for _, h in pairs]
    out = jiwer.process_words(rs, hs)
    n = out.substitutions + out.deletions + out.hits
    ch = jiwer.process_characters(rs, hs)
    nc = ch.substitutions + ch.deletions + ch.hits
    return {"wer": (out.substitutions + out.deletions + out.insertions) / max(n, 1),
            "substitutions": out.substitutions, "deletions": out.deletions,
            "insertions": out.insertions, "ref_words": n,
            "cer": (ch.substitutions + ch.deletions + ch.insertions) / max(nc, 1)}


def evaluate_engine(model, records: list[dict], *, mode: str = "placed", beam: int = 1,
                    chunk_ms: int | None = None, progress: bool = False,
                    endpoint: bool = False, channel=None, auto_gain: bool = False, **search) -> EvalResult:
    """Decode every record (``audio_filepath``, ``text``) with the engine; WER and timing.
    ``search``: the recognizer's search options (``lm``, ``lm_weight``, ``lm_bonus``; see
    :class:`engine.Recognizer`). ``channel``: ``f(samples, rate) -> samples`` applied to each
    clip first (:func:`trainer.data.audio.parse_channel`). ``auto_gain``: each clip's input
    gain chosen from its level (:func:`engine.level.auto_gain_db`; per utterance ``gain_db``)."""
    from engine.level import auto_gain_db

    rec = Recognizer(model, chunk_ms=chunk_ms, beam=beam, mode=mode,
                     endpoint=EndpointConfig(enabled=endpoint), **search)
    rate = model.frontend.sample_rate

    def decode(x):
        s = rec.create_stream()
        t0 = time.perf_counter()
        extra = {}
        if auto_gain:
            extra["gain_db"] = auto_gain_db(x, rate)
            s.set_gain(extra["gain_db"])
        s.accept_waveform(x, rate)
        s.input_finished()
        return s.text, s.stats.chunks, time.perf_counter() - t0, extra

    return _evaluate(records, rate, decode, progress, "decoding", channel)


def evaluate_torch(model, tokenizer_proto: bytes, records: list[dict], *,
                   progress: bool = False, ctc: bool = False, channel=None) -> EvalResult:
    """Greedy decoding of every record by the torch model itself (float forward,
    :func:`trainer.decode.greedy_decode`), on the engine's front-end features: the reference
    that the engine's float execution of the model's export is compared against (contract 2:
    ``nnasr eval --mode torch`` vs ``--mode float`` on the same checkpoint and manifest).
    No per-chunk timing: the host time is the whole decode's. ``ctc``: decode with the
    encoder's CTC head instead (:func:`trainer.decode.ctc_greedy_decode`: no predictor)."""
    import sentencepiece as spm
    import torch

    from engine.frontend import compute_features
    from trainer.decode import ctc_greedy_decode, greedy_decode

    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(tokenizer_proto)
    model = model.eval()
    fe = model.frontend  # the front-end its model files are written with

    def decode(x):
        t0 = time.perf_counter()
        ids = (ctc_greedy_decode if ctc else greedy_decode)(model, torch.from_numpy(compute_features(x, fe)))
        hyp = sp.decode([i - 1 for i in ids]).strip() if ids else ""  # class k = piece k-1
        return hyp, [], time.perf_counter() - t0, {}

    return _evaluate(records, fe.sample_rate, decode, progress,
                     "decoding (torch, CTC head)" if ctc else "decoding (torch)", channel)


def _evaluate(records: list[dict], rate: int, decode, progress: bool, label: str, channel=None) -> EvalResult:
    """The scoring loop of both decoders: ``decode(samples) -> (text, chunk stats, seconds,
    extra)``, ``extra`` going into the utterance's entry; ``channel(samples, rate) -> samples``
    first when given."""
    refs, hyps, per = [], [], []
    host_ms, nna_ms = [], []
    audio_s = host_s = 0.0
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(label, total=len(records))
        for r in records:
            x = load_audio(r["audio_filepath"], rate)
            if channel is not None:
                x = channel(x, rate)
            text, chunks, seconds, extra = decode(x)
            host_s += seconds
            audio_s += len(x) / rate
            host_ms += [c.host_ms for c in chunks]
            nna_ms += [c.modeled_nna_ms for c in chunks]
            refs.append(r["text"])
            hyps.append(text)
            per.append({"audio_filepath": r["audio_filepath"], "ref": r["text"], "hyp": text,
                        "voice": r.get("voice"), **extra})
            bar.advance(task)
    c = wer_counts(refs, hyps)
    h = np.array(host_ms or [0.0])
    m = np.array(nna_ms or [0.0])
    return EvalResult(c["wer"], c["substitutions"], c["deletions"], c["insertions"], c["ref_words"],
                      len(records), audio_s, host_s, float(np.percentile(h, 50)),
                      float(np.percentile(h, 95)), float(np.percentile(m, 50)),
                      float(np.percentile(m, 95)), per, cer=c["cer"])

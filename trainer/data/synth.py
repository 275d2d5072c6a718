"""``nnasr synth``: build a speech corpus offline from Debian's TTS voices.

How a run works:

1. Texts: :func:`trainer.data.sentences.build_text_pools` (WordNet examples + short
   utterances), split by a hash of the text.
2. Voices: :func:`trainer.data.voices.discover_voices`; every voice has a fixed split,
   so dev/test speakers are never heard in training.
3. Per split, an endless deterministic stream of utterance specs: utterance ``i`` of a
   split draws its text, voice, rate, pitch and augmentation from a generator seeded by
   ``(seed, split, i)``. A spec's hash names its audio file, so a rerun finds the
   utterances it already made and never makes one twice; changing an option changes
   the spec and so the file.
4. Workers synthesize, augment, validate and write 16 kHz mono 16-bit WAV atomically.
   The stream is consumed until the split's hours are reached.
5. Manifests (``train/dev/test.jsonl``) are rewritten atomically, periodically and at
   the end, from what exists; then the tokenizer is trained on the training text and
   ``corpus.json`` records everything.
"""

from __future__ import annotations

import atexit
import fnmatch
import hashlib
import json
import math
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from . import audio as A
from .everyday import coverage_report
from .manifest import write_json_atomic, write_manifest
from .nonspeech import DURATION_RANGE as NONSPEECH_DURATION
from .nonspeech import KINDS as NONSPEECH_KINDS
from .nonspeech import make_nonspeech
from .sentences import SPLITS, TextPools, build_text_pools, source_shares, train_texts
from .voices import (
    ENGINE_PACKAGES,
    ENGINE_WEIGHTS,
    SynthError,
    Voice,
    discover_voices,
    make_tmpdir,
    synth_festival_batch,
    synth_one,
    weight_group,
)

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


def voice_weights(voices: list[Voice], split: str) -> np.ndarray:
    """Training: the voice groups' shares of ENGINE_WEIGHTS (``weight_group``: the engine, or
    the accented mbrola voices); dev/test: engines equally. Within a group, voices equally."""
    group = weight_group if split == "train" else (lambda v: v.engine)
    per_group = Counter(group(v) for v in voices)
    w = np.array([
        (ENGINE_WEIGHTS.get(group(v), 0.1) if split == "train" else 1.0) / per_group[group(v)]
        for v in voices
    ], dtype=np.float64)
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

    def est_seconds(self) -> float:
        if "nonspeech_s" in self.aug:
            return float(self.aug["nonspeech_s"])
        sp = float(self.aug.get("speed", 1.0))
        pad = sum(self.aug.get("pad", [0.1, 0.1]))
        return (0.058 * len(self.text) + 0.25) / self.rate / sp + pad

    def task(self, out: str, cfg: SynthConfig) -> dict:
        return {
            "key": self.key, "text": self.text, "voice": self.voice.to_dict(),
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


def _spec_key(text: str, voice_id: str, rate: float, pitch: float, aug: dict) -> str:
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
    weights = voice_weights(voices, split)
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
        if cfg.nonspeech_fraction > 0:
            ns = np.random.default_rng([cfg.seed, code, 6, i])
            if ns.random() < cfg.nonspeech_fraction:
                kind = NONSPEECH_KINDS[int(ns.integers(len(NONSPEECH_KINDS)))]
                dur = round(float(ns.uniform(*NONSPEECH_DURATION)), 2)
                v = Voice(f"nonspeech:{kind}", "nonspeech", kind, split, "nonspeech")
                text, aug = "", {**aug, "nonspeech_s": dur}
        key = _spec_key(text, v.id, rate, pitch, aug)
        rel = f"audio/{split}/{i // 1000:04d}/{split}_{i:07d}_{key}.wav"
        yield Item(split, i, text, v, rate, pitch, aug, key, rel)
        i += 1


# --------------------------------------------------------------------------- workers

_TMPDIR: str | None = None


def _tmpdir() -> str:
    global _TMPDIR
    if _TMPDIR is None or not os.path.isdir(_TMPDIR):
        _TMPDIR = make_tmpdir()
        atexit.register(shutil.rmtree, _TMPDIR, True)
    return _TMPDIR


# This worker's latest finished speech clips: the other voices that babble is made of.
_BABBLE: list[np.ndarray] = []


def _nonspeech_clip(t: dict) -> np.ndarray:
    aug = t["aug"]
    x = make_nonspeech(t["voice"]["name"], int(aug.get("noise_seed", 0)), float(aug["nonspeech_s"]))
    rng = np.random.default_rng(int(aug.get("noise_seed", 0)) + 1)
    if aug.get("channel") == "mic" and len(x) > 1:
        x = np.fft.irfft(np.fft.rfft(x) * A.mic_response(len(x), A.SAMPLE_RATE, rng), len(x))
    return np.clip(x, -0.9, 0.9).astype(np.float32)


def _finish(t: dict, res) -> dict:
    if t["voice"]["engine"] == "nonspeech":
        x = _nonspeech_clip(t)
        A.write_wav_atomic(t["path"], x)
        return {"key": t["key"], "duration": len(x) / A.SAMPLE_RATE}
    if isinstance(res, Exception):
        return {"key": t["key"], "drop": "tts_error", "detail": str(res)[:200]}
    raw, sr = res
    reason = A.check_raw(raw, sr)
    if reason:
        return {"key": t["key"], "drop": reason}
    babble = None
    if "babble_snr_db" in t["aug"] and _BABBLE:
        k = min(len(_BABBLE), 2 + int(t["aug"].get("noise_seed", 0)) % 3)
        babble = _BABBLE[-k:]
    x = A.process(raw, sr, t["aug"], babble=babble)
    if t["voice"]["engine"] != "nonspeech" and "babble_snr_db" not in t["aug"]:
        _BABBLE.append(x)
        del _BABBLE[:-6]
    reason = A.check_final(x, t["min_duration"], t["max_duration"])
    if reason:
        return {"key": t["key"], "drop": reason, "detail": f"{len(x) / A.SAMPLE_RATE:.2f}s"}
    A.write_wav_atomic(t["path"], x)
    return {"key": t["key"], "duration": len(x) / A.SAMPLE_RATE}


def synth_tasks(tasks: list[dict]) -> list[dict]:
    """Worker entry point: synthesize, process, validate and write a batch."""
    tmp = _tmpdir()
    out: list[dict] = []
    fest = [t for t in tasks if t["voice"]["engine"] == "festival"]
    rest = [t for t in tasks if t["voice"]["engine"] not in ("festival", "nonspeech")]
    out += [_safe_finish(t, None) for t in tasks if t["voice"]["engine"] == "nonspeech"]
    if fest:
        res = synth_festival_batch(
            [(Voice(**t["voice"]), t["text"], t["rate"], t["pitch"]) for t in fest], tmp
        )
        for t, r in zip(fest, res, strict=True):
            out.append(_safe_finish(t, r))
    for t in rest:
        try:
            r = synth_one(Voice(**t["voice"]), t["text"], t["rate"], t["pitch"], tmp)
        except SynthError as e:
            r = e
        out.append(_safe_finish(t, r))
    return out


def _safe_finish(t: dict, r) -> dict:
    try:
        return _finish(t, r)
    except Exception as e:  # a bad clip must not take the batch down
        return {"key": t["key"], "drop": "processing_error", "detail": repr(e)[:200]}


class _InlineExecutor:
    """Runs tasks in the calling process (``--workers 1``)."""

    def submit(self, fn, *args) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001
            f.set_exception(e)
        return f

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


# --------------------------------------------------------------------------- driver


def _read_drops(path: str) -> dict[str, dict]:
    drops: dict[str, dict] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    d = json.loads(line)
                    drops[d["key"]] = d
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut short by an interruption
    return drops


def _wav_duration(path: str) -> float | None:
    """Duration of a finished clip from its header, None if unreadable."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(44)
        if head[:4] == b"RIFF" and head[36:40] == b"data":
            return int.from_bytes(head[40:44], "little") / 2 / A.SAMPLE_RATE
        import soundfile as sf

        return float(sf.info(path).duration) if size > 44 else None
    except (OSError, RuntimeError):
        return None


class _Progress:
    """Progress of the splits: a rich bar on a terminal; otherwise (output redirected to a
    file, a background job) a plain line per split every ``every_s`` seconds and when the
    split is done, so a log shows how far a long synthesis got."""

    def __init__(self, enabled: bool, log=print, every_s: float = 30.0):
        self.enabled = bool(enabled)
        self.p = None
        self.tasks: dict[str, int] = {}
        self.log = log
        self.every_s = every_s
        self.lines = False
        self.totals: dict[str, float] = {}
        self.last: dict[str, float] = {}  # split -> time of its last line
        self.t0 = time.time()

    def __enter__(self):
        if not self.enabled:
            return self
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            self.lines = True
            return self
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.p = Progress(
            TextColumn("[bold]{task.description:<5}"),
            BarColumn(),
            TextColumn("{task.completed:6.2f}/{task.total:.2f} h"),
            TextColumn("{task.fields[utts]:>6} utts, {task.fields[drops]} dropped"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.p.__enter__()
        return self

    def add(self, split: str, total_h: float) -> None:
        self.totals[split] = total_h
        if self.p:
            self.tasks[split] = self.p.add_task(split, total=total_h, utts=0, drops=0)

    def update(self, split: str, hours: float, utts: int, drops: int, final: bool = False) -> None:
        if self.p:
            self.p.update(self.tasks[split], completed=min(hours, self.p.tasks[
                self.tasks[split]].total or hours), utts=utts, drops=drops)
        elif self.lines:
            now = time.time()
            if final or now - self.last.get(split, self.t0) >= self.every_s:
                self.last[split] = now
                self.log(f"synth: {split} {hours:.2f}/{self.totals.get(split, hours):.2f} h, {utts} utts, "
                         f"{drops} dropped, {now - self.t0:.0f} s" + (" (done)" if final else ""))

    def __exit__(self, *exc):
        if self.p:
            self.p.__exit__(*exc)


class _SplitRun:
    """State of one split while its stream is consumed."""

    def __init__(self, split: str, items: Iterator[Item], target_s: float, out: str):
        self.split = split
        self.items = items
        self.target_s = target_s
        self.out = out
        self.records: dict[int, dict] = {}
        self.done_s = 0.0
        self.reused = 0
        self.made = 0
        self.drops = Counter()
        self.drops_this_run = Counter()
        self.drop_recs: list[dict] = []
        self.peeked: Item | None = None
        self.ratio_sum = [0.0, 0.0]  # actual, estimated

    def next_item(self) -> Item:
        if self.peeked is not None:
            it, self.peeked = self.peeked, None
            return it
        return next(self.items)

    def est(self, item: Item) -> float:
        a, e = self.ratio_sum
        f = a / e if e > 30 else 1.0
        return item.est_seconds() * f

    def add(self, item: Item, duration: float) -> None:
        self.records[item.index] = {
            "audio_filepath": item.relpath, "text": item.text,
            "duration": round(duration, 4), "voice": item.voice.id,
        }
        self.done_s += duration

    def manifest_records(self) -> list[dict]:
        return [self.records[i] for i in sorted(self.records)]

    def write_manifest(self) -> None:
        write_manifest(os.path.join(self.out, f"{self.split}.jsonl"), self.manifest_records())


def run_synth(cfg: SynthConfig, log=print) -> dict:
    """Build (or resume) the corpus in ``cfg.out``. Returns the corpus.json dict."""
    t0 = time.time()
    out = os.path.abspath(cfg.out)
    os.makedirs(out, exist_ok=True)
    _link_cache(out, cfg.cache, log)
    by_split, voice_report = select_voices(cfg, log)
    try:
        pools = build_text_pools(max_sentences=cfg.max_sentences)
    except FileNotFoundError as e:
        raise CorpusError(str(e)) from None
    for s in SPLITS:
        names = sorted(v.id for v in by_split[s])
        shown = ", ".join(names) if len(names) <= 10 else (
            ", ".join(names[:6]) + f", ... ({len(names)} voices)")
        log(f"synth: {s}: {len(names)} voice(s): {shown}")

    drops_path = os.path.join(out, "dropped.jsonl")
    drops = _read_drops(drops_path)
    drop_f = open(drops_path, "a", encoding="utf-8")
    runs = {
        s: _SplitRun(s, item_stream(s, pools, by_split[s], cfg), cfg.target_hours(s) * 3600, out)
        for s in ("dev", "test", "train")
    }
    executor = (ProcessPoolExecutor(max_workers=cfg.workers) if cfg.workers > 1
                else _InlineExecutor())
    max_inflight = max(2, 3 * cfg.workers)
    try:
        with _Progress(cfg.progress, log) as prog:
            for s, r in runs.items():
                prog.add(s, r.target_s / 3600)
            for r in runs.values():
                _consume(r, cfg, executor, max_inflight, drops, drop_f, prog, out)
                r.write_manifest()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        drop_f.close()
        for r in runs.values():
            r.write_manifest()

    tok = _tokenizer(runs["train"], cfg, out, log)
    summary = _summary(cfg, runs, by_split, voice_report, pools, tok, time.time() - t0)
    write_json_atomic(os.path.join(out, "corpus.json"), summary)
    return summary


def _link_cache(out: str, cache: str | None, log) -> None:
    """Keep the corpus's audio in ``cache`` (``out/audio`` links there), so that a later run
    on this machine, into this or another folder, finds the clips made and never makes them
    again. A corpus whose audio is already a folder keeps it."""
    link = os.path.join(out, "audio")
    if not cache or os.path.isdir(link) and not os.path.islink(link):
        return
    target = os.path.join(os.path.abspath(os.path.expanduser(cache)), "audio")
    os.makedirs(target, exist_ok=True)
    if os.path.islink(link):
        if os.path.realpath(link) == os.path.realpath(target):
            return
        os.remove(link)
    os.symlink(target, link)
    log(f"synth: audio in {target} (cache: clips made once are reused by later runs)")


def _consume(r: _SplitRun, cfg: SynthConfig, executor, max_inflight: int,
             drops: dict[str, dict], drop_f, prog: _Progress, out: str) -> None:
    inflight: dict[Future, tuple[list[Item], float]] = {}
    est_inflight = 0.0
    buf: list[Item] = []
    fbuf: list[Item] = []
    stopped = False
    last_write = time.time()

    def submit(items: list[Item]) -> None:
        nonlocal est_inflight
        if not items:
            return
        e = sum(r.est(it) for it in items)
        fut = executor.submit(synth_tasks, [it.task(out, cfg) for it in items])
        inflight[fut] = (list(items), e)
        est_inflight += e

    def buffered_s() -> float:
        return sum(r.est(it) for it in buf) + sum(r.est(it) for it in fbuf)

    def known(item: Item) -> bool:
        """Account for an item already made or dropped by an earlier run."""
        if item.key in drops:
            r.drops[drops[item.key]["reason"]] += 1
            r.drop_recs.append(drops[item.key])
            return True
        path = os.path.join(out, item.relpath)
        if os.path.exists(path):
            d = _wav_duration(path)
            if d:
                r.add(item, d)
                r.reused += 1
                return True
        return False

    while True:
        while not stopped and len(inflight) < max_inflight:
            item = r.next_item()
            if known(item):
                continue
            if r.done_s + est_inflight + buffered_s() >= r.target_s:
                r.peeked = item
                stopped = True
                break
            if item.voice.engine == "festival":
                fbuf.append(item)
                if len(fbuf) >= max(cfg.chunk, 16):
                    submit(fbuf)
                    fbuf = []
            else:
                buf.append(item)
                if len(buf) >= cfg.chunk:
                    submit(buf)
                    buf = []
        if stopped or len(inflight) < max_inflight:
            submit(buf)
            submit(fbuf)
            buf, fbuf = [], []
        if not inflight:
            if r.done_s >= r.target_s:
                break
            stopped = False  # estimates fell short: keep going
            continue
        done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
        for fut in done:
            items, e = inflight.pop(fut)
            est_inflight -= e
            by_key = {it.key: it for it in items}
            for res in fut.result():
                it = by_key[res["key"]]
                if "duration" in res:
                    r.add(it, res["duration"])
                    r.made += 1
                    r.ratio_sum[0] += res["duration"]
                    r.ratio_sum[1] += it.est_seconds()
                else:
                    rec = {"key": it.key, "split": r.split, "index": it.index,
                           "voice": it.voice.id, "text": it.text, "reason": res["drop"],
                           "detail": res.get("detail", "")}
                    drops[it.key] = rec
                    drop_f.write(json.dumps(rec) + "\n")
                    drop_f.flush()
                    r.drops[res["drop"]] += 1
                    r.drop_recs.append(rec)
                    r.drops_this_run[res["drop"]] += 1
        prog.update(r.split, r.done_s / 3600, len(r.records), sum(r.drops.values()))
        if time.time() - last_write > 60:
            r.write_manifest()
            last_write = time.time()
    # Take in clips a previous run made past this point (it overshot its target, or
    # ran with more hours), so that a rerun's manifest never loses finished work.
    while True:
        item = r.next_item()
        if not known(item):
            r.peeked = item
            break
    prog.update(r.split, r.done_s / 3600, len(r.records), sum(r.drops.values()), final=True)


def _tokenizer(train: _SplitRun, cfg: SynthConfig, out: str, log) -> dict:
    from .tokenizer import train_tokenizer

    texts = [rec["text"] for rec in train.manifest_records()]
    digest = hashlib.sha1(
        json.dumps([cfg.vocab_size, cfg.tokenizer_type, sorted(set(texts))]).encode()
    ).hexdigest()[:16]
    prefix = os.path.join(out, "tokenizer")
    meta_path = os.path.join(out, "corpus.json")
    if os.path.exists(prefix + ".model") and os.path.exists(meta_path):
        try:
            with open(meta_path, encoding="utf-8") as f:
                old = json.load(f).get("tokenizer", {})
            if old.get("text_digest") == digest:
                return old
        except (OSError, json.JSONDecodeError):
            pass
    if not texts and cfg.hours == 0:
        log("synth: --hours 0: an evaluation-only corpus, no tokenizer (a model brings its own)")
        return {}
    if not texts:
        raise CorpusError("no training utterance was made; nothing to train the tokenizer on")
    try:
        import sentencepiece as spm

        spm.set_random_generator_seed(cfg.seed + 1)
    except (ImportError, AttributeError):
        pass
    info = train_tokenizer(sorted(set(texts)), prefix, cfg.vocab_size, cfg.tokenizer_type)
    info["path"] = "tokenizer.model"
    info["trained_on"] = "unique texts of train.jsonl"
    info["text_digest"] = digest
    if not info["hard_vocab_limit"]:
        log(f"synth: note: training text too small for {cfg.vocab_size} pieces; "
            f"the tokenizer has {info['vocab_size']}")
    return info


def _hours_by(recs: list[dict], key) -> dict[str, float]:
    h: Counter = Counter()
    for rec in recs:
        h[key(rec["voice"])] += rec["duration"] / 3600
    return {k: round(v, 4) for k, v in h.most_common()}


def _summary(cfg, runs, by_split, voice_report, pools, tok, wall) -> dict:
    splits = {}
    for s in SPLITS:
        r = runs[s]
        recs = r.manifest_records()
        vc = Counter(rec["voice"] for rec in recs)
        splits[s] = {
            "manifest": f"{s}.jsonl",
            "utterances": len(recs),
            "hours": round(r.done_s / 3600, 4),
            "target_hours": cfg.target_hours(s),
            "distinct_texts": len({rec["text"] for rec in recs}),
            "text_shares": source_shares(pools, s, [rec["text"] for rec in recs]),
            "voices": sorted(v.id for v in by_split[s]),
            "speakers": sorted({v.speaker for v in by_split[s]}),
            "utterances_per_engine": dict(Counter(rec["voice"].split(":")[0] for rec in recs)),
            "hours_per_engine": _hours_by(recs, lambda v: v.split(":")[0]),
            "hours_per_voice": _hours_by(recs, lambda v: v),
            "voices_used": len(vc),
            "made_this_run": r.made,
            "reused": r.reused,
            "augmented": cfg.augment and (s == "train" or cfg.augment_eval),
        }
    all_drops = [d for r in runs.values() for d in r.drop_recs]
    cfg_d = asdict(cfg)
    cfg_d.pop("progress", None)
    return {
        "format": "nnasr-corpus/1",
        "source": "synth",
        "sample_rate": A.SAMPLE_RATE,
        "audio": "16-bit PCM mono WAV",
        "manifest_keys": ["audio_filepath", "text", "duration", "voice"],
        "speaker_disjoint": voice_report["speaker_disjoint"],
        "held_out_voices": {"dev": splits["dev"]["voices"], "test": splits["test"]["voices"]},
        "splits": splits,
        "dropped": {
            "total": len(all_drops),
            "this_run": sum(sum(r.drops_this_run.values()) for r in runs.values()),
            "by_reason": dict(sum((r.drops for r in runs.values()), Counter())),
            "by_voice": dict(Counter(d["voice"] for d in all_drops).most_common(20)),
            "examples": all_drops[:20],
            "log": "dropped.jsonl",
        },
        "text_source": {
            "sources": pools.sources,
            "note": ("WordNet 3.0 gloss example sentences (Debian wordnet-base), short "
                     "utterances (frequent WordNet words, numbers, commands), everyday "
                     "assistant and dictation text (trainer.data.everyday); normalized "
                     "with trainer.data.text.normalize_text, deduplicated, split by a hash "
                     "of the text"),
            "distinct_texts_available": pools.counts(),
            "unspeakable_dropped": pools.dropped_unspeakable,
            "duplicates_removed": pools.duplicates,
            "word_coverage": coverage_report(
                {rec["text"] for rec in runs["train"].manifest_records()}, train_texts(pools)),
        },
        "engines_missing": voice_report["missing"],
        "engine_packages": ENGINE_PACKAGES,
        "tokenizer": tok,
        "seed": cfg.seed,
        "config": cfg_d,
        "last_run_wall_time_s": round(wall, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

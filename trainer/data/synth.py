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

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict

from . import audio as A
from .everyday import coverage_report
from .manifest import write_json_atomic, write_manifest
from .sentences import SPLITS, build_text_pools, source_shares, train_texts
from .synth_plan import (  # noqa: F401  (the public names of `nnasr synth`, re-exported)
    CorpusError,
    Item,
    SynthConfig,
    clip_augmentation,
    clip_condition,
    clip_key,
    item_stream,
    select_voices,
    voice_weights,
)
from .synth_workers import _InlineExecutor, synth_tasks
from .voices import ENGINE_PACKAGES


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
    by_split, voice_report = select_voices(cfg, log)  # no voice: an error before OUT is made
    os.makedirs(out, exist_ok=True)
    _link_cache(out, cfg.cache, log)
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
    listed = _listed(os.path.join(out, f"{r.split}.jsonl"))  # before this run rewrites it
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
            # the target first: a shared cache may hold clips of a longer corpus (same seed)
            if r.done_s + est_inflight + buffered_s() >= r.target_s:
                r.peeked = item
                stopped = True
                break
            if known(item):
                continue
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
    # Take in clips a previous run into this folder listed past this point (it overshot its
    # target, or ran with more hours), so that a rerun's manifest never loses finished work.
    # Only this corpus's own: every clip of an audio folder of its own, but of a shared cache
    # (out/audio a link) only those its manifest listed: the cache holds other corpora's too.
    own = not os.path.islink(os.path.join(out, "audio"))
    while True:
        item = r.next_item()
        if not ((own or item.key in drops or item.relpath in listed) and known(item)):
            r.peeked = item
            break
    prog.update(r.split, r.done_s / 3600, len(r.records), sum(r.drops.values()), final=True)


def _listed(manifest: str) -> set[str]:
    """The audio paths (as written, relative to the corpus) a manifest lists; none when it is
    missing or unreadable."""
    try:
        with open(manifest, encoding="utf-8") as f:
            return {json.loads(line).get("audio_filepath", "") for line in f if line.strip()}
    except (OSError, ValueError, AttributeError):
        return set()


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

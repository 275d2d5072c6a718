"""Import a LibriSpeech-style corpus (``SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt``
with one ``UTTID TRANSCRIPT`` per line next to ``UTTID.flac``) into manifests.

Split: subsets named ``train*``, ``dev*`` and ``test*`` on the path (as in a LibriSpeech
download: ``train-clean-100/``, ``dev-clean/``, ``test-clean/``) give the split. When
no such names are present, speakers are split by a hash of the speaker id (about 5 %
each for dev and test, at least one speaker each when there are three or more), so the
splits stay speaker-disjoint.

Audio that is already 16 kHz mono is referenced in place (absolute paths); anything else
is converted to 16 kHz mono WAV under ``OUT/audio/imported/``.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter, defaultdict

from .manifest import write_json_atomic, write_manifest
from .text import normalize_text

AUDIO_EXTS = (".flac", ".wav", ".ogg", ".opus", ".mp3")


def _subset_split(parts: list[str]) -> str | None:
    for p in reversed(parts):
        low = p.lower()
        for s in ("train", "dev", "test"):
            if low.startswith(s):
                return s
        if low.startswith("valid"):
            return "dev"
    return None


def _hash_split(speaker: str) -> str:
    h = int.from_bytes(hashlib.sha1(speaker.encode()).digest()[:4], "big") % 1000
    return "dev" if h < 50 else "test" if h < 100 else "train"


def _transcripts(src: str) -> tuple[list[tuple[str, str | None, str, str]], int]:
    """Every transcript line of ``src`` with audio next to it: (speaker, the subset's split
    or None, audio path, normalized text), and how many lines had no audio file."""
    trans = sorted(os.path.join(root, f) for root, _, files in os.walk(src)
                   for f in files if f.endswith(".trans.txt"))
    if not trans:
        raise FileNotFoundError(f"no *.trans.txt transcript files under {src}")
    entries = []
    missing_audio = 0
    for tpath in trans:
        d = os.path.dirname(tpath)
        rel_parts = os.path.relpath(d, src).split(os.sep)
        subset = _subset_split([os.path.basename(src)] + rel_parts)
        with open(tpath, encoding="utf-8", errors="replace") as f:
            for line in f:
                uid, _, text = line.strip().partition(" ")
                if not uid:
                    continue
                apath = next((os.path.join(d, uid + e) for e in AUDIO_EXTS
                              if os.path.exists(os.path.join(d, uid + e))), None)
                if apath is None:
                    missing_audio += 1
                    continue
                entries.append((uid.split("-")[0], subset, apath, normalize_text(text)))
    return entries, missing_audio


def _record(src: str, out: str, speaker: str, apath: str, text: str,
            max_duration: float | None) -> dict | str:
    """The manifest record of one utterance (audio converted to 16 kHz mono WAV under
    ``OUT/audio/imported/`` when it is not already), or the reason it is dropped."""
    import soundfile as sf

    from . import audio as A

    if not text:
        return "empty_text"
    try:
        info = sf.info(apath)
    except RuntimeError:
        return "unreadable_audio"
    dur = float(info.duration)
    if dur <= 0:
        return "empty"
    if max_duration and dur > max_duration:
        return "too_long"
    path = apath
    if info.samplerate != A.SAMPLE_RATE or info.channels != 1:
        x, sr = sf.read(apath, dtype="float32", always_2d=True)
        y = A.resample(x.mean(axis=1), sr, A.SAMPLE_RATE)
        rel = os.path.relpath(apath, src)
        path = os.path.join(out, "audio", "imported", os.path.splitext(rel)[0] + ".wav")
        if not os.path.exists(path):
            A.write_wav_atomic(path, y)
        dur = len(y) / A.SAMPLE_RATE
    return {"audio_filepath": path, "text": text, "duration": dur, "voice": f"librispeech:{speaker}"}


def _fill_dev_test(splits: dict[str, list[dict]]) -> None:
    """Hash splits of few speakers can leave dev or test empty: move a whole training
    speaker there (the last for dev, the first for test)."""
    for s in ("dev", "test"):
        if not splits[s]:
            spk_train = sorted({r["voice"] for r in splits["train"]})
            if len(spk_train) > 1:
                victim = spk_train[-1] if s == "dev" else spk_train[0]
                splits[s] = [r for r in splits["train"] if r["voice"] == victim]
                splits["train"] = [r for r in splits["train"] if r["voice"] != victim]


def import_librispeech(src: str, out: str, vocab_size: int = 256, tokenizer_type: str = "unigram",
                       max_duration: float | None = None, log=print) -> dict:
    from .tokenizer import train_tokenizer

    t0 = time.time()
    src = os.path.abspath(src)
    out = os.path.abspath(out)
    if not os.path.isdir(src):
        raise FileNotFoundError(f"not a directory: {src}")
    entries, missing_audio = _transcripts(src)
    speakers = sorted({e[0] for e in entries})
    use_subsets = any(e[1] for e in entries)

    splits: dict[str, list[dict]] = defaultdict(list)
    drops: Counter[str] = Counter()
    for speaker, subset, apath, text in entries:
        split = (subset or "train") if use_subsets else _hash_split(speaker)
        rec = _record(src, out, speaker, apath, text, max_duration)
        if isinstance(rec, str):
            drops[rec] += 1
        else:
            splits[split].append(rec)
    if not use_subsets and len(speakers) >= 3:
        _fill_dev_test(splits)
    os.makedirs(out, exist_ok=True)
    summary_splits = {}
    for s in ("train", "dev", "test"):
        recs = splits.get(s, [])
        write_manifest(os.path.join(out, f"{s}.jsonl"), recs)
        summary_splits[s] = {
            "manifest": f"{s}.jsonl",
            "utterances": len(recs),
            "hours": round(sum(r["duration"] for r in recs) / 3600, 4),
            "voices": sorted({r["voice"] for r in recs}),
        }
        log(f"import: {s}: {len(recs)} utterances, {summary_splits[s]['hours']:.2f} h, "
            f"{len(summary_splits[s]['voices'])} speakers")
    tok = None
    train_texts = sorted({r["text"] for r in splits.get("train", [])})
    if train_texts:
        tok = train_tokenizer(train_texts, os.path.join(out, "tokenizer"), vocab_size,
                              tokenizer_type)
        tok["path"] = "tokenizer.model"
        tok["trained_on"] = "unique texts of train.jsonl"
    summary = {
        "format": "nnasr-corpus/1",
        "source": "librispeech",
        "source_dir": src,
        "split_by": "subset directory names" if use_subsets else "speaker hash",
        "speaker_disjoint": True if not use_subsets else None,
        "splits": summary_splits,
        "held_out_voices": {s: summary_splits[s]["voices"] for s in ("dev", "test")},
        "dropped": {"total": sum(drops.values()) + missing_audio,
                    "by_reason": {**dict(drops), **({"missing_audio": missing_audio}
                                                    if missing_audio else {})}},
        "tokenizer": tok,
        "wall_time_s": round(time.time() - t0, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json_atomic(os.path.join(out, "corpus.json"), summary)
    return summary

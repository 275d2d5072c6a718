"""A dev/test set of real human recordings, from Debian packages, never trained on.

Sources (each a Debian package; a missing one is reported once and skipped):

- ``pocketsphinx-testdata``: five LibriVox sentences (one reader, *Sense and Sensibility*),
  five "cards" utterances ("eight of spades four of clubs ..."), ``goforward.raw`` ("go
  forward ten meters") and one TIDIGITS string (``dhd.2934z.raw``). ``numbers.raw`` and
  ``something.raw`` ship without a transcript and are left out.
- ``ktuberling-data``: 72 single English words (body parts, clothes, pizza toppings, ...)
  by one speaker; the transcript is the sound's name (``pizzeria_olive`` -> "olive").
  Names whose spoken form is not certain (``moon_ufo``, ``moon_fallingstar``,
  ``moon_moonwalker``) are left out.
- ``klettres-data``: the letters A-Z and short words, by a US (``en``) and a British
  (``en_GB``) speaker; the transcript is the file name. ``en/syllab``'s ``aw``, ``ch`` and
  ``th`` are sounds, not words, and are left out.
- ``alsa-utils``: the channel prompts ("front left", "rear center", ...) of
  ``speaker-test``, one speaker.
- ``warzone2100-data``: the game's spoken messages, from ``base.wz`` (a zip), whose text is
  the comment on each sound's line of ``audio/audio.cfg`` ("Power Generator Under Attack").
  Speakers: the console voice, the commander, the three VTOL pilots and the transport
  pilot. Left out: labels with an abbreviation whose spoken form is not certain (LZ,
  VTOL), the NEXUS and Collective lines (a processed voice), sound effects, and the
  tutorial's narration: its subtitles (``script/tutorial.js``) were rewritten after the
  recording (where one says "now left click the units you want to build from the menu at
  the left", whisper hears "then left click the truck", pocketsphinx "then left click the
  trap").
- ``tuxpaint-stamps-default``: the English spoken descriptions of Tux Paint's stamps
  ("a frog", "an otter"), kept only where the stamp's text is "a/an" + the stamp's name.
  Optional (a 161 MB package, not in ``scripts/install-system-deps.sh``); test split only.

Splits are by speaker, from the fixed table :data:`SPLIT_OF_SPEAKER` (dev: for decisions;
test: reported only); a speaker not in the table goes by a hash of its id. Audio is
converted to 16 kHz mono 16-bit WAV under ``OUT/audio/<source>/`` (atomic writes; a file
already there is reused, so a rerun does nothing new), and transcripts go through
:func:`trainer.data.text.normalize_text`.

Output: ``OUT/dev.jsonl``, ``OUT/test.jsonl`` (``audio_filepath``, ``text``, ``duration``,
``voice`` = ``source:speaker``, ``source`` = Debian package) and ``OUT/human.json``; per
source, its clips of each split (``OUT/dev.<source>.jsonl``, ``OUT/test.<source>.jsonl``)
and its distinct transcripts, one per line (``OUT/phrases.<source>.txt``: what an app built
on that package can say, a ``--hotwords`` list).

Torch-free: numpy and soundfile only.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .manifest import write_json_atomic, write_manifest, write_text_atomic
from .text import normalize_text

POCKETSPHINX_DIR = "/usr/share/pocketsphinx/test/data"
KTUBERLING_DIR = "/usr/share/ktuberling/sounds/en"
KLETTRES_DIR = "/usr/share/klettres"
ALSA_DIR = "/usr/share/sounds/alsa"
TUXPAINT_DIR = "/usr/share/tuxpaint/stamps"
WARZONE_DIR = "/usr/share/games/warzone2100"

# speaker id (the manifest's ``voice``) -> split. dev is for decisions (model selection,
# tuning); test is reported only. Chosen so that each split has sentences or phrases,
# single words and letters, and both klettres speakers are apart.
SPLIT_OF_SPEAKER = {
    "pocketsphinx-testdata:librivox": "dev",
    "ktuberling-data:en": "dev",
    "klettres-data:en_GB": "dev",
    "pocketsphinx-testdata:cards": "test",
    "pocketsphinx-testdata:goforward": "test",
    "pocketsphinx-testdata:tidigits-dhd": "test",
    "klettres-data:en": "test",
    "alsa-utils:alsa": "test",
    "tuxpaint-stamps-default:en": "test",
    "warzone2100-data:console": "dev",
    "warzone2100-data:commander": "test",
    "warzone2100-data:pilots": "test",
}

# ktuberling sound names whose spoken words are not certain from the name alone
KTUBERLING_UNSURE = {"moon_ufo", "moon_fallingstar", "moon_moonwalker"}
# name (prefix stripped) -> what is said, where the name is not the written words
KTUBERLING_WORDS = {"palmtree": "palm tree", "broccolli": "broccoli", "sphynx": "sphinx"}
KTUBERLING_PREFIXES = ("egypt_", "moon_", "pizzeria_", "tv_")
# klettres files that are sounds, not words
KLETTRES_NOT_WORDS = {"aw", "ch", "th"}
# warzone2100 audio.cfg sound-name patterns -> speaker; sounds not matched are effects or the
# processed NEXUS/Collective voice. pcv3xx-4xx: the console voice (power-transferred.ogg too)
WARZONE_SPEAKERS = ((r"pcv(3\d\d|4\d\d)|power-transferred", "console"),
                    (r"com\d+", "commander"), (r"[vt]-[a-z]+\d?", "pilots"))
# labels whose spoken form is not certain from the text (abbreviations said as letters or as
# a word)
WARZONE_UNSURE = re.compile(r"\b(LZ|VTOLs?)\b")
# words written otherwise than a transcript has them: the game's British spelling of a word
# said the same either way, and "&"
WARZONE_WORDS = {"artefact": "artifact", "&": "and"}


@dataclass(frozen=True)
class Item:
    """One recording: where it is, how to read it, what is said, by whom."""

    source: str  # Debian package
    speaker: str  # speaker id within the source
    path: str  # audio file in the package
    text: str  # transcript as shipped (normalized later)
    name: str  # output file stem, unique within the source
    raw_rate: int = 0  # headerless 16-bit little-endian PCM at this rate; 0: a sound file
    member: str = ""  # the file inside ``path`` when that is a zip archive

    @property
    def voice(self) -> str:
        return f"{self.source}:{self.speaker}"


def _read_sphinx_transcription(path: str) -> dict[str, str]:
    """``<s> words </s> (uttid)`` lines -> {uttid: words}."""
    out = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"\s*(.*?)\s*\(([^()]+)\)\s*$", line)
            if not m:
                continue
            words = re.sub(r"</?s>", " ", m.group(1)).split()
            out[m.group(2).strip()] = " ".join(words)
    return out


def _pocketsphinx() -> Iterator[Item]:
    d = POCKETSPHINX_DIR
    src = "pocketsphinx-testdata"
    for sub, speaker in (("librivox", "librivox"), ("cards", "cards")):
        tfile = os.path.join(d, sub, "transcription" if sub == "librivox" else "cards.transcription")
        if not os.path.exists(tfile):
            continue
        for uid, words in sorted(_read_sphinx_transcription(tfile).items()):
            wav = os.path.join(d, sub, uid + ".wav")
            if os.path.exists(wav):
                yield Item(src, speaker, wav, words, f"{sub}-{uid}")
    # transcripts from pocketsphinx's own tests (the grammar / the TIDIGITS file name)
    for fname, speaker, words in (("goforward.raw", "goforward", "go forward ten meters"),
                                  ("tidigits/dhd.2934z.raw", "tidigits-dhd",
                                   "two nine three four zero")):
        p = os.path.join(d, fname)
        if os.path.exists(p):
            yield Item(src, speaker, p, words, os.path.basename(fname).replace(".raw", ""),
                       raw_rate=16000)


def _ktuberling() -> Iterator[Item]:
    d = KTUBERLING_DIR
    for f in sorted(os.listdir(d)):
        stem, ext = os.path.splitext(f)
        if ext != ".ogg" or stem in KTUBERLING_UNSURE:
            continue
        word = stem
        for p in KTUBERLING_PREFIXES:
            if word.startswith(p):
                word = word[len(p):]
        word = KTUBERLING_WORDS.get(word, word.replace("_", " "))
        yield Item("ktuberling-data", "en", os.path.join(d, f), word, stem)


def _klettres() -> Iterator[Item]:
    for lang in ("en", "en_GB"):
        for kind in ("alpha", "syllab"):
            d = os.path.join(KLETTRES_DIR, lang, kind)
            if not os.path.isdir(d):
                continue
            for f in sorted(os.listdir(d)):
                stem, ext = os.path.splitext(f)
                if ext != ".ogg" or stem.lower() in KLETTRES_NOT_WORDS:
                    continue
                yield Item("klettres-data", lang, os.path.join(d, f), stem,
                           f"{lang}-{kind}-{stem.lower()}")


def _alsa() -> Iterator[Item]:
    d = ALSA_DIR
    for f in sorted(os.listdir(d)):
        stem, ext = os.path.splitext(f)
        if ext != ".wav" or stem == "Noise":  # Noise.wav: no speech
            continue
        yield Item("alsa-utils", "alsa", os.path.join(d, f), stem.replace("_", " "), stem)


def _tuxpaint() -> Iterator[Item]:
    # a stamp's English spoken description is STAMP_desc.ogg; its text is the first line of
    # STAMP.txt. Kept only where that text is "a/an STAMP": texts that were edited after
    # the recording (brown hen, two wild boars, a rhea for nandou ...) are not trusted.
    for root, _, files in sorted(os.walk(TUXPAINT_DIR)):
        for f in sorted(files):
            if not f.endswith("_desc.ogg"):
                continue
            stem = f[: -len("_desc.ogg")]
            tpath = os.path.join(root, stem + ".txt")
            if not os.path.exists(tpath):
                continue
            with open(tpath, encoding="utf-8", errors="replace") as fh:
                text = fh.readline().strip()
            m = re.fullmatch(r"(A|An) ([a-z]+)\.", text)
            if not m or m.group(2) != stem or (m.group(1) == "An") != (stem[0] in "aeiou"):
                continue
            rel = os.path.relpath(os.path.join(root, stem), TUXPAINT_DIR)
            yield Item("tuxpaint-stamps-default", "en", os.path.join(root, f), text,
                       rel.replace(os.sep, "-"))


def _warzone_text(text: str) -> str:
    return " ".join(WARZONE_WORDS.get(w.lower(), w) for w in text.split())


def _warzone() -> Iterator[Item]:
    import zipfile

    src = "warzone2100-data"
    archive = os.path.join(WARZONE_DIR, "base.wz")
    with zipfile.ZipFile(archive) as z:
        names = {n.rsplit("/", 1)[-1]: n for n in z.namelist() if n.endswith(".ogg")}
        cfg = z.read("audio/audio.cfg").decode("latin-1")
    # audio "pcv341.ogg" oneshot 100 1800 /*Power Generator Under Attack*/
    for snd, label in re.findall(r'audio\s+"([^"]+)\.ogg"[^\n]*?/\*(.*?)\*/', cfg):
        speaker = next((sp for pat, sp in WARZONE_SPEAKERS if re.fullmatch(pat, snd)), None)
        if (speaker is None or snd + ".ogg" not in names or WARZONE_UNSURE.search(label)
                or not re.search(r"[A-Za-z0-9]", label)):
            continue
        yield Item(src, speaker, archive, _warzone_text(label), f"{speaker}-{snd}",
                   member=names[snd + ".ogg"])


# source (Debian package) -> (directory whose presence means installed, item lister)
SOURCES: dict[str, tuple[str, Callable[[], Iterator[Item]]]] = {
    "pocketsphinx-testdata": (POCKETSPHINX_DIR, _pocketsphinx),
    "ktuberling-data": (KTUBERLING_DIR, _ktuberling),
    "klettres-data": (KLETTRES_DIR, _klettres),
    "alsa-utils": (ALSA_DIR, _alsa),
    "tuxpaint-stamps-default": (TUXPAINT_DIR, _tuxpaint),
    "warzone2100-data": (WARZONE_DIR, _warzone),
}


def split_of(voice: str) -> str:
    """``dev`` or ``test`` for a speaker id; the fixed table first, else a hash."""
    if voice in SPLIT_OF_SPEAKER:
        return SPLIT_OF_SPEAKER[voice]
    h = int.from_bytes(hashlib.sha1(voice.encode()).digest()[:4], "big")
    return "dev" if h % 2 == 0 else "test"


def list_items(log: Callable[[str], None] = print) -> tuple[list[Item], list[str]]:
    """Every usable recording of the installed sources, and the missing packages
    (each reported once through ``log``)."""
    items: list[Item] = []
    missing: list[str] = []
    for src, (marker, lister) in SOURCES.items():
        if not os.path.isdir(marker):
            missing.append(src)
            log(f"human: {src} is not installed ({marker} missing); skipped. "
                f"Install it with: apt-get install {src}")
            continue
        items.extend(lister())
    return items, missing


def load_audio(item: Item) -> np.ndarray:
    """The recording as 16 kHz mono float32 in [-1, 1]."""
    import soundfile as sf

    from . import audio as A

    if item.raw_rate:
        x = np.fromfile(item.path, dtype="<i2").astype(np.float32) / 32768.0
        sr = item.raw_rate
    else:
        src = item.path
        if item.member:  # a sound inside a zip archive
            import io
            import zipfile

            with zipfile.ZipFile(item.path) as z:
                src = io.BytesIO(z.read(item.member))
        y, sr = sf.read(src, dtype="float32", always_2d=True)
        x = y.mean(axis=1)
    if sr != A.SAMPLE_RATE:
        x = A.resample(x, sr, A.SAMPLE_RATE)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def build_human_set(out: str, log: Callable[[str], None] = print) -> dict:
    """Convert the installed sources into ``OUT/{dev,test}.jsonl`` and ``OUT/human.json``.
    Idempotent: audio already converted is reused; the manifests are rewritten in a fixed
    order. Returns the summary written to ``human.json``."""
    import soundfile as sf

    from . import audio as A

    t0 = time.time()
    out = os.path.abspath(out)
    items, missing = list_items(log)
    if not items:
        raise FileNotFoundError(
            "no human recordings found: install the Debian packages "
            + " ".join(SOURCES) + " (scripts/install-system-deps.sh test)")
    splits: dict[str, list[dict]] = {"dev": [], "test": []}
    dropped: list[dict] = []
    converted = reused = 0
    for it in items:
        text = normalize_text(it.text)
        if not text:
            dropped.append({"path": it.path, "reason": "empty transcript"})
            continue
        wav = os.path.join(out, "audio", it.source, it.name + ".wav")
        n = 0
        if os.path.exists(wav):
            try:
                info = sf.info(wav)
                if info.samplerate == A.SAMPLE_RATE and info.channels == 1:
                    n = info.frames
            except RuntimeError:
                n = 0
        if n:
            reused += 1
        else:
            x = load_audio(it)
            if len(x) == 0:
                dropped.append({"path": it.path, "reason": "no audio"})
                continue
            A.write_wav_atomic(wav, x)
            n = len(x)
            converted += 1
        splits[split_of(it.voice)].append({
            "audio_filepath": wav, "text": text, "duration": n / A.SAMPLE_RATE,
            "voice": it.voice, "source": it.source,
            "original": it.path + (":" + it.member if it.member else "")})
    os.makedirs(out, exist_ok=True)
    for s, recs in splits.items():
        write_manifest(os.path.join(out, f"{s}.jsonl"), recs)
    for src in sorted({r["source"] for recs in splits.values() for r in recs}):
        for s, recs in splits.items():
            mine = [r for r in recs if r["source"] == src]
            path = os.path.join(out, f"{s}.{src}.jsonl")
            if mine:
                write_manifest(path, mine)
            elif os.path.exists(path):
                os.remove(path)
        phrases = sorted({r["text"] for recs in splits.values() for r in recs if r["source"] == src})
        write_text_atomic(os.path.join(out, f"phrases.{src}.txt"), "".join(t + "\n" for t in phrases))
    sources: dict[str, dict] = {}
    for s, recs in splits.items():
        for r in recs:
            e = sources.setdefault(r["source"], {"files": 0, "minutes": 0.0, "speakers": {}})
            e["files"] += 1
            e["minutes"] += r["duration"] / 60
            e["speakers"][r["voice"]] = s
    for e in sources.values():
        e["minutes"] = round(e["minutes"], 2)
    summary = {
        "format": "nnasr-human/1",
        "note": "real recordings from Debian packages; never train on them. "
                "dev is for decisions, test is reported only.",
        "splits": {s: {"manifest": f"{s}.jsonl", "files": len(recs),
                       "minutes": round(sum(r["duration"] for r in recs) / 60, 2),
                       "speakers": sorted({r["voice"] for r in recs})}
                   for s, recs in splits.items()},
        "sources": sources,
        "missing_packages": missing,
        "dropped": dropped,
        "converted": converted,
        "reused": reused,
        "wall_time_s": round(time.time() - t0, 1),
    }
    write_json_atomic(os.path.join(out, "human.json"), summary)
    for s, v in summary["splits"].items():
        log(f"human: {s}: {v['files']} files, {v['minutes']:.2f} min, "
            f"{len(v['speakers'])} speakers")
    return summary

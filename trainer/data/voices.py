"""Every offline English TTS voice, how to find it, and how to run it.

The neural and recorded-speaker engines (Kokoro-82M and its blends, RHVoice, Piper) are in
:mod:`trainer.data.neural_voices`; they make most of the training speech. The formant and
diphone engines below are kept as a minority share. Engines and their Debian packages:

=========  ====================================================  ===========================
engine     voices                                                Debian package(s)
=========  ====================================================  ===========================
espeak-ng  English accents x voice variants (+m1, +f2, +klatt..)  espeak-ng
mbrola     us1, us2, us3, en1 (through ``espeak-ng -v mb-us1``)  mbrola mbrola-us1 ... (non-free)
           16 non-English speakers reading English (``mb-de4-en``: mbrola-de4 ... (non-free)
           espeak-ng's English text rules, another language's
           recorded diphones): af1 nl2 fr1 fr4 de1-de6 gr2 hu1
           pl1 ro1 sw1 sw2
flite      kal16, awb, rms, slt                                  flite
festival   kal_diphone, ked_diphone, rab_diphone, don_diphone,   festival festvox-kallpc16k
           cmu_us_slt_arctic_hts                                 festvox-kdlpc16k festvox-rablpc16k
                                                                 festvox-don festvox-us-slt-hts
pico       en-US, en-GB                                          libttspico-utils (non-free)
=========  ====================================================  ===========================

Speaker-disjoint splits. Each voice belongs to exactly one split; voices built from the
same recorded speaker (flite ``slt`` and festival's ``slt`` HTS voice, flite ``kal16``
and festival ``kal``) share a split. Held out:

* test: flite slt + festival slt_hts (speaker slt), mbrola us3, pico en-GB, and
  espeak-ng's Caribbean accent (en-029) with variants never used in training.
* dev:  flite rms, festival ked, mbrola us2, and espeak-ng's West Midlands accent
  (en-gb-x-gbcwmd) with its own unseen variants.
* train: everything else. The accented mbrola voices and festival's rab and don are
  training voices only: they add recorded speakers (the native-English engines have
  only six in training), so that a new voice is less of a surprise.

Synthesis is one process per utterance for the fast engines (espeak-ng writes to a
pipe; flite and pico to a file in a RAM temp dir), and one festival process per batch
of utterances (festival's start-up costs more than an utterance).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass

import numpy as np

from .neural_voices import NEURAL_PACKAGES, discover_neural, rhvoice_cmd, synth_kokoro, synth_piper

ENGINE_PACKAGES = {
    "espeak-ng": "espeak-ng",
    "mbrola": "mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 (Debian non-free)",
    "flite": "flite",
    "festival": "festival festvox-kallpc16k festvox-kdlpc16k festvox-rablpc16k festvox-don festvox-us-slt-hts",
    "pico": "libttspico-utils (Debian non-free)",
    **NEURAL_PACKAGES,
}

# Share of *training* utterances per voice group (renormalized over what is installed; a
# group is the engine, but for the accented mbrola voices, see ``weight_group``).
# espeak-ng has by far the most voices but one synthesizer; festival is the slowest engine.
# Kokoro's neural voices and their blends, RHVoice's and Piper's recorded speakers are the
# majority; the formant and diphone voices a minority (trainer/data/neural_voices.py).
ENGINE_WEIGHTS = {"kokoro": 0.22, "kokoro-blend": 0.18, "rhvoice": 0.14, "piper": 0.08,
                  "espeak-ng": 0.12, "mbrola": 0.07, "mbrola-accented": 0.06, "flite": 0.06,
                  "pico": 0.04, "festival": 0.03}

ESPEAK_ACCENTS = {
    "en-us": "train",
    "en-gb": "train",
    "en-gb-scotland": "train",
    "en-gb-x-rp": "train",
    "en-gb-x-gbclan": "train",
    "en-us-nyc": "train",
    "en-gb-x-gbcwmd": "dev",
    "en-029": "test",
}
ESPEAK_HELDOUT_VARIANTS = {
    "dev": ("m6", "f5", "klatt6", "benjamin"),
    "test": ("m7", "f4", "klatt3", "Lee"),
}
# Variants that do not sound like a person talking (whisper, robots, echo, novelty).
ESPEAK_EXCLUDED_VARIANTS = {
    "whisper", "whisperf", "croak", "Demonic", "Tweaky", "UniRobot", "anikaRobot",
    "kaukovalta", "fast", "Storm", "Mr serious", "RicishayMax", "RicishayMax2",
    "RicishayMax3", "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5",
    "robosoft6", "robosoft7", "robosoft8", "AnxiousAndy", "zac", "Jacky", "Hugo",
    "grandma", "grandpa", "aunty",
}
ESPEAK_TRAIN_VARIANTS_FALLBACK = (
    "m1", "m2", "m3", "m4", "m5", "m8", "f1", "f2", "f3", "klatt", "klatt2", "klatt4", "klatt5",
)

# (name, split, diphone database: Debian's mbrola-<db>; the speaker is "mbrola-<db>")
MBROLA_VOICES = [("us1", "train", "us1"), ("en1", "train", "en1"),
                 ("us2", "dev", "us2"), ("us3", "test", "us3")]
# espeak-ng's "mb-XX-en" voices: English text, phonemes mapped onto another language's diphones
# (database XX). Each is its own recorded speaker; all train.
MBROLA_ACCENTED = ("af1", "nl2", "fr1", "fr4", "de1", "de2", "de3", "de4", "de5", "de6",
                   "gr2", "hu1", "pl1", "ro1", "sw1", "sw2")
MBROLA_VOICES += [(f"{db}-en", "train", db) for db in MBROLA_ACCENTED]
FLITE_VOICES = [("kal16", "train", "kal"), ("awb", "train", "awb"),
                ("rms", "dev", "rms"), ("slt", "test", "slt")]
# (name, split, speaker, Debian package)
FESTIVAL_VOICES = [("kal_diphone", "train", "kal", "festvox-kallpc16k"),
                   ("ked_diphone", "dev", "ked", "festvox-kdlpc16k"),
                   ("rab_diphone", "train", "rab", "festvox-rablpc16k"),
                   ("don_diphone", "train", "don", "festvox-don"),
                   ("cmu_us_slt_arctic_hts", "test", "slt", "festvox-us-slt-hts")]
PICO_VOICES = [("en-US", "train", "pico-en-US"), ("en-GB", "test", "pico-en-GB")]

# flite: diphone voices take a target F0 mean (Hz); clustergen voices an F0 multiplier.
_FLITE_F0_MEAN = {"kal16": 95.0, "kal": 95.0}


@dataclass(frozen=True)
class Voice:
    id: str  # "espeak-ng:en-us+f2", "flite:slt", ...
    engine: str
    name: str  # what the engine is given
    split: str
    speaker: str  # voices sharing a recorded speaker share a split

    def to_dict(self) -> dict:
        return asdict(self)


def weight_group(v: Voice) -> str:
    """The key of ``ENGINE_WEIGHTS`` that a voice's training share comes from: its engine,
    "mbrola-accented" for the mbrola voices of non-English speakers, "kokoro-blend" for
    mixtures of Kokoro voices."""
    if v.engine == "mbrola" and v.name.endswith("-en"):
        return "mbrola-accented"
    if v.engine == "kokoro" and "*" in v.name:
        return "kokoro-blend"
    return v.engine


class SynthError(RuntimeError):
    pass


# --------------------------------------------------------------------------- discovery


def _espeak_data_dir() -> str | None:
    try:
        out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"Data at:\s*(\S+)", out)
    return m.group(1) if m else None


def _espeak_variants() -> list[str]:
    d = _espeak_data_dir()
    vdir = os.path.join(d, "voices", "!v") if d else None
    if vdir and os.path.isdir(vdir):
        return sorted(v for v in os.listdir(vdir) if " " not in v and not v.startswith("."))
    return list(ESPEAK_TRAIN_VARIANTS_FALLBACK) + [
        v for vs in ESPEAK_HELDOUT_VARIANTS.values() for v in vs
    ]


def _espeak_accents() -> set[str]:
    try:
        out = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    langs = set()
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            langs.add(parts[1])
    # espeak-ng lists British English as "en-gb" (file gmw/en)
    return langs


def _mbrola_has(voice: str) -> bool:
    # espeak-ng looks in <its data dir>/mbrola/<voice> first ($ESPEAK_DATA_PATH relocates
    # the data dir, as scripts/tts_bundle.sh does), then in /usr/share/mbrola
    env = os.environ.get("ESPEAK_DATA_PATH")
    dirs = ((os.path.join(env, "espeak-ng-data", "mbrola"),) if env else ()) + (
        "/usr/share/mbrola", "/usr/share/mbrola/voices", "/usr/lib/mbrola")
    for d in dirs:
        if os.path.exists(os.path.join(d, voice, voice)) or os.path.exists(os.path.join(d, voice)):
            return True
    return False


def _flite_voices() -> set[str]:
    try:
        out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return set(out.replace("Voices available:", "").split())


def _festival_has(voice: str) -> bool:
    for root in ("/usr/share/festival/voices", "/usr/lib/festival/voices"):
        if os.path.isdir(root):
            for lang in os.listdir(root):
                if os.path.isdir(os.path.join(root, lang, voice)):
                    return True
    return False


def _pico_has(lang: str) -> bool:
    return any(
        os.path.exists(os.path.join(d, f"{lang}_ta.bin"))
        for d in ("/usr/share/pico/lang", "/usr/lib/pico/lang")
    )


def discover_voices() -> tuple[list[Voice], dict[str, str]]:
    """All installed voices, and for each engine (or voice) that is missing, the Debian
    package that brings it. Every voice has its split fixed here."""
    voices: list[Voice] = []
    missing: dict[str, str] = {}

    if shutil.which("espeak-ng"):
        accents = _espeak_accents()
        variants = _espeak_variants()
        held = {v for vs in ESPEAK_HELDOUT_VARIANTS.values() for v in vs}
        train_variants = [""] + [
            v for v in variants if v not in held and v not in ESPEAK_EXCLUDED_VARIANTS
        ]
        for accent, split in ESPEAK_ACCENTS.items():
            if accents and accent not in accents:
                continue
            vs = train_variants if split == "train" else [
                v for v in ESPEAK_HELDOUT_VARIANTS[split] if v in variants
            ]
            for var in vs:
                name = accent + (f"+{var}" if var else "")
                voices.append(Voice(f"espeak-ng:{name}", "espeak-ng", name, split,
                                    f"espeak-{var or 'default'}@{accent}"))
        if shutil.which("mbrola"):
            for name, split, db in MBROLA_VOICES:
                if _mbrola_has(db):
                    voices.append(Voice(f"mbrola:{name}", "mbrola", f"mb-{name}", split, f"mbrola-{db}"))
                else:
                    missing[f"mbrola:{name}"] = f"mbrola-{db} (Debian non-free)"
        else:
            missing["mbrola"] = ENGINE_PACKAGES["mbrola"]
    else:
        missing["espeak-ng"] = ENGINE_PACKAGES["espeak-ng"]
        missing["mbrola"] = "espeak-ng " + ENGINE_PACKAGES["mbrola"]

    if shutil.which("flite"):
        have = _flite_voices()
        for name, split, spk in FLITE_VOICES:
            if not have or name in have:
                voices.append(Voice(f"flite:{name}", "flite", name, split, spk))
            else:
                missing[f"flite:{name}"] = "flite"
    else:
        missing["flite"] = ENGINE_PACKAGES["flite"]

    if shutil.which("festival"):
        for name, split, spk, pkg in FESTIVAL_VOICES:
            if _festival_has(name):
                voices.append(Voice(f"festival:{name}", "festival", name, split, spk))
            else:
                missing[f"festival:{name}"] = pkg
    else:
        missing["festival"] = ENGINE_PACKAGES["festival"]

    if shutil.which("pico2wave"):
        for name, split, spk in PICO_VOICES:
            if _pico_has(name):
                voices.append(Voice(f"pico:{name}", "pico", name, split, spk))
            else:
                missing[f"pico:{name}"] = "libttspico-data (Debian non-free)"
    else:
        missing["pico"] = ENGINE_PACKAGES["pico"]
    neural, neural_missing = discover_neural(Voice)
    return voices + neural, {**missing, **neural_missing}


# --------------------------------------------------------------------------- audio I/O


def parse_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Decode a RIFF/WAV byte string (PCM 8/16/32-bit or float) to float32 mono.

    Tolerates the bogus sizes that programs writing to a pipe put in the header."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SynthError("not a WAV stream")
    pos = 12
    fmt = None
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        body = pos + 8
        if cid == b"fmt ":
            fmt = (
                int.from_bytes(data[body:body + 2], "little"),
                int.from_bytes(data[body + 2:body + 4], "little"),
                int.from_bytes(data[body + 4:body + 8], "little"),
                int.from_bytes(data[body + 14:body + 16], "little"),
            )
        elif cid == b"data":
            if fmt is None:
                raise SynthError("WAV data before fmt")
            tag, channels, sr, bits = fmt
            end = len(data) if size == 0 or body + size > len(data) else body + size
            raw = data[body:end]
            if tag == 3 and bits == 32:
                x = np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<f4").astype(np.float32)
            elif bits == 16:
                x = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
            elif bits == 32:
                x = np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<i4").astype(np.float32) / 2**31
            elif bits == 8:
                x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
            else:
                raise SynthError(f"unsupported WAV format: tag {tag}, {bits} bits")
            if channels > 1:
                x = x[: len(x) // channels * channels].reshape(-1, channels).mean(axis=1)
            return x, sr
        pos = body + size + (size & 1)
    raise SynthError("WAV stream without data")


def _read_wav_file(path: str) -> tuple[np.ndarray, int]:
    with open(path, "rb") as f:
        return parse_wav_bytes(f.read())


# --------------------------------------------------------------------------- synthesis


def _run(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        raise SynthError(f"{cmd[0]} timed out") from e
    except OSError as e:
        raise SynthError(f"{cmd[0]}: {e}") from e
    if p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SynthError(f"{cmd[0]} exited {p.returncode}: {err[-1] if err else ''}")
    return p


def espeak_args(rate: float, pitch: float) -> list[str]:
    wpm = int(round(175 * rate))
    p = int(round(min(90, max(10, 50 + (pitch - 1.0) * 150))))
    return ["-s", str(wpm), "-p", str(p)]


def synth_one(voice: Voice, text: str, rate: float, pitch: float, tmpdir: str,
              timeout: float = 60.0) -> tuple[np.ndarray, int]:
    """Synthesize one utterance with a fast engine (not festival). ``rate`` and
    ``pitch`` are multipliers around the voice's default (1.0)."""
    if voice.engine in ("espeak-ng", "mbrola"):
        cmd = ["espeak-ng", "-v", voice.name, *espeak_args(rate, pitch), "--stdout", text]
        return parse_wav_bytes(_run(cmd, timeout).stdout)
    if voice.engine == "flite":
        out = os.path.join(tmpdir, "flite.wav")
        cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1.0 / rate:.3f}"]
        if voice.name in _FLITE_F0_MEAN:
            cmd += ["--setf", f"int_f0_target_mean={_FLITE_F0_MEAN[voice.name] * pitch:.1f}"]
        else:
            cmd += ["--setf", f"f0_shift={pitch:.3f}"]
        cmd += ["-t", text, "-o", out]
        _run(cmd, timeout)
        return _read_wav_file(out)
    if voice.engine == "pico":
        out = os.path.join(tmpdir, "pico.wav")
        markup = (f'<speed level="{int(round(100 * rate))}"><pitch level="{int(round(100 * pitch))}">'
                  f"{text}</pitch></speed>")
        _run(["pico2wave", "-l", voice.name, "-w", out, markup], timeout)
        return _read_wav_file(out)
    if voice.engine == "kokoro":
        return _neural_call(synth_kokoro, voice, text, rate, pitch)
    if voice.engine == "piper":
        return _neural_call(synth_piper, voice, text, rate, pitch)
    if voice.engine == "rhvoice":
        out = os.path.join(tmpdir, "rhvoice.wav")
        _run(rhvoice_cmd(voice, rate, pitch, out), timeout, input=text.encode())
        return _read_wav_file(out)
    if voice.engine == "festival":
        res = synth_festival_batch([(voice, text, rate, pitch)], tmpdir, timeout=timeout)[0]
        if isinstance(res, Exception):
            raise res
        return res
    raise SynthError(f"unknown engine {voice.engine}")


def _neural_call(fn, voice: Voice, text: str, rate: float, pitch: float) -> tuple[np.ndarray, int]:
    try:
        return fn(voice, text, rate, pitch)
    except SynthError:
        raise
    except Exception as e:  # onnxruntime / phonemizer errors: this clip only
        raise SynthError(f"{voice.engine}: {type(e).__name__}: {str(e)[:160]}") from e


def synth_festival_batch(
    items: list[tuple[Voice, str, float, float]], tmpdir: str, timeout: float | None = None
) -> list[tuple[np.ndarray, int] | Exception]:
    """Synthesize many utterances in one festival process. Returns, per item, the
    audio or the exception that explains why there is none."""
    lines = []
    outs = []
    current = None
    order = sorted(range(len(items)), key=lambda i: items[i][0].name)
    for i in order:
        voice, text, rate, pitch = items[i]
        if not re.fullmatch(r"[a-z' ]+", text):
            raise SynthError("festival batch text must be normalized (a-z, apostrophe, space)")
        if voice.name != current:
            current = voice.name
            lines.append(f"(voice_{voice.name})")
            lines.append("(set! nnasr_lr int_lr_params)")
            lines.append("(set! nnasr_hts (if (boundp 'hts_engine_params) hts_engine_params nil))")
        out = os.path.join(tmpdir, f"fest{i}.wav")
        outs.append(out)
        if voice.name.endswith("_hts"):
            lines.append("(Parameter.set 'Duration_Stretch 1.0)")
            lines.append(f"(set! hts_engine_params (append nnasr_hts '((\"-r\" {rate:.3f}))))")
        else:
            lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / rate:.3f})")
            lines.append(
                "(if nnasr_lr (set! int_lr_params (cons (list 'target_f0_mean (* "
                f"{pitch:.3f} (cadr (assoc 'target_f0_mean nnasr_lr)))) nnasr_lr)))"
            )
        text_esc = text.replace("\\", "").replace('"', "")
        lines.append(
            f'(unwind-protect (utt.save.wave (SynthText "{text_esc}") "{out}" \'riff) nil)'
        )
    script = os.path.join(tmpdir, "batch.scm")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    for o in outs:
        if os.path.exists(o):
            os.remove(o)
    if timeout is None:
        timeout = 30 + 5 * len(items)
    err: Exception | None = None
    try:
        _run(["festival", "-b", script], timeout)
    except SynthError as e:
        err = e
    results: list[tuple[np.ndarray, int] | Exception] = []
    for i in range(len(items)):
        out = os.path.join(tmpdir, f"fest{i}.wav")
        if os.path.exists(out):
            try:
                results.append(_read_wav_file(out))
            except SynthError as e:
                results.append(e)
            os.remove(out)
        else:
            results.append(err or SynthError("festival wrote no audio"))
    return results


def make_tmpdir() -> str:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="nnasr-tts-", dir=base)

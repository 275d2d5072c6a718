"""Audio processing for the corpus, in numpy: resampling, silence trimming,
augmentation (speed perturbation, room reverb, additive noise, gain), the recording channels
of ``nnasr eval --channel`` (low-pass, hum, whine, telephone, gain), validation and atomic
WAV writing.

Every random choice is made by the caller from a per-utterance seed and passed in as a
parameter (see :func:`sample_augmentation`), so a clip is a pure function of its spec.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000

# --------------------------------------------------------------------------- resampling

_PHASES = 512


def _resample_table(cutoff: float, half: int) -> np.ndarray:
    """Windowed-sinc interpolation table: [_PHASES + 1, 2 * half] taps."""
    frac = np.arange(_PHASES + 1, dtype=np.float64) / _PHASES
    k = np.arange(-half + 1, half + 1, dtype=np.float64)
    d = frac[:, None] - k[None, :]  # distance from the output instant to each input tap
    win = 0.5 + 0.5 * np.cos(np.pi * np.clip(d / half, -1.0, 1.0))  # Hann
    return (cutoff * np.sinc(cutoff * d) * win).astype(np.float32)


_TABLES: dict[tuple[float, int], np.ndarray] = {}


def resample(x: np.ndarray, sr_in: float, sr_out: int = SAMPLE_RATE, half: int = 16) -> np.ndarray:
    """Band-limited resampling by any ratio (windowed sinc, 32 taps, 512 phases).

    ``sr_in`` may be fractional: resampling audio recorded at ``sr`` as if it were at
    ``sr * f`` is speed perturbation by ``f`` (tempo and pitch together, as in Kaldi).
    """
    x = np.asarray(x, dtype=np.float32)
    if abs(sr_in - sr_out) < 1e-9 or len(x) == 0:
        return x.copy()
    step = sr_in / sr_out  # input samples per output sample
    cutoff = min(1.0, 1.0 / step) * 0.94
    key = (round(cutoff, 4), half)
    table = _TABLES.get(key)
    if table is None:
        table = _TABLES[key] = _resample_table(cutoff, half)
    n_out = int(np.floor(len(x) / step))
    pos = np.arange(n_out, dtype=np.float64) * step
    i0 = np.floor(pos).astype(np.int64)
    phase = np.rint((pos - i0) * _PHASES).astype(np.int64)
    xp = np.concatenate([np.zeros(half, np.float32), x, np.zeros(half + 1, np.float32)])
    out = np.empty(n_out, dtype=np.float32)
    k = np.arange(-half + 1, half + 1)
    block = 8192  # bound the [block, 32] temporaries
    for s in range(0, n_out, block):
        e = min(n_out, s + block)
        idx = (i0[s:e, None] + half) + k[None, :]
        out[s:e] = np.einsum("ij,ij->i", xp[idx], table[phase[s:e]])
    return out


# --------------------------------------------------------------------------- analysis


def frame_rms_db(x: np.ndarray, frame: int = 320) -> np.ndarray:
    n = len(x) // frame
    if n == 0:
        return np.array([-120.0])
    f = x[: n * frame].reshape(n, frame).astype(np.float64)
    return 10 * np.log10(np.mean(f * f, axis=1) + 1e-12)


def speech_bounds(x: np.ndarray, sr: int, floor_db: float = -40.0) -> tuple[int, int]:
    """First and last sample of frames within ``floor_db`` of the loudest frame."""
    frame = max(1, int(sr * 0.01))
    db = frame_rms_db(x, frame)
    active = np.nonzero(db > max(db.max() + floor_db, -70.0))[0]
    if len(active) == 0:
        return 0, 0
    return int(active[0] * frame), int(min(len(x), (active[-1] + 1) * frame))


def clipped_fraction(x: np.ndarray, level: float = 0.999) -> float:
    if len(x) == 0:
        return 0.0
    return float(np.mean(np.abs(x) >= level))


# --------------------------------------------------------------------------- augmentation


@dataclass
class AugmentConfig:
    """Probabilities and ranges of the augmentations. ``enabled=False`` keeps only the
    level normalization and silence padding."""

    enabled: bool = True
    speed_prob: float = 0.7
    speed_range: tuple[float, float] = (0.9, 1.1)
    reverb_prob: float = 0.35
    rt60_range: tuple[float, float] = (0.15, 0.7)
    noise_prob: float = 0.6
    snr_range: tuple[float, float] = (5.0, 30.0)
    noise_types: tuple[str, ...] = ("white", "pink", "brown")
    level_db_range: tuple[float, float] = (-50.0, -14.0)  # utterance RMS, dBFS (-30..+6 dB around -20)
    pad_range: tuple[float, float] = (0.05, 1.0)  # seconds of silence each side
    floor_db_range: tuple[float, float] = (50.0, 70.0)  # noise floor below speech, dB
    # channels: a microphone-like EQ, or band-limited telephone speech (8 kHz, mu-law)
    mic_prob: float = 0.35
    phone_prob: float = 0.08
    # soft clipping (an overdriven input stage), and babble made of other voices' speech
    clip_prob: float = 0.06
    clip_drive_db_range: tuple[float, float] = (3.0, 12.0)
    babble_prob: float = 0.12
    babble_snr_range: tuple[float, float] = (3.0, 20.0)


def sample_augmentation(rng: np.random.Generator, cfg: AugmentConfig) -> dict:
    """Draw one utterance's augmentation parameters (JSON-serializable)."""
    p: dict = {
        "pad": [round(float(rng.uniform(*cfg.pad_range)), 3) for _ in range(2)],
        "level_db": round(float(rng.uniform(*cfg.level_db_range)), 2),
        # a faint white noise floor on every clip: no digital silence
        "floor_db": round(float(rng.uniform(*cfg.floor_db_range)), 1),
    }
    # always draw every value, so that toggling one augmentation does not shift the rest
    speed = float(rng.uniform(*cfg.speed_range))
    use_speed = rng.random() < cfg.speed_prob
    rt60 = float(rng.uniform(*cfg.rt60_range))
    use_reverb = rng.random() < cfg.reverb_prob
    snr = float(rng.uniform(*cfg.snr_range))
    ntype = cfg.noise_types[int(rng.integers(len(cfg.noise_types)))]
    use_noise = rng.random() < cfg.noise_prob
    p["noise_seed"] = int(rng.integers(2**31))
    channel_u = rng.random()
    drive = float(rng.uniform(*cfg.clip_drive_db_range))
    use_clip = rng.random() < cfg.clip_prob
    babble_snr = float(rng.uniform(*cfg.babble_snr_range))
    use_babble = rng.random() < cfg.babble_prob
    if cfg.enabled:
        if use_speed:
            p["speed"] = round(speed, 4)
        if use_reverb:
            p["rt60"] = round(rt60, 3)
        if use_noise:
            p["noise"] = ntype
            p["snr_db"] = round(snr, 2)
        if channel_u < cfg.phone_prob:
            p["channel"] = "phone"
        elif channel_u < cfg.phone_prob + cfg.mic_prob:
            p["channel"] = "mic"
        if use_clip:
            p["drive_db"] = round(drive, 2)
        if use_babble:
            p["babble_snr_db"] = round(babble_snr, 2)
    return p


def mic_response(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A random microphone-like magnitude response for an ``rfft`` of ``n`` samples: a
    low cut (80-250 Hz), a presence peak or dip (2-6 kHz, +-6 dB), a high shelf (+-6 dB
    above 4-7 kHz)."""
    f = np.fft.rfftfreq(n, 1.0 / sr)
    fc = rng.uniform(80, 250)
    low = 1.0 / np.sqrt(1.0 + (fc / np.maximum(f, 1.0)) ** 4)
    f0, g0, q = rng.uniform(2000, 6000), rng.uniform(-6, 6), rng.uniform(0.7, 2.0)
    peak = 10 ** (g0 / 20 * np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / f0) * 2 * q) ** 2))
    fs, gs = rng.uniform(4000, 7000), rng.uniform(-6, 6)
    shelf = 10 ** (gs / 20 / (1.0 + (fs / np.maximum(f, 1.0)) ** 2))
    return low * peak * shelf


def mic_channel(x: np.ndarray, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``x`` through a random microphone-like response (:func:`mic_response`), same length."""
    return np.fft.irfft(np.fft.rfft(x) * mic_response(len(x), sr, rng), len(x)).astype(np.float32)


def telephone(x: np.ndarray, sr: int) -> np.ndarray:
    """Band-limited telephone speech: 300-3400 Hz, 8 kHz, 8-bit mu-law, back to ``sr``."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    spec[(f < 300) | (f > 3400)] = 0.0
    y = np.fft.irfft(spec, len(x)).astype(np.float32)
    y8 = resample(y, sr, 8000)
    peak = float(np.max(np.abs(y8))) + 1e-9
    mu = 255.0
    c = np.sign(y8 / peak) * np.log1p(mu * np.abs(y8 / peak)) / np.log1p(mu)
    c = np.round(c * 127) / 127
    y8 = np.sign(c) * ((1 + mu) ** np.abs(c) - 1) / mu * peak
    out = resample(y8.astype(np.float32), 8000, sr)
    return out[: len(x)] if len(out) >= len(x) else np.pad(out, (0, len(x) - len(out)))


def low_pass(x: np.ndarray, sr: int, cutoff_hz: float, order: float = 8.0) -> np.ndarray:
    """``x`` through an ``order``-pole Butterworth low-pass magnitude (zero phase, by FFT):
    what a lossy codec or a cheap microphone leaves of the top of the band."""
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    spec = np.fft.rfft(np.asarray(x, np.float64)) / np.sqrt(1.0 + (f / cutoff_hz) ** (2 * order))
    return np.fft.irfft(spec, len(x)).astype(np.float32)


def tones(n: int, sr: int, freqs, amps) -> np.ndarray:
    """``n`` samples (float64) of the stationary ``sum(amps[k] sin(2 pi freqs[k] t + 0.7 k))``:
    the one tone maker of the eval channels (:func:`add_tones`) and the training hum
    (``trainer.augment.tone_power``)."""
    t = np.arange(n) / sr
    return np.asarray(sum(a * np.sin(2 * np.pi * f * t + 0.7 * k)
                          for k, (f, a) in enumerate(zip(freqs, amps, strict=True))), np.float64)


def hum_tones(f0: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Mains hum: ``f0`` and its 7 harmonics at amplitude 1/k, as ``(freqs, amps)``."""
    k = np.arange(1, 9)
    return f0 * k, 1.0 / k


def add_tones(x: np.ndarray, sr: int, freqs, amps, snr_db: float) -> np.ndarray:
    """``x`` plus :func:`tones`, scaled to ``snr_db`` below the power of ``x``'s speech
    (between :func:`speech_bounds`; the whole clip if it has none): mains hum, a whine, a fan."""
    tone = tones(len(x), sr, freqs, amps)
    a, b = speech_bounds(x, sr)
    sp = x[a:b] if b > a else x
    p_speech = float(np.mean(np.square(sp, dtype=np.float64))) + 1e-12
    p_tone = float(np.mean(tone * tone)) + 1e-12
    return (x + tone * np.sqrt(p_speech / p_tone * 10 ** (-snr_db / 10))).astype(np.float32)


def add_noise(x: np.ndarray, sr: int, snr_db: float, kind: str = "pink") -> np.ndarray:
    """``x`` with stationary noise ``snr_db`` below its speech's power (the span
    :func:`speech_bounds` finds), over the whole clip, as a microphone's noise floor. The
    noise is drawn from the clip's length: the same clip gets the same noise."""
    a, b = speech_bounds(x, sr)
    sp = x[a:b] if b > a else x
    p_speech = float(np.mean(np.square(sp, dtype=np.float64))) + 1e-12
    noise = colored_noise(len(x), kind, np.random.default_rng(len(x)))
    return (x + noise * np.float32(np.sqrt(p_speech * 10 ** (-snr_db / 10)))).astype(np.float32)


# `nnasr eval --channel`: name -> (help, default argument, f(samples, sr, argument) -> samples,
# the argument's bound as (what it must be, test), or None). The CLI's help lists them by hand
# (app.commands.eval.add_channel_argument: no numpy at start-up); a test keeps the two in step.
_ABOVE_0 = ("the corner frequency must be above 0 Hz", lambda v: v > 0)
_NOT_NEGATIVE = ("the argument must be 0 or more", lambda v: v >= 0)
CHANNELS = {
    "lowpass": ("an 8-pole low-pass at ARG Hz", 4000.0, lambda x, sr, v: low_pass(x, sr, v), _ABOVE_0),
    "hum": ("50 Hz mains hum and 7 harmonics (1/k), ARG dB below the speech", 15.0,
            lambda x, sr, v: add_tones(x, sr, *hum_tones(50.0), v), None),
    "whine": ("a 3.5 kHz tone ARG dB below the speech", 15.0,
              lambda x, sr, v: add_tones(x, sr, [3500.0], [1.0], v), None),
    "phone": ("telephone speech: 300-3400 Hz, 8 kHz, 8-bit mu-law", None, lambda x, sr, v: telephone(x, sr), None),
    "noise": ("pink noise ARG dB below the speech, over the whole clip (the same noise for the same "
              "clip length)", 20.0, lambda x, sr, v: add_noise(x, sr, v), None),
    "gain": ("a level change of ARG dB (clipped at full scale)", -20.0,
             lambda x, sr, v: np.clip(x * np.float32(10 ** (v / 20)), -1.0, 1.0), None),
    "tight": ("cut tight: the audio before the speech removed (its first 10 ms frame within ARG dB of the "
              "loudest)", 30.0, lambda x, sr, v: x[speech_bounds(x, sr, -v)[0]:], _NOT_NEGATIVE),
    "lead": ("ARG s of silence put before the clip", 0.4,
             lambda x, sr, v: np.concatenate([np.zeros(int(round(v * sr)), np.float32), x]), _NOT_NEGATIVE),
}


def parse_channel(spec: str):
    """``"lowpass:4000,hum:20"`` -> ``f(samples, sr) -> samples``: the named channels applied
    in order (:data:`CHANNELS`). ValueError with the choices on anything else."""
    steps = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, arg = part.partition(":")
        if name not in CHANNELS:
            raise ValueError(f"unknown channel {name!r} in {spec!r}; one of: "
                             + "; ".join(f"{k}{'' if d is None else '[:ARG]'} {h}" for k, (h, d, _, _) in CHANNELS.items()))
        _, default, fn, bound = CHANNELS[name]
        try:
            v = float(arg) if arg else default
        except ValueError:
            raise ValueError(f"channel {part!r}: {arg!r} is not a number") from None
        if v is not None and not math.isfinite(v):
            raise ValueError(f"channel {part!r}: the argument must be a finite number")
        if bound is not None and not bound[1](v):
            raise ValueError(f"channel {part!r}: {bound[0]}")
        steps.append((fn, v))
    if not steps:
        raise ValueError(f"no channel in {spec!r}")

    def apply(x: np.ndarray, sr: int) -> np.ndarray:
        for fn, v in steps:
            x = fn(x, sr, v)
        return np.asarray(x, np.float32)

    return apply


def soft_clip(x: np.ndarray, drive_db: float) -> np.ndarray:
    """tanh saturation: the peak is driven ``drive_db`` into the curve, output peak 0.9."""
    peak = float(np.max(np.abs(x))) + 1e-9
    g = 10 ** (drive_db / 20) / peak
    return (0.9 * np.tanh(g * x) / np.tanh(g * peak)).astype(np.float32)


def colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f power) or brown (1/f^2 power) noise, unit RMS."""
    w = rng.standard_normal(n)
    if kind != "white" and n > 1:
        spec = np.fft.rfft(w)
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1.0
        spec /= np.sqrt(f) if kind == "pink" else f
        spec[0] = 0.0
        w = np.fft.irfft(spec, n)
    w = w - w.mean()
    return (w / (np.sqrt(np.mean(w * w)) + 1e-12)).astype(np.float32)


def room_impulse_response(rt60: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Synthetic room: a direct path, a few early reflections, and an exponentially
    decaying noise tail whose energy falls 60 dB in ``rt60`` seconds."""
    n = max(16, int(rt60 * sr))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078
    # lowpass the tail a little (air absorption): one-pole smoothing of the noise
    tail = np.convolve(tail, np.array([0.5, 0.3, 0.2]), mode="same")
    pre = int(0.002 * sr)
    tail[:pre] = 0.0
    h = tail * float(rng.uniform(0.15, 0.5)) / (np.sqrt(np.sum(tail * tail)) + 1e-12)
    h[0] = 1.0
    for _ in range(int(rng.integers(2, 6))):
        d = int(rng.uniform(0.003, 0.03) * sr)
        if d < n:
            h[d] += float(rng.uniform(-0.5, 0.5))
    return h.astype(np.float32)


def fft_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[:n]
    return y.astype(np.float32)


def process(raw: np.ndarray, sr: int, aug: dict, babble: list[np.ndarray] | None = None
            ) -> np.ndarray:
    """TTS output -> final 16 kHz clip: trim silence, speed perturbation + resampling,
    padding, reverb, babble (``babble``: other voices' 16 kHz speech, summed), noise at the
    drawn SNR, microphone or telephone channel, soft clipping, level; never hard-clips."""
    a, b = speech_bounds(raw, sr)
    x = raw[max(0, a - int(0.02 * sr)): b + int(0.02 * sr)].astype(np.float32)
    x = x - np.mean(x) if len(x) else x
    speed = float(aug.get("speed", 1.0))
    x = resample(x, sr * speed, SAMPLE_RATE)
    pad = aug.get("pad", [0.1, 0.1])
    x = np.concatenate([
        np.zeros(int(pad[0] * SAMPLE_RATE), np.float32), x,
        np.zeros(int(pad[1] * SAMPLE_RATE), np.float32),
    ])
    rng = np.random.default_rng(int(aug.get("noise_seed", 0)))
    speech_rms = float(np.sqrt(np.mean(x * x))) + 1e-9
    if "rt60" in aug:
        y = fft_convolve(x, room_impulse_response(float(aug["rt60"]), SAMPLE_RATE, rng))
        x = y[: len(x)]
        x *= speech_rms / (float(np.sqrt(np.mean(x * x))) + 1e-9)
    if "noise" in aug:
        # SNR measured against the speech frames, not the padded clip
        a, b = speech_bounds(x, SAMPLE_RATE)
        sp = x[a:b] if b > a else x
        p_speech = float(np.mean(sp * sp)) + 1e-12
        noise = colored_noise(len(x), str(aug["noise"]), rng)
        x = x + noise * np.float32(np.sqrt(p_speech / 10 ** (float(aug["snr_db"]) / 10)))
    if "babble_snr_db" in aug and babble:
        a, b = speech_bounds(x, SAMPLE_RATE)
        sp = x[a:b] if b > a else x
        p_speech = float(np.mean(sp * sp)) + 1e-12
        bab = np.zeros(len(x), np.float32)
        for other in babble:
            if len(other):
                start = int(rng.integers(len(other)))
                bab += np.resize(np.roll(other, -start), len(x)).astype(np.float32)
        p_bab = float(np.mean(bab * bab))
        if p_bab > 0:
            x = x + bab * np.float32(np.sqrt(p_speech / 10 ** (float(aug["babble_snr_db"]) / 10) / p_bab))
    if aug.get("channel") == "mic":
        x = mic_channel(x, rng)
    elif aug.get("channel") == "phone":
        x = telephone(x, SAMPLE_RATE)
    if "drive_db" in aug:
        x = soft_clip(x, float(aug["drive_db"]))
    if "floor_db" in aug:
        a, b = speech_bounds(x, SAMPLE_RATE)
        sp = x[a:b] if b > a else x
        p_speech = float(np.mean(sp * sp)) + 1e-12
        floor = rng.standard_normal(len(x)).astype(np.float32)
        x = x + floor * np.float32(np.sqrt(p_speech / 10 ** (float(aug["floor_db"]) / 10)))
    rms = float(np.sqrt(np.mean(x * x))) + 1e-12
    gain = 10 ** (float(aug.get("level_db", -24.0)) / 20) / rms
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak * gain > 0.95:
        gain = 0.95 / peak
    return (x * gain).astype(np.float32)


# --------------------------------------------------------------------------- validation


def check_raw(raw: np.ndarray, sr: int) -> str | None:
    """Drop reason for a TTS output, or None when it is usable."""
    if len(raw) == 0 or float(np.max(np.abs(raw))) < 1e-3:
        return "empty"
    if clipped_fraction(raw) > 0.001:
        return "clipped"
    a, b = speech_bounds(raw, sr)
    if (b - a) / sr < 0.1:
        return "empty"
    return None


def check_final(x: np.ndarray, min_s: float, max_s: float) -> str | None:
    dur = len(x) / SAMPLE_RATE
    if len(x) == 0 or not np.all(np.isfinite(x)):
        return "empty"
    if dur < min_s:
        return "too_short"
    if dur > max_s:
        return "too_long"
    if clipped_fraction(x) > 0.0:
        return "clipped"
    return None


def write_wav_atomic(path: str, x: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """16-bit PCM mono WAV, written to a temp file and renamed into place."""
    import soundfile as sf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    try:
        sf.write(tmp, pcm, sr, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)

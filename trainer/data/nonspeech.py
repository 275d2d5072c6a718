"""Non-speech clips with an empty transcript: what a microphone hears while nobody speaks.

Kinds (one per clip, drawn per utterance by ``nnasr synth``):

* ``silence``: digital silence, or a faint noise floor (-90 to -70 dBFS);
* ``noise``: white, pink or brown noise, -65 to -30 dBFS;
* ``hum``: mains hum at 50 or 60 Hz with odd and even harmonics, -60 to -30 dBFS;
* ``clicks``: sparse decaying clicks (keyboard, mouse, tapping) on a faint floor;
* ``tones``: music-like note sequences (harmonic tones with envelopes), -45 to -20 dBFS.

Every clip is made from its own seed, so the same spec always gives the same samples.
"""

from __future__ import annotations

import numpy as np

from .audio import SAMPLE_RATE, colored_noise

KINDS = ("silence", "noise", "hum", "clicks", "tones")
DURATION_RANGE = (0.5, 6.0)  # seconds


def _db(level_db: float) -> float:
    return float(10 ** (level_db / 20))


def make_nonspeech(kind: str, seed: int, duration: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """One non-speech clip of ``duration`` seconds at ``sr`` (float32, peak below 0.5)."""
    rng = np.random.default_rng(seed)
    n = max(1, int(duration * sr))
    t = np.arange(n) / sr
    if kind == "silence":
        if rng.random() < 0.3:
            return np.zeros(n, np.float32)
        return colored_noise(n, "white", rng) * _db(rng.uniform(-90, -70))
    if kind == "noise":
        color = ("white", "pink", "brown")[int(rng.integers(3))]
        return colored_noise(n, color, rng) * _db(rng.uniform(-65, -30))
    if kind == "hum":
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        x = np.zeros(n)
        for h in range(1, 8):
            x += rng.uniform(0.05, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
        x /= np.sqrt(np.mean(x * x)) + 1e-12
        x = x * _db(rng.uniform(-60, -30)) + colored_noise(n, "white", rng) * _db(-75)
        return x.astype(np.float32)
    if kind == "clicks":
        x = colored_noise(n, "pink", rng) * _db(rng.uniform(-75, -55))
        rate = rng.uniform(0.5, 8.0)  # clicks per second
        k = np.arange(int(0.01 * sr))
        for pos in np.sort(rng.integers(0, n, size=max(1, int(rate * duration)))):
            click = rng.standard_normal(len(k)) * np.exp(-k / (rng.uniform(0.0005, 0.003) * sr))
            end = min(n, pos + len(k))
            x[pos:end] += (click[: end - pos] * _db(rng.uniform(-40, -15))).astype(np.float32)
        return x.astype(np.float32)
    if kind == "tones":
        x = np.zeros(n)
        pos = 0
        while pos < n:
            dur = int(rng.uniform(0.12, 0.8) * sr)
            f0 = 110.0 * 2 ** (int(rng.integers(0, 36)) / 12)
            m = min(dur, n - pos)
            tt = np.arange(m) / sr
            env = np.minimum(1.0, tt / 0.01) * np.exp(-tt * rng.uniform(1.0, 6.0))
            note = sum(rng.uniform(0.1, 1.0) / h * np.sin(2 * np.pi * f0 * h * tt) for h in range(1, 6))
            x[pos:pos + m] += env * note
            pos += int(dur * rng.uniform(0.5, 1.0))
        x /= np.sqrt(np.mean(x * x)) + 1e-12
        return (x * _db(rng.uniform(-45, -20))).astype(np.float32)
    raise ValueError(f"unknown non-speech kind {kind!r} (one of {', '.join(KINDS)})")

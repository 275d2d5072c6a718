"""Audio input: file loading with clear errors, channel down-mixing, streaming resampling."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


class AudioError(ValueError):
    """An audio input the engine cannot use; the message names the file and the problem."""


def to_float_mono(samples: np.ndarray) -> np.ndarray:
    """Any int or float array, mono ``[n]`` or ``[n, channels]`` -> float32 mono in [-1, 1].

    Ints are scaled by their type's range; NaN/Inf become 0; channels are averaged.
    """
    x = np.asarray(samples)
    if x.ndim == 2:
        x = x.mean(axis=1) if x.dtype.kind == "f" else x.astype(np.float64).mean(axis=1)
        if np.asarray(samples).dtype.kind in "iu":
            x = _scale_int(x, np.asarray(samples).dtype)
            return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    elif x.ndim != 1:
        raise AudioError(f"audio must be [n] or [n, channels], got shape {x.shape}")
    if x.dtype.kind in "iu":
        x = _scale_int(x.astype(np.float64), x.dtype)
    x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return x


def _scale_int(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    if info.min == 0:  # unsigned: centre
        return (x - (info.max + 1) / 2) / ((info.max + 1) / 2)
    return x / float(-info.min)


def load_audio(path: str | Path, target_rate: int = 16000) -> np.ndarray:
    """Read a whole audio file (any format libsndfile reads) -> float32 mono at target_rate."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AudioError(f"{path}: not a readable audio file ({msg})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: contains no audio samples")
    x = to_float_mono(data)
    return resample(x, rate, target_rate)


def iter_audio_blocks(path: str | Path, block_seconds: float = 10.0):
    """Stream a file in blocks (bounded memory): yields (float32 mono block, sample_rate)."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    try:
        f = sf.SoundFile(str(path))
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AudioError(f"{path}: not a readable audio file ({msg})") from None
    with f:
        if f.frames == 0:
            raise AudioError(f"{path}: contains no audio samples")
        n = max(1, int(block_seconds * f.samplerate))
        try:
            for block in f.blocks(blocksize=n, dtype="float32", always_2d=True):
                yield to_float_mono(block), f.samplerate
        except Exception as e:
            raise AudioError(f"{path}: truncated or corrupt audio data ({e})") from None


class StreamingResampler:
    """Band-limited (windowed-sinc, Hann window) resampler with state across calls.

    Output sample ``n`` is the interpolated input at position ``n * rate_in / rate_out``;
    inputs before the stream start are zeros. Chunked output equals whole-signal output.
    Polyphase: the fractional positions repeat with period ``rate_out / gcd``, so the
    filter taps are tabulated once.
    """

    def __init__(self, rate_in: int, rate_out: int, zero_crossings: int = 16) -> None:
        if rate_in <= 0 or rate_out <= 0:
            raise AudioError(f"invalid sample rate {rate_in} -> {rate_out}")
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        g = math.gcd(self.rate_in, self.rate_out)
        self.up, self.down = self.rate_out // g, self.rate_in // g
        self.identity = self.up == self.down
        cutoff = min(1.0, self.rate_out / self.rate_in) * 0.95
        self.radius = int(math.ceil(zero_crossings / cutoff))
        if not self.identity:
            taps = np.arange(-self.radius + 1, self.radius + 1)  # k - floor(p)
            phases = np.arange(self.up) / self.up  # frac(p)
            d = phases[:, None] - taps[None, :]  # p - k
            w = cutoff * np.sinc(cutoff * d) * (0.5 + 0.5 * np.cos(np.pi * np.clip(d / self.radius, -1, 1)))
            self._taps = taps
            self._table = w.astype(np.float64)
        self._buf = np.zeros(self.radius, dtype=np.float64)  # leading zeros
        self._buf_start = -self.radius  # absolute input index of _buf[0]
        self._n = 0  # next output index
        self._received = 0

    def accept(self, x: np.ndarray, final: bool = False) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.identity:
            return x
        self._buf = np.concatenate([self._buf, x.astype(np.float64)])
        self._received += len(x)
        avail = self._received + (self.radius if final else 0)
        if final:
            self._buf = np.concatenate([self._buf, np.zeros(self.radius + 1)])
        # output n needs input up to floor(p) + radius < avail
        n_end = self._n
        # largest n with floor(n*down/up) + radius <= avail - 1
        n_max = ((avail - self.radius) * self.up) // self.down  # exclusive bound (approx)
        while n_max > self._n and ((n_max - 1) * self.down) // self.up + self.radius > avail - 1:
            n_max -= 1
        if final:
            n_max = min(n_max, -(-self._received * self.up // self.down))
        n_end = max(n_max, self._n)
        ns = np.arange(self._n, n_end, dtype=np.int64)
        if len(ns) == 0:
            return np.zeros(0, np.float32)
        base = (ns * self.down) // self.up
        phase = (ns * self.down) % self.up
        idx = base[:, None] + self._taps[None, :] - self._buf_start
        y = (self._buf[idx] * self._table[phase]).sum(axis=1)
        self._n = n_end
        # drop consumed input
        keep_from = (self._n * self.down) // self.up - self.radius - self._buf_start
        if keep_from > 0:
            self._buf = self._buf[keep_from:]
            self._buf_start += keep_from
        return y.astype(np.float32)


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float32)
    return StreamingResampler(rate_in, rate_out).accept(x, final=True)

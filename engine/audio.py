"""Audio input: file loading with clear errors, channel down-mixing, streaming resampling.

Every problem with an input file is an :class:`AudioError` whose message is one line that
names the file and the problem. Files are read as libsndfile reads them (WAV, FLAC, Ogg,
MP3, ...); a truncated file yields the audio that is there. Sample rates from
:data:`MIN_SAMPLE_RATE` to :data:`MAX_SAMPLE_RATE` are accepted; memory is bounded per
block (``iter_audio_blocks``) and inside the resampler, whatever the rate or channel count.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

MIN_SAMPLE_RATE = 1000  # Hz; below this a file is not audio a recognizer can use
MAX_SAMPLE_RATE = 768000  # Hz; the highest rate audio interfaces offer
MAX_BLOCK_SAMPLES = 1 << 22  # samples (frames x channels) per block read from a file: 16 MiB


class AudioError(ValueError):
    """An audio input the engine cannot use; the message names the file and the problem."""


MAX_CHANNELS = 64  # more than this many columns in a few rows: channels-first audio
FLOAT_SCALE_WARN = 64.0  # float samples beyond this are not a loud signal but another scale


class AudioScaleWarning(UserWarning):
    """Float samples far beyond full scale: clipped to -1..1, as documented, and said once."""


def to_float_mono(samples: np.ndarray, warn_scale: bool = False) -> np.ndarray:
    """Any int or float array, mono ``[n]`` or ``[n, channels]`` -> float32 mono in [-1, 1].

    Ints are scaled by their type's range; channels are averaged; NaN/Inf become 0; floats
    beyond full scale are clipped to [-1, 1]. ``warn_scale`` (samples given to the engine): an
    :class:`AudioScaleWarning` where floats go far beyond full scale (int16 values as floats
    are clipped to a square wave: an empty transcript).
    """
    if isinstance(samples, (str, bytes, os.PathLike)):
        raise AudioError("audio samples must be an array, not a path: engine.load_audio(path) reads a file")
    x = np.asarray(samples)
    if x.dtype.kind not in "biuf":
        raise AudioError(f"audio samples must be int or float, got {x.dtype}")
    if x.ndim not in (1, 2):
        raise AudioError(f"audio must be [n] or [n, channels], got shape {x.shape}")
    if x.ndim == 2 and x.shape[0] <= 8 and x.shape[1] > MAX_CHANNELS:
        # [channels, n] (as torchaudio and librosa give it) would be read as a few samples
        raise AudioError(f"audio must be [n] or [n, channels], got shape {x.shape}: channels first? "
                         "pass its transpose")
    if (warn_scale and x.dtype.kind == "f"
            and max(np.nanmax(x, initial=0.0), -np.nanmin(x, initial=0.0)) > FLOAT_SCALE_WARN):
        # one text, so that Python says it once per place in the caller's code (the stream's caller)
        warnings.warn(f"float audio samples far beyond full scale (-1..1, beyond {FLOAT_SCALE_WARN:g}), "
                      "where they are clipped: int16 values as floats? divide them by 32768",
                      AudioScaleWarning, stacklevel=3)
    with np.errstate(over="ignore", invalid="ignore"):  # huge floats: Inf here, 0 below
        if x.ndim == 2:
            x = x.mean(axis=1, dtype=np.float64)
            if np.asarray(samples).dtype.kind in "iu":
                x = _scale_int(x, np.asarray(samples).dtype)
        elif x.dtype.kind in "iu":
            x = _scale_int(x.astype(np.float64), x.dtype)
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        return np.clip(x, -1.0, 1.0).astype(np.float32, copy=False)


def _scale_int(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    if info.min == 0:  # unsigned: centre
        return (x - (info.max + 1) / 2) / ((info.max + 1) / 2)
    return x / float(-info.min)


_MAGIC = (
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive"), (b"\x1f\x8b", "gzip data"),
    (b"\x80", "a Python pickle"), (b"\x93NUMPY", "a NumPy array file"),
)
# headers of audio files that libsndfile reads by itself: no --raw
_AUDIO_MAGIC = ((b"RIFF", "WAV"), (b"RIFX", "WAV"), (b"RF64", "WAV"), (b"fLaC", "FLAC"), (b"OggS", "Ogg"),
                (b"ID3", "MP3"), (b"FORM", "AIFF"), (b".snd", "AU"))


def _head(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of ``path`` (none where it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _audio_header(path: Path) -> str:
    """The kind of audio header ``path`` starts with ('' for none, or unreadable)."""
    head = _head(path, 4)
    return next((what for magic, what in _AUDIO_MAGIC if head.startswith(magic)), "")


def _sniff(path: Path) -> str:
    """A hint about what a file that libsndfile cannot read might be."""
    head = _head(path, 512)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"; it looks like {what}"
    if head and b"\0" not in head:
        try:
            head.decode("utf-8")
            return "; it looks like text"
        except UnicodeDecodeError:
            pass
    return "; if it is headerless PCM, give --raw RATE" if head else ""


def _reason(e: BaseException) -> str:
    """libsndfile's error, without the ``Error opening '<path>': `` prefix, on one line."""
    msg = getattr(e, "error_string", None) or str(e) or type(e).__name__
    msg = re.sub(r"^Error opening .*?: ", "", " ".join(str(msg).split()))
    msg = re.sub(r"^(Internal |System )?[Ee]rror ?: ", "", msg).rstrip(".")
    return (msg[:1].lower() + msg[1:]) if msg[:2] != msg[:2].upper() else msg


def _check_file(path: Path) -> None:
    """A path that can be opened for reading, or an AudioError saying why not."""
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.is_file():  # not a pipe: opening one twice would lose what its writer sends
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            raise AudioError(f"{path}: cannot read ({e.strerror or e})") from None


def _check_rate(path: Path, rate: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{_name(path)}: unsupported sample rate {rate} Hz "
                         f"(supported: {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)")


STDIN = "-"  # the path that names standard input


def _name(path: Path) -> str:
    """How messages name an input: standard input is "standard input"."""
    return "standard input" if str(path) == STDIN else str(path)


def _open(path: Path, raw_rate: int | None = None):
    """A libsndfile reader of ``path`` (``-``: standard input). ``raw_rate``: the input is
    headerless 16-bit little-endian mono PCM at that rate (``arecord -t raw``, ``ffmpeg -f
    s16le -ac 1``), which no header can tell."""
    import soundfile as sf

    stdin = str(path) == STDIN
    if not stdin:
        _check_file(path)
    if raw_rate is not None:
        _check_rate(path, raw_rate)
        kind = "" if stdin else _audio_header(path)
        if kind:  # read as PCM, its header and samples would decode as noise
            raise AudioError(f"{_name(path)}: a {kind} file, not headerless PCM: leave out --raw "
                             "(its header gives the rate)")
    raw = {} if raw_rate is None else dict(format="RAW", samplerate=int(raw_rate), channels=1,
                                           subtype="PCM_16", endian="LITTLE")
    try:
        if stdin:
            import sys

            if raw:
                return sf.SoundFile(sys.stdin.fileno(), closefd=False, **raw)
            src = _stdin_source(sys.stdin.fileno())
            try:
                return sf.SoundFile(src)
            finally:
                if isinstance(src, str):  # a temporary file (FLAC, MP3): gone from the disk once open
                    os.unlink(src)
        return sf.SoundFile(str(path), **raw)
    except AudioError:
        raise
    except Exception as e:
        why = _reason(e)
        hint = ""
        if isinstance(e, TypeError) and "samplerate" in why:  # libsndfile's .raw/.pcm suffixes
            why, hint = "no audio header", "; headerless PCM needs --raw RATE"
        elif "not recognised" in why:
            hint = "; headerless PCM needs --raw RATE" if stdin else _sniff(path)
        raise AudioError(f"{_name(path)}: not a readable audio file ({why}{hint})") from None


def _stdin_source(fd: int):
    """What libsndfile reads standard input from: a file descriptor, or a path. WAV, Ogg and
    AU stream: a pipe that gets the bytes sniffed here and then everything after them as it
    arrives. FLAC and MP3 make libsndfile seek, which a pipe cannot (FLAC: "lost sync"; MP3:
    wrong audio, then an error; in memory, MP3 decodes wrongly too), so they are copied whole
    to a temporary file first and decoded from there."""
    import tempfile
    import threading

    head = b""
    while len(head) < 4:
        got = os.read(fd, 4 - len(head))
        if not got:
            break
        head += got
    if not head:
        raise AudioError("standard input: contains no audio samples")
    flac = head.startswith(b"fLaC")
    if flac or head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        # the suffix matters: without it libsndfile decodes MP3 wrongly
        with tempfile.NamedTemporaryFile(prefix="nnasr-stdin-", suffix=".flac" if flac else ".mp3",
                                         delete=False) as f:
            f.write(head)
            while got := os.read(fd, 1 << 16):
                f.write(got)
        return f.name
    r, w = os.pipe()

    def copy() -> None:  # the sniffed bytes, then the rest as it comes
        try:
            data = head
            while data:
                os.write(w, data)
                data = os.read(fd, 1 << 16)
        except OSError:  # the reader stopped (an error, or the end of the decode)
            pass
        finally:
            os.close(w)

    threading.Thread(target=copy, daemon=True, name="nnasr-stdin").start()
    return r


class AudioInfo(NamedTuple):
    sample_rate: int
    frames: int
    channels: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str | Path) -> AudioInfo:
    """Check a file the way :func:`load_audio` does, without decoding it: its rate, length
    and channels, or an :class:`AudioError`. (Corruption inside the data shows up only
    when it is decoded.)"""
    path = Path(path)
    with _open(path) as f:
        _check_rate(path, f.samplerate)
        if f.frames == 0:
            raise AudioError(f"{path}: contains no audio samples")
        return AudioInfo(int(f.samplerate), int(f.frames), int(f.channels))


def load_audio(path: str | Path, target_rate: int = 16000) -> np.ndarray:
    """Read a whole audio file (any format libsndfile reads) -> float32 mono at target_rate."""
    path = Path(path)
    with _open(path) as f:
        _check_rate(path, f.samplerate)
        if f.frames == 0:
            raise AudioError(f"{path}: contains no audio samples")
        try:
            data = f.read(dtype="float32", always_2d=True)
        except Exception as e:
            raise AudioError(f"{path}: truncated or corrupt audio data ({_reason(e)})") from None
        rate = f.samplerate
    if data.shape[0] == 0:
        raise AudioError(f"{path}: contains no audio samples")
    x = to_float_mono(data)
    del data
    return resample(x, rate, target_rate)


def iter_audio_blocks(path: str | Path, block_seconds: float = 10.0, *, raw_rate: int | None = None):
    """Stream a file in blocks (bounded memory): yields (float32 mono block, sample_rate).

    A block is ``block_seconds`` long, or shorter for files with many channels, so that
    one block never holds more than :data:`MAX_BLOCK_SAMPLES` samples. ``path`` may be a
    pipe, or ``-`` for standard input, read as it arrives (a block is yielded when it is
    full, or at the end); ``raw_rate``: headerless 16-bit mono PCM at that rate.
    """
    path = Path(path)
    f = _open(path, raw_rate)
    name = _name(path)
    with f:
        _check_rate(path, f.samplerate)
        if f.frames == 0:
            raise AudioError(f"{name}: contains no audio samples")
        n = max(1, min(int(block_seconds * f.samplerate), MAX_BLOCK_SAMPLES // max(1, f.channels)))
        if f.format == "MP3":  # libsndfile's MP3 decoder garbles audio at read boundaries
            n = MAX_BLOCK_SAMPLES // max(1, f.channels)  # (and says so on stderr): few, long reads
        got = 0
        try:
            while True:  # f.read, not f.blocks: a pipe (non-seekable) reads this way too
                block = f.read(n, dtype="float32", always_2d=True)
                if not len(block):
                    break
                got += len(block)
                yield to_float_mono(block), f.samplerate
        except AudioError:
            raise
        except Exception as e:
            raise AudioError(f"{name}: truncated or corrupt audio data ({_reason(e)})") from None
        if got == 0:
            raise AudioError(f"{name}: contains no audio samples")


class StreamingResampler:
    """Band-limited (windowed-sinc, Hann window) resampler with state across calls.

    Output sample ``n`` is the interpolated input at position ``n * rate_in / rate_out``;
    inputs before the stream start are zeros. Chunked output equals whole-signal output.
    Polyphase: the fractional positions repeat with period ``rate_out / gcd``, so the
    filter taps are tabulated once (computed per output instead when the table would be
    large, e.g. for an odd rate like 44101 Hz). Outputs are computed in slices of at most
    :attr:`MAX_WORK` taps, so the temporaries stay small however long the input.
    """

    MAX_WORK = 1 << 16  # output samples x taps per slice (512 KiB per float64 temporary)
    MAX_TABLE = 1 << 21  # phases x taps tabulated at most (16 MiB)

    def __init__(self, rate_in: int, rate_out: int, zero_crossings: int = 16) -> None:
        if rate_in <= 0 or rate_out <= 0:
            raise AudioError(f"invalid sample rate {rate_in} -> {rate_out}")
        for r in (rate_in, rate_out) if rate_in != rate_out else ():
            if not MIN_SAMPLE_RATE <= r <= MAX_SAMPLE_RATE:
                raise AudioError(f"unsupported sample rate {r} Hz (supported: {MIN_SAMPLE_RATE} "
                                 f"to {MAX_SAMPLE_RATE} Hz)")
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        g = math.gcd(self.rate_in, self.rate_out)
        self.up, self.down = self.rate_out // g, self.rate_in // g
        self.identity = self.up == self.down
        self.cutoff = min(1.0, self.rate_out / self.rate_in) * 0.95
        self.radius = int(math.ceil(zero_crossings / self.cutoff))
        self._table = None
        if not self.identity:
            self._taps = np.arange(-self.radius + 1, self.radius + 1)  # k - floor(p)
            if self.up * len(self._taps) <= self.MAX_TABLE:
                self._table = self._weights(np.arange(self.up))
        self._buf = np.zeros(self.radius, dtype=np.float64)  # leading zeros
        self._buf_start = -self.radius  # absolute input index of _buf[0]
        self._n = 0  # next output index
        self._received = 0

    def _weights(self, phase: np.ndarray) -> np.ndarray:
        """Filter taps ``[len(phase), 2 * radius]`` for output phases ``n * down % up``."""
        d = (phase / self.up)[:, None] - self._taps[None, :]  # p - k
        c = self.cutoff
        w = c * np.sinc(c * d) * (0.5 + 0.5 * np.cos(np.pi * np.clip(d / self.radius, -1, 1)))
        return w.astype(np.float64)

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
        # largest n with floor(n*down/up) + radius <= avail - 1
        n_max = ((avail - self.radius) * self.up) // self.down  # exclusive bound (approx)
        while n_max > self._n and ((n_max - 1) * self.down) // self.up + self.radius > avail - 1:
            n_max -= 1
        if final:
            n_max = min(n_max, -(-self._received * self.up // self.down))
        n_end = max(n_max, self._n)
        if n_end == self._n:
            return np.zeros(0, np.float32)
        y = np.empty(n_end - self._n, np.float32)
        step = max(1, self.MAX_WORK // len(self._taps))
        for a in range(self._n, n_end, step):
            ns = np.arange(a, min(a + step, n_end), dtype=np.int64)
            base = (ns * self.down) // self.up
            phase = (ns * self.down) % self.up
            idx = base[:, None] + self._taps[None, :] - self._buf_start
            w = self._table[phase] if self._table is not None else self._weights(phase)
            y[a - self._n : a - self._n + len(ns)] = (self._buf[idx] * w).sum(axis=1)
        self._n = n_end
        # drop consumed input
        keep_from = (self._n * self.down) // self.up - self.radius - self._buf_start
        if keep_from > 0:
            self._buf = self._buf[keep_from:]
            self._buf_start += keep_from
        return y


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float32)
    return StreamingResampler(rate_in, rate_out).accept(x, final=True)

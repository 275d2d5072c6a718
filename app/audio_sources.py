"""Audio sources for the live app: microphone, a file in real time, and a fake for tests.

Every source delivers float32 mono blocks into a *bounded* ``queue.Queue``. The producer
(the PortAudio callback, or a pacing thread) only copies a block in; when the queue is
full because decoding fell behind, the block is dropped and counted (``dropped_blocks``,
``dropped_seconds``), never silently lost and never allowed to grow memory (as
whisper.cpp's ``stream`` does). The consumer calls :meth:`AudioSource.read`.

A source that stops on its own (end of file, microphone unplugged) sets ``finished``;
``error`` then says why, in one sentence, if it was not a normal end.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np


class AudioSourceError(RuntimeError):
    """A source that cannot start; the message is one plain sentence for the user."""


class AudioSource:
    """Base: a bounded queue of float32 mono blocks with drop counting."""

    name = "audio"
    live = False  # True for a microphone: audio that is not read in time is gone

    def __init__(self, sample_rate: int, block_ms: int = 100, max_queue_s: float = 5.0) -> None:
        self.sample_rate = int(sample_rate)
        self.block_ms = int(block_ms)
        self.queue: queue.Queue[np.ndarray] = queue.Queue(
            maxsize=max(2, int(round(max_queue_s * 1000 / self.block_ms))))
        self.dropped_blocks = 0
        self.dropped_samples = 0
        self.overflows = 0  # input overflows reported by the device driver
        self.finished = threading.Event()
        self.error: str | None = None
        self.looped = 0  # times a looping source started over

    # producer side ------------------------------------------------------------------
    def _offer(self, block: np.ndarray) -> bool:
        """Copy a block into the queue; if full, drop it and count. Returns False if dropped."""
        try:
            self.queue.put_nowait(np.array(block, dtype=np.float32, copy=True))
            return True
        except queue.Full:
            self.dropped_blocks += 1
            self.dropped_samples += len(block)
            return False

    # consumer side ------------------------------------------------------------------
    def read(self, timeout: float = 0.1) -> np.ndarray | None:
        """The next block, or None if none arrived within ``timeout`` seconds."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    @property
    def exhausted(self) -> bool:
        """The source has finished and every block has been read."""
        return self.finished.is_set() and self.queue.empty()

    @property
    def dropped_seconds(self) -> float:
        return self.dropped_samples / self.sample_rate if self.sample_rate else 0.0

    def set_paused(self, paused: bool) -> None:
        """Sources that can wait (files) wait while paused; a microphone cannot."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.finished.set()


# --- microphone -------------------------------------------------------------------------
def _sounddevice():
    try:
        import sounddevice as sd
    except (OSError, ImportError) as e:  # the PortAudio library (or sounddevice) is missing
        raise AudioSourceError(f"PortAudio is not installed ({e}), so there is no microphone input") from None
    return sd


def list_input_devices() -> list[dict]:
    """Input devices: ``{index, name, channels, default_samplerate, default}``.

    Raises :class:`AudioSourceError` if PortAudio is missing or cannot be queried.
    """
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        try:
            default_in = sd.default.device[0]
        except Exception:
            default_in = -1
    except Exception as e:
        raise AudioSourceError(f"cannot list audio devices ({_oneline(e)})") from None
    out = []
    for i, d in enumerate(devices):
        if d.get("max_input_channels", 0) > 0:
            out.append({"index": i, "name": d["name"], "channels": d["max_input_channels"],
                        "default_samplerate": d.get("default_samplerate"),
                        "default": i == default_in})
    return out


def _oneline(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


class MicrophoneSource(AudioSource):
    """The default (or a chosen) input device through sounddevice/PortAudio.

    Opens at ``sample_rate`` if the device supports it, else at the device's own rate (the
    recognizer resamples). The callback only copies into the queue.
    """

    live = True

    def __init__(self, device: int | str | None = None, sample_rate: int = 16000,
                 block_ms: int = 100, max_queue_s: float = 5.0) -> None:
        super().__init__(sample_rate, block_ms, max_queue_s)
        self.device = device
        self._stream = None
        self._stopping = False
        self.last_block_at = 0.0  # time.monotonic() of the last callback
        self.name = "microphone"

    def start(self) -> None:
        sd = _sounddevice()
        try:
            info = sd.query_devices(self.device, kind="input")
        except Exception as e:
            which = "the default input device" if self.device is None else f"input device {self.device!r}"
            raise AudioSourceError(f"No microphone found: {which} is not available ({_oneline(e)})") from None
        self.name = f"microphone: {info['name']}"
        last_err: Exception | None = None
        for rate in dict.fromkeys([self.sample_rate, int(info.get("default_samplerate") or 0)]):
            if rate <= 0:
                continue
            try:
                stream = sd.InputStream(
                    device=self.device, channels=1, samplerate=rate, dtype="float32",
                    blocksize=int(rate * self.block_ms / 1000), callback=self._callback,
                    finished_callback=self._finished)
                self.sample_rate = rate
                self._stream = stream
                break
            except Exception as e:
                last_err = e
        if self._stream is None:
            raise AudioSourceError(f"The microphone could not be opened ({_oneline(last_err)})")
        self.last_block_at = time.monotonic()
        try:
            self._stream.start()
        except Exception as e:
            raise AudioSourceError(f"The microphone could not be started ({_oneline(e)})") from None

    def _callback(self, indata, frames, time_info, status) -> None:  # PortAudio thread
        if status and status.input_overflow:
            self.overflows += 1
        self.last_block_at = time.monotonic()
        self._offer(indata[:, 0])

    def _finished(self) -> None:  # PortAudio thread: the stream stopped
        if not self._stopping:
            self.error = "The microphone stopped delivering audio (was it unplugged?)"
        self.finished.set()

    @property
    def active(self) -> bool:
        return bool(self._stream is not None and self._stream.active)

    def stop(self) -> None:
        self._stopping = True
        s, self._stream = self._stream, None
        if s is not None:
            try:
                s.abort()
                s.close()
            except Exception:
                pass
        self.finished.set()


# --- paced sources: a file, or samples in memory -------------------------------------------
class _PacedSource(AudioSource):
    """A thread that cuts audio into ``block_ms`` blocks and offers them at ``speed`` x real
    time (``speed <= 0``: as fast as possible). ``lossless``: wait for room in the queue
    instead of dropping (tests); a real-time source drops, like a device would."""

    def __init__(self, sample_rate: int, *, speed: float = 1.0, loop: bool = False,
                 block_ms: int = 100, max_queue_s: float = 5.0, lossless: bool = False) -> None:
        super().__init__(sample_rate, block_ms, max_queue_s)
        self.speed = float(speed)
        self.loop = loop
        self.lossless = lossless
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.position_s = 0.0  # of the current pass through the audio

    def _passes(self):
        """Yield float32 mono arrays (pieces of one pass through the audio)."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"nnasr-{self.name}", daemon=True)
        self._thread.start()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._resume.clear()
        else:
            self._resume.set()

    def _run(self) -> None:
        n = max(1, int(self.sample_rate * self.block_ms / 1000))
        t0 = time.monotonic()
        sent = 0  # samples offered, across passes
        try:
            while not self._stop.is_set():
                got_any = False
                self.position_s = 0.0
                carry = np.zeros(0, np.float32)
                for piece in self._passes():
                    carry = np.concatenate([carry, piece]) if len(carry) else piece
                    while len(carry) >= n and not self._stop.is_set():
                        got_any = True
                        t0 = self._emit(carry[:n], sent, t0)
                        carry = carry[n:]
                        sent += n
                        self.position_s += n / self.sample_rate
                    if self._stop.is_set():
                        return
                if len(carry) and not self._stop.is_set():
                    got_any = True
                    t0 = self._emit(carry, sent, t0)
                    sent += len(carry)
                if not self.loop or not got_any:
                    return
                self.looped += 1
        except Exception as e:  # a file that turns out corrupt half-way
            self.error = _oneline(e)
        finally:
            self.finished.set()

    def _emit(self, block: np.ndarray, sent: int, t0: float) -> float:
        if not self._resume.is_set():
            paused_at = time.monotonic()
            while not self._resume.wait(0.05):
                if self._stop.is_set():
                    return t0
            t0 += time.monotonic() - paused_at  # the pause does not count as audio time
        if self.speed > 0:
            due = t0 + (sent + len(block)) / self.sample_rate / self.speed
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
        if self.lossless:
            while not self._stop.is_set():
                try:
                    self.queue.put(np.array(block, np.float32), timeout=0.05)
                    break
                except queue.Full:
                    continue
        else:
            self._offer(block)
        return t0

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=2.0)
        self.finished.set()


class FileSource(_PacedSource):
    """An audio file streamed in real time (or ``speed`` x), read in bounded blocks."""

    def __init__(self, path: str | Path, *, speed: float = 1.0, loop: bool = False,
                 block_ms: int = 100, max_queue_s: float = 5.0, lossless: bool = False,
                 label: str | None = None) -> None:
        self.path = Path(path)
        info = self._probe(self.path)
        super().__init__(info.samplerate, speed=speed, loop=loop, block_ms=block_ms,
                         max_queue_s=max_queue_s, lossless=lossless)
        self.duration_s = info.frames / info.samplerate
        self.name = label or f"file: {self.path.name}"

    @staticmethod
    def _probe(path: Path):
        from engine.audio import AudioError, audio_info

        try:
            info = audio_info(path)
        except AudioError as e:
            raise AudioSourceError(_oneline(e)) from None
        if not path.is_file():  # a pipe: probing it consumed it, and a looping source rereads
            raise AudioSourceError(f"{path}: not a regular file (live input needs a file it "
                                   "can read again; use `nnasr transcribe` for a pipe)")
        return SimpleNamespace(samplerate=info.sample_rate, frames=info.frames)

    def _passes(self):
        from engine.audio import iter_audio_blocks

        for block, _rate in iter_audio_blocks(self.path, block_seconds=2.0):
            yield block


class FakeSource(_PacedSource):
    """Samples in memory, for tests and demos. ``start_error`` makes :meth:`start` fail (a
    missing microphone); ``fail_after_s`` ends the stream with an error after that much
    audio (an unplugged one)."""

    def __init__(self, samples: np.ndarray, sample_rate: int = 16000, *, speed: float = 0.0,
                 loop: bool = False, block_ms: int = 100, max_queue_s: float = 5.0,
                 lossless: bool = True, start_error: str | None = None,
                 fail_after_s: float | None = None, name: str = "fake audio",
                 live: bool = False) -> None:
        super().__init__(sample_rate, speed=speed, loop=loop, block_ms=block_ms,
                         max_queue_s=max_queue_s, lossless=lossless)
        self.samples = np.asarray(samples, dtype=np.float32)
        self.start_error = start_error
        self.fail_after_s = fail_after_s
        self.name = name
        self.live = live

    def start(self) -> None:
        if self.start_error:
            raise AudioSourceError(self.start_error)
        super().start()

    def _passes(self):
        step = self.sample_rate  # one-second pieces
        for i in range(0, len(self.samples), step):
            if self.fail_after_s is not None and i >= self.fail_after_s * self.sample_rate:
                raise RuntimeError("the fake device was unplugged")
            yield self.samples[i : i + step]

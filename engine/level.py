"""Input level: how loud a recording's speech is, and the gain that brings quiet speech up to
the level a model is trained at.

The front-end takes ``log(max(mel power, log_floor))``: speech far below the training level
loses its weaker mel bands to the floor, and no normalization brings them back
(``benchmarks/log_floor.py``). An input gain before the front-end does
(:class:`engine.Recognizer` ``gain_db``, :meth:`engine.recognizer.Stream.set_gain`).

The level of a recording is that of its loudest 100 ms: the tenth loudest 10 ms block's RMS,
in dBFS. It needs only a tenth of a second of speech, whatever the length of the pauses
around it, and a loud noise makes it higher, never lower, so the gain it gives errs on the
side of none.
"""

from __future__ import annotations

import numpy as np

BLOCK_S = 0.01  # the level's blocks
LOUDEST_BLOCKS = 10  # the level is that of the loudest LOUDEST_BLOCKS blocks' quietest
# The level the corpora's clips are made at: the loudest 100 ms of the training clips sits at a
# median -24 dBFS (-41 to -12 between their 10th and 90th percentiles; synthesized speech of
# `nnasr synth` at its default level spread).
TARGET_DBFS = -24.0
MAX_AUTO_GAIN_DB = 40.0  # beyond it a recording is silence, not quiet speech
SILENT_DBFS = -100.0  # a recording whose loudest 100 ms are below this has no level to raise


def block_levels_db(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS level (dBFS) of each whole ``BLOCK_S`` block of ``samples``, its mean taken out
    first: a DC offset is not heard (the front-end takes each frame's mean out too)."""
    n = max(1, int(round(BLOCK_S * sample_rate)))
    k = len(samples) // n
    x = np.asarray(samples[: k * n], dtype=np.float64).reshape(k, n)
    x = np.nan_to_num(x - x.mean(axis=1, keepdims=True))
    return 10.0 * np.log10(np.mean(np.square(x), axis=1) + 1e-20)


class LevelMeter:
    """A recording's speech level (:func:`speech_level_db`) measured block by block, in any
    pieces and at any sample rate (a file read in blocks, without holding it): it keeps the
    loudest ``LOUDEST_BLOCKS`` levels and the samples short of a whole 10 ms block."""

    def __init__(self) -> None:
        self._loudest = np.zeros(0)
        self._rest = np.zeros(0, np.float32)
        self._rate: int | None = None

    def accept(self, samples: np.ndarray, sample_rate: int) -> None:
        if self._rate != sample_rate:
            self._rest, self._rate = np.zeros(0, np.float32), sample_rate
        x = np.concatenate([self._rest, np.asarray(samples, dtype=np.float32).reshape(-1)])
        n = max(1, int(round(BLOCK_S * sample_rate)))
        k = len(x) // n
        self._rest = x[k * n:]
        db = np.concatenate([self._loudest, block_levels_db(x[: k * n], sample_rate)])
        self._loudest = np.sort(db)[-LOUDEST_BLOCKS:]

    @property
    def level_db(self) -> float:
        """The level of the loudest 100 ms so far (dBFS; the quietest block of fewer); -200
        before a whole block."""
        return float(self._loudest[0]) if len(self._loudest) else -200.0

    def gain_db(self, target_db: float = TARGET_DBFS, max_gain_db: float = MAX_AUTO_GAIN_DB) -> float:
        """The gain (dB, 0 to ``max_gain_db``, to 0.1 dB) that brings the level up to
        ``target_db``. Never negative: speech louder than the target loses nothing to the
        floor. 0 for a recording with nothing above SILENT_DBFS."""
        if self.level_db < SILENT_DBFS:
            return 0.0
        return round(float(np.clip(target_db - self.level_db, 0.0, max_gain_db)), 1)


def speech_level_db(samples: np.ndarray, sample_rate: int) -> float:
    """The level of ``samples``' loudest 100 ms (dBFS): the ``LOUDEST_BLOCKS``-th loudest
    10 ms block (the quietest block of a shorter recording); -200 for no whole block."""
    m = LevelMeter()
    m.accept(samples, sample_rate)
    return m.level_db


def auto_gain_db(samples: np.ndarray, sample_rate: int, target_db: float = TARGET_DBFS,
                 max_gain_db: float = MAX_AUTO_GAIN_DB) -> float:
    """The gain that brings ``samples``' speech level up to ``target_db``
    (:meth:`LevelMeter.gain_db`)."""
    m = LevelMeter()
    m.accept(samples, sample_rate)
    return m.gain_db(target_db, max_gain_db)

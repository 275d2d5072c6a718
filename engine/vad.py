"""Speech gating: non-speech gives no words (a contract of the engine), the one place of that rule.

The models decode noise as words (digital silence, white and pink noise and mains hum all
became long invented text with every shipped model, greedy and beam: docs/reliability.md),
so their own blank evidence cannot be trusted outside speech. The gate decides per
front-end frame (10 ms) whether speech is present, from the log-mel features the model
reads anyway, and the recognizer runs its decoder (joiner, predictor) only on encoder
frames near speech; the encoder always runs, so its state is the same with or without
the gate. Per frame:

1. the mel filters are summed into ``bands`` equal groups (power), averaged over the
   last ``smooth_frames`` frames, in dB;
2. each band's noise floor is its minimum over the last ``floor_window_s`` seconds
   (minimum statistics, as Martin's noise estimator); at a stream's start, over the
   frames so far;
3. the frame is **speech** when its bands are on average at least ``min_snr_db`` above
   their floors, or one band at least ``min_band_snr_db`` above its floor (a voice whose
   energy sits in one band: a low voice, a band-limited channel), and its level is at
   least ``min_level_db`` (dB relative to a full-scale 1 kHz sine through the same
   front-end);
4. the gate is **open** from a speech frame until ``hangover_s`` after the last one, so
   the transducer, which emits a word after hearing it, can finish the last word.

Stationary sound (silence, hiss, hum, fan noise) sits on its own floor and never opens
the gate, whatever its level; speech rises 20-40 dB above the floor between its pauses.
Every step is causal and frame by frame (sliding windows over the frames' history), so
the decision for a frame does not depend on how the audio was cut into chunks:
streaming equals offline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .frontend import FrontendConfig, StreamingFrontend


@dataclass(frozen=True)
class VadConfig:
    """The speech gate's thresholds (see the module docstring); ``enabled=False``: every
    frame is decoded, as without a gate."""

    enabled: bool = True
    bands: int = 8  # mel filters are summed into this many equal groups
    smooth_frames: int = 3  # power average over this many frames (30 ms)
    floor_window_s: float = 1.0  # a band's noise floor: its minimum over this window
    min_snr_db: float = 8.0  # speech: bands on average this far above their floors,
    min_band_snr_db: float = 20.0  # or one band this far above its floor
    min_level_db: float = -70.0  # and the frame this loud (dB re a full-scale 1 kHz sine)
    hangover_s: float = 0.5  # the decoder keeps running this long after the last speech


# The speech detector whose frames a causal-mean model's statistics are taken over
# (engine.frontend.CausalMean). Fixed, whatever the gate's defaults become: a model learned
# its input with these thresholds; only speech(), not the hangover, is used.
CMN_SPEECH = VadConfig(enabled=True, bands=8, smooth_frames=3, floor_window_s=1.0, min_snr_db=8.0,
                       min_band_snr_db=20.0, min_level_db=-70.0, hangover_s=0.5)


class SpeechGate:
    """Streaming speech gate over log-mel frames: :meth:`accept` returns, per frame,
    whether the decoder may emit on it (speech now or within the hangover)."""

    def __init__(self, cfg: VadConfig, frontend: FrontendConfig) -> None:
        if frontend.n_mels % cfg.bands:
            raise ValueError(f"VadConfig.bands={cfg.bands} must divide n_mels={frontend.n_mels}")
        self.cfg = cfg
        frame_s = frontend.hop_length / frontend.sample_rate
        self._window = max(1, int(round(cfg.floor_window_s / frame_s)))
        self._hang = int(round(cfg.hangover_s / frame_s))
        self._ref_db = _full_scale_db(frontend, cfg.bands)
        self._power = np.zeros((0, cfg.bands))  # last smooth_frames - 1 band powers
        self._levels = np.zeros((0, cfg.bands))  # last window - 1 smoothed band levels (dB)
        self._since_speech: int | None = None  # frames since the last speech frame
        self.speech_frames = 0  # frames judged speech so far
        self.frames = 0
        self.last_speech: np.ndarray | None = None  # speech() of the last accept() (None: disabled)

    @property
    def is_open(self) -> bool:
        """Speech now or within the hangover (after the frames seen so far)."""
        return self._since_speech is not None and self._since_speech <= self._hang

    def speech(self, feats: np.ndarray) -> np.ndarray:
        """Log-mel frames [T, n_mels] (the front-end's output) -> speech per frame [T] bool."""
        c = self.cfg
        if not len(feats):
            return np.zeros(0, bool)
        p = np.exp(feats.astype(np.float64)).reshape(len(feats), c.bands, -1).sum(axis=2)
        if not len(self._power):  # stream start: the first frame stands in for the past
            self._power = np.repeat(p[:1], c.smooth_frames - 1, axis=0)
        hist = np.concatenate([self._power, p])
        self._power = hist[len(hist) - (c.smooth_frames - 1):]
        smooth = sliding_window_view(hist, c.smooth_frames, axis=0).mean(axis=-1)
        level = 10.0 * np.log10(smooth)
        lhist = np.concatenate([self._levels, level])
        self._levels = lhist[max(0, len(lhist) - (self._window - 1)):]
        pad = np.full((self._window - 1 - (len(lhist) - len(level)), c.bands), np.inf)
        floor = sliding_window_view(np.concatenate([pad, lhist]), self._window, axis=0).min(axis=-1)
        snr = level - floor
        above = (snr.mean(axis=1) >= c.min_snr_db) | (snr.max(axis=1) >= c.min_band_snr_db)
        loud = 10.0 * np.log10(smooth.sum(axis=1)) - self._ref_db >= c.min_level_db
        return above & loud

    def accept(self, feats: np.ndarray) -> np.ndarray:
        """Log-mel frames [T, n_mels] -> gate open per frame [T] bool (all True if disabled)."""
        if not self.cfg.enabled:
            self.frames += len(feats)
            return np.ones(len(feats), bool)
        is_speech = self.last_speech = self.speech(feats)
        out = np.empty(len(is_speech), bool)
        since = self._since_speech
        for i, s in enumerate(is_speech):
            since = 0 if s else (None if since is None else since + 1)
            out[i] = since is not None and since <= self._hang
        self._since_speech = since
        self.speech_frames += int(is_speech.sum())
        self.frames += len(feats)
        return out


_REF_CACHE: dict[tuple, float] = {}


def _full_scale_db(frontend: FrontendConfig, bands: int) -> float:
    """Level (dB of summed mel power) of a full-scale 1 kHz sine through the front-end."""
    key = (tuple(sorted(frontend.to_dict().items())), bands)
    if key not in _REF_CACHE:
        n = frontend.win_length + 9 * frontend.hop_length
        t = np.arange(n) / frontend.sample_rate
        f = StreamingFrontend(frontend).accept(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32))
        _REF_CACHE[key] = float(np.median(10.0 * np.log10(np.exp(f.astype(np.float64)).sum(axis=1))))
    return _REF_CACHE[key]

"""The one front-end: streaming log-mel features (numpy), used in training and on device.

Frame ``t`` covers samples ``[t*hop, t*hop + win)`` (no centering, no padding), so
features of a stream fed in chunks of any size equal the features of the whole signal.
Per frame: Hann window (periodic), ``n_fft``-point power spectrum, HTK mel filterbank
(triangles on the mel scale, ``fmin``..``fmax``), ``log(max(e, floor))``. Normalization
(global mean/std from training data, or a causal running mean: :class:`CausalMean`) is
applied by the model, not here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class FrontendConfig:
    sample_rate: int = 16000  # Hz
    win_length: int = 400  # samples (25 ms)
    hop_length: int = 160  # samples (10 ms)
    n_fft: int = 512
    n_mels: int = 80
    fmin: float = 20.0  # Hz
    fmax: float = 7600.0  # Hz
    log_floor: float = 1e-6
    preemphasis: float = 0.97  # applied per frame (frame-local, so streaming stays exact)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def frame_ms(self) -> float:
        return 1000.0 * self.hop_length / self.sample_rate


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_points(cfg: FrontendConfig) -> np.ndarray:
    """The filters' corner frequencies in Hz: ``n_mels + 2`` points equally spaced in mel;
    band ``m`` rises from point ``m``, peaks at ``m + 1`` and falls to ``m + 2``."""
    return mel_to_hz(np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax), cfg.n_mels + 2))


def mel_filterbank(cfg: FrontendConfig) -> np.ndarray:
    """[n_fft//2 + 1, n_mels] float32 HTK-style triangular filters."""
    n_bins = cfg.n_fft // 2 + 1
    freqs = np.linspace(0.0, cfg.sample_rate / 2.0, n_bins)
    hz = mel_points(cfg)
    fb = np.zeros((n_bins, cfg.n_mels), dtype=np.float64)
    for m in range(cfg.n_mels):
        lo, ce, hi = hz[m], hz[m + 1], hz[m + 2]
        up = (freqs - lo) / max(ce - lo, 1e-9)
        down = (hi - freqs) / max(hi - ce, 1e-9)
        fb[:, m] = np.maximum(0.0, np.minimum(up, down))
    return fb.astype(np.float32)


class StreamingFrontend:
    """Carry leftover samples across calls; return whole frames only."""

    def __init__(self, cfg: FrontendConfig | None = None) -> None:
        self.cfg = cfg or FrontendConfig()
        c = self.cfg
        n = np.arange(c.win_length)
        self._window = 0.5 - 0.5 * np.cos(2 * np.pi * n / c.win_length)
        self._fb = mel_filterbank(c).astype(np.float64)
        self._buf = np.zeros(0, dtype=np.float32)
        self.frames_emitted = 0

    def reset(self) -> None:
        self._buf = np.zeros(0, dtype=np.float32)
        self.frames_emitted = 0

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Float32 mono samples at ``cfg.sample_rate`` in [-1, 1] -> [n_frames, n_mels]."""
        c = self.cfg
        x = np.concatenate([self._buf, np.asarray(samples, dtype=np.float32).ravel()])
        n_frames = 0 if len(x) < c.win_length else 1 + (len(x) - c.win_length) // c.hop_length
        if n_frames == 0:
            self._buf = x
            return np.zeros((0, c.n_mels), dtype=np.float32)
        idx = np.arange(c.win_length)[None, :] + c.hop_length * np.arange(n_frames)[:, None]
        frames = x[idx].astype(np.float64)
        self._buf = x[n_frames * c.hop_length :]
        self.frames_emitted += n_frames
        return self._features(frames)

    def _features(self, frames: np.ndarray) -> np.ndarray:
        c = self.cfg
        frames = frames - frames.mean(axis=1, keepdims=True)
        if c.preemphasis:
            frames = np.concatenate(
                [frames[:, :1] * (1 - c.preemphasis), frames[:, 1:] - c.preemphasis * frames[:, :-1]],
                axis=1,
            )
        spec = np.fft.rfft(frames * self._window, n=c.n_fft, axis=1)
        power = spec.real**2 + spec.imag**2  # float64: batch-size independent to < 1 ulp(f32)
        mel = power @ self._fb
        return np.log(np.maximum(mel, c.log_floor)).astype(np.float32)


def compute_features(samples: np.ndarray, cfg: FrontendConfig | None = None) -> np.ndarray:
    """Whole-utterance log-mel features [n_frames, n_mels] (same as streaming)."""
    return StreamingFrontend(cfg).accept(samples)


class CausalMean:
    """The running mean a model with ``Architecture.cmn_window = W > 0`` subtracts from its
    log-mel features, as Kaldi's online CMN (``OnlineCmvn``, means only), over speech frames.

    Only the frames a speech detector marks (``speech``: in the engine, the speech gate's
    per-frame decision, ``engine.vad.SpeechGate.speech``) enter the statistics, so that
    seconds of silence or of a noise floor between utterances do not drag the mean to the
    floor and lift the next words far above what the model learned. Frame ``t``'s mean is
    ``(S_t + p_t * g) / (n_t + p_t)``: ``S_t`` sums the last ``n_t = min(k_t, W)`` speech
    frames among ``0..t`` (``k_t`` of them so far, ``t`` itself included when it is
    speech), ``g`` is the training set's global mean and ``p_t = min(prior, W - n_t)`` its
    weight in frames. A stream starts at the global mean, moves to its speech's own and then
    follows its last ``W`` speech frames: a channel's constant colouring (a microphone's
    response, a level) is taken out as the stream goes. Sums are float64 running sums kept
    across calls, so chunks of any size give the means of the whole stream
    (``trainer.model.causal_mean`` computes the same over whole utterances)."""

    def __init__(self, global_mean: np.ndarray, window: int, prior: int) -> None:
        if window < 1 or not 1 <= prior <= window:
            raise ValueError(f"causal mean: window={window} must be >= 1 and prior={prior} in 1..window")
        self.g = np.asarray(global_mean, np.float64)
        self.window, self.prior = int(window), int(prior)
        self.reset()

    def reset(self) -> None:
        self.frames = 0
        self.speech_frames = 0
        # cumulative sums over speech frames, C[k] = x_s0 + ... + x_s(k-1), for the last
        # `window` + 1 values of k
        self._cum = np.zeros((1, len(self.g)), np.float64)

    def accept(self, feats: np.ndarray, speech: np.ndarray | None = None) -> np.ndarray:
        """[T, n_mels] features and their speech flags [T] (None: every frame) -> [T, n_mels]
        float64 means (each frame's own)."""
        x = np.asarray(feats, np.float64)
        T = len(x)
        if T == 0:
            return np.zeros((0, len(self.g)), np.float64)
        s = np.ones(T, bool) if speech is None else np.asarray(speech, bool)
        if s.shape != (T,):
            raise ValueError(f"speech flags {s.shape} for {T} frames")
        W = self.window
        cum = np.cumsum(np.concatenate([self._cum[-1:], x[s]]), axis=0)  # C[k0] .. C[k0 + T_s]
        allc = np.concatenate([self._cum[:-1], cum])
        base = self.speech_frames - (len(self._cum) - 1)  # the k of allc[0]
        k = self.speech_frames + np.cumsum(s)  # speech frames so far, after each frame
        n = np.minimum(k, W)
        p = np.minimum(self.prior, W - n)[:, None].astype(np.float64)
        mean = (allc[k - base] - allc[k - n - base] + p * self.g) / (n[:, None] + p)
        self.frames += T
        self.speech_frames = int(k[-1])
        self._cum = allc[-(W + 1):] if len(allc) > W + 1 else allc
        return mean

"""Data augmentation of training features: SpecAugment on a padded batch (on the device),
and per-utterance log-mel perturbations (tempo, level, vocal-tract length, spectral tilt,
band limit, hum, onset trim) applied while a batch is built."""

from __future__ import annotations

import numpy as np
import torch

from engine.frontend import FrontendConfig, compute_features, hz_to_mel, mel_points

from .data.audio import hum_tones, tones


def spec_augment(feats: torch.Tensor, lens: torch.Tensor, mean: torch.Tensor, gen: torch.Generator):
    """Two frequency masks (<= 15 bins) and up to two time masks (<= 5 % each), set to mean.
    Vectorized over the batch (masks drawn on the CPU generator, applied on the device)."""
    B, T, Fd = feats.shape
    w = torch.randint(0, 16, (B, 2), generator=gen)
    f0 = (torch.rand(B, 2, generator=gen) * (Fd - w).clamp(min=1)).long()
    fr = torch.arange(Fd)
    fmask = ((fr >= f0[..., None]) & (fr < (f0 + w)[..., None])).any(1)  # [B, F]
    L = lens.cpu()
    tw = (torch.rand(B, 2, generator=gen) * ((0.05 * L).long().clamp(min=1) + 1)[:, None]).long()
    t0 = (torch.rand(B, 2, generator=gen) * (L[:, None] - tw).clamp(min=1)).long()
    tr = torch.arange(T)
    tmask = ((tr >= t0[..., None]) & (tr < (t0 + tw)[..., None])).any(1)  # [B, T]
    mask = (fmask[:, None, :] | tmask[:, :, None]).to(feats.device)
    return torch.where(mask, mean.to(feats.dtype), feats)


def warp_frequencies(frames: np.ndarray, alpha: float, cfg: FrontendConfig | None = None) -> np.ndarray:
    """Vocal-tract-length perturbation in the log-mel domain: the output's mel band at
    frequency f takes the input's value at ``f / alpha`` (interpolated between bands), so
    ``alpha > 1`` moves formants and harmonics up, like a shorter vocal tract. Above 80 % of
    the top band the map bends linearly so the band edges stay where they are (Kaldi's
    piecewise-linear VTLP)."""
    x = np.asarray(frames, dtype=np.float32)
    cfg = cfg or FrontendConfig(n_mels=x.shape[1])
    hz = mel_points(cfg)[1:-1]  # band centres
    mels = hz_to_mel(hz)
    top = hz[-1]
    knee = 0.8 * top
    src = np.where(hz <= knee, hz / alpha, knee / alpha + (top - knee / alpha) * (hz - knee) / (top - knee))
    pos = np.interp(hz_to_mel(src), mels, np.arange(cfg.n_mels))  # fractional input band
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, cfg.n_mels - 1)
    w = (pos - i0).astype(np.float32)
    return x[:, i0] * (1 - w) + x[:, i1] * w


def floored(x: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """Log-mel values never below the front-end's log floor, as the front-end gives them."""
    return np.maximum(x, np.float32(np.log(cfg.log_floor)))


# the band limit's corner frequency (log-uniform) and Butterworth order (uniform): real
# recordings through lossy codecs and cheap microphones roll off between 3 and 7 kHz
LOWPASS_HZ = (3000.0, 7000.0)
LOWPASS_ORDER = (2.0, 8.0)


def band_limit(frames: np.ndarray, cutoff_hz: float, order: float,
               cfg: FrontendConfig | None = None) -> np.ndarray:
    """A low-pass filter in the log-mel domain: each band's log power plus the log power gain
    of an ``order``-pole Butterworth low-pass at its centre frequency,
    ``-log(1 + (f / cutoff_hz) ** (2 * order))``, never below the front-end's log floor (where
    the filtered power of a recording that had nothing there would sit)."""
    x = np.asarray(frames, dtype=np.float32)
    cfg = cfg or FrontendConfig(n_mels=x.shape[1])
    hz = mel_points(cfg)[1:-1]
    gain = -np.log1p((hz / cutoff_hz) ** (2.0 * order)).astype(np.float32)
    return floored(x + gain, cfg)


# stationary interference (``hum``): mains hum (50 or 60 Hz and 7 harmonics at 1/k, the eval
# channel's ``trainer.data.audio.hum_tones``) or a whine
# (one tone, log-uniform in WHINE_HZ), at a signal-to-interference ratio in HUM_SNR_DB
WHINE_HZ = (1000.0, 6000.0)
HUM_SNR_DB = (5.0, 30.0)


def tone_power(freqs, amps, cfg: FrontendConfig | None = None) -> np.ndarray:
    """Mel power [n_mels] of the stationary signal ``trainer.data.audio.tones(freqs, amps)`` as
    the front-end sees it (pre-emphasis, window and filterbank included): the front-end run on
    0.2 s of it, the mean over its inner frames."""
    cfg = cfg or FrontendConfig()
    x = tones(int(0.2 * cfg.sample_rate), cfg.sample_rate, freqs, amps)
    mel = np.exp(compute_features(x.astype(np.float32), cfg).astype(np.float64))
    return mel[2:-2].mean(0)


def add_interference(frames: np.ndarray, power: np.ndarray, snr_db: float) -> np.ndarray:
    """``frames`` (log mel power) plus a stationary interference of mel power profile ``power``
    (:func:`tone_power`) scaled to ``snr_db`` below the utterance's speech: the mean total mel
    power of its louder half of frames. Powers add, so the result is
    ``log(exp(frames) + g * power)``."""
    x = np.asarray(frames, dtype=np.float32)
    if not len(x):
        return x
    total = np.exp(x.astype(np.float64)).sum(1)
    speech = float(total[total >= np.median(total)].mean())
    g = speech / float(power.sum()) * 10 ** (-snr_db / 10)
    return np.log(np.exp(x.astype(np.float64)) + g * power).astype(np.float32)


def random_interference(rng: np.random.Generator, cfg: FrontendConfig) -> np.ndarray:
    """A drawn interference's mel power profile: hum or whine, half and half."""
    if rng.random() < 0.5:
        return tone_power(*hum_tones(50.0 if rng.random() < 0.5 else 60.0), cfg)
    lo, hi = np.log(WHINE_HZ[0]), np.log(WHINE_HZ[1])
    return tone_power([float(np.exp(rng.uniform(lo, hi)))], [1.0], cfg)


# a quiet recording (``quiet``): an attenuation drawn uniformly in QUIET_DB, beside ``gain_db``.
# A microphone far from the talker, or set low, puts speech 10-30 dB below the corpus's level,
# where the front-end's log floor takes a third of the speech's mel cells
# ("Quiet speech and the front-end's log floor", docs/experiments.md)
QUIET_DB = (10.0, 30.0)


def change_level(frames: np.ndarray, db: float, cfg: FrontendConfig | None = None) -> np.ndarray:
    """The log-mel features of the same recording ``db`` dB louder (negative: quieter): each
    log power plus ``db`` in ln power, never below the front-end's log floor. For an
    attenuation this is exactly the front-end run on the scaled audio; the cells a louder
    recording lifts off the floor stay at the floor plus the gain (what they held is lost)."""
    x = np.asarray(frames, dtype=np.float32)
    cfg = cfg or FrontendConfig(n_mels=x.shape[1])
    return floored(x + np.float32(db * np.log(10) / 10), cfg)


ONSET_DB = 30.0  # speech starts at the first frame within this many dB of the loudest
ONSET_KEEP = 3  # frames kept before it: 0 to ONSET_KEEP - 1, drawn


def speech_onset(frames: np.ndarray, below_peak_db: float = ONSET_DB) -> int:
    """The first frame whose total power (log-mel, ln power) is within ``below_peak_db``
    of the utterance's loudest frame; 0 for an empty utterance."""
    if not len(frames):
        return 0
    e = np.logaddexp.reduce(np.asarray(frames, dtype=np.float64), axis=1)
    return int(np.argmax(e > e.max() - below_peak_db * np.log(10) / 10))


def perturb(frames: np.ndarray, rng: np.random.Generator, tempo: float, gain_db: float,
            warp: float = 0.0, tilt: float = 0.0, lowpass: float = 0.0, hum: float = 0.0,
            onset: float = 0.0, quiet: float = 0.0, fe: FrontendConfig | None = None) -> np.ndarray:
    """Feature-domain augmentation of one utterance: tempo change by nearest-frame
    resampling (rate in [1 - tempo, 1 + tempo]), a level change (:func:`change_level`, up to
    ``gain_db`` either way, and with probability ``quiet`` a further attenuation in
    ``QUIET_DB``), a vocal-tract-length warp of the frequency axis (factor in [1 - warp,
    1 + warp]) and a spectral tilt (log-mel plus a straight line across the bands, from -t at
    the lowest to +t at the highest, t in [-tilt, tilt]: voices and microphones differ most in
    how much high-frequency energy they have; never below the log floor), with probability
    ``lowpass`` a band limit
    (:func:`band_limit`, corner in ``LOWPASS_HZ``, order in ``LOWPASS_ORDER``) and with
    probability ``hum`` a stationary hum or whine (:func:`random_interference`, SNR in
    ``HUM_SNR_DB``), added after the band limit as a recording's own hum would be. With
    probability ``onset`` the silence before the speech is cut (:func:`speech_onset`,
    keeping 0 to ``ONSET_KEEP - 1`` frames of it): most synthesized clips begin with
    silence, and a model that seldom saw speech in its first frames drops the first word of a
    recording that is cut tight (klettres' letters trimmed so: 32 of 49 deleted). ``fe``: the
    front-end that made the features (its bands and log floor; default the engine's)."""
    x = np.asarray(frames, dtype=np.float32)
    fe = fe or FrontendConfig(n_mels=x.shape[1])
    if onset and rng.random() < onset:
        x = x[max(0, speech_onset(x) - int(rng.integers(0, ONSET_KEEP))):]
    if tempo:
        rate = rng.uniform(1 - tempo, 1 + tempo)
        idx = np.minimum(np.round(np.arange(0, len(x), rate)).astype(np.int64), len(x) - 1)
        x = x[idx]
    db = rng.uniform(-gain_db, gain_db) if gain_db else 0.0
    if quiet and rng.random() < quiet:
        db -= rng.uniform(*QUIET_DB)
    if db:
        x = change_level(x, db, fe)
    if warp:
        x = warp_frequencies(x, rng.uniform(1 - warp, 1 + warp), fe)
    if tilt:
        x = x + np.linspace(-1.0, 1.0, x.shape[1], dtype=np.float32) * np.float32(rng.uniform(-tilt, tilt))
        x = floored(x, fe)
    if lowpass and rng.random() < lowpass:
        lo, hi = np.log(LOWPASS_HZ[0]), np.log(LOWPASS_HZ[1])
        x = band_limit(x, float(np.exp(rng.uniform(lo, hi))), float(rng.uniform(*LOWPASS_ORDER)), fe)
    if hum and rng.random() < hum:
        x = add_interference(x, random_interference(rng, fe), float(rng.uniform(*HUM_SNR_DB)))
    return x


def make_augment(cfg, rng: np.random.Generator, fe: FrontendConfig | None = None):
    """``frames -> frames`` with ``cfg``'s perturbations (tempo, gain_db, warp, tilt, lowpass,
    hum, onset, quiet) drawn from ``rng`` for features of the front-end ``fe``, or None when
    they are all off."""
    if not (cfg.tempo or cfg.gain_db or cfg.warp or cfg.tilt or cfg.lowpass or cfg.hum or cfg.onset
            or cfg.quiet):
        return None

    def augment(frames: np.ndarray) -> np.ndarray:
        return perturb(frames, rng, cfg.tempo, cfg.gain_db, cfg.warp, cfg.tilt, cfg.lowpass,
                       cfg.hum, cfg.onset, cfg.quiet, fe)

    return augment

"""Front-end and audio input (engine/frontend.py, engine/audio.py): streaming equals whole."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import speechlike
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.audio import AudioError, StreamingResampler, resample, to_float_mono
from engine.frontend import CausalMean, FrontendConfig, StreamingFrontend, compute_features

AUDIO = speechlike(2.0, seed=3)
WHOLE = compute_features(AUDIO)


def _split(x, sizes):
    out, i = [], 0
    for n in sizes:
        out.append(x[i : i + n])
        i += n
    out.append(x[i:])
    return out


def test_feature_shape_and_frames():
    cfg = FrontendConfig()
    assert WHOLE.shape == (1 + (len(AUDIO) - cfg.win_length) // cfg.hop_length, cfg.n_mels)
    assert WHOLE.dtype == np.float32 and np.all(np.isfinite(WHOLE))
    assert compute_features(np.zeros(399, np.float32)).shape == (0, 80)
    assert compute_features(np.zeros(400, np.float32)).shape == (1, 80)
    # silence hits the log floor
    assert np.allclose(compute_features(np.zeros(1600, np.float32)), np.log(cfg.log_floor))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4000), min_size=1, max_size=30))
def test_chunked_features_equal_whole_exactly(sizes):
    fe = StreamingFrontend()
    parts = [fe.accept(c) for c in _split(AUDIO, sizes)]
    assert np.array_equal(np.concatenate(parts), WHOLE)
    assert fe.frames_emitted == len(WHOLE)


def _causal_mean_by_definition(x, speech, g, window, prior):
    out, g, seen = [], np.asarray(g, np.float64), []
    for t in range(len(x)):
        if speech[t]:
            seen.append(x[t])
        n = min(len(seen), window)
        p = min(prior, window - n)
        out.append((np.sum(seen[len(seen) - n:], axis=0) + p * g) / (n + p))
    return np.array(out)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=12), st.integers(1, 50), st.integers(1, 50),
       st.integers(0, 2**32 - 1))
def test_causal_mean_streams_exactly_as_its_definition(sizes, window, prior, seed):
    """The running mean of a causal-normalization model: chunks of any size give the whole
    stream's means bit for bit, and those are Kaldi's online CMN over the speech frames (the
    last ``window`` of them plus ``min(prior, window - n)`` frames of the global mean)."""
    prior = min(prior, window)
    x = WHOLE[:190].astype(np.float64)
    speech = np.random.default_rng(seed).random(len(x)) < 0.7
    g = WHOLE.mean(0)  # float32, as a model stores it
    whole = CausalMean(g, window, prior).accept(x, speech)
    cm = CausalMean(g, window, prior)
    parts = [cm.accept(c, f) for c, f in zip(_split(x, sizes), _split(speech, sizes))]
    assert np.array_equal(np.concatenate(parts), whole)
    assert (cm.frames, cm.speech_frames) == (len(x), speech.sum())
    np.testing.assert_allclose(whole, _causal_mean_by_definition(x, speech, g, window, prior), rtol=0, atol=1e-9)
    # no speech yet: the global mean; a window full of one frame's copies forgets it
    assert np.allclose(CausalMean(g, window, prior).accept(x[:5], np.zeros(5, bool)), g)
    long = np.tile(x[:1], (window + 1, 1))
    assert np.allclose(CausalMean(g, window, prior).accept(long)[-1], x[0])


def test_causal_mean_rejects_what_it_cannot_keep():
    with pytest.raises(ValueError, match="window"):
        CausalMean(np.zeros(80), 0, 1)
    with pytest.raises(ValueError, match="prior"):
        CausalMean(np.zeros(80), 10, 0)  # before any speech there would be nothing to divide by
    with pytest.raises(ValueError, match="flags"):
        CausalMean(np.zeros(80), 10, 5).accept(np.zeros((4, 80)), np.ones(3, bool))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_chunked_resampling_equals_whole(rate):
    x = speechlike(1.0, rate=rate, seed=1)
    whole = resample(x, rate, 16000)
    assert abs(len(whole) - 16000) <= 1
    rng = np.random.default_rng(rate)
    r = StreamingResampler(rate, 16000)
    parts = [r.accept(c) for c in _split(x, rng.integers(0, 3000, 20))]
    parts.append(r.accept(np.zeros(0, np.float32), final=True))
    assert np.array_equal(np.concatenate(parts), whole)


def test_resampler_passes_a_tone():
    x = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100).astype(np.float32)
    y = resample(x, 44100, 16000)
    ref = np.sin(2 * np.pi * 440 * np.arange(len(y)) / 16000)
    assert np.abs(y[500:-500] - ref[500:-500]).max() < 0.02


def test_to_float_mono():
    assert to_float_mono(np.array([0, 16384, -32768], np.int16)).tolist() == [0.0, 0.5, -1.0]
    st_ = np.array([[32767, -32768], [16384, 16384]], np.int16)
    assert to_float_mono(st_).tolist() == pytest.approx([-0.5 / 32768, 0.5])
    assert to_float_mono(np.array([128, 255], np.uint8)).tolist() == pytest.approx([0.0, 127 / 128])
    assert to_float_mono(np.array([np.nan, np.inf, 0.25])).tolist() == [0.0, 0.0, 0.25]
    with pytest.raises(AudioError, match="must be"):
        to_float_mono(np.zeros((2, 2, 2)))

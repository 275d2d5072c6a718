"""How sure a WER is: the bootstrap over utterances behind `nnasr eval`'s and `nnasr compare`'s
intervals (app.comparison)."""

from __future__ import annotations

import numpy as np
import pytest

from app.comparison import utterance_error_counts, utterance_errors, wer_difference, wer_interval


def _system(rng, n_utts: int, p_error: float, words_per_utt: int = 2):
    words = np.full(n_utts, words_per_utt)
    return rng.binomial(words, p_error), words


def test_interval_holds_the_wer_and_shrinks_with_more_audio():
    rng = np.random.default_rng(1)
    widths = []
    for n in (40, 4000):
        errs, words = _system(rng, n, 0.3)
        lo, hi = wer_interval(errs, words)
        assert lo <= errs.sum() / words.sum() <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 5  # ~ 1/sqrt(100) of the width


def test_paired_difference():
    rng = np.random.default_rng(2)
    errs, words = _system(rng, 200, 0.4)
    same = wer_difference(errs, errs, words)
    assert same["diff"] == 0 and same["ci"] == [0.0, 0.0] and same["p_b_lower"] == 0
    better = np.maximum(errs - 1, 0)  # one error fewer wherever there was one
    d = wer_difference(errs, better, words)
    assert d["diff"] == pytest.approx((better.sum() - errs.sum()) / words.sum())
    assert d["ci"][1] < 0 and d["p_b_lower"] == 1.0
    # two systems equal in expectation: the interval holds 0 (most of the time; fixed seeds)
    a, _ = _system(rng, 200, 0.4)
    b, _ = _system(rng, 200, 0.4)
    d = wer_difference(a, b, words)
    assert d["ci"][0] < 0 < d["ci"][1]
    assert wer_difference(a, b, words) == d  # deterministic
    with pytest.raises(ValueError):
        wer_difference(a, b[:-1], words)


def test_counts_from_scored_utterances():
    utts = [utterance_errors("turn on the lights", "turn of the light"),
            utterance_errors("", "hallucinated words"),  # non-speech: no reference words
            utterance_errors("stop", "stop")]
    errs, words = utterance_error_counts(utts)
    assert errs == [2, 0, 0] and words == [4, 0, 1]
    lo, hi = wer_interval(errs, words)
    assert 0 <= lo <= 2 / 5 <= hi <= 2 / 4 + 1e-9
    assert wer_interval([0, 0], [0, 0]) is None
    assert wer_interval([1, 0], [3, 0]) is None  # one clip with words: nothing to resample

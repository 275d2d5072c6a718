"""Everyday text (trainer/data/everyday.py): deterministic templates, normalized texts
with no digits left, held-out everyday sentences in dev/test, word coverage, and the
per-source shares `nnasr synth` records."""

from __future__ import annotations

import itertools
import json
import shutil

import pytest

from trainer.data.everyday import everyday_texts, word_coverage
from trainer.data.sentences import SPLITS, find_wordnet_dir, source_shares, split_of
from trainer.data.text import ALPHABET, is_speakable, normalize_text

needs_wordnet = pytest.mark.skipif(find_wordnet_dir() is None,
                                   reason="wordnet-base not installed (apt-get install wordnet-base)")


def test_everyday_texts_are_deterministic_and_varied():
    a = everyday_texts(draws=15)
    assert a == everyday_texts(draws=15)
    domains = {d for d, _ in a}
    assert {"timers", "alarms", "weather", "music", "calls", "messages", "lists", "devices",
            "navigation", "reminders", "calendar", "shopping", "search", "numbers", "money",
            "conversation", "dictation"} <= domains
    raw = [t for _, t in a]
    assert len(set(raw)) == len(raw)
    assert any(c.isdigit() for t in raw for c in t)  # numbers are written as digits ...
    assert any("$" in t for t in raw) and any("%" in t for t in raw)


@needs_wordnet
def test_everyday_pools_normalized_speakable_and_split_by_text():
    from trainer.data.sentences import build_text_pools

    pools = build_text_pools()
    ev = pools.everyday
    assert len(ev["train"]) > 30000
    assert len(ev["dev"]) > 400 and len(ev["test"]) > 400  # held-out everyday sentences
    for s in SPLITS:
        for t in ev[s]:
            # ... and spelled out in the pools: no digit or symbol survives
            assert set(t) <= set(ALPHABET) and normalize_text(t) == t and is_speakable(t), t
            assert split_of(t) == s
    sets = {s: set(ev[s]) for s in SPLITS}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert sets[a].isdisjoint(sets[b])
        assert sets[a].isdisjoint(set(pools.long[b]) | set(pools.short[b]))
    assert "set a timer for five minutes" in set().union(*sets.values()) | set(
        t for s in SPLITS for t in pools.short[s])
    assert pools.counts()["dev"]["everyday"] == len(ev["dev"])


def test_word_coverage_counts_each_listed_word_once():
    texts = ["one two", "the cat's hat", "u s mail"]
    words = ["1", "two", "the", "dog", "cat's", "u.s", "three", "two"]
    # "1" -> "one", "u.s" -> "u s": covered; "dog" and "three" are not
    assert word_coverage(texts, words) == pytest.approx(6 / 8)
    assert word_coverage([], words) == 0.0
    assert word_coverage(texts, []) == 0.0


@needs_wordnet
def test_everyday_fraction_sets_the_share_and_zero_keeps_older_streams():
    import dataclasses

    from trainer.data.sentences import build_text_pools
    from trainer.data.synth import SynthConfig, item_stream
    from trainer.data.voices import Voice

    pools = build_text_pools()
    voices = [Voice("espeak-ng:en-us", "espeak-ng", "en-us", "train", "espeak-default@en-us")]
    no_every = dataclasses.replace(pools, everyday={s: [] for s in SPLITS})
    cfg = SynthConfig(gloss_fraction=0.1)
    a = [it.key for it in itertools.islice(item_stream("train", pools, voices, cfg), 300)]
    b = [it.key for it in itertools.islice(item_stream("train", no_every, voices, cfg), 300)]
    assert a == b  # everyday_fraction=0: older corpora resume unchanged
    cfg = SynthConfig(gloss_fraction=0.1, everyday_fraction=0.6)
    for split in ("train", "dev"):
        texts = [it.text for it in itertools.islice(item_stream(split, pools, voices, cfg), 1000)]
        shares = source_shares(pools, split, texts)
        assert 0.52 < shares["everyday"] < 0.68, shares
        assert shares["wordnet_examples_fortunes"] < 0.35, shares
        assert all(split_of(t) == split for t in texts)


@needs_wordnet
@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng not installed (apt-get install espeak-ng)")
def test_corpus_json_reports_text_shares_and_word_coverage(tmp_path):
    from trainer.data.synth import SynthConfig, run_synth

    cfg = SynthConfig(out=str(tmp_path), hours=0.003, dev_hours=0.001, test_hours=0.0,
                      workers=1, seed=5, voices=["espeak-ng"], vocab_size=30, progress=False,
                      everyday_fraction=0.6)
    run_synth(cfg, log=lambda *a: None)
    meta = json.loads((tmp_path / "corpus.json").read_text())
    shares = meta["splits"]["train"]["text_shares"]
    assert shares and sum(shares.values()) == pytest.approx(1.0, abs=1e-3)
    assert "everyday" in meta["splits"]["dev"]["text_shares"]
    assert meta["config"]["everyday_fraction"] == 0.6
    assert meta["text_source"]["sources"]["everyday"] > 30000
    cov = meta["text_source"]["word_coverage"]
    assert cov["top_words"] == 5000
    if "error" not in cov:  # wordfreq installed ([train] extra)
        assert 0 < cov["synthesized_train"] < cov["available_train"] <= 1
        assert cov["available_train"] > 0.6


@needs_wordnet
def test_words_fraction_makes_isolated_words_letters_and_spellings():
    import dataclasses

    from trainer.data.sentences import build_text_pools
    from trainer.data.synth import SynthConfig, item_stream
    from trainer.data.text import LETTER_NAMES
    from trainer.data.voices import Voice

    pools = build_text_pools()
    voices = [Voice("espeak-ng:en-us", "espeak-ng", "en-us", "train", "espeak-default@en-us")]
    cfg = SynthConfig(everyday_fraction=0.6, nonspeech_fraction=0.05)
    no_words = dataclasses.replace(pools, words={}, spelled={})
    a = [it.key for it in itertools.islice(item_stream("train", pools, voices, cfg), 300)]
    b = [it.key for it in itertools.islice(item_stream("train", no_words, voices, cfg), 300)]
    assert a == b  # words_fraction=0: older corpora resume unchanged

    cfg = dataclasses.replace(cfg, words_fraction=1.0)
    for split in ("train", "test"):
        items = list(itertools.islice(item_stream(split, pools, voices, cfg), 600))
        speech = [it for it in items if it.text]
        assert len(speech) > 500  # non-speech clips still come at their own share
        shares = source_shares(pools, split, [it.text for it in speech])
        assert 0.15 < shares["letters"] < 0.35 and 0.15 < shares["spelled"] < 0.35, shares
        assert shares.get("words", 0) + shares.get("short", 0) > 0.4, shares
        for it in speech:
            task = it.task("out", cfg)
            if len(it.text) == 1 or it.text in pools.spelled[split]:
                # a letter is read by its name and its transcript is the letter
                assert it.say and task["text"] == it.say != it.text
                assert len(it.say.split()) >= len(it.text.split())
                assert it.say.split()[0] in (*LETTER_NAMES.values(), "double", "zed")
            else:
                assert " " not in it.text and task["text"] == it.text and it.say is None
                assert split_of(it.text) == split  # words are split by text like sentences
        assert len({it.text for it in speech if len(it.text) == 1}) > 20  # the alphabet


def test_letter_names_read_back_as_the_letters_they_spell():
    from trainer.data.text import LETTER_NAMES, as_spelled, spelled_speech

    for c in LETTER_NAMES:  # every letter: what the voice reads, scored back as the letter
        assert as_spelled(spelled_speech(c)) == c
        assert as_spelled(spelled_speech(c, british_z=True)) == c
    assert as_spelled(spelled_speech("w x y z")) == "w x y z"
    assert as_spelled("cat") == "c a t"  # a spelling heard as the word still scores per letter
    assert spelled_speech("a b") == "ay bee"

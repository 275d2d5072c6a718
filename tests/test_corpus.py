"""The offline speech corpus (`nnasr synth`, trainer/data): text normalization,
manifests, speaker- and text-disjoint splits, resumability, real TTS at tiny scale."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import shutil
import sys

import numpy as np
import pytest

from trainer.data import audio as A
from trainer.data.manifest import ManifestError, read_manifest, write_manifest
from trainer.data.text import (
    is_speakable,
    normalize_text,
    number_to_words,
    ordinal_to_words,
    year_to_words,
)

HAVE_ESPEAK = shutil.which("espeak-ng") is not None


def _have_wordnet() -> bool:
    from trainer.data.sentences import find_wordnet_dir

    return find_wordnet_dir() is not None


needs_tts = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng not installed "
                               "(apt-get install espeak-ng)")


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    "raw, want",
    [
        ("Hello, World!", "hello world"),
        ("Dr. Smith paid $3.50 for 2 apples at 10:30, didn't he?",
         "doctor smith paid three dollars and fifty cents for two apples at ten thirty didn't he"),
        ("the 20th century", "the twentieth century"),
        ("in the early 1950s", "in the early nineteen fifties"),
        ("savings of 50% or 8.5 percent", "savings of fifty percent or eight point five percent"),
        ("1905, 1900, 2005 and 2015", "nineteen oh five nineteen hundred two thousand five and "
                                      "twenty fifteen"),
        ("1,234,567", "one million two hundred thirty four thousand five hundred sixty seven"),
        ("Café “quoted” — it’s 1/2", "cafe quoted it's one half"),
        ("AT&T + 3 = x", "at and t plus three equals x"),
        ("the U.S. army", "the u s army"),
        ("-5 degrees", "minus five degrees"),
        ("the dogs' bones", "the dogs bones"),
        ("   MULTIPLE   spaces\n\t", "multiple spaces"),
        ("$5 million", "five million dollars"),
        ("007", "zero zero seven"),
        ("", ""),
    ],
)
def test_normalize_text_examples(raw, want):
    assert normalize_text(raw) == want


def test_normalize_text_is_idempotent_and_in_alphabet():
    samples = ["It's 5 o'clock on Jan. 3rd, 1999!", "e.g. 3/4 of $1,000.25", "Mr. O'Neil's #1",
               "Naïve résumé: 12:05 p.m.", "'tis the season -- rock 'n' roll", "x² ≥ 10°"]
    for s in samples:
        n = normalize_text(s)
        assert normalize_text(n) == n
        assert set(n) <= set("abcdefghijklmnopqrstuvwxyz' ")
        assert "  " not in n and n == n.strip()


def test_numbers():
    assert number_to_words(0) == "zero"
    assert number_to_words(105) == "one hundred five"
    assert number_to_words(21000) == "twenty one thousand"
    assert ordinal_to_words(1) == "first" and ordinal_to_words(42) == "forty second"
    assert ordinal_to_words(20) == "twentieth" and ordinal_to_words(12) == "twelfth"
    assert year_to_words(1984) == "nineteen eighty four"


def test_is_speakable():
    assert is_speakable("the cat sat on the mat")
    assert not is_speakable("")
    assert not is_speakable("the rfc protocol")  # vowel-less token: the voice spells it
    assert not is_speakable(" ".join(["word"] * 40))


@pytest.mark.skipif(not _have_wordnet(), reason="wordnet-base not installed")
def test_text_pools_split_by_text():
    from trainer.data.sentences import SPLITS, build_text_pools, split_of

    pools = build_text_pools()
    sets = {s: set(pools.long[s]) | set(pools.short[s]) for s in SPLITS}
    assert len(pools.long["train"]) > 20000  # tens of thousands of real sentences
    assert sets["train"].isdisjoint(sets["dev"]) and sets["train"].isdisjoint(sets["test"])
    assert sets["dev"].isdisjoint(sets["test"])
    assert len(pools.short["train"]) > 1000 and pools.short["dev"] and pools.short["test"]
    for s in SPLITS:
        for t in pools.long[s][:200]:
            assert split_of(t) == s and normalize_text(t) == t


def test_glosses_are_train_only_and_optional():
    """Gloss clauses add text to train only, never a dev/test text; with
    gloss_fraction=0 the item stream is exactly what it was without them."""
    import dataclasses

    from trainer.data.sentences import SPLITS, build_text_pools, split_of
    from trainer.data.synth import SynthConfig, item_stream
    from trainer.data.voices import Voice

    pools = build_text_pools()
    assert len(pools.gloss) > 50000
    held = set().union(*(set(pools.long[s]) | set(pools.short[s]) for s in SPLITS if s != "train"))
    assert held.isdisjoint(pools.gloss)
    assert set(pools.gloss).isdisjoint(pools.long["train"])
    assert all(split_of(t) == "train" and t.count(" ") >= 3 for t in pools.gloss[:500])
    voices = [Voice("espeak-ng:en-us", "espeak-ng", "en-us", "train", "espeak-default@en-us")]
    no_gloss = dataclasses.replace(pools, gloss=[])
    cfg = SynthConfig()
    a = [it.key for it in itertools.islice(item_stream("train", pools, voices, cfg), 300)]
    b = [it.key for it in itertools.islice(item_stream("train", no_gloss, voices, cfg), 300)]
    assert a == b  # gloss_fraction=0: older corpora resume unchanged
    cfg = SynthConfig(gloss_fraction=0.4)
    texts = [it.text for it in itertools.islice(item_stream("train", pools, voices, cfg), 1000)]
    share = sum(t in set(pools.gloss) for t in texts) / len(texts)
    assert 0.3 < share < 0.5
    dev = [it.text for it in itertools.islice(item_stream("dev", pools, voices, cfg), 300)]
    assert not set(dev) & set(pools.gloss)

# --------------------------------------------------------------------------- audio


def test_resample_sine_and_speed():
    sr = 22050
    t = np.arange(sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = A.resample(x, sr, 16000)
    assert len(y) == 16000
    ref = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.max(np.abs(y[50:-50] - ref[50:-50])) < 2e-3
    alias = A.resample(np.sin(2 * np.pi * 10000 * t).astype(np.float32), sr, 16000)
    assert np.sqrt(np.mean(alias[50:-50] ** 2)) < 1e-2  # above 8 kHz is filtered out
    assert abs(len(A.resample(x, sr * 1.1, 16000)) - 16000 / 1.1) < 2  # speed 1.1


def test_augmentation_is_seeded_and_never_clips():
    rng = np.random.default_rng(0)
    raw = np.concatenate([np.zeros(1600), 0.9 * np.sin(np.arange(16000) / 3.0),
                          np.zeros(1600)]).astype(np.float32)
    for i in range(20):
        p1 = A.sample_augmentation(np.random.default_rng([7, i]), A.AugmentConfig())
        p2 = A.sample_augmentation(np.random.default_rng([7, i]), A.AugmentConfig())
        assert p1 == p2
        y1, y2 = A.process(raw, 16000, p1), A.process(raw, 16000, p2)
        assert np.array_equal(y1, y2)
        assert np.max(np.abs(y1)) <= 0.95 + 1e-6 and A.check_final(y1, 0.3, 15) is None
    off = A.sample_augmentation(rng, A.AugmentConfig(enabled=False))
    assert not {"speed", "rt60", "noise"} & set(off)


def test_clip_validation():
    assert A.check_raw(np.zeros(16000, np.float32), 16000) == "empty"
    loud = np.clip(3 * np.sin(np.arange(16000) / 5.0), -1, 1).astype(np.float32)
    assert A.check_raw(loud, 16000) == "clipped"
    ok = (0.5 * np.sin(np.arange(16000) / 5.0)).astype(np.float32)
    assert A.check_raw(ok, 16000) is None
    assert A.check_final(ok[:1600], 0.3, 15) == "too_short"
    assert A.check_final(np.tile(ok, 16), 0.3, 15) == "too_long"


# --------------------------------------------------------------------------- manifests


def test_read_manifest_resolves_and_validates(tmp_path):
    wav = tmp_path / "audio" / "a.wav"
    A.write_wav_atomic(str(wav), np.zeros(1600, np.float32))
    m = tmp_path / "m.jsonl"
    write_manifest(m, [{"audio_filepath": str(wav), "text": "hi", "duration": 0.1}])
    line = json.loads(m.read_text().splitlines()[0])
    assert line["audio_filepath"] == "audio/a.wav"  # stored relative
    recs = read_manifest(m)
    assert recs[0]["audio_filepath"] == str(wav) and recs[0]["voice"] == "unknown"
    # no duration: read from the audio's header; refused where there is no audio to read it from
    (tmp_path / "short.jsonl").write_text('{"audio_filepath": "audio/a.wav", "text": "a"}\n')
    assert read_manifest(tmp_path / "short.jsonl")[0]["duration"] == pytest.approx(0.1)
    (tmp_path / "bad.jsonl").write_text('{"audio_filepath": "m.jsonl", "text": "a"}\n')
    with pytest.raises(ManifestError, match="no duration, and .* is not audio"):
        read_manifest(tmp_path / "bad.jsonl")
    (tmp_path / "bad2.jsonl").write_text('{"audio_filepath": "x.wav", "text": "a"}\n')
    with pytest.raises(ManifestError, match="audio file not found"):
        read_manifest(tmp_path / "bad2.jsonl")
    with pytest.raises(ManifestError, match="missing key.*duration"):
        read_manifest(tmp_path / "bad2.jsonl", check_files=False)
    # no audio_filepath: that is what is missing (the duration would be read from the audio)
    (tmp_path / "nopath.jsonl").write_text('{"text": "a"}\n')
    with pytest.raises(ManifestError, match=r"nopath.jsonl:1: missing key\(s\) audio_filepath$"):
        read_manifest(tmp_path / "nopath.jsonl")
    (tmp_path / "gone.jsonl").write_text('{"audio_filepath": "x.wav", "text": "a", "duration": 1}\n')
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "gone.jsonl")
    assert read_manifest(tmp_path / "gone.jsonl", check_files=False)[0]["duration"] == 1.0


# --------------------------------------------------------------------------- engines


def _voice(engine_id: str):
    from trainer.data.voices import discover_voices

    voices, missing = discover_voices()
    for v in voices:
        if v.id == engine_id:
            return v
    pytest.skip(f"{engine_id} not installed ({missing.get(engine_id.split(':')[0]) or missing})")


@pytest.mark.parametrize("voice_id", ["espeak-ng:en-us+f2", "mbrola:us1", "mbrola:de4-en", "flite:slt",
                                      "festival:kal_diphone", "festival:rab_diphone", "pico:en-US"])
def test_each_engine_speaks(voice_id, tmp_path):
    from trainer.data.voices import synth_one

    v = _voice(voice_id)
    x, sr = synth_one(v, "turn on the lights", 1.1, 0.9, str(tmp_path))
    assert sr in (16000, 22050, 32000, 48000) and A.check_raw(x, sr) is None
    assert 0.4 < len(x) / sr < 5


def test_accented_mbrola_voices_train_with_their_own_share():
    """The mbrola voices of non-English speakers (espeak-ng's mb-XX-en) are training voices
    whose group has its own share of the training utterances, so adding them does not
    crowd out the English mbrola speakers; dev and test keep their voices."""
    from trainer.data.synth import voice_weights
    from trainer.data.voices import ENGINE_WEIGHTS, discover_voices, weight_group

    found = discover_voices()[0]
    train = [v for v in found if v.split == "train"]
    acc = [v for v in train if weight_group(v) == "mbrola-accented"]
    if not acc:
        pytest.skip("no accented mbrola voice installed (apt-get install mbrola-de4 ...)")
    assert all(v.engine == "mbrola" and v.name.startswith("mb-") and v.name.endswith("-en") for v in acc)
    assert not {v.speaker for v in acc} & {v.speaker for v in found if v.split != "train"}
    w = voice_weights(train, "train")
    groups = {weight_group(v) for v in train}
    share = {g: sum(wi for wi, v in zip(w, train) if weight_group(v) == g) for g in groups}
    total = sum(ENGINE_WEIGHTS[g] for g in groups)
    for g in groups:
        assert share[g] == pytest.approx(ENGINE_WEIGHTS[g] / total)
    # dev and test draw engines equally, the accented group is no engine of its own there
    dev = [v for v in found if v.split == "dev"]
    assert np.allclose(voice_weights(dev, "dev") * len({v.engine for v in dev}),
                       [1 / sum(u.engine == v.engine for u in dev) for v in dev])


def test_festival_batch(tmp_path):
    from trainer.data.voices import discover_voices, synth_festival_batch

    fv = [v for v in discover_voices()[0] if v.engine == "festival"]
    if not fv:
        pytest.skip("festival not installed (apt-get install festival festvox-kallpc16k)")
    items = [(fv[i % len(fv)], text, 1.0, 1.0) for i, text in enumerate(["yes", "good morning"])]
    out = synth_festival_batch(items, str(tmp_path))
    assert len(out) == 2 and all(not isinstance(o, Exception) for o in out)


def test_mbrola_voice_found_in_relocated_espeak_data(tmp_path, monkeypatch):
    from trainer.data.voices import _mbrola_has

    assert not _mbrola_has("zz9")
    (tmp_path / "espeak-ng-data" / "mbrola").mkdir(parents=True)
    (tmp_path / "espeak-ng-data" / "mbrola" / "zz9").write_bytes(b"x")
    monkeypatch.setenv("ESPEAK_DATA_PATH", str(tmp_path))
    assert _mbrola_has("zz9")


@pytest.mark.slow
def test_tts_bundle_is_self_contained(tmp_path):
    """scripts/tts_bundle.sh: the bundled espeak-ng, mbrola and flite run from the bundle's own
    libraries and data (the stub libpcaudio, no PulseAudio) and nnasr finds their voices."""
    import subprocess

    for tool in ("espeak-ng", "mbrola", "flite", "gcc"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "tts.tar.xz"
    subprocess.run(["bash", os.path.join(root, "scripts", "tts_bundle.sh"), str(out)], cwd=root,
                   check=True, capture_output=True)
    d = tmp_path / "tts"
    d.mkdir()
    subprocess.run(["tar", "-xJf", str(out), "-C", str(d)], check=True)
    env = {**os.environ, "PATH": f"{d}/bin:{os.environ['PATH']}", "LD_LIBRARY_PATH": str(d / "lib"),
           "ESPEAK_DATA_PATH": str(d), "WNSEARCHDIR": str(d / "wordnet")}
    ldd = subprocess.run(["ldd", str(d / "bin" / "espeak-ng")], env=env, capture_output=True,
                         text=True).stdout
    assert f"{d}/lib/libpcaudio.so.0" in ldd and "libpulse" not in ldd
    assert f"{d}/lib/libespeak-ng.so.1" in ldd
    for cmd in (["espeak-ng", "-v", "mb-us1", "--stdout", "hello"],
                ["espeak-ng", "-v", "en-us", "--stdout", "hello"]):
        wav = subprocess.run(cmd, env=env, capture_output=True, check=True).stdout
        assert wav[:4] == b"RIFF" and len(wav) > 8000
    code = ("from trainer.data.voices import discover_voices; from trainer.data.sentences import "
            "build_text_pools as b; v = {x.id for x in discover_voices()[0]}; p = b(); "
            "print('mbrola:us1' in v, 'flite:kal16' in v, len(p.long['train']) > 20000, "
            "len(p.gloss) > 50000)")
    got = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True,
                         text=True, check=True).stdout.split()
    assert got == ["True"] * 4


# --------------------------------------------------------------------------- a tiny run


def _cfg(out, **kw):
    from trainer.data.synth import SynthConfig

    base = dict(out=str(out), hours=0.004, dev_hours=0.0015, test_hours=0.0015, workers=2,
                seed=3, voices=["espeak-ng"], vocab_size=40, progress=False)
    base.update(kw)
    return SynthConfig(**base)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if not HAVE_ESPEAK:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    if not _have_wordnet():
        pytest.skip("wordnet-base not installed (apt-get install wordnet-base)")
    from trainer.data.synth import run_synth

    out = tmp_path_factory.mktemp("corpus")
    summary = run_synth(_cfg(out), log=lambda *a: None)
    return out, summary


def _lines(path):
    return [json.loads(x) for x in open(path, encoding="utf-8").read().splitlines() if x]


def test_manifest_format_and_audio(corpus):
    import soundfile as sf

    out, summary = corpus
    for split in ("train", "dev", "test"):
        lines = _lines(out / f"{split}.jsonl")
        assert lines, split
        for rec in lines:
            assert set(rec) == {"audio_filepath", "text", "duration", "voice"}
            assert not os.path.isabs(rec["audio_filepath"])
            assert rec["audio_filepath"].startswith(f"audio/{split}/")
            assert rec["text"] and normalize_text(rec["text"]) == rec["text"]
            assert isinstance(rec["duration"], float) and 0.3 <= rec["duration"] <= 15
            assert rec["voice"].startswith("espeak-ng:")
            info = sf.info(str(out / rec["audio_filepath"]))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert abs(info.duration - rec["duration"]) < 1e-3
        x, sr = sf.read(str(out / lines[0]["audio_filepath"]), dtype="float32")
        assert sr == 16000 and x.ndim == 1 and np.max(np.abs(x)) > 0.01
        for rec in read_manifest(out / f"{split}.jsonl"):
            assert os.path.isabs(rec["audio_filepath"])
    hours = sum(r["duration"] for r in _lines(out / "train.jsonl")) / 3600
    assert hours >= 0.004
    assert not list(out.rglob("*.tmp*"))


def test_splits_disjoint_in_voices_and_text(corpus):
    out, summary = corpus
    recs = {s: _lines(out / f"{s}.jsonl") for s in ("train", "dev", "test")}
    voices = {s: {r["voice"] for r in recs[s]} for s in recs}
    texts = {s: {r["text"] for r in recs[s]} for s in recs}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert voices[a].isdisjoint(voices[b]), (a, b)
        assert texts[a].isdisjoint(texts[b]), (a, b)
        sp = summary["splits"]
        assert set(sp[a]["speakers"]).isdisjoint(sp[b]["speakers"])
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["speaker_disjoint"] is True
    assert voices["test"] <= set(meta["held_out_voices"]["test"])
    assert voices["dev"] <= set(meta["held_out_voices"]["dev"])
    assert meta["seed"] == 3 and "by_reason" in meta["dropped"]


def test_tokenizer_trained_on_train_text(corpus):
    import sentencepiece as spm

    out, summary = corpus
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    assert (out / "tokenizer.vocab").exists()
    assert sp.get_piece_size() == summary["tokenizer"]["vocab_size"]
    text = _lines(out / "train.jsonl")[0]["text"]
    assert sp.decode(sp.encode(text)) == text


def test_rerun_resumes_without_duplicates(corpus):
    from trainer.data.synth import run_synth

    out, summary = corpus
    before = {s: (out / f"{s}.jsonl").read_text() for s in ("train", "dev", "test")}
    wavs = sorted(out.rglob("*.wav"))
    (out / "train.jsonl").unlink()  # as if interrupted before the manifest was written
    again = run_synth(_cfg(out), log=lambda *a: None)
    for s in ("train", "dev", "test"):
        assert again["splits"][s]["made_this_run"] == 0
        assert (out / f"{s}.jsonl").read_text() == before[s]
    assert sorted(out.rglob("*.wav")) == wavs
    # more hours: keeps every clip it has, adds new ones, never twice the same; with its
    # output not a terminal (a background job's log), progress comes as plain lines
    logs: list[str] = []
    more = run_synth(_cfg(out, hours=0.006, progress=True), log=logs.append)
    assert more["splits"]["train"]["made_this_run"] > 0
    if not sys.stderr.isatty():
        done = [x for x in logs if x.endswith("(done)")]
        assert [x.split()[1] for x in done] == ["dev", "test", "train"], logs
        assert done[-1].startswith(f"synth: train {more['splits']['train']['hours']:.2f}/0.01 h")
    paths = [r["audio_filepath"] for r in _lines(out / "train.jsonl")]
    assert len(paths) == len(set(paths))
    old = {r["audio_filepath"] for r in json_lines(before["train"])}
    assert old <= set(paths)


def test_a_shared_cache_gives_each_corpus_its_own_hours(corpus, tmp_path):
    """Two corpora of one seed in one audio cache: the second, dev only (`--hours 0
    --test-hours 0`), lists no train or test clip, though the cache holds the first one's
    (it listed them all: 56 train clips for a dev-only corpus), and reuses the dev clips."""
    from trainer.data.synth import run_synth

    cache = tmp_path / "cache"
    run_synth(_cfg(tmp_path / "a", cache=str(cache)), log=lambda *a: None)
    b = run_synth(_cfg(tmp_path / "b", cache=str(cache), hours=0, test_hours=0), log=lambda *a: None)
    assert _lines(tmp_path / "b" / "train.jsonl") == [] and _lines(tmp_path / "b" / "test.jsonl") == []
    dev = _lines(tmp_path / "b" / "dev.jsonl")
    assert dev and b["splits"]["dev"]["made_this_run"] == 0
    assert sum(r["duration"] for r in dev) >= 0.0015 * 3600
    # its own clips it keeps: a rerun with fewer hours still lists what it listed
    again = run_synth(_cfg(tmp_path / "b", cache=str(cache), hours=0, test_hours=0, dev_hours=0.0005),
                      log=lambda *a: None)
    assert _lines(tmp_path / "b" / "dev.jsonl") == dev and again["splits"]["dev"]["made_this_run"] == 0


def test_clip_augmentation_is_recovered_and_filters_training(corpus, tmp_path, capsys):
    """What `nnasr synth` did to each clip (noise SNR, reverb) is recomputed from the corpus
    and checked against the key in the clip's name, so `nnasr train --set min_snr=..
    max_rt60=..` can leave out the harder clips of a corpus made before; the filter keeps
    exactly the clips below the thresholds, and a clip it cannot place is kept."""
    import sentencepiece as spm

    from trainer.data.synth import clip_augmentation
    from trainer.dataset import filter_by_augmentation, load_features

    out, _ = corpus
    recs = {s: read_manifest(out / f"{s}.jsonl") for s in ("train", "dev", "test")}
    augs = [clip_augmentation(r["audio_filepath"], r["text"], r["voice"]) for r in recs["train"]]
    assert all(a is not None for a in augs)
    for s in ("dev", "test"):  # evaluation splits are not augmented
        for r in recs[s]:
            a = clip_augmentation(r["audio_filepath"], r["text"], r["voice"])
            assert a is not None and "snr_db" not in a and "rt60" not in a
    r = recs["train"][0]
    assert clip_augmentation(r["audio_filepath"], r["text"] + " again", r["voice"]) is None
    assert clip_augmentation(r["audio_filepath"], r["text"], "espeak-ng:other") is None
    assert clip_augmentation(str(tmp_path / "x.wav"), r["text"], r["voice"]) is None

    snrs = sorted(a["snr_db"] for a in augs if "snr_db" in a)
    rt60s = sorted(a["rt60"] for a in augs if "rt60" in a)
    assert snrs and rt60s, "the seed gives noisy and reverberant clips"
    min_snr, max_rt60 = snrs[-1], rt60s[0]  # drops all but the cleanest noisy clip, all but one reverb
    want = [i for i, a in enumerate(augs)
            if not ("snr_db" in a and a["snr_db"] < min_snr) and a.get("rt60", 0) <= max_rt60]
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    fs = load_features(out / "train.jsonl", sp, progress=False)
    assert len(fs) == len(augs)
    kept, n = filter_by_augmentation(fs, min_snr=min_snr, max_rt60=max_rt60)
    assert kept.paths == [recs["train"][i]["audio_filepath"] for i in want]
    assert n["kept"] == len(want) < len(augs) and n["unknown"] == 0
    assert all(np.array_equal(kept.frames(j), fs.frames(i)) for j, i in enumerate(want))
    same, n = filter_by_augmentation(fs)  # no thresholds: everything
    assert same is fs and n["kept"] == len(fs)

    from app.cli import main

    assert main(["train", "--data", str(out), "--out", str(tmp_path / "run"), "--steps", "2",
                 "--no-progress", "--set", "enc_hidden=32", "enc_layers=2", "pred_hidden=32",
                 "pred_embed=16", "joiner_dim=32", "eval_every=0", f"min_snr={min_snr}",
                 f"max_rt60={max_rt60}"]) == 0
    assert f"training on {len(want)} of {len(augs)} utterances" in capsys.readouterr().out


def test_eval_by_condition_groups_clips_by_their_augmentation(corpus, tmp_path, capsys):
    """`nnasr eval --by-condition`: one row per acoustic condition of the manifest's synthesized
    clips, each clip in the row its recovered augmentation names; the counts add up."""
    from helpers import make_random_model

    from app.cli import main
    from trainer.data.synth import clip_augmentation, clip_condition

    out, _ = corpus
    recs = read_manifest(out / "train.jsonl")
    want: dict[str, int] = {}
    for r in recs:
        c = clip_condition(clip_augmentation(r["audio_filepath"], r["text"], r["voice"]))
        want[c] = want.get(c, 0) + 1
    assert "unknown" not in want and len(want) > 1
    model = make_random_model(tmp_path / "m.nnasr", hidden=8, layers=1, reduce_after=0, vocab_size=30)
    js = tmp_path / "r.json"
    assert main(["eval", "--model", str(model), "--manifest", str(out / "train.jsonl"), "--by-condition",
                 "--json", str(js)]) == 0
    d = json.loads(js.read_text())
    assert {c: g["utterances"] for c, g in d["by_condition"].items()} == want
    for k in ("substitutions", "deletions", "insertions", "ref_words"):
        assert sum(g[k] for g in d["by_condition"].values()) == d[k]
    printed = capsys.readouterr().out
    assert all(c in printed for c in want)
    assert clip_condition(None) == "unknown"
    assert clip_condition({"snr_db": 12.0, "rt60": 0.3}) == "SNR 10-20 dB, reverb"
    assert clip_condition({"pad": [0.1, 0.1]}) == "no noise, dry"


def test_evaluation_only_corpus_with_augmented_test_split(tmp_path):
    """`nnasr synth --hours 0 --dev-hours 0 --augment-eval` makes a noisy/reverberant copy of
    the test split (same seed: same sentences and voices) to measure robustness; with no
    training text it trains no tokenizer instead of failing."""
    if not HAVE_ESPEAK or not _have_wordnet():
        pytest.skip("espeak-ng or wordnet-base not installed")
    from trainer.data.synth import clip_augmentation, run_synth

    summary = run_synth(_cfg(tmp_path, hours=0, dev_hours=0, augment_eval=True), log=lambda *a: None)
    assert summary["tokenizer"] == {} and not (tmp_path / "tokenizer.model").exists()
    recs = read_manifest(tmp_path / "test.jsonl")
    assert recs and not read_manifest(tmp_path / "train.jsonl", check_files=False)
    augs = [clip_augmentation(r["audio_filepath"], r["text"], r["voice"]) for r in recs]
    assert all(a is not None for a in augs)
    assert any({"snr_db", "rt60", "speed"} & set(a) for a in augs)  # augmented, unlike a clean split


def json_lines(text):
    return [json.loads(x) for x in text.splitlines() if x]


# --------------------------------------------------------------------------- importer, CLI


def test_librispeech_import(tmp_path):
    import soundfile as sf

    from trainer.data.librispeech import import_librispeech

    src = tmp_path / "LibriSpeech"
    texts = {"train-clean-5": ["HELLO WORLD", "IT'S 5 O'CLOCK"], "dev-clean": ["GOOD MORNING"],
             "test-clean": ["TURN ON THE LIGHTS"]}
    tone = (0.3 * np.sin(np.arange(8000) / 4.0)).astype(np.float32)
    for i, (subset, lines) in enumerate(texts.items()):
        d = src / subset / f"{100 + i}" / "7"
        d.mkdir(parents=True)
        with open(d / f"{100 + i}-7.trans.txt", "w") as f:
            for j, t in enumerate(lines):
                uid = f"{100 + i}-7-{j:04d}"
                f.write(f"{uid} {t}\n")
                sr = 16000 if subset != "test-clean" else 8000  # one needs converting
                sf.write(str(d / f"{uid}.flac"), tone[: sr // 2], sr)
    out = tmp_path / "imported"
    s = import_librispeech(str(src), str(out), vocab_size=20, log=lambda *a: None)
    assert s["splits"]["train"]["utterances"] == 2
    train = read_manifest(out / "train.jsonl")
    assert [r["text"] for r in train] == ["hello world", "it's five o'clock"]
    assert train[0]["voice"] == "librispeech:100" and train[0]["audio_filepath"].endswith(".flac")
    test = read_manifest(out / "test.jsonl")
    assert sf.info(test[0]["audio_filepath"]).samplerate == 16000
    assert (out / "tokenizer.model").exists()


def test_training_voices_only_warn_just_for_splits_that_get_clips():
    """`--voices` with training voices only: a held-out split with hours would reuse them (and
    say so); one with 0 hours (a fine-tuning corpus) holds nobody, so no warning."""
    from trainer.data.synth import SynthConfig, select_voices
    from trainer.data.voices import discover_voices

    train = [v for v in discover_voices()[0] if v.split == "train"]
    if not train:
        pytest.skip("no TTS voice installed")
    for dev_h, want in ((0.0, []), (0.1, ["dev"])):
        logs = []
        by_split, rep = select_voices(SynthConfig(voices=[train[0].id], dev_hours=dev_h, test_hours=0),
                                      logs.append)
        warned = [s for s in ("dev", "test") if any(f"voice for {s} " in m for m in logs)]
        assert warned == want
        assert rep["speaker_disjoint"] is (not want)
        assert by_split["train"] == [train[0]]


def test_cli_synth_voices_list_and_errors(capsys, tmp_path):
    from app.cli import main

    assert main(["synth", "--voices", "list"]) == 0
    out = capsys.readouterr().out
    assert "train" in out
    # every voice of a split is on one of its engines' rows (none left out of the list)
    blocks = re.findall(r"^(train|dev|test): (\d+) voices\n((?:  .*\n)*)", out, re.M)
    assert [b[0] for b in blocks] == ["train", "dev", "test"]
    for _, n, rows in blocks:
        assert int(n) == sum(int(c) for c in re.findall(r"^  \S+\s+(\d+)", rows, re.M))
    assert main(["synth", "--out", str(tmp_path / "v"), "--voices", "nope:*", "--hours", "0"]) == 2
    assert "no installed voice matches" in capsys.readouterr().err or not HAVE_ESPEAK
    assert not (tmp_path / "v").exists()  # nothing made (an empty folder and an audio link were)
    assert main(["synth", "--from-librispeech", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "o")]) == 2


def test_engine_weights_change_only_the_training_draw(capsys, tmp_path):
    """``--engine-weights`` reshapes the training split's voice groups (0 leaves one out) and
    never the dev/test streams, so held-out sets stay comparable across corpora."""
    from app.cli import main
    from trainer.data.sentences import build_text_pools
    from trainer.data.synth import SynthConfig, item_stream
    from trainer.data.voices import Voice

    pools = build_text_pools(max_sentences=2000)
    voices = [Voice("espeak-ng:en-us", "espeak-ng", "en-us", "train", "e"),
              Voice("flite:kal", "flite", "kal", "train", "f"),
              Voice("pico:en-US", "pico", "en-US", "train", "p")]
    base, over = SynthConfig(), SynthConfig(engine_weights={"flite": 0.0, "pico": 0.36})
    drawn = [it.voice.engine for it in itertools.islice(item_stream("train", pools, voices, over), 2000)]
    assert "flite" not in drawn
    assert 0.68 < drawn.count("pico") / len(drawn) < 0.82  # 0.36 / (0.36 + espeak-ng's 0.12)
    for split in ("dev", "test"):
        held = [dataclasses.replace(v, split=split) for v in voices]
        a = [it.key for it in itertools.islice(item_stream(split, pools, held, base), 200)]
        b = [it.key for it in itertools.islice(item_stream(split, pools, held, over), 200)]
        assert a == b
    for bad in ("kokoro=x", "flite=inf", "flite=nan"):  # inf wrote "Infinity" into corpus.json
        assert main(["synth", "--out", str(tmp_path), "--engine-weights", bad]) == 2
        assert "needs a weight of 0 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --hours nan synthesized forever
        main(["synth", "--out", str(tmp_path), "--hours", "nan"])
    assert "'nan': a number of hours, 0 or more" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path), "--engine-weights", "nope=1"]) == 2
    assert "unknown voice group 'nope'" in capsys.readouterr().err


def test_engine_weights_for_groups_left_out_are_named():
    """`--voices` leaving out every voice of a group that `--engine-weights` weighs: said, not
    ignored in silence."""
    if not HAVE_ESPEAK:
        pytest.skip("espeak-ng not installed")
    from trainer.data.synth_plan import SynthConfig, select_voices

    logs = []
    select_voices(SynthConfig(voices=["espeak-ng"], engine_weights={"kokoro": 0.2}), logs.append)
    assert any("--engine-weights kokoro: no training voice of this group is chosen" in x for x in logs), logs

"""Speech that sounds like people: the neural and recorded-speaker voices (Kokoro and its
blends, RHVoice, Piper), non-speech clips with empty transcripts, microphone and telephone
channels, and the audio cache (resuming after a kill: tests/test_reliability_faults.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from trainer.data import audio as A

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng not installed "
                                  "(apt-get install espeak-ng)")


def _voice(voice_id: str):
    from trainer.data.voices import discover_voices

    voices, missing = discover_voices()
    for v in voices:
        if v.id == voice_id:
            return v
    engine = voice_id.split(":")[0]
    pytest.skip(f"{voice_id} not installed ({missing.get(engine) or missing.get(voice_id)})")


@pytest.mark.parametrize("voice_id", ["kokoro:af_heart", "kokoro:bm_george", "kokoro:blend-train-000",
                                      "rhvoice:alan", "rhvoice:slt", "piper:joe"])
def test_each_neural_engine_speaks(voice_id, tmp_path):
    """Each engine says a short command at a changed rate and pitch, and the clip survives
    the corpus's own checks (not empty, not clipped) with a plausible length."""
    from trainer.data.voices import synth_one

    v = _voice(voice_id)
    x, sr = synth_one(v, "turn on the lights", 1.1, 0.9, str(tmp_path))
    assert A.check_raw(x, sr) is None
    assert 0.4 < len(x) / sr < 4.0
    y = A.process(x, sr, {"pad": [0.1, 0.1], "level_db": -24.0})
    assert A.check_final(y, 0.3, 15.0) is None


def test_kokoro_splits_and_blends_are_speaker_disjoint():
    """Held out: at least 2 US, 1 UK and 2 accented Kokoro voices per eval split, plus
    blends mixed only from that split's voices; the RHVoice voices whose data licence does
    not allow it are never used."""
    from trainer.data import neural_voices as N
    from trainer.data.voices import Voice

    for split in ("dev", "test"):
        names = N.KOKORO_DEV if split == "dev" else N.KOKORO_TEST
        assert sum(n[0] == "a" for n in names) >= 2
        assert sum(n[0] == "b" for n in names) >= 1
        assert sum(n[0] not in "ab" for n in names) >= 2
    base = {s: [f"x{s}{i}" for i in range(4)] for s in ("train", "dev", "test")}
    for s in base:
        blends = N.kokoro_blends(base[s], s, 20)
        assert len(set(blends)) == len(blends) == 20
        for b in blends:
            parts = N.parse_blend(b)
            assert {n for n, _ in parts} <= set(base[s])
            assert sum(w for _, w in parts) == pytest.approx(1.0, abs=2e-3)
    assert N.kokoro_blends(base["train"], "train", 5) == N.kokoro_blends(base["train"], "train", 5)
    names = {n for n, _ in N.RHVOICE_VOICES}
    assert not names & {"evgeniy-eng", "lyubov"}
    voices, _ = N.discover_neural(Voice)
    by_split: dict[str, set[str]] = {}
    for v in voices:
        by_split.setdefault(v.split, set()).add(v.speaker)
        if v.engine == "kokoro" and "*" in v.name:
            assert {n for n, _ in N.parse_blend(v.name)} <= {
                n for n in N.kokoro_voice_files() if N._split_of_kokoro(n) == v.split}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert by_split.get(a, set()).isdisjoint(by_split.get(b, set()))


def test_missing_neural_engine_is_reported_not_fatal(monkeypatch, tmp_path):
    from trainer.data import neural_voices as N
    from trainer.data.voices import Voice

    monkeypatch.setenv("NNASR_CACHE", str(tmp_path))  # no Kokoro assets there
    voices, missing = N.discover_neural(Voice)
    assert "kokoro" in missing and "install" in missing["kokoro"]
    assert not [v for v in voices if v.engine == "kokoro"]


@pytest.mark.parametrize("kind", ["silence", "noise", "hum", "clicks", "tones"])
def test_nonspeech_clips(kind):
    from trainer.data.nonspeech import make_nonspeech

    x = make_nonspeech(kind, 7, 1.5)
    assert x.dtype == np.float32 and len(x) == 24000
    assert np.array_equal(x, make_nonspeech(kind, 7, 1.5))
    assert float(np.max(np.abs(x))) < 0.5
    rms_db = 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)
    assert rms_db < -15


def test_channels_keep_length_and_never_clip():
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    speech = (0.3 * np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 3 * t))
              + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    other = [(0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)]
    for extra in ({"channel": "mic"}, {"channel": "phone"}, {"drive_db": 12.0},
                  {"babble_snr_db": 5.0}, {"channel": "phone", "drive_db": 6.0, "level_db": 0.0}):
        aug = {"pad": [0.2, 0.5], "level_db": -20.0, "noise_seed": 3, **extra}
        y = A.process(speech, 16000, aug, babble=other)
        assert len(y) == len(A.process(speech, 16000, {"pad": [0.2, 0.5], "noise_seed": 3}))
        assert A.clipped_fraction(y) == 0.0 and np.all(np.isfinite(y))
    # telephone speech is band-limited: almost nothing above 3.4 kHz
    y = A.telephone(speech + 0.1 * rng.standard_normal(len(speech)).astype(np.float32), 16000)
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / 16000)
    assert spec[f > 4000].sum() < 0.02 * spec.sum()


def test_augmentation_draws_channels_gain_and_babble():
    cfg = A.AugmentConfig()
    augs = [A.sample_augmentation(np.random.default_rng(i), cfg) for i in range(400)]
    assert {a.get("channel") for a in augs} == {None, "mic", "phone"}
    assert any("drive_db" in a for a in augs) and any("babble_snr_db" in a for a in augs)
    levels = [a["level_db"] for a in augs]
    assert min(levels) < -40 and max(levels) > -18
    off = A.sample_augmentation(np.random.default_rng(1), A.AugmentConfig(enabled=False))
    assert not {"channel", "drive_db", "babble_snr_db", "noise", "rt60"} & set(off)


def _cfg(out, **kw):
    from trainer.data.synth import SynthConfig

    base = dict(out=str(out), hours=0.005, dev_hours=0.002, test_hours=0.002, workers=1,
                seed=5, voices=["espeak-ng"], vocab_size=40, progress=False,
                nonspeech_fraction=0.3, everyday_fraction=0.6)
    base.update(kw)
    return SynthConfig(**base)


@needs_espeak
def test_nonspeech_items_and_audio_cache(tmp_path):
    """Non-speech clips land in every split with an empty transcript; with a cache the audio
    lives there, and a second corpus with the same recipe makes nothing again."""
    from trainer.data.synth import run_synth

    cache = tmp_path / "cache"
    s = run_synth(_cfg(tmp_path / "a", cache=str(cache)), log=lambda *a: None)
    assert (tmp_path / "a" / "audio").is_symlink()
    recs = {sp: [json.loads(x) for x in (tmp_path / "a" / f"{sp}.jsonl").read_text().splitlines()]
            for sp in ("train", "dev", "test")}
    empty = [r for rs in recs.values() for r in rs if r["voice"].startswith("nonspeech:")]
    assert empty and all(r["text"] == "" for r in empty)
    assert all(r["text"] for rs in recs.values() for r in rs if not r["voice"].startswith("nonspeech:"))
    assert "nonspeech" in s["splits"]["train"]["hours_per_engine"] or "nonspeech" in \
        s["splits"]["dev"]["hours_per_engine"]
    assert list(cache.rglob("*.wav"))
    again = run_synth(_cfg(tmp_path / "b", cache=str(cache)), log=lambda *a: None)
    for sp in ("train", "dev", "test"):
        assert again["splits"][sp]["made_this_run"] == 0
        assert again["splits"][sp]["utterances"] == s["splits"][sp]["utterances"]


@needs_espeak
def test_intelligibility_check_reports_and_drops_for_good(tmp_path):
    """whisper tiny.en scores a sample of each voice; clips it drops are logged as
    unintelligible, leave the manifests, and a rerun of the synthesis never makes them
    again (it makes other clips in their place)."""
    pytest.importorskip("faster_whisper", reason="pip install 'nnasr[peers]'")
    from app.intelligibility import check
    from trainer.data.synth import run_synth

    cfg = _cfg(tmp_path / "c", hours=0.002, dev_hours=0.0, test_hours=0.0, nonspeech_fraction=0.0,
               voices=["espeak-ng:en-us", "espeak-ng:en-us+m3"])
    run_synth(cfg, log=lambda *a: None)
    before = [json.loads(x) for x in (tmp_path / "c" / "train.jsonl").read_text().splitlines()]
    rep = check(str(tmp_path / "c"), "whisper-tiny", splits=("train",), per_voice=1,
                drop_above=-1.0, log=lambda *a: None)
    tr = rep["splits"]["train"]
    n = len(before)  # a tiny corpus: every clip (each engine gets at least 12 when it has them)
    assert n <= 12
    assert tr["clips"] == n >= 1 and set(tr["wer_by_engine"]) == {"espeak-ng"}
    assert tr["wer"] >= 0.0 and rep["dropped"] == n
    assert json.loads((tmp_path / "c" / "intelligibility.json").read_text())["dropped"] == n
    after = [json.loads(x) for x in (tmp_path / "c" / "train.jsonl").read_text().splitlines()]
    gone = {r["audio_filepath"] for r in before} - {r["audio_filepath"] for r in after}
    assert len(gone) == n
    drops = [json.loads(x) for x in (tmp_path / "c" / "dropped.jsonl").read_text().splitlines()]
    assert sum(d["reason"] == "unintelligible" for d in drops) == n
    again = run_synth(cfg, log=lambda *a: None)
    final = {json.loads(x)["audio_filepath"] for x in (tmp_path / "c" / "train.jsonl").read_text().splitlines()}
    assert not gone & final and again["splits"]["train"]["made_this_run"] >= 1

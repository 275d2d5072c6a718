"""The training recipe's pieces: LR schedule (step- and time-boxed), augmentation, and the
Opus corpus pack used to move a corpus to a GPU machine."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trainer.augment import (  # noqa: E402
    QUIET_DB,
    add_interference,
    band_limit,
    change_level,
    perturb,
    spec_augment,
    tone_power,
)
from trainer.train import TrainConfig, lr_at  # noqa: E402


def test_lr_schedule_step_and_time_boxed():
    cfg = TrainConfig(lr=1e-3, warmup=10, steps=100, decay_frac=0.2)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(50, cfg) == pytest.approx(1e-3)  # flat
    assert lr_at(80, cfg) == pytest.approx(1e-3)  # decay starts at 80 %
    assert lr_at(90, cfg) == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5))  # half way: cos = 0
    assert lr_at(100, cfg) == pytest.approx(5e-5)
    # a time budget that ends before the planned steps drives the decay instead
    big = TrainConfig(lr=1e-3, warmup=10, steps=10**6, decay_frac=0.2)
    assert lr_at(500, big, time_frac=0.5) == pytest.approx(1e-3)
    assert lr_at(500, big, time_frac=0.9) == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5))
    assert lr_at(500, big, time_frac=1.0) == pytest.approx(5e-5)
    lrs = [lr_at(500, big, time_frac=f) for f in np.linspace(0.8, 1.0, 21)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_perturb_tempo_and_gain():
    rng = np.random.default_rng(0)
    x = np.tile(np.arange(100, dtype=np.float32)[:, None], (1, 4))
    lens = set()
    for _ in range(50):
        y = perturb(x, rng, tempo=0.1, gain_db=0.0)
        lens.add(len(y))
        assert 90 <= len(y) <= 112
        assert np.all(np.diff(y[:, 0]) >= 0)  # order of frames kept
        assert set(np.unique(y)) <= set(np.unique(x))  # frames are copies, no new values
    assert len(lens) > 5
    g = perturb(x, rng, tempo=0.0, gain_db=6.0)
    off = g - x
    assert np.allclose(off, off[0, 0])  # one offset per utterance
    assert abs(off[0, 0]) <= 6 * np.log(10) / 10 + 1e-6


@pytest.mark.parametrize("db", [-6.0, -20.0, -40.0])
def test_level_change_is_the_quieter_recording(db):
    """An attenuation in the log-mel domain gives the features of the recording's samples
    scaled down, the front-end's log floor included: the cells that quieter speech loses to
    the floor are lost in training too (an offset alone put them below it)."""
    sf = pytest.importorskip("soundfile")
    from engine.frontend import FrontendConfig, compute_features

    x, _ = sf.read("assets/audio/demo.flac", dtype="float32")
    want = compute_features((x * 10 ** (db / 20)).astype(np.float32))
    got = change_level(compute_features(x), db)
    floor = np.float32(np.log(FrontendConfig().log_floor))
    assert np.abs(got - want).max() < 1e-3
    if db <= -20:
        assert np.mean(want == floor) > 0.05  # the case that matters: the floor takes cells
    rng = np.random.default_rng(0)
    y = np.zeros((10, 80), np.float32)
    quiet = [perturb(y, rng, 0.0, 0.0, quiet=0.5) for _ in range(400)]
    moved = np.array([float(q[0, 0]) for q in quiet if q[0, 0] != 0])
    assert 0.4 < len(moved) / 400 < 0.6
    lo, hi = (-d * np.log(10) / 10 for d in QUIET_DB[::-1])
    assert np.all((moved >= lo - 1e-5) & (moved <= hi + 1e-5))
    assert np.all(perturb(np.full((5, 80), floor), rng, 0.0, 6.0, tilt=1.0) >= floor)  # never below


@pytest.mark.parametrize("cutoff,order", [(3000, 2), (4000, 4), (5000, 8)])
def test_band_limit_is_the_waveform_low_pass(cutoff, order):
    """The log-mel band limit gives the features of the recording itself low-passed (an
    order-N Butterworth magnitude applied to its spectrum): a real clip, speech frames."""
    sf = pytest.importorskip("soundfile")
    from engine.frontend import compute_features

    x, sr = sf.read("assets/audio/demo.flac", dtype="float32")
    feats = compute_features(x)
    spec = np.fft.rfft(x.astype(np.float64))
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    y = np.fft.irfft(spec / np.sqrt(1 + (f / cutoff) ** (2 * order)), len(x)).astype(np.float32)
    want = compute_features(y)
    got = band_limit(feats, cutoff, order)
    speech = feats.mean(1) > np.percentile(feats.mean(1), 30)
    err = np.abs(got - want)[speech]
    moved = np.abs(want - feats)[speech].mean()
    assert moved > 0.4  # the filter changes the features a lot ...
    assert np.median(err) < 0.01 and np.percentile(err, 95) < 0.15  # ... and the band limit follows it
    assert np.all(got <= feats + 1e-6)  # a low-pass never adds power


@pytest.mark.parametrize("freqs,amps", [([3700.0], [1.0]), (60.0 * np.arange(1, 9), 1.0 / np.arange(1, 9))])
def test_interference_is_the_waveform_sum(freqs, amps):
    """A whine or a mains hum added in the log-mel domain gives the features of the recording
    with that tone added to its samples, 15 dB below its speech (powers add; the cross terms
    of speech and tone within a band are what is left)."""
    sf = pytest.importorskip("soundfile")
    from engine.frontend import compute_features

    x, sr = sf.read("assets/audio/demo.flac", dtype="float32")
    feats = compute_features(x)
    power = tone_power(freqs, amps)
    from trainer.data.audio import tones

    tone = tones(len(x), sr, freqs, amps)
    total = np.exp(feats.astype(np.float64)).sum(1)
    gain = total[total >= np.median(total)].mean() / power.sum() * 10 ** (-15 / 10)
    want = compute_features((x + np.sqrt(gain) * tone).astype(np.float32))
    got = add_interference(feats, power, 15.0)
    err = np.abs(got - want)
    moved = np.abs(want - feats).mean()
    assert moved > 0.15
    assert np.median(err) < 0.01 and err.mean() < 0.3 * moved
    assert np.all(got >= feats)  # added power only


def test_perturb_band_limit_probability():
    rng = np.random.default_rng(0)
    x = np.zeros((20, 80), np.float32)
    limited = [not np.array_equal(perturb(x, rng, 0.0, 0.0, lowpass=0.4), x) for _ in range(500)]
    assert 0.33 < np.mean(limited) < 0.47
    assert all(np.array_equal(perturb(x, rng, 0.0, 0.0), x) for _ in range(20))  # off by default
    speech = np.full((20, 80), -2.0, np.float32)
    hummed = [not np.array_equal(perturb(speech, rng, 0.0, 0.0, hum=0.3), speech) for _ in range(300)]
    assert 0.22 < np.mean(hummed) < 0.38


def test_onset_trim_cuts_the_silence_before_the_speech():
    """A real clip with 0.5 s of silence put before it: the onset is found where the
    speech starts, the trim keeps at most ONSET_KEEP - 1 frames of the silence and every
    frame after it as it was, and it happens with the probability asked."""
    import engine
    from engine.frontend import FrontendConfig, compute_features
    from trainer.augment import ONSET_KEEP, speech_onset

    x = engine.load_audio("assets/audio/demo.flac")
    cfg = FrontendConfig()
    bare = compute_features(x, cfg)
    padded = compute_features(np.concatenate([np.zeros(8000, np.float32), x]), cfg)
    shift = len(padded) - len(bare)  # 50 frames of 10 ms
    assert speech_onset(padded) == pytest.approx(shift + speech_onset(bare), abs=2)
    rng = np.random.default_rng(0)
    kept = set()
    for _ in range(40):
        y = perturb(padded, rng, 0.0, 0.0, onset=1.0)
        cut = len(padded) - len(y)
        kept.add(speech_onset(padded) - cut)
        np.testing.assert_array_equal(y, padded[cut:])
    assert kept == set(range(ONSET_KEEP))
    trimmed = [len(perturb(padded, rng, 0.0, 0.0, onset=0.3)) < len(padded) for _ in range(300)]
    assert 0.22 < np.mean(trimmed) < 0.38
    assert speech_onset(np.zeros((0, 80), np.float32)) == 0


def test_spec_augment_masks_within_bounds():
    gen = torch.Generator().manual_seed(0)
    B, T, F = 8, 200, 80
    x = torch.randn(B, T, F) + 10
    mean = torch.zeros(F)
    lens = torch.tensor([200, 150, 100, 50, 20, 10, 5, 200])
    y = spec_augment(x, lens, mean, gen)
    assert y.shape == x.shape
    masked = y == 0
    changed = masked.any()
    assert changed
    for b in range(B):
        # frequency masks: whole columns, at most 2 x 15 bins
        cols = masked[b].all(0)
        assert int(cols.sum()) <= 30
        # time masks: rows fully masked, at most 2 x (5 % of length + 1)
        rows = masked[b].all(1)
        assert int(rows.sum()) <= 2 * (int(0.05 * int(lens[b])) + 1)
        # everything masked is either in a masked row or a masked column
        assert bool((masked[b] <= (rows[:, None] | cols[None, :])).all())


def test_pack_unpack_round_trip(tmp_path):
    sf = pytest.importorskip("soundfile")
    from helpers import speechlike

    from engine.frontend import compute_features
    from trainer.data.pack import pack, unpack

    src = tmp_path / "corpus"
    (src / "audio").mkdir(parents=True)
    recs = []
    for i in range(6):
        x = speechlike(1.0 + 0.3 * i, seed=i)
        p = src / "audio" / f"u{i}.wav"
        sf.write(p, x, 16000, subtype="PCM_16")
        recs.append({"audio_filepath": f"audio/u{i}.wav", "text": f"word {i}", "duration": len(x) / 16000,
                     "voice": "v"})
    (src / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (src / "tokenizer.model").write_bytes(b"tok")
    r = pack(src, tmp_path / "packed", ["train"], shards=2, level=0.5, workers=1)
    assert r["shards"] == 1 and r["bytes"] > 0  # 6 utterances: one shard
    out = tmp_path / "unpacked"
    assert unpack(tmp_path / "packed", out, workers=1) == {"train": 6}
    from trainer.data.manifest import read_manifest

    back = read_manifest(out / "train.jsonl")
    assert [b["text"] for b in back] == [r["text"] for r in recs]
    assert (out / "tokenizer.model").read_bytes() == b"tok"
    for a, b in zip(recs, back):
        x, _ = sf.read(src / a["audio_filepath"], dtype="float32")
        y, _ = sf.read(b["audio_filepath"], dtype="float32")
        assert len(x) == len(y)  # sample-exact boundaries
        fx, fy = compute_features(x), compute_features(y)
        assert np.abs(fx - fy).mean() < 0.5  # lossy, but close at this level


def test_lr_rewarm_after_resume_without_optimizer_state():
    cfg = TrainConfig(lr=1e-3, warmup=10, steps=1000, decay_frac=0.2)
    assert lr_at(500, cfg, warm_from=500) == pytest.approx(1e-4)
    assert lr_at(504, cfg, warm_from=500) == pytest.approx(5e-4)
    assert lr_at(509, cfg, warm_from=500) == pytest.approx(1e-3)
    assert lr_at(900, cfg, warm_from=500) == lr_at(900, cfg)


def test_warp_moves_a_tone_like_a_vocal_tract_of_another_length():
    """VTLP in the log-mel domain: a 1 kHz tone warped by 1.1 peaks in the band where a
    1.1 kHz tone peaks (and by 0.9 where a 900 Hz tone does); factor 1 changes nothing."""
    from engine.frontend import compute_features
    from trainer.augment import warp_frequencies

    t = np.arange(16000) / 16000.0

    def peak(f):
        return compute_features(0.3 * np.sin(2 * np.pi * f * t)).mean(0)

    x = compute_features(0.3 * np.sin(2 * np.pi * 1000 * t))
    assert np.allclose(warp_frequencies(x, 1.0), x, atol=1e-5)
    for alpha in (1.1, 0.9):
        y = warp_frequencies(x, alpha)
        assert y.shape == x.shape
        assert int(np.argmax(y.mean(0))) == int(np.argmax(peak(1000 * alpha)))
        assert np.argmax(y.mean(0)) != np.argmax(x.mean(0))
    rng = np.random.default_rng(0)
    z = perturb(x, rng, tempo=0.0, gain_db=0.0, warp=0.1)
    assert z.shape == x.shape and not np.allclose(z, x)


def test_tilt_adds_one_straight_line_across_the_bands():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 80)).astype(np.float32)
    for _ in range(20):
        d = perturb(x, rng, tempo=0.0, gain_db=0.0, tilt=1.5) - x
        assert np.allclose(d, d[0], atol=1e-5)  # the same line on every frame
        line = d[0]
        assert np.allclose(np.diff(line), np.diff(line)[0], atol=1e-5)  # straight
        assert abs(line[0] + line[-1]) < 1e-5 and abs(line[-1]) <= 1.5 + 1e-6  # through 0, within +-tilt


def test_cpu_rnnt_loss_equals_torchaudio():
    """trainer.rnnt_loss (torch ops, used on the CPU) gives torchaudio's per-utterance losses
    and gradients, with ragged lengths, an empty label sequence and a one-frame utterance."""
    import torchaudio.functional as AF

    from trainer.rnnt_loss import rnnt_loss

    g = torch.Generator().manual_seed(0)
    B, T, U, C = 5, 9, 6, 11
    logits = torch.randn(B, T, U + 1, C, generator=g, requires_grad=True)
    y = torch.randint(1, C, (B, U), generator=g)
    lt, lu = torch.tensor([9, 7, 1, 9, 4]), torch.tensor([6, 3, 2, 0, 6])
    ref = AF.rnnt_loss(logits, y.int(), lt.int(), lu.int(), blank=0, reduction="none", clamp=-1)
    got = rnnt_loss(logits, y, lt, lu, blank=0)
    assert torch.allclose(got, ref, rtol=1e-5, atol=1e-4)
    g_ref, = torch.autograd.grad(ref.sum(), logits)
    g_got, = torch.autograd.grad(got.sum(), logits)
    assert torch.allclose(g_got, g_ref, atol=1e-5)
    # blank at another index
    ref2 = AF.rnnt_loss(logits, (y - 1).int(), lt.int(), lu.int(), blank=C - 1, reduction="none", clamp=-1)
    assert torch.allclose(rnnt_loss(logits, y - 1, lt, lu, blank=C - 1), ref2, rtol=1e-5, atol=1e-4)
    g_auto, = torch.autograd.grad(rnnt_loss(logits, y, lt, lu, fused=False).sum(), logits)
    assert torch.allclose(g_got, g_auto, atol=1e-6)
    # the hand-written log-softmax gradient leaves its input as it was (float32 is not copied
    # on the way in), and bf16 logits (the CPU's autocast) are computed in float32
    before = logits.detach().clone()
    torch.autograd.grad(rnnt_loss(logits, y, lt, lu).sum(), logits)
    assert torch.equal(logits.detach(), before)
    half = logits.detach().bfloat16().requires_grad_()
    wide = half.detach().float().requires_grad_()
    got_h, got_w = rnnt_loss(half, y, lt, lu), rnnt_loss(wide, y, lt, lu)
    assert got_h.dtype == torch.float32 and torch.allclose(got_h, got_w, rtol=1e-6, atol=1e-5)
    g_h, = torch.autograd.grad(got_h.sum(), half)
    g_w, = torch.autograd.grad(got_w.sum(), wide)
    assert g_h.dtype == torch.bfloat16 and torch.allclose(g_h.float(), g_w, atol=1e-2)
    # a batch whose every label sequence is empty
    e = torch.randn(2, 4, 1, C, generator=g, requires_grad=True)
    ref3 = AF.rnnt_loss(e, torch.zeros(2, 0).int(), torch.tensor([4, 2]).int(), torch.tensor([0, 0]).int(),
                        blank=0, reduction="none", clamp=-1)
    got3 = rnnt_loss(e, torch.zeros(2, 0, dtype=torch.long), torch.tensor([4, 2]), torch.tensor([0, 0]))
    assert torch.allclose(got3, ref3, atol=1e-5)
    assert torch.allclose(torch.autograd.grad(got3.sum(), e)[0], torch.autograd.grad(ref3.sum(), e)[0], atol=1e-5)


def test_set_help_lists_every_field_with_its_default_and_meaning(capsys):
    """`nnasr train --set help`: one entry per TrainConfig field, its default as --set takes it
    and a description, without training anything."""
    from dataclasses import fields

    from app.cli import main
    from trainer.config import TrainConfig, field_docs

    docs = field_docs()
    assert [k for k, _, _ in docs] == [f.name for f in fields(TrainConfig)]
    assert all(doc for _, _, doc in docs)
    assert main(["train", "--set", "help"]) == 0
    out = capsys.readouterr().out
    for k, v, _ in docs:
        assert f"{k}={v!r}" in out
    assert "cutting the silence before the speech" in " ".join(out.split())  # onset's comment

"""Recording channels (`nnasr eval --channel`): each does to the audio what it says, and the
evaluation decodes exactly the channel's output."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
import soundfile as sf
from helpers import make_random_model, speechlike

from app.cli import main
from trainer.data.audio import add_noise, add_tones, low_pass, parse_channel, speech_bounds

SR = 16000


def _band_db(x, lo, hi):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1.0 / SR)
    return 10 * np.log10(spec[(f >= lo) & (f < hi)].sum() + 1e-20)


def test_low_pass_keeps_the_band_and_removes_the_top():
    x = speechlike(2.0)
    y = low_pass(x, SR, 4000)
    assert abs(_band_db(y, 100, 3000) - _band_db(x, 100, 3000)) < 0.1
    assert _band_db(x, 6000, 8000) - _band_db(y, 6000, 8000) > 35  # 8 poles: ~48 dB an octave up
    assert len(y) == len(x) and y.dtype == np.float32


@pytest.mark.parametrize("snr", [0.0, 15.0])
def test_tones_sit_at_the_asked_snr_below_the_speech(snr):
    x = np.concatenate([np.zeros(8000, np.float32), speechlike(2.0), np.zeros(8000, np.float32)])
    y = add_tones(x, SR, [50.0, 100.0, 150.0], [1.0, 0.5, 0.33], snr)
    a, b = speech_bounds(x, SR)
    tone = y - x
    measured = 10 * np.log10(np.mean(x[a:b] ** 2) / np.mean(tone ** 2))
    assert measured == pytest.approx(snr, abs=0.05)
    assert np.abs(tone[:4000]).max() > 0  # stationary: in the silence too


def test_noise_sits_at_the_asked_snr_under_a_lead_in():
    """`lead:S,noise:DB`: the silence before the speech gets the noise too (a microphone's
    floor, not digital zeros), at DB below the speech; the same clip gets the same noise."""
    x = np.concatenate([np.zeros(8000, np.float32), speechlike(2.0)])
    y = parse_channel("lead:1,noise:25")(x, SR)
    assert len(y) == len(x) + SR
    clean = np.concatenate([np.zeros(SR, np.float32), x])
    a, b = speech_bounds(clean, SR)
    noise = y - clean
    measured = 10 * np.log10(np.mean(clean[a:b] ** 2) / np.mean(noise ** 2))
    assert measured == pytest.approx(25.0, abs=0.05)
    assert np.abs(y[:SR]).max() > 0
    assert np.array_equal(add_noise(x, SR, 25.0), add_noise(x, SR, 25.0))


def test_channel_specs():
    x = speechlike(1.0)
    assert np.allclose(parse_channel("gain:0")(x, SR), x)
    assert np.allclose(parse_channel("gain:-20")(x, SR), x * 0.1, atol=1e-7)
    both = parse_channel("lowpass:3000,hum:20")(x, SR)
    k = np.arange(1, 9)
    assert np.allclose(both, add_tones(low_pass(x, SR, 3000), SR, 50.0 * k, 1.0 / k, 20.0), atol=1e-6)
    phone = parse_channel("phone")(x, SR)
    assert _band_db(x, 5000, 8000) - _band_db(phone, 5000, 8000) > 30
    for bad in ("reverb", "lowpass:fast", "lowpass:0", "", "lead:-1", "tight:-3", "noise:nan", "hum:inf", "gain:-inf"):
        with pytest.raises(ValueError):
            parse_channel(bad)


def test_tight_and_lead_move_the_speech_start():
    """`tight` removes what comes before the speech (and nothing of it), `lead:S` puts S seconds
    of silence before the clip; together they give the same clip with a known lead-in."""
    sp = speechlike(1.0)
    x = np.concatenate([np.full(5000, 1e-5, np.float32), sp])  # 0.31 s of near-silence first
    a, _ = speech_bounds(x, SR, -30.0)
    tight = parse_channel("tight")(x, SR)
    assert 4800 <= a <= 5000 and np.array_equal(tight, x[a:])  # cut within a 10 ms frame of the onset
    assert np.array_equal(parse_channel("tight:30")(sp, SR), sp[speech_bounds(sp, SR, -30.0)[0]:])
    lead = parse_channel("tight,lead:0.25")(x, SR)
    assert len(lead) == len(tight) + 4000 and not lead[:4000].any() and np.array_equal(lead[4000:], tight)
    quiet = np.zeros(1600, np.float32)
    assert np.array_equal(parse_channel("tight")(quiet, SR), quiet)  # no speech: left as it is


def test_channel_help_lists_every_channel():
    """The --channel help of eval and compare is written by hand (no numpy at start-up): it
    names every channel of trainer.data.audio.CHANNELS, with [:ARG] where it takes one."""
    import argparse

    from app.commands.eval import add_channel_argument
    from trainer.data.audio import CHANNELS

    p = argparse.ArgumentParser()
    add_channel_argument(p, "first")
    text = next(a.help for a in p._actions if a.dest == "channel")
    for name, (_, default, _, _) in CHANNELS.items():
        assert (f"{name}[:" if default is not None else f"{name} (") in text, name


def test_eval_decodes_the_channel_output(tmp_path, capsys):
    """`nnasr eval --channel lowpass:3000` gives what decoding the low-passed file gives, says so
    in its output and its JSON, and refuses to --record such a WER."""
    pytest.importorskip("jiwer")
    model = make_random_model(tmp_path / "m.nnasr", seed=1, enc_gain=2.0, blank_bias=0.5, out_gain=16.0)
    x = speechlike(3.0)
    sf.write(tmp_path / "a.wav", x, SR, subtype="FLOAT")
    sf.write(tmp_path / "a-lp.wav", low_pass(x, SR, 3000), SR, subtype="FLOAT")
    for name in ("a", "a-lp"):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(
            {"audio_filepath": str(tmp_path / f"{name}.wav"), "text": "turn on the light", "duration": 3.0}) + "\n")

    def hyps(manifest, *extra):
        out = tmp_path / "r.json"
        assert main(["eval", "--model", str(model), "--manifest", str(tmp_path / manifest), "--no-vad",
                     "--json", str(out), *extra]) == 0
        d = json.loads(out.read_text())
        return d, [u["hyp"] for u in d["per_utterance"]]

    d, via_channel = hyps("a.jsonl", "--channel", "lowpass:3000")
    assert d["channel"] == "lowpass:3000" and "channel lowpass:3000" in capsys.readouterr().out
    assert via_channel == hyps("a-lp.jsonl")[1]
    assert hyps("a.jsonl", "--channel", "gain:0")[1] == hyps("a.jsonl")[1]
    assert main(["eval", "--model", str(model), "--manifest", str(tmp_path / "a.jsonl"), "--channel", "hum",
                 "--record", "x"]) == 2
    assert "leave out --channel" in capsys.readouterr().err
    # --gain, the engine's input gain, undoes a quieter channel (as far as the clipping allows)
    assert hyps("a.jsonl", "--channel", "gain:-20", "--gain", "20")[1] == hyps("a.jsonl")[1]
    assert hyps("a.jsonl", "--channel", "gain:-20")[1] != hyps("a.jsonl")[1]
    # --gain auto: each clip raised so its loudest 100 ms reach the target, whatever the channel
    # took off; the JSON says by how much
    from engine.level import TARGET_DBFS, speech_level_db

    quiet, _ = hyps("a.jsonl", "--channel", "gain:-30", "--gain", "auto")
    level = speech_level_db((x * np.float32(10 ** (-30 / 20))).astype(np.float32), SR)
    assert quiet["gain"] == "auto" and "gain_db" not in quiet and quiet["auto_gain_db"]["raised"] == 1
    assert quiet["per_utterance"][0]["gain_db"] == pytest.approx(TARGET_DBFS - level, abs=0.06)
    assert "input gain auto (median +" in capsys.readouterr().out
    for bad, err in ((["--gain", "nan"], "finite"), (["--gain", "1e9"], "-60..60"),
                     (["--gain", "6", "--record", "x"], "leave out --gain"),
                     (["--gain", "6", "--mode", "torch"], "--channel gain:6"),
                     (["--gain", "auto", "--mode", "torch"], "--gain auto is the engine's")):
        with pytest.raises(SystemExit) if bad[1] in ("nan", "1e9") else contextlib.nullcontext():
            assert main(["eval", "--model", str(model), "--manifest", str(tmp_path / "a.jsonl"), *bad]) == 2
        assert err in capsys.readouterr().err


def test_compare_hears_the_channel(tmp_path, capsys):
    """`nnasr compare --channel`: every system decodes the channel's output (the same texts as
    comparing on the low-passed file itself), and the JSON says which channel."""
    model = make_random_model(tmp_path / "m.nnasr", seed=1, enc_gain=2.0, blank_bias=0.5, out_gain=16.0)
    x = speechlike(3.0)
    sf.write(tmp_path / "a.wav", x, SR, subtype="FLOAT")
    sf.write(tmp_path / "a-lp.wav", low_pass(x, SR, 3000), SR, subtype="FLOAT")

    def compare(name, *extra):
        (tmp_path / "m.jsonl").write_text(json.dumps(
            {"audio_filepath": str(tmp_path / name), "text": "turn on the light", "duration": 3.0}) + "\n")
        assert main(["compare", "-q", "--json", "--beam", "1", "--models", str(model),
                     "--manifest", str(tmp_path / "m.jsonl"), *extra]) == 0
        return json.loads(capsys.readouterr().out)

    d = compare("a.wav", "--channel", "lowpass:3000")
    assert d["channel"] == "lowpass:3000"
    want = compare("a-lp.wav")
    assert [u["hyp"] for u in d["models"][0]["utterances"]] == [u["hyp"] for u in want["models"][0]["utterances"]]
    assert d["models"][0]["utterances"][0]["audio"] == str(tmp_path / "a.wav")  # reported by its own name
    plain = compare("a.wav")
    assert plain["models"][0]["utterances"][0]["hyp"] != want["models"][0]["utterances"][0]["hyp"]

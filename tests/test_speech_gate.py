"""Non-speech gives no words (a contract of the engine): the engine's speech gate (engine/vad.py)
with every shipped model, greedy and beam; speech keeps its words at its edges; streaming
equals offline with the gate; non-speech costs no decoder steps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from helpers import feed

import engine
from app.cli import main
from app.models import ASSETS_DIR, DEMO_AUDIO
from engine.vad import SpeechGate, VadConfig

RATE = 16000
SHIPPED = sorted(p.stem for p in (ASSETS_DIR / "models").glob("*.nnasr"))
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no shipped model in assets/models")


def _scaled(x: np.ndarray, dbfs: float) -> np.ndarray:
    return (x / np.sqrt(np.mean(x**2)) * 10 ** (dbfs / 20)).astype(np.float32)


def white(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    return _scaled(np.random.default_rng(seed).standard_normal(int(seconds * RATE)), dbfs)


def pink(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    """1/f power: white noise shaped in the frequency domain."""
    n = int(seconds * RATE)
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    return _scaled(np.fft.irfft(spec / np.sqrt(f), n), dbfs)


def hum(seconds: float, dbfs: float = -20.0, hz: float = 50.0) -> np.ndarray:
    """Mains hum: the fundamental and a third harmonic."""
    t = np.arange(int(seconds * RATE)) / RATE
    return _scaled(np.sin(2 * np.pi * hz * t) + 0.3 * np.sin(2 * np.pi * 3 * hz * t), dbfs)


def non_speech(seconds: float) -> dict[str, np.ndarray]:
    out = {"silence": np.zeros(int(seconds * RATE), np.float32)}
    for level in (-60, -45, -35):
        out[f"white{level}"] = white(seconds, level)
        out[f"pink{level}"] = pink(seconds, level)
    out["hum50"] = hum(seconds)
    return out


@pytest.fixture(scope="module")
def noise_files(tmp_path_factory):
    """5 s of each kind of non-speech, and a minute of digital silence."""
    d = tmp_path_factory.mktemp("nonspeech")
    files = []
    for name, x in [("silence-60s", np.zeros(60 * RATE, np.float32)), *non_speech(5.0).items()]:
        files.append(d / f"{name}.wav")
        sf.write(files[-1], x, RATE, subtype="FLOAT")
    return files


def _transcribe(capsys, model: str, beam: int, files) -> list[dict]:
    rc = main(["transcribe", "-q", "--model", model, "--beam", str(beam), "-f", "json",
               *map(str, files)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("beam", [1, 4])
@pytest.mark.parametrize("model", SHIPPED)
def test_non_speech_gives_no_words(model, beam, noise_files, capsys):
    results = _transcribe(capsys, model, beam, noise_files)
    assert len(results) == len(noise_files)
    heard = {r["file"].rsplit("/", 1)[-1]: r["text"] for r in results if r["text"] or r["words"]}
    assert heard == {}, f"{model} beam {beam} invented words"


@pytest.mark.slow
@pytest.mark.parametrize("beam", [1, 4])
def test_a_minute_of_each_non_speech_gives_no_words(beam, tmp_path, capsys):
    files = []
    for name, x in non_speech(60.0).items():
        files.append(tmp_path / f"{name}.wav")
        sf.write(files[-1], x, RATE, subtype="FLOAT")
    for model in SHIPPED:
        results = _transcribe(capsys, model, beam, files)
        assert [r["text"] for r in results] == [""] * len(files), model


def _text(rec, audio, sizes=None) -> str:
    return feed(rec, audio, RATE, sizes).text


def _speech_only(x: np.ndarray) -> np.ndarray:
    """The demo cut at its first and last audible sample: speech from the first to the last frame."""
    loud = np.flatnonzero(np.abs(x) > 0.01)
    return x[loud[0]: loud[-1] + 1]


@pytest.mark.parametrize("model", SHIPPED)
def test_the_gate_keeps_first_and_last_words(model):
    """Speech that starts on the stream's first sample and ends on its last gives the same
    transcript with the gate as without it."""
    m = engine.load_model(ASSETS_DIR / "models" / f"{model}.nnasr")
    speech = _speech_only(engine.load_audio(DEMO_AUDIO, RATE))
    gated = _text(engine.Recognizer(m, beam=1), speech)
    assert len(gated.split()) >= 10
    assert gated == _text(engine.Recognizer(m, beam=1, vad=False), speech)


@pytest.mark.parametrize("beam", [1, 4])
def test_gated_streaming_equals_offline_in_noise(beam):
    """Speech between stretches of pink noise (-45 dBFS under it all): any chunking gives the
    whole signal's transcript, and the noise alone adds no words."""
    m = engine.load_model(ASSETS_DIR / "models" / f"{SHIPPED[0]}.nnasr")
    speech = engine.load_audio(DEMO_AUDIO, RATE)
    x = np.concatenate([np.zeros(2 * RATE, np.float32), speech, np.zeros(3 * RATE, np.float32)])
    x = (x + pink(len(x) / RATE, -45, seed=3)[: len(x)]).astype(np.float32)
    rec = engine.Recognizer(m, beam=beam)
    whole = _text(rec, x)
    assert len(whole.split()) >= 10
    rng = np.random.default_rng(beam)
    for _ in range(2):
        sizes = [int(rng.choice([1, 160, 999, 2560, 7000])) for _ in range(200)]
        assert _text(rec, x, sizes) == whole
    assert _text(rec, x[: 2 * RATE]) == ""


def test_non_speech_costs_no_decoder_steps():
    """Outside speech the joiner and predictor never run: fewer ops, less modeled NNA time."""
    m = engine.load_model(ASSETS_DIR / "models" / f"{SHIPPED[0]}.nnasr")
    x = white(5.0, -35)
    counts = {}
    for vad in (True, False):
        s = engine.Recognizer(m, beam=1, vad=vad).create_stream()
        s.accept_waveform(x, RATE)
        s.input_finished()
        counts[vad] = s.stats.op_counts
        assert s.in_speech is (not vad)
    joiner = [op for op in counts[False] if op.startswith("join.out")]
    assert joiner and all(counts[False][op] > 0 for op in joiner)
    assert all(counts[True].get(op, 0) == 0 for op in joiner)


def test_gate_opens_on_speech_and_closes_after_the_hangover():
    """Frame by frame on the demo: closed in its leading digital silence, open within 0.1 s
    of the first audible sample, closed again ``hangover_s`` after the last speech frame."""
    m = engine.load_model(ASSETS_DIR / "models" / f"{SHIPPED[0]}.nnasr")
    x = engine.load_audio(DEMO_AUDIO, RATE)
    cfg = VadConfig()
    gate = SpeechGate(cfg, m.frontend)
    is_open = gate.accept(engine.compute_features(x, m.frontend))
    frame_s = m.frontend.hop_length / RATE
    onset = np.flatnonzero(np.abs(x) > 0.01)[0] / RATE
    opened = np.flatnonzero(is_open)
    assert not is_open[: int(0.25 / frame_s)].any()
    assert 0.25 <= opened[0] * frame_s <= onset + 0.1  # the pad ends at 0.3 s
    closed_after = (len(is_open) - 1 - opened[-1]) * frame_s
    assert closed_after > 0.2 and not gate.is_open
    speech_s = (np.flatnonzero(np.abs(x) > 0.01)[-1] / RATE) - onset
    assert gate.speech_frames * frame_s > 0.4 * speech_s  # most of the speech is speech

"""Issue 10, bad audio: every kind of input file gives a transcript or one line naming the
file and the problem (never a traceback, never a hang); a batch goes on past bad files;
long files stream in bounded memory; a property test over the loader."""

from __future__ import annotations

import os
import struct
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from helpers import make_random_model, speechlike
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main
from engine.audio import (
    MAX_SAMPLE_RATE,
    AudioError,
    StreamingResampler,
    audio_info,
    iter_audio_blocks,
    load_audio,
    resample,
)

X = speechlike(1.0)


def _wav_bytes(x=X, rate=16000, subtype="PCM_16") -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def _encoded(fmt: str) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, X, 16000, format=fmt)
    return buf.getvalue()


def _with_header(field_offset: int, fmt: str, value: int) -> bytes:
    data = bytearray(_wav_bytes())
    data[field_offset : field_offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(data)


# name -> writer(path); every one of these must load (finite float32 mono, 16 kHz)
GOOD = {
    "u8.wav": lambda p: sf.write(p, X, 16000, subtype="PCM_U8"),
    "s16.wav": lambda p: sf.write(p, X, 16000, subtype="PCM_16"),
    "s24.wav": lambda p: sf.write(p, X, 16000, subtype="PCM_24"),
    "s32.wav": lambda p: sf.write(p, X, 16000, subtype="PCM_32"),
    "f32.wav": lambda p: sf.write(p, X, 16000, subtype="FLOAT"),
    "f64.wav": lambda p: sf.write(p, X, 16000, subtype="DOUBLE"),
    "a.flac": lambda p: sf.write(p, X, 16000),
    "a.ogg": lambda p: sf.write(p, X, 16000),
    "a.mp3": lambda p: sf.write(p, X, 16000),
    **{f"r{r}.wav": (lambda p, r=r: sf.write(p, speechlike(1.0, r), r))
       for r in (8000, 11025, 22050, 44100, 48000, 96000, 192000)},
    "r44101-odd-rate.wav": lambda p: sf.write(p, speechlike(1.0, 44101), 44101),
    "stereo.wav": lambda p: sf.write(p, np.stack([X, -X], 1), 16000),
    "six-channels.wav": lambda p: sf.write(p, np.tile(X[:, None], (1, 6)), 16000),
    "nan.wav": lambda p: sf.write(p, np.where(np.arange(len(X)) % 97 == 0, np.nan, X), 16000,
                                  subtype="FLOAT"),
    "inf.wav": lambda p: sf.write(p, np.where(np.arange(len(X)) % 89 == 0, np.inf, X), 16000,
                                  subtype="DOUBLE"),
    "all-nan.wav": lambda p: sf.write(p, np.full(16000, np.nan), 16000, subtype="FLOAT"),
    "float-beyond-full-scale.wav": lambda p: sf.write(p, 1e30 * X, 16000, subtype="FLOAT"),
    "silence.wav": lambda p: sf.write(p, np.zeros(16000, np.float32), 16000),
    "clipped.wav": lambda p: sf.write(p, np.clip(100 * X, -1, 1), 16000),
    "flac-named.wav": lambda p: sf.write(p, X, 16000, format="FLAC"),
    "wav-named.mp3": lambda p: sf.write(p, X, 16000, format="WAV"),
    "no-extension": lambda p: sf.write(p, X, 16000, format="WAV"),
    "one-sample.wav": lambda p: sf.write(p, X[:1], 16000),
    "truncated.wav": lambda p: p.write_bytes(_wav_bytes()[: 44 + 16000]),  # the half that is there
    "wrong-riff-size.wav": lambda p: p.write_bytes(_with_header(4, "<I", 0xFFFFFFF0)),
}

# name -> (bytes, a fragment the one-line message must contain)
BAD = {
    "zero-bytes.wav": (b"", "not a readable audio file (format not recognised)"),
    "header-only.wav": (_wav_bytes()[:44], "contains no audio samples"),
    "empty-data.wav": (_wav_bytes(np.zeros(0, np.float32)), "contains no audio samples"),
    "riff-junk.wav": (b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100), "No 'data' chunk"),
    "text.wav": (b"this is not audio\n" * 10, "it looks like text"),
    "image.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "it looks like a PNG image"),
    "image-named.wav": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "it looks like a PNG image"),
    "pickle.wav": (b"\x80\x04\x95" + bytes(64), "it looks like a Python pickle"),
    "random.wav": (np.random.default_rng(0).bytes(4000), "not a readable audio file"),
    # headerless PCM without --raw: libsndfile knows .raw and .pcm need a rate, not what else
    "speech.raw": ((X * 3000).astype("<i2").tobytes(), "(no audio header; headerless PCM needs --raw RATE)"),
    "speech.s16": ((X * 3000).astype("<i2").tobytes(), "if it is headerless PCM, give --raw RATE"),
    "zero-channels.wav": (_with_header(22, "<H", 0), "channel count is zero"),
    "rate-1hz.wav": (_with_header(24, "<I", 1), "unsupported sample rate 1 Hz"),
    "rate-2g.wav": (_with_header(24, "<I", 2**31 - 1), "unsupported sample rate 2147483647 Hz"),
    "truncated.flac": (_encoded("FLAC")[: len(_encoded("FLAC")) // 2], "truncated or corrupt"),
    "corrupt.flac": (_encoded("FLAC")[:200] + np.random.default_rng(1).bytes(4000), "corrupt"),
    "corrupt.ogg": (_encoded("OGG")[:200] + np.random.default_rng(2).bytes(4000), "malformed"),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio-inputs")
    for name, write in GOOD.items():
        write(d / name)
    for name, (raw, _) in BAD.items():
        (d / name).write_bytes(raw)
    (d / "a-directory.wav").mkdir()
    return d


def _one_line_about(msg: str, path) -> None:
    assert "\n" not in msg and msg.startswith(f"{path}: "), msg
    assert msg.count(str(path)) == 1, f"path repeated: {msg}"  # no "Error opening '<path>'"
    assert "Error opening" not in msg and "Traceback" not in msg


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_inputs_load_finite_mono(inputs, name):
    x = load_audio(inputs / name)
    assert x.dtype == np.float32 and x.ndim == 1 and len(x) > 0
    assert np.all(np.isfinite(x)) and np.abs(x).max() <= 1.0
    blocks = list(iter_audio_blocks(inputs / name, block_seconds=0.25))
    assert blocks and all(b.dtype == np.float32 and b.ndim == 1 and np.all(np.isfinite(b))
                          for b, _ in blocks)
    rate = blocks[0][1]
    assert abs(sum(len(b) for b, _ in blocks) / rate - audio_info(inputs / name).duration) < 1e-6
    if name.startswith("r") or name in ("u8.wav", "s16.wav", "s24.wav", "s32.wav", "a.flac"):
        assert abs(len(x) - 16000) <= 1 and np.abs(x).max() > 0.2  # the signal survived


@pytest.mark.parametrize("name", sorted(BAD) + ["a-directory.wav", "missing.wav"])
def test_bad_inputs_one_line_naming_the_file(inputs, name):
    path = inputs / name
    want = {"a-directory.wav": "is a directory", "missing.wav": "no such file"}.get(name) or BAD[name][1]
    for load in (load_audio, lambda p: list(iter_audio_blocks(p))):
        with pytest.raises(AudioError) as e:
            load(path)
        _one_line_about(str(e.value), path)
        assert want in str(e.value), str(e.value)


def test_cli_batch_every_input(inputs, tmp_path_factory, capsys):
    """All inputs in one `nnasr transcribe` call: each good file transcribed, each bad one a
    single error line in input order, exit status 1, no traceback."""
    model = make_random_model(tmp_path_factory.mktemp("m") / "m.nnasr", hidden=16, layers=1,
                              reduce_after=0, vocab_size=30)
    bad = sorted(BAD) + ["a-directory.wav", "missing.wav"]
    paths = [str(inputs / n) for n in sorted(GOOD) + bad]
    rc = main(["transcribe", "-q", "--model", str(model), "-f", "json", *paths])
    out, err = capsys.readouterr()
    assert rc == 1 and "Traceback" not in err
    lines = [x for x in err.splitlines() if x.startswith("nnasr transcribe: error: ")]
    assert [x.split(": ")[2] for x in lines] == [str(inputs / n) for n in bad]
    for line in lines:
        _one_line_about(line.removeprefix("nnasr transcribe: error: "), line.split(": ")[2])
    assert f"{len(bad)} of {len(paths)} file(s) failed" in err
    import json

    docs = [json.loads(x) for x in out.splitlines()]  # JSON lines, one per good file
    assert [d["file"] for d in docs] == [str(inputs / n) for n in sorted(GOOD)]
    assert all(d["audio_s"] > 0.9 and d["latency"]["chunks"] > 5 and d["rtf"] > 0
               for d in docs if "one-sample" not in d["file"] and "truncated" not in d["file"])


def test_pipe_streams_like_a_file(inputs, tmp_path, capsys):
    """A FIFO (what `nnasr transcribe <(cat x.wav)` gets) is read once, as a stream: the
    loader and the CLI read it without probing it first (which would hang)."""
    import threading

    fifo = tmp_path / "pipe.wav"
    model = make_random_model(tmp_path / "m.nnasr", hidden=8, layers=1, reduce_after=0,
                              vocab_size=30)

    def feed():
        with open(fifo, "wb") as f:
            f.write((inputs / "s16.wav").read_bytes())

    for run in ("loader", "cli"):
        os.mkfifo(fifo)
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        if run == "loader":
            assert sum(len(b) for b, _ in iter_audio_blocks(fifo, block_seconds=0.3)) == 16000
        else:
            assert main(["transcribe", "-q", "-m", str(model), "-f", "json", str(fifo)]) == 0
            import json

            assert json.loads(capsys.readouterr().out)["audio_s"] == pytest.approx(1.0)
        t.join(5)
        assert not t.is_alive()
        fifo.unlink()


# --- memory ----------------------------------------------------------------------------
def test_long_file_streams_in_bounded_memory(tmp_path):
    """A 4-minute 48 kHz stereo file (44 MB as float32) is read block by block and resampled
    with temporaries that stay a small fraction of it."""
    path = tmp_path / "long.wav"
    rate, seconds = 48000, 240
    with sf.SoundFile(path, "w", rate, 2, subtype="PCM_16") as f:
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(rate * 10) / rate)).astype(np.float32)
        for i in range(seconds // 10):
            f.write(np.stack([tone if i % 2 else 0 * tone, tone], 1))
    decoded_bytes = rate * seconds * 2 * 4
    tracemalloc.start()
    try:
        r = StreamingResampler(rate, 16000)
        n = 0
        for block, block_rate in iter_audio_blocks(path, block_seconds=10.0):
            assert block_rate == rate and len(block) <= rate * 10
            n += len(r.accept(block))
        n += len(r.accept(np.zeros(0, np.float32), final=True))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert abs(n - 16000 * seconds) <= 1
    assert peak < decoded_bytes / 4, f"peak {peak / 1e6:.1f} MB for a {decoded_bytes / 1e6:.0f} MB file"


def test_many_channels_bound_the_block(tmp_path):
    from engine import audio as A

    path = tmp_path / "ch64.wav"
    sf.write(path, np.tile(X[:, None], (1, 64)), 16000, subtype="PCM_16")
    old = A.MAX_BLOCK_SAMPLES
    A.MAX_BLOCK_SAMPLES = 64 * 1000
    try:
        sizes = [len(b) for b, _ in iter_audio_blocks(path, block_seconds=10.0)]
    finally:
        A.MAX_BLOCK_SAMPLES = old
    assert max(sizes) == 1000 and sum(sizes) == 16000


def test_resampler_without_table_equals_table(monkeypatch):
    """Rates whose phase table would be large compute taps per output: same numbers."""
    x = speechlike(0.5, 22050, seed=3)
    whole = resample(x, 22050, 16000)
    monkeypatch.setattr(StreamingResampler, "MAX_TABLE", 0)
    monkeypatch.setattr(StreamingResampler, "MAX_WORK", 999)  # many small slices
    r = StreamingResampler(22050, 16000)
    assert r._table is None
    parts = [r.accept(x[i : i + 777]) for i in range(0, len(x), 777)]
    parts.append(r.accept(np.zeros(0, np.float32), final=True))
    assert np.array_equal(np.concatenate(parts), whole)


def test_resampler_rejects_absurd_rates():
    with pytest.raises(AudioError, match="unsupported sample rate 1 Hz"):
        StreamingResampler(1, 16000)
    with pytest.raises(AudioError, match="unsupported sample rate"):
        StreamingResampler(MAX_SAMPLE_RATE + 1, 16000)
    with pytest.raises(AudioError, match="invalid sample rate"):
        StreamingResampler(0, 16000)
    assert StreamingResampler(16000, 16000).identity


def test_stream_accepts_odd_inputs(tmp_path):
    """The engine API takes any rate, channels, int or float, NaN/Inf, without failing."""
    import engine
    from engine.model import load_model

    model = load_model(make_random_model(tmp_path / "m.nnasr", hidden=8, layers=1,
                                         reduce_after=0, vocab_size=30))
    rec = engine.Recognizer(model)
    for samples, rate in [
        ((X * 32767).astype(np.int16), 16000),
        (np.stack([X, X], 1).astype(np.float64), 16000),
        ((np.tile(X[:, None], (1, 6)) * 2**31 - 1).astype(np.int32), 16000),
        (np.full(4000, np.nan, np.float32), 8000),
        (np.full(4000, np.inf), 44100),
        (np.zeros(0, np.float32), 16000),
        (np.ones(3, np.uint8), 22050),
    ]:
        s = rec.create_stream()
        s.accept_waveform(samples, rate)
        s.accept_waveform(samples, rate)
        s.input_finished()
        assert isinstance(s.text, str)
        assert s.stats.audio_seconds == pytest.approx(2 * len(samples) / rate, abs=0.01)
    with pytest.raises(AudioError, match="int or float"):
        rec.create_stream().accept_waveform(np.array(["a"]), 16000)


# --- property test --------------------------------------------------------------------
SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]
RATES = [1000, 8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000]


@st.composite
def audio_files(draw):
    """Bytes of a file: a real encoding of a random signal, often damaged, or noise behind a
    plausible header."""
    kind = draw(st.sampled_from(["wav", "flac", "ogg", "riff-noise", "noise"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind in ("riff-noise", "noise"):
        body = rng.bytes(draw(st.integers(0, 3000)))
        if kind == "riff-noise":
            body = b"RIFF" + struct.pack("<I", draw(st.integers(0, 2**32 - 1))) + b"WAVEfmt " + body
        return body
    import io

    n = draw(st.integers(0, 3000))
    ch = draw(st.sampled_from([1, 2, 3, 6]))
    rate = draw(st.sampled_from(RATES if kind == "wav" else [8000, 16000, 44100, 48000]))
    scale = draw(st.sampled_from([0.0, 0.5, 1.0, 4.0, 1e30]))
    x = scale * rng.standard_normal((n, ch))
    if draw(st.booleans()):
        x[rng.random((n, ch)) < 0.05] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    subtype = draw(st.sampled_from(SUBTYPES)) if kind == "wav" else None
    if subtype not in ("FLOAT", "DOUBLE"):  # only float WAV stores NaN, Inf, > full scale
        x = np.clip(np.nan_to_num(x), -1, 1)
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=kind.upper(), subtype=subtype)
    data = bytearray(buf.getvalue())
    for _ in range(draw(st.integers(0, 3))):  # damage: flip bytes anywhere, header included
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=audio_files(), ext=st.sampled_from([".wav", ".flac", ".ogg", ".bin"]))
def test_loader_returns_finite_mono_or_audio_error(tmp_path_factory, data, ext):
    path = tmp_path_factory.mktemp("prop") / f"x{ext}"
    path.write_bytes(data)
    for load in (load_audio, lambda p: np.concatenate(
            [resample(b, r, 16000) for b, r in iter_audio_blocks(p, 0.05)])):
        try:
            y = load(path)
        except AudioError as e:
            _one_line_about(str(e), path)
            continue
        assert y.dtype == np.float32 and y.ndim == 1
        assert np.all(np.isfinite(y))

"""`nnasr transcribe` and `nnasr models`: output formats, bad files, model discovery."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf
from helpers import make_random_model, speechlike

from app.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("transcribe")
    # peaked output, as a trained model: the default beam search emits words
    model = make_random_model(d / "m.nnasr", seed=1, enc_gain=2.0, blank_bias=0.5, out_gain=16.0)
    good = d / "good.wav"
    sf.write(good, speechlike(3.0), 16000, subtype="PCM_16")
    stereo = d / "stereo44k.flac"
    sf.write(stereo, np.stack([speechlike(2.0, 44100), speechlike(2.0, 44100, seed=1)], 1), 44100)
    garbage = d / "garbage.wav"
    garbage.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    empty = d / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    text_file = d / "notes.wav"
    text_file.write_text("this is not audio\n")
    return {"model": str(model), "good": str(good), "stereo": str(stereo),
            "garbage": str(garbage), "empty": str(empty), "text": str(text_file),
            "missing": str(d / "missing.wav"), "dir": d}


def _run(capsys, *argv):
    # --no-vad: a random model's beam search on the speech gate's frames alone often ends
    # empty; the gate is tested with the shipped models (tests/test_speech_gate.py)
    rc = main(["transcribe", "-q", "--no-vad", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_text_format(files, capsys):
    rc, out, err = _run(capsys, "--model", files["model"], files["good"])
    assert rc == 0, err
    assert out.strip() and "\n" not in out.strip()
    assert "Traceback" not in err


def test_json_format(files, capsys):
    rc, out, err = _run(capsys, "--model", files["model"], "-f", "json", files["good"])
    assert rc == 0, err
    d = json.loads(out)
    assert d["text"] and d["file"] == files["good"] and d["model"] == "m"
    assert d["words"] and all(w["start"] <= w["end"] for w in d["words"])
    assert abs(d["audio_s"] - 3.0) < 0.2
    lat = d["latency"]
    assert lat["chunks"] > 0
    assert lat["host_ms"]["measured"] is True and lat["host_ms"]["p50"] > 0
    assert lat["modeled_nna_ms"]["measured"] is False and lat["modeled_nna_ms"]["p95"] > 0
    assert d["rtf"] > 0


def test_gain_is_recorded_and_its_clipping_reported(files, capsys):
    """`--gain DB`: the JSON says the gain and the share of samples it clipped; past 0.1 % a
    line on stderr says so. Without a gain neither appears."""
    peak = float(np.abs(sf.read(files["good"])[0]).max())
    over = 20 * np.log10(1 / peak) + 6  # 6 dB past the peak: its loudest samples clip
    rc, out, err = _run(capsys, "--model", files["model"], "-f", "json", "--gain", f"{over:.2f}", files["good"])
    d = json.loads(out)
    assert rc == 0 and d["gain_db"] == pytest.approx(over, abs=0.01) and d["gain_clipped"] > 0.001
    assert "clipped" in err and "a lower gain" in err
    rc, out, err = _run(capsys, "--model", files["model"], "-f", "json", "--gain", "-6", files["good"])
    d = json.loads(out)
    assert d["gain_clipped"] == 0 and "clipped" not in err
    rc, out, err = _run(capsys, "--model", files["model"], "-f", "json", files["good"])
    assert "gain_db" not in json.loads(out)


def test_auto_gain_raises_a_quiet_file_to_the_target(files, capsys):
    """`--gain auto`: a file 40 dB down is read once for its level and decoded raised to the
    target level (its JSON says the gain); a loud file is left as it is; standard input,
    which can be read once only, is refused."""
    from engine.level import TARGET_DBFS, speech_level_db

    x, sr = sf.read(files["good"], dtype="float32")
    quiet = files["dir"] / "quiet.wav"
    sf.write(quiet, x * np.float32(0.01), sr, subtype="FLOAT")
    rc, out, _ = _run(capsys, "--model", files["model"], "-f", "json", "--gain", "auto", str(quiet))
    d = json.loads(out)
    want = round(TARGET_DBFS - speech_level_db(x * np.float32(0.01), sr), 1)
    assert rc == 0 and d["gain_db"] == pytest.approx(want) and want > 20 and d["gain"] == "auto"
    rc, out, _ = _run(capsys, "--model", files["model"], "-f", "json", "--gain", "auto", files["good"])
    d = json.loads(out)
    assert rc == 0 and d["gain_db"] == 0.0 and d["gain"] == "auto"  # loud enough: no gain
    import os

    fifo = files["dir"] / "pipe.wav"
    os.mkfifo(fifo)
    rc, _, err = _run(capsys, "--model", files["model"], "--gain", "auto", str(fifo))
    assert rc != 0 and "can be read once only" in err
    rc, _, err = _run(capsys, "--model", files["model"], "--gain", "auto", "-")
    assert rc == 2 and "standard input" in err


def _cue_times(text: str, sep: str) -> list[tuple[str, str]]:
    ts = rf"(\d\d:\d\d:\d\d{re.escape(sep)}\d\d\d)"
    return re.findall(ts + " --> " + ts, text)


def test_srt_format(files, capsys):
    rc, out, _ = _run(capsys, "--model", files["model"], "-f", "srt", files["good"])
    assert rc == 0
    blocks = [b for b in out.strip().split("\n\n") if b]
    assert blocks
    for i, b in enumerate(blocks, start=1):
        lines = b.split("\n")
        assert lines[0] == str(i)
        assert re.fullmatch(r"\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d", lines[1])
        assert lines[2].strip()
    times = _cue_times(out, ",")
    assert all(a < b for a, b in times)


def test_vtt_format(files, capsys):
    rc, out, _ = _run(capsys, "--model", files["model"], "-f", "vtt", files["good"])
    assert rc == 0
    assert out.startswith("WEBVTT\n\n")
    times = _cue_times(out, ".")
    assert times and all(a < b for a, b in times)


def test_bad_files_one_line_each_and_batch_continues(files, capsys):
    bad = [files["garbage"], files["empty"], files["text"], files["missing"], str(files["dir"])]
    rc, out, err = _run(capsys, "--model", files["model"], files["good"], *bad, files["stereo"])
    assert rc == 1
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.startswith("nnasr transcribe: error: ")]
    assert len(lines) == len(bad)
    for path, line in zip(bad, lines, strict=True):
        assert line.startswith(f"nnasr transcribe: error: {path}: "), line
    assert f"5 of {len(bad) + 2} file(s) failed" in err
    # the good files before and after the bad ones were transcribed
    assert f"==> {files['good']} <==" in out and f"==> {files['stereo']} <==" in out


def test_output_directory(files, capsys, tmp_path):
    out_dir = tmp_path / "out"
    rc, out, _ = _run(capsys, "--model", files["model"], "-f", "json", "-o", str(out_dir),
                      files["good"], files["stereo"])
    assert rc == 0 and out == ""
    assert json.loads((out_dir / "good.json").read_text())["text"]
    assert json.loads((out_dir / "stereo44k.json").read_text())["audio_s"] > 1.9


def test_output_file(files, capsys, tmp_path):
    target = tmp_path / "t.srt"
    rc, _, _ = _run(capsys, "--model", files["model"], "-f", "srt", "-o", str(target), files["good"])
    assert rc == 0 and target.read_text().startswith("1\n")


def test_missing_model_is_one_line(files, capsys, monkeypatch, tmp_path):
    import app.models as M

    monkeypatch.setattr(M, "model_dirs", lambda: [tmp_path / "none"])
    rc, _, err = _run(capsys, files["good"])
    assert rc == 2
    assert err.count("\n") == 1 and "no model found" in err and "--model" in err
    rc, _, err = _run(capsys, "--model", files["good"], files["good"])  # audio as a model
    assert rc == 2 and err.startswith("nnasr transcribe: error: ") and err.count("\n") == 1


def test_model_discovery_prefers_aat_csp(tmp_path, files):
    import shutil

    from app import models as M

    for name in ("baseline-ptq", "zzz-other", "aat"):
        shutil.copy(files["model"], tmp_path / f"{name}.nnasr")
    assert [p.stem for p in M.discover([tmp_path])] == ["aat", "baseline-ptq", "zzz-other"]
    shutil.copy(files["model"], tmp_path / "aat-csp.nnasr")
    assert M.resolve(None, [tmp_path]).stem == "aat-csp"
    assert M.resolve("baseline-ptq", [tmp_path]).stem == "baseline-ptq"
    with pytest.raises(M.UserError, match="known models: aat-csp, aat"):
        M.resolve("nope", [tmp_path])


def test_models_command(files, capsys, tmp_path):
    rc = main(["models", "--json", files["model"]])
    out, _ = capsys.readouterr()
    assert rc == 0
    (d,) = json.loads(out)
    assert d["name"] == "m" and d["params"] > 0 and d["weight_bits"] == 8
    assert d["placement"] == "all on NNA" and d["file_bytes"] > 0
    assert d["pred_context"] == 0 and "LSTM" in d["predictor"]
    rc = main(["models", files["model"]])
    out, _ = capsys.readouterr()
    assert rc == 0 and "sparsity" in out and "all on NNA" in out
    assert "predictor" not in out  # the column shows only where a model's predictor is stateless
    sl = make_random_model(tmp_path / "sl.nnasr", seed=1, pred_context=3)
    (tmp_path / "bad.nnasr").write_bytes(b"not a model")
    rc = main(["models", files["model"], str(sl), str(tmp_path / "bad.nnasr")])
    out, _ = capsys.readouterr()
    assert rc == 1 and "bad (invalid)" in out  # a bad file is an error; the others are listed
    (head,) = [line for line in out.splitlines() if "predictor" in line]
    assert head.index("placement") < head.index("predictor") < head.index("WER")
    assert re.search(r"\bm\b.*\bLSTM\b", out) and re.search(r"\bsl\b.*stateless, 3 tokens", out)


def test_wer_facts():
    """Only the model's own recorded evaluations count: not the checkpoint's training-time
    dev WER that `nnasr export` copies into the file."""
    from app.models import wer_facts

    assert wer_facts({"last_dev_wer": 0.3, "kind": "x"}) == {}
    evals = {"synthetic dev": {"wer": 0.64, "utterances": 297}, "human dev": {"wer": 1.04}}
    assert wer_facts({"evaluations": evals}) == {"synthetic dev": 0.64, "human dev": 1.04}
    # listed in the sets' order, whichever was recorded first
    assert list(wer_facts({"evaluations": evals})) == ["human dev", "synthetic dev"]
    # a set decoded otherwise than greedy, gated and without an LM says how
    evals["human dev"].update(beam=4, lm=True, speech_gate=True)
    evals["synthetic dev"].update(beam=1, lm=False, speech_gate=False)
    assert wer_facts({"evaluations": evals}) == {"human dev (beam 4, LM)": 1.04,
                                                 "synthetic dev (no speech gate)": 0.64}


def test_eval_records_the_wer_in_the_model_file(files, capsys, tmp_path):
    """`nnasr eval --record SET` stores the WER in the model file; `nnasr models` shows it with
    the set's name, in full when piped; the weights are unchanged."""
    import shutil

    import engine

    model = tmp_path / "rec.nnasr"
    shutil.copy(files["model"], model)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": files["good"], "text": "a b c", "duration": 3.0}) + "\n")
    before = engine.load_model(model)
    rc = main(["eval", "--model", str(model), "--manifest", str(manifest), "--no-vad",
               "--record", "tiny set"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    wer = float(re.search(r"WER ([0-9.]+)%", out).group(1)) / 100
    after = engine.load_model(model)
    e = after.facts["evaluations"]["tiny set"]
    assert e["wer"] == pytest.approx(wer, abs=1e-4) and e["utterances"] == 1 and e["words"] == 3
    assert e["speech_gate"] is False and "--no-vad" in e["command"]
    assert all(np.array_equal(before.tensors[k], after.tensors[k]) for k in before.tensors)
    rc = main(["models", str(model)])
    out, _ = capsys.readouterr()
    assert rc == 0 and f"{100 * wer:.1f}% on tiny set (no speech gate)" in out
    # a part of the set is not the set's WER
    manifest.write_text(manifest.read_text() * 2)
    rc = main(["eval", "--model", str(model), "--manifest", str(manifest), "--limit", "1", "--record", "x"])
    _, err = capsys.readouterr()
    assert rc == 2 and "leave out --limit (the manifest has 2 utterances)" in err
    assert "x" not in engine.load_model(model).facts["evaluations"]
    assert max(len(line) for line in out.splitlines()) > 80  # piped: not cut at 80 columns


def test_many_kinds_of_input_in_one_batch(files, capsys, tmp_path):
    """Issue 10's bad-audio list: each file is transcribed or gets one line; never a traceback."""
    x = speechlike(1.0)
    ok = {
        "u8.wav": lambda p: sf.write(p, x, 16000, subtype="PCM_U8"),
        "s24.wav": lambda p: sf.write(p, x, 16000, subtype="PCM_24"),
        "s32.wav": lambda p: sf.write(p, x, 16000, subtype="PCM_32"),
        "nan.wav": lambda p: sf.write(p, np.where(np.arange(len(x)) % 97 == 0, np.nan, x),
                                      16000, subtype="FLOAT"),
        "inf.wav": lambda p: sf.write(p, np.where(np.arange(len(x)) % 89 == 0, np.inf, x),
                                      16000, subtype="DOUBLE"),
        "r8k.wav": lambda p: sf.write(p, speechlike(1.0, 8000), 8000),
        "r48k.ogg": lambda p: sf.write(p, speechlike(1.0, 48000), 48000),
        "six.wav": lambda p: sf.write(p, np.tile(x[:, None], (1, 6)), 16000),
        "silence.wav": lambda p: sf.write(p, np.zeros(16000, np.float32), 16000),
        "clipped.wav": lambda p: sf.write(p, np.clip(100 * x, -1, 1), 16000),
        "flac-named.wav": lambda p: sf.write(p, x, 16000, format="FLAC"),
        "tiny.wav": lambda p: sf.write(p, x[:10], 16000),
    }
    for name, write in ok.items():
        write(tmp_path / name)
    full = tmp_path / "full.wav"
    sf.write(full, x, 16000)
    data = full.read_bytes()
    (tmp_path / "truncated.wav").write_bytes(data[: len(data) // 2])  # readable prefix
    bad = {"header-only.wav": data[:44], "pickle.wav": b"\x80\x04\x95" + bytes(64),
           "zero-bytes.flac": b""}
    for name, raw in bad.items():
        (tmp_path / name).write_bytes(raw)
    paths = sorted(str(p) for p in tmp_path.iterdir())
    rc, out, err = _run(capsys, "--model", files["model"], *paths)
    assert rc == 1 and "Traceback" not in err
    failed = sorted(line.split(": ")[2] for line in err.splitlines() if ": error: " in line)
    assert failed == sorted(str(tmp_path / n) for n in bad)
    assert out.count("==> ") == len(paths) - len(bad)


def test_eval_by_voice_adds_up(files, capsys, tmp_path):
    """`nnasr eval --by-voice`: one row per voice; the per-voice error counts add up to the total."""
    pytest.importorskip("jiwer")
    recs = [{"audio_filepath": files["good"], "text": "turn on the light", "duration": 3.0, "voice": "a"},
            {"audio_filepath": files["stereo"], "text": "what time is it", "duration": 2.0, "voice": "b"},
            {"audio_filepath": files["good"], "text": "stop", "duration": 3.0, "voice": "a"}]
    man = tmp_path / "m.jsonl"
    man.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out_json = tmp_path / "r.json"
    rc = main(["eval", "--model", files["model"], "--manifest", str(man), "--by-voice", "--json", str(out_json)])
    out, _ = capsys.readouterr()
    assert rc == 0
    d = json.loads(out_json.read_text())
    assert set(d["by_voice"]) == {"a", "b"}
    assert {v: c["utterances"] for v, c in d["by_voice"].items()} == {"a": 2, "b": 1}
    for k in ("substitutions", "deletions", "insertions", "ref_words"):
        assert sum(c[k] for c in d["by_voice"].values()) == d[k]
    assert re.search(r"^\s+a\s+WER", out, re.M) and re.search(r"^\s+b\s+WER", out, re.M)


def test_cer_counts_characters_of_the_normalized_texts():
    """One wrong letter is one word error of three but one character error of eleven; the
    normalization (case, digits, punctuation) applies to CER as to WER."""
    pytest.importorskip("jiwer")
    from trainer.evaluate import wer_counts

    c = wer_counts(["The cat sat."], ["the kat sat"])
    assert c["wer"] == pytest.approx(1 / 3) and c["cer"] == pytest.approx(1 / 11)
    c = wer_counts(["call 2 people", "stop"], ["call two people", ""])
    assert c["wer"] == pytest.approx(1 / 4) and c["cer"] == pytest.approx(4 / (15 + 4))


# --- standard input: read as it arrives, each utterance written as it ends ----------------
DEMO = "assets/audio/demo.flac"


def _readline(proc, timeout: float) -> str:
    """One line of the process's stdout, or "" if none came within ``timeout`` seconds."""
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().decode() if ready else ""


def test_stdin_writes_each_utterance_as_it_ends():
    """`arecord ... | nnasr transcribe --raw 16000 -` with the shipped default model: the first
    utterance's line comes while standard input is still open (after the silence that ends
    it), equal to what the file gives; the second comes when the input ends (its words
    may differ: the encoder goes on from the state the first utterance left)."""
    import subprocess
    import sys

    from app import models as M
    from app.transcription import transcribe_file
    from engine import Recognizer

    pcm = sf.read(DEMO, dtype="int16")[0]
    expected = transcribe_file(Recognizer(M.load(M.resolve(None)), beam=4), DEMO).text
    assert expected
    proc = subprocess.Popen([sys.executable, "-m", "app", "transcribe", "-q", "--raw", "16000", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(pcm.tobytes() + np.zeros(int(2.0 * 16000), np.int16).tobytes())
        proc.stdin.flush()
        first = _readline(proc, 120)
        assert first == expected + "\n"
        assert proc.poll() is None  # still listening
        proc.stdin.write(pcm.tobytes())
        proc.stdin.close()
        rest = proc.stdout.read().decode()
        assert proc.wait(60) == 0, proc.stderr.read().decode()
    finally:
        proc.kill()
    assert rest.endswith("\n") and rest.strip() and "\n" not in rest.strip()


def test_stdin_wav_and_formats_match_the_file(tmp_path, monkeypatch, capsys):
    """A WAV stream on standard input gives the file's transcript: text, JSON lines with the
    file's segments and words, and SRT/VTT cues with the file's text and times."""
    import io

    wav = tmp_path / "demo.wav"
    sf.write(wav, sf.read(DEMO, dtype="int16")[0], 16000, subtype="PCM_16")
    outs = {}
    for fmt in ("text", "json", "srt", "vtt"):
        for src in ("-", str(wav)):
            if src == "-":
                stdin = open(wav, "rb")  # noqa: SIM115  (a real descriptor, as a pipe gives)
                monkeypatch.setattr("sys.stdin", io.TextIOWrapper(stdin))
            assert main(["transcribe", "-q", "-f", fmt, src]) == 0
            outs[fmt, src] = capsys.readouterr().out
    for fmt in ("text", "srt", "vtt"):
        assert outs[fmt, "-"] == outs[fmt, str(wav)], fmt
    doc = json.loads(outs["json", str(wav)])
    lines = [json.loads(x) for x in outs["json", "-"].splitlines()]
    assert [{k: s[k] for k in ("text", "start", "end")} for s in lines] == doc["segments"]
    assert [w for s in lines for w in s["words"]] == doc["words"]


def test_stdin_partials_grow_into_the_final(tmp_path, monkeypatch, capsys):
    """`--partials`: JSON lines {"partial": ...} as the words come, each different from the
    one before, ending in the utterance's segment line with the same words; refused where
    there is no stream of JSON lines to put them in."""
    import io

    wav = tmp_path / "demo.wav"
    sf.write(wav, sf.read(DEMO, dtype="int16")[0], 16000, subtype="PCM_16")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(open(wav, "rb")))  # noqa: SIM115
    assert main(["transcribe", "-q", "-f", "json", "--partials", "-"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    partials = [x["partial"] for x in lines if "partial" in x]
    assert len(partials) > 5 and all(a != b for a, b in zip(partials, partials[1:]))
    assert "text" in lines[-1] and all("partial" in x for x in lines[:-1])
    assert partials[-1].split()[:3] == lines[-1]["text"].split()[:3]
    assert main(["transcribe", "-q", "--partials", "-"]) == 2
    assert main(["transcribe", "-q", "-f", "json", "--partials", str(wav)]) == 2
    assert capsys.readouterr().err.count("--partials is for standard input (-) with -f json") == 2


def test_segment_writer_equals_render_on_separate_segments():
    """Written segment by segment, a transcript whose segments do not overlap gives the same
    SRT and WebVTT as rendered whole (cues keep counting across segments), and its text a
    line per segment where the whole file's is one line."""
    from app.transcription import Segment, SegmentWriter, Transcript, render

    words = [{"word": f"w{i}", "start": 0.3 * i, "end": 0.3 * i + 0.2} for i in range(15)]
    segs = [Segment("a b", 0.5, 1.2, []), Segment(" ".join(w["word"] for w in words),
                                                   3.0, 7.4, [{**w, "start": w["start"] + 3, "end": w["end"] + 3}
                                                              for w in words]),
            Segment("c", 9.0, 9.1, [{"word": "c", "start": 9.0, "end": 9.1}])]
    t = Transcript("x", "m", segs, 10.0, [], [])
    for fmt in ("srt", "vtt"):
        w = SegmentWriter(fmt)
        assert w.header() + "".join(w.segment(s) for s in segs) == render(t, fmt), fmt
    lines = "".join(SegmentWriter("text").segment(s) for s in segs)
    assert lines.splitlines() == [s.text for s in segs] and " ".join(lines.split()) + "\n" == render(t, "text")
    assert render(t, "srt").count("-->") == 4  # the 15 words are two cues


def test_stdin_errors_are_one_line(monkeypatch, capsys):
    import io
    import os

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BufferedReader(io.FileIO(os.devnull))))
    assert main(["transcribe", "-q", "-", "-"]) == 2
    assert "standard input (-) can be read once only" in capsys.readouterr().err
    assert main(["transcribe", "-q", "--raw", "100", "-"]) == 2
    assert "--raw 100: a sample rate from" in capsys.readouterr().err
    assert main(["transcribe", "-q", "--raw", "16000", "-"]) == 1
    err = capsys.readouterr().err
    assert "nnasr transcribe: error: standard input: contains no audio samples" in err


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG"])
def test_raw_on_a_file_with_a_header_is_refused(fmt, files, tmp_path, capsys):
    """--raw on a file that has a header would decode its header and samples as noise (it gave
    an empty transcript and exit 0): one line that says so; the same file without it works."""
    p = tmp_path / f"x.{fmt.lower()}"
    sf.write(p, speechlike(1.0), 16000, format=fmt)
    assert main(["transcribe", "-q", "--model", files["model"], "--raw", "16000", str(p)]) == 1
    err = capsys.readouterr().err
    assert f"{p}: a {'Ogg' if fmt == 'OGG' else fmt} file, not headerless PCM: leave out --raw" in err
    assert main(["transcribe", "-q", "--model", files["model"], str(p)]) == 0



@pytest.mark.parametrize("fmt", ["FLAC", "MP3", "OGG"])
def test_stdin_compressed_formats_match_the_file(fmt, tmp_path, monkeypatch, capfd):
    """FLAC and MP3 on standard input (libsndfile seeks in them: through a pipe FLAC failed and
    MP3 came out garbled) give the file's transcript; Ogg streams as WAV does."""
    import io
    import os
    import threading

    f = tmp_path / f"demo.{fmt.lower()}"
    sf.write(f, sf.read(DEMO)[0], 16000, format=fmt)
    r, w = os.pipe()  # a real pipe, as `cat demo.flac | nnasr transcribe -` gives

    def feed():
        with open(w, "wb") as out:
            out.write(f.read_bytes())

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(open(r, "rb")))  # noqa: SIM115
    assert main(["transcribe", "-q", "-"]) == 0
    t.join(10)
    piped = capfd.readouterr()  # the file descriptors: libmpg123 writes to fd 2 itself
    assert main(["transcribe", "-q", str(f)]) == 0
    assert piped.out == capfd.readouterr().out and piped.out.strip()
    assert "mpg123" not in piped.err

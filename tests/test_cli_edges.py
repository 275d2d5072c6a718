"""What a user types wrong, or slightly differently, in the everyday commands: one clear line
(or argparse's usage error), never a traceback, a silent default or a wrong figure."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from helpers import make_random_model, speechlike

from app.cli import main


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("edges")
    model = make_random_model(d / "tiny.nnasr", hidden=8, layers=1, reduce_after=0, vocab_size=30)
    wav = d / "a.wav"
    sf.write(wav, speechlike(1.0), 16000)
    man = d / "m.jsonl"
    man.write_text(json.dumps({"audio_filepath": str(wav), "text": "hello there", "duration": 1.0}) + "\n")
    return {"dir": d, "model": model, "wav": wav, "manifest": man}


def _error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines, err
    return lines[-1]


def test_eval_refuses_an_empty_manifest(setup, capsys, tmp_path):
    """0 utterances used to score 0 % WER, and --record stored it in the model file."""
    pytest.importorskip("jiwer")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    model = tmp_path / "m.nnasr"
    shutil.copy(setup["model"], model)
    before = model.read_bytes()
    rc = main(["eval", "--model", str(model), "--manifest", str(empty), "--record", "dev"])
    assert rc == 2 and "manifest has no entries" in _error_line(capsys)
    assert model.read_bytes() == before


def test_eval_json_on_stdout_is_json_alone(setup, capsys):
    pytest.importorskip("jiwer")
    rc = main(["eval", "--model", str(setup["model"]), "--manifest", str(setup["manifest"]), "--no-vad",
               "--json", "-"])
    out, err = capsys.readouterr()
    assert rc == 0
    d = json.loads(out)  # the whole of stdout
    assert d["utterances"] == 1 and "WER" in err


def test_eval_reads_a_manifest_without_durations(setup, capsys, tmp_path):
    """A user's own manifest may give only the audio and its text: the duration comes from
    the file's header; a manifest that is not text (an audio file) is one line."""
    pytest.importorskip("jiwer")
    man = tmp_path / "mine.jsonl"
    man.write_text(json.dumps({"audio_filepath": str(setup["wav"]), "text": "hello there"}) + "\n")
    rc = main(["eval", "--model", str(setup["model"]), "--manifest", str(man), "--no-vad", "--json", "-"])
    out, _ = capsys.readouterr()
    assert rc == 0 and json.loads(out)["audio_seconds"] == pytest.approx(1.0, abs=0.01)
    rc = main(["eval", "--model", str(setup["model"]), "--manifest", str(setup["wav"])])
    assert rc == 2 and "not a text file of JSON lines" in _error_line(capsys)


@pytest.mark.parametrize("cmd,flag,value", [
    (cmd, flag, value)
    for cmd in ("eval", "compare", "cost", "transcribe")
    for flag, value in (("--beam", "0"), ("--chunk-ms", "-160"), ("--limit", "0"), ("--limit", "-1"),
                        ("--beam", "two"))
    if not (cmd == "transcribe" and flag == "--limit")])  # transcribe has no --limit
def test_counts_below_one_are_usage_errors(setup, capsys, cmd, flag, value):
    """--limit 0 used to evaluate everything and --limit -1 all but the last; --beam 0 was a
    traceback in eval."""
    args = {"eval": ["eval", "--model", str(setup["model"]), "--manifest", str(setup["manifest"])],
            "compare": ["compare", "--models", str(setup["model"]), "--manifest", str(setup["manifest"])],
            "cost": ["cost", "--models", str(setup["model"]), "--manifest", str(setup["manifest"])],
            "transcribe": ["transcribe", "--model", str(setup["model"]), str(setup["wav"])]}[cmd]
    with pytest.raises(SystemExit) as e:
        main(args + [flag, value])
    assert e.value.code == 2
    line = _error_line(capsys)
    assert f"argument {flag}" in line and ("at least 1" in line or "not a whole number" in line)


def test_cost_refuses_a_mistyped_switch_or_a_fraction_of_a_byte(setup, capsys):
    """`--set zwc_enabled=treu` used to turn compression off without a word."""
    for what, want in (("zwc_enabled=treu", "not true or false"), ("sram_bytes=1.5", "not a whole number"),
                       ("drop_dead_channels=maybe", "not true or false")):
        rc = main(["cost", "--models", str(setup["model"]), str(setup["wav"]), "--set", what])
        assert rc == 2 and want in _error_line(capsys)
    rc = main(["cost", "--models", str(setup["model"]), str(setup["wav"]), "--json", "--set",
               "skip_zero_macs=Yes", "sram_bytes=1e6"])
    out, _ = capsys.readouterr()
    assert rc == 0
    assert json.loads(out)[0]["sram_bytes"] == 1_000_000
    # an audio file after --set (which takes every word after it) is decoded, not refused
    rc = main(["cost", "--models", str(setup["model"]), "--json", "--set", "sram_bytes=1e6", str(setup["wav"])])
    out, _ = capsys.readouterr()
    assert rc == 0 and json.loads(out)[0]["files"] == 1 and json.loads(out)[0]["sram_bytes"] == 1_000_000
    assert main(["cost", "--set", "sram"]) == 2 and "`--set help` lists the fields" in _error_line(capsys)
    assert main(["cost", "--set", "help"]) == 0
    out, _ = capsys.readouterr()
    assert "sram_bytes=524288" in out and "macs_per_cycle=256" in out and "weight_bits" not in out


def test_a_model_copied_under_another_name_is_listed_by_the_name_to_type(setup, capsys, tmp_path, monkeypatch):
    d = tmp_path / "models"
    d.mkdir()
    shipped = Path(__file__).resolve().parents[1] / "assets" / "models" / "aat-w4.nnasr"
    if not shipped.exists():
        pytest.skip("no shipped model")
    shutil.copy(shipped, d / "mine.nnasr")  # a model whose file stores its name, aat-w4
    monkeypatch.setenv("NNASR_MODEL_DIR", str(d))
    rc = main(["models", "--json", str(d / "mine.nnasr")])
    out, _ = capsys.readouterr()
    row = json.loads(out)[0]
    assert rc == 0 and row["name"] == "mine" and row["stored_name"] == "aat-w4"  # `--model mine` finds it
    rc = main(["models", str(d / "mine.nnasr")])
    out, _ = capsys.readouterr()
    assert rc == 0 and "mine (aat-w4)" in out
    # a directory: its model files
    rc = main(["models", "--json", str(d)])
    out, _ = capsys.readouterr()
    assert rc == 0 and [r["name"] for r in json.loads(out)] == ["mine"]
    (d / "empty").mkdir()
    rc = main(["models", str(d / "empty")])
    assert rc == 1 and "no .nnasr model files" in capsys.readouterr().err


def test_export_says_what_is_wrong(setup, capsys):
    pytest.importorskip("torch")
    rc = main(["export", str(setup["model"]), "--out", str(setup["dir"] / "x.nnasr")])
    assert rc == 2 and "an exported engine model already" in _error_line(capsys)
    ckpt = Path(__file__).resolve().parents[1] / "assets" / "checkpoints" / "float.pt"
    if ckpt.exists():
        rc = main(["export", str(ckpt), "--out", str(setup["dir"] / "x.nnasr"), "--weight-bits", "3"])
        assert rc == 2 and "weight_bits must be 4..8" in _error_line(capsys)


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_a_file_that_is_not_there_is_named_in_words(setup, capsys, tmp_path, what):
    """A missing manifest, hotwords or text file, or a directory in its place: one line in
    words, as every command says it (it was Python's "[Errno 2] No such file or directory")."""
    path = str(tmp_path / "nope.jsonl") if what == "missing" else str(tmp_path)
    m = str(setup["model"])
    manifest_says = "no such manifest" if what == "missing" else "is a directory, not a manifest"
    for argv, says in ((["eval", "--model", m, "--manifest", path], manifest_says),
                       (["compare", "-q", "--models", m, "--manifest", path], manifest_says),
                       (["cost", "--models", m, "--manifest", path], manifest_says),
                       (["transcribe", "--model", m, "--hotwords", path, str(setup["wav"])],
                        "cannot read the hotwords file"),
                       (["lm", "--model", m, "--no-pool", "--text", path, "--out", str(tmp_path / "x.lm")],
                        "cannot read the text file")):
        assert main(argv) == 2, argv
        line = _error_line(capsys)
        assert f"{path}: {says}" in line or f"{says} {path}" in line, line
        assert "Errno" not in line


@pytest.mark.parametrize("item, says", [
    ("lr=abc", "lr='abc': not a number (now "),
    ("enc_layers=2.5", "enc_layers='2.5': not a whole number (now "),
    ("amp=treu", "amp='treu': not true or false (true/false, yes/no, on/off, 1/0)"),  # was False, silently
    ("nope=1", "unknown config key 'nope'"),
    ("steps=-5", "steps=-5 (0 or more)"),  # trained nothing and wrote a checkpoint
    ("max_frames=0", "max_frames=0 (frames per batch, more than 0)"),
])
def test_train_set_names_the_field_it_cannot_take(capsys, tmp_path, item, says):
    pytest.importorskip("torch")
    assert main(["train", "--out", str(tmp_path / "run"), "--set", item]) == 2
    assert says in _error_line(capsys)


def test_train_set_takes_the_words_for_true_and_false():
    pytest.importorskip("torch")
    from trainer.config import TrainConfig, parse_overrides

    for word, want in (("off", False), ("No", False), ("0", False), ("on", True), ("TRUE", True)):
        assert parse_overrides(TrainConfig(), [f"amp={word}"]).amp is want


def test_train_says_where_its_work_went_on_ctrl_c_and_refuses_a_model_file(tmp_path, capsys, monkeypatch):
    """Ctrl-C saves and says so, with the command that continues (it used to print only
    "interrupted"); export finds the run's corpus by itself; --init with an engine model file
    says what it is (it said "refused: ... Python objects other than tensors"); repeated --set
    options add up."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pytest.importorskip("torch")
    from helpers import make_tiny_corpus

    corpus = make_tiny_corpus(tmp_path / "c", ["turn on the light", "stop", "yes please"])
    out = tmp_path / "run"
    tiny = ["enc_hidden=32", "enc_layers=2", "pred_hidden=32", "pred_embed=16", "joiner_dim=32", "warmup=5",
            "log_every=1", "eval_every=0", "threads=1"]
    proc = subprocess.Popen([sys.executable, "-m", "app", "train", "--data", str(corpus), "--out", str(out),
                             "--steps", "100000", "--no-progress", "--set", *tiny[:5], "--set", *tiny[5:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in proc.stdout:  # the second --set was not dropped: log_every=1 logs every step
            if line.startswith("step 3 "):
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    m = re.search(r"interrupted at step (\d+); checkpoint (\S+) \(continue: nnasr train --out \S+ --resume\)", err)
    assert m and Path(m.group(2)) == out / "last.pt" and (out / "last.pt").exists(), err
    from trainer.checkpoint import load_checkpoint

    assert load_checkpoint(out / "last.pt")["step"] == int(m.group(1)) >= 3
    # --resume with changes: it says what they are, and the run goes on
    step = int(m.group(1))
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--steps", str(step + 1), "--no-progress",
                 "--set", "lr=1e-4"]) == 0
    err = capsys.readouterr().err
    assert f"--resume: changed from the run's own config: steps 100000 -> {step + 1}, lr 0.0015 -> 0.0001" in err
    assert load_checkpoint(out / "last.pt")["step"] == step + 1
    # export (and eval of a .pt) calibrate on the corpus the run trained on, without --data
    monkeypatch.chdir(tmp_path)  # no data/corpus here
    assert main(["export", str(out / "last.pt"), "--out", "x.nnasr", "--calib", "2"]) == 0
    assert (tmp_path / "x.nnasr").exists()
    model = Path(__file__).resolve().parents[1] / "assets" / "models" / "aat.nnasr"
    if model.exists():
        assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "x"), "--init", str(model),
                     "--steps", "1"]) == 2
        assert "an engine model file (safetensors), not a training checkpoint" in _error_line(capsys)

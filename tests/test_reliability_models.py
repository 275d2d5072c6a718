"""Issue 10, bad models: truncated, tampered, wrong version, pickles and torch checkpoints
passed as models give one line and a non-zero exit in every command that loads models
(`transcribe`, `eval`, `models`, `export`); nothing in the product unpickles untrusted data."""

from __future__ import annotations

import ast
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import make_random_model, rewrite_model_file, speechlike

from app.cli import main

ROOT = Path(__file__).resolve().parent.parent
MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / f"nnasr-pwned-{os.getpid()}"


class Evil:
    """Unpickling this runs code: it creates MARKER."""

    def __reduce__(self):
        return (Path.touch, (MARKER,))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad-models")
    good = make_random_model(d / "good.nnasr", hidden=8, layers=1, reduce_after=0, vocab_size=30)
    data = good.read_bytes()
    bad = {}

    def put(name, raw):
        (d / name).write_bytes(raw)
        bad[name] = d / name

    put("truncated.nnasr", data[: len(data) // 2])
    put("empty.nnasr", b"")
    put("text.nnasr", b"not a model at all, just some words\n")
    put("pickle.nnasr", pickle.dumps({"weights": [1, 2, 3]}))
    put("evil-pickle.nnasr", pickle.dumps(Evil()))

    def set_(*keys, value):
        def fn(m):
            for k in keys[:-1]:
                m = m[k]
            m[keys[-1]] = value
        return fn

    def codes(t):
        t["enc.0.wx"] = np.full_like(t["enc.0.wx"], 127)

    bad["shape.nnasr"] = rewrite_model_file(good, d / "shape.nnasr",
                                 tensors_fn=lambda t: t.__setitem__("join.out.w", t["join.out.w"][:, :-1].copy()))
    bad["dtype.nnasr"] = rewrite_model_file(good, d / "dtype.nnasr",
                                 tensors_fn=lambda t: t.__setitem__("enc.0.wh", t["enc.0.wh"].astype(np.float32)))
    bad["codes-4bit.nnasr"] = rewrite_model_file(good, d / "codes-4bit.nnasr", meta_fn=set_("spec", "weight_bits", value=4))
    bad["codes.nnasr"] = rewrite_model_file(good, d / "codes.nnasr", tensors_fn=codes,
                                 meta_fn=set_("spec", "weight_bits", value=6))
    bad["version.nnasr"] = rewrite_model_file(good, d / "version.nnasr", meta_fn=set_("format_version", value=99))
    bad["huge-arch.nnasr"] = rewrite_model_file(good, d / "huge-arch.nnasr", meta_fn=set_("arch", "enc_hidden", value=10**9))
    try:
        import torch

        torch.save({"model": {"w": torch.zeros(3)}, "step": 1}, d / "checkpoint.nnasr")
        bad["checkpoint.nnasr"] = d / "checkpoint.nnasr"
    except ImportError:
        pass
    wav = d / "a.wav"
    sf.write(wav, speechlike(1.0), 16000)
    manifest = d / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": str(wav), "text": "hello", "duration": 1.0}) + "\n")
    return {"dir": d, "good": good, "bad": bad, "wav": wav, "manifest": manifest}


EXPECT = {
    "truncated.nnasr": "truncated or corrupt",
    "empty.nnasr": "too short",
    "text.nnasr": "not an nnasr model file",
    "pickle.nnasr": "Python pickle; model files never contain pickle",
    "evil-pickle.nnasr": "Python pickle; model files never contain pickle",
    "shape.nnasr": "tensor join.out.w has shape",
    "dtype.nnasr": "tensor enc.0.wh has dtype float32, expected int8",
    "codes-4bit.nnasr": "codes outside ±7 (4-bit weights)",
    "codes.nnasr": "codes outside ±31 (6-bit weights)",
    "version.nnasr": "model format version 99, this engine reads versions 1, 2",
    "huge-arch.nnasr": "invalid architecture (enc_hidden=1000000000)",
    "checkpoint.nnasr": "PyTorch checkpoint: export it with `nnasr export`",
}


def _one_error_line(err: str, cmd: str, path: Path, want: str) -> None:
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"nnasr {cmd}: error: {path}: "), lines[0]
    assert want in lines[0], lines[0]


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_transcribe_with_bad_model(setup, capsys, name):
    if name not in setup["bad"]:
        pytest.skip("torch is not installed")
    path = setup["bad"][name]
    rc = main(["transcribe", "-q", "--model", str(path), str(setup["wav"])])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    _one_error_line(err, "transcribe", path, EXPECT[name])
    assert not MARKER.exists()


def test_eval_with_bad_model(setup, capsys):
    pytest.importorskip("jiwer")
    for name in ("truncated.nnasr", "evil-pickle.nnasr", "version.nnasr"):
        path = setup["bad"][name]
        rc = main(["eval", "--model", str(path), "--manifest", str(setup["manifest"])])
        _, err = capsys.readouterr()
        assert rc == 2
        _one_error_line(err, "eval", path, EXPECT[name])
    assert not MARKER.exists()


def test_eval_with_bad_audio_in_manifest(setup, capsys, tmp_path):
    pytest.importorskip("jiwer")
    png = tmp_path / "picture.wav"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    man = tmp_path / "m.jsonl"
    man.write_text(json.dumps({"audio_filepath": str(png), "text": "hi", "duration": 1.0}) + "\n")
    rc = main(["eval", "--model", str(setup["good"]), "--manifest", str(man)])
    _, err = capsys.readouterr()
    assert rc == 2 and "Traceback" not in err and err.count("\n") == 1
    assert f"{png}: not a readable audio file" in err and "PNG image" in err


def test_models_lists_bad_files_as_invalid(setup, capsys, monkeypatch):
    monkeypatch.setenv("NNASR_MODEL_DIR", str(setup["dir"]))
    monkeypatch.setenv("COLUMNS", "200")
    rc = main(["models"])
    out, err = capsys.readouterr()
    assert rc == 1 and "Traceback" not in err
    assert "good" in out and "all on NNA" in out
    names = sorted(p.stem for p in setup["bad"].values())
    for stem in names:
        assert f"{stem} (invalid)" in out, stem
    errs = err.splitlines()
    assert len(errs) == len(names) and all(x.startswith("nnasr models: error: ") for x in errs)
    rc = main(["models", "--json"])
    out, err = capsys.readouterr()
    listed = [m["name"] for m in json.loads(out)]  # shipped models may be listed too
    assert rc == 1 and "good" in listed and not set(names) & set(listed)
    assert not MARKER.exists()


def test_checkpoints_load_weights_only(setup, capsys, tmp_path):
    """A pickle with code in it, named as a checkpoint, is refused by torch's weights-only
    loader; a torch file that is not an nnasr checkpoint gets one line, not a KeyError."""
    torch = pytest.importorskip("torch")
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(Evil()))
    evil_zip = tmp_path / "evil-zip.pt"
    torch.save(Evil(), evil_zip)
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(3)}, plain)
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    refused = "refused: not an nnasr checkpoint; it holds Python objects other than tensors"
    for path, want in ((evil, refused), (evil_zip, refused + ", and checkpoints are only read with "
                                         "torch.load(weights_only=True) (Unsupported global"),
                       (plain, "not an nnasr training checkpoint"), (tensor, "not an nnasr training checkpoint")):
        rc = main(["export", str(path), "--out", str(tmp_path / "x.nnasr")])
        _, err = capsys.readouterr()
        assert rc == 2 and "Traceback" not in err and err.startswith(f"nnasr export: error: {path}: ")
        assert err.count("\n") == 1 and want in err, err
    assert not MARKER.exists()
    assert not (tmp_path / "x.nnasr").exists()


# --- static check: how the product reads files -------------------------------------------
def _product_sources():
    for top in ("app", "engine", "trainer"):
        yield from sorted((ROOT / top).rglob("*.py"))


def test_nothing_unpickles_untrusted_data():
    """No pickle/marshal/shelve/dill/joblib loads; torch.load only with weights_only=True;
    np.load never with allow_pickle=True; yaml only safe_load."""
    problems = []
    for path in _product_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for m in mods:
                    if m.split(".")[0] in ("pickle", "cPickle", "dill", "joblib", "marshal", "shelve",
                                           "cloudpickle"):
                        problems.append(f"{path}:{node.lineno}: imports {m}")
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = (f"{getattr(f.value, 'id', '?')}.{f.attr}" if isinstance(f, ast.Attribute)
                    else getattr(f, "id", ""))
            kw = {k.arg: k.value for k in node.keywords}
            if name == "torch.load":
                v = kw.get("weights_only")
                if not (isinstance(v, ast.Constant) and v.value is True):
                    problems.append(f"{path}:{node.lineno}: torch.load without weights_only=True")
            if name in ("np.load", "numpy.load"):
                v = kw.get("allow_pickle")
                if v is not None and not (isinstance(v, ast.Constant) and v.value is False):
                    problems.append(f"{path}:{node.lineno}: np.load with allow_pickle")
            if name in ("yaml.load", "yaml.unsafe_load", "pd.read_pickle", "pandas.read_pickle"):
                problems.append(f"{path}:{node.lineno}: {name}")
    assert not problems, "\n".join(problems)


def test_np_load_default_refuses_pickles(tmp_path):
    """The one np.load in the product (trainer/dataset.py, its own feature cache) uses the
    default allow_pickle=False: an object array planted in the cache is refused."""
    p = tmp_path / "feats.npy"
    np.save(p, np.array([Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle|Python objects"):
        np.load(p, mmap_mode="r")
    with pytest.raises(ValueError, match="allow_pickle"):
        np.load(p)
    assert not MARKER.exists()


@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence")  # torch, on tensor["key"]
def test_train_refuses_bad_checkpoints(tmp_path, capsys):
    """`nnasr train --resume` / `--init` with a planted pickle or a foreign torch file: one
    line, exit 2, nothing executed."""
    torch = pytest.importorskip("torch")
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(pickle.dumps(Evil()))
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(3)}, plain)
    cases = [(["--out", str(run), "--resume"], run / "last.pt", "refused: not an nnasr checkpoint"),
             (["--out", str(tmp_path / "a"), "--init", str(tensor)], tensor, "not an nnasr training checkpoint"),
             (["--out", str(tmp_path / "b"), "--init", str(plain)], plain, "not an nnasr training checkpoint")]
    for argv, path, want in cases:
        rc = main(["train", "--data", str(tmp_path), "--steps", "1", "--no-progress", *argv])
        _, err = capsys.readouterr()
        assert rc == 2 and "Traceback" not in err, err
        line = [x for x in err.splitlines() if x.startswith("nnasr train: error: ")]
        assert len(line) == 1 and line[0].startswith(f"nnasr train: error: {path}: ") and want in line[0], err
    assert not MARKER.exists()

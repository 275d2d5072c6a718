"""Trainer behaviour: overfitting, resume after kill, export round trip, AAT parity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchaudio")

from helpers import make_tiny_corpus, tokenizer_proto  # noqa: E402

TINY = ["enc_hidden=64", "enc_layers=2", "pred_hidden=64", "pred_embed=32", "joiner_dim=64",
        "specaug=false", "warmup=20", "lr=3e-3", "log_every=50"]
SENTENCES = ["turn on the light", "what time is it", "play some music", "stop", "yes please"]


def _train(tmp, out, *extra, steps=400, sets=()):
    from app.cli import main

    args = ["train", "--data", str(tmp), "--out", str(out), "--steps", str(steps), "--no-progress",
            *extra, "--set", *TINY, f"eval_every={steps}", *sets]
    assert main(args) == 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("corpus"), SENTENCES)


@pytest.fixture(scope="module")
def float_run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("float")
    _train(corpus, out, steps=450)
    return out


def test_tiny_model_overfits_to_wer_zero(float_run):
    hist = json.loads((float_run / "history.json").read_text())
    devs = [h for h in hist if "dev_wer" in h]
    assert devs and devs[-1]["dev_wer"] == 0.0, devs
    # the best evaluation's weights are kept apart from last.pt, without optimizer state
    best = torch.load(float_run / "best.pt", map_location="cpu", weights_only=False)
    assert "optimizer" not in best and best["best_dev_wer"] == 0.0
    assert best["step"] == min(devs, key=lambda h: h["dev_wer"])["step"]
    last = torch.load(float_run / "last.pt", map_location="cpu", weights_only=False)
    assert last["best_dev_wer"] == 0.0


def _decode_all(corpus, model_file, mode="placed"):
    import engine
    from engine.audio import load_audio
    from trainer.data.manifest import read_manifest

    m = engine.load_model(model_file)
    # vad=False: every frame decoded, as torch's greedy decode does (the parity this checks)
    rec = engine.Recognizer(m, mode=mode, endpoint=engine.EndpointConfig(enabled=False), vad=False)
    out = []
    for r in read_manifest(corpus / "dev.jsonl"):
        s = rec.create_stream()
        s.accept_waveform(load_audio(r["audio_filepath"]), 16000)
        s.input_finished()
        out.append([i for f in s.finals for i in f.token_ids])
    return out


def _torch_decode_all(corpus, model):
    from engine.audio import load_audio
    from engine.frontend import compute_features
    from trainer.data.manifest import read_manifest
    from trainer.decode import greedy_decode

    return [greedy_decode(model, torch.from_numpy(compute_features(load_audio(r["audio_filepath"]), model.frontend)))
            for r in read_manifest(corpus / "dev.jsonl")]


def test_export_load_decode_round_trip(float_run, corpus, tmp_path):
    from app.cli import main
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    out = tmp_path / "m.nnasr"
    assert main(["export", str(float_run / "last.pt"), "--out", str(out), "--data", str(corpus)]) == 0
    model = model_from_checkpoint(load_checkpoint(float_run / "last.pt")).eval()
    ref = _torch_decode_all(corpus, model)
    # the engine's float reference reproduces the torch model token for token
    assert _decode_all(corpus, out, mode="float") == ref
    # and the integer (PTQ) execution decodes something close
    assert sum(len(x) for x in _decode_all(corpus, out)) > 0


def test_eval_torch_mode_matches_engine_float(float_run, corpus, tmp_path, capsys):
    """`nnasr eval --mode torch` (the checkpoint's own forward) and `--mode float` (its export
    in the engine) give the same words on the same manifest: the parity users measure."""
    from app.cli import main

    ck, man = str(float_run / "last.pt"), str(corpus / "dev.jsonl")
    out = {}
    for mode in ("torch", "float"):
        js = tmp_path / f"{mode}.json"
        assert main(["eval", "--model", ck, "--manifest", man, "--mode", mode, "--data", str(corpus),
                     "--json", str(js)]) == 0
        out[mode] = json.loads(js.read_text())
        assert f"[{mode}]" in capsys.readouterr().out
    assert [u["hyp"] for u in out["torch"]["per_utterance"]] == [u["hyp"] for u in out["float"]["per_utterance"]]
    assert out["torch"]["wer"] == out["float"]["wer"]
    assert out["torch"]["utterances"] == out["float"]["utterances"] > 0
    assert main(["eval", "--model", ck, "--manifest", man, "--mode", "torch", "--beam", "4"]) == 2
    assert "greedy" in capsys.readouterr().err
    assert main(["eval", "--model", "x.nnasr", "--manifest", man, "--mode", "torch"]) == 2
    assert "checkpoint (.pt)" in capsys.readouterr().err


def test_eval_ctc_mode_decodes_the_encoder_alone(float_run, corpus, tmp_path, capsys):
    """`nnasr eval --mode ctc`: the encoder through its CTC head, no predictor. The tiny
    model trained with the CTC auxiliary loss transcribes its clips this way too; a
    checkpoint without a CTC head is refused in one line."""
    from app.cli import main
    from trainer.checkpoint import load_checkpoint, save_checkpoint

    ck, man = str(float_run / "last.pt"), str(corpus / "dev.jsonl")
    js = tmp_path / "ctc.json"
    assert main(["eval", "--model", ck, "--manifest", man, "--mode", "ctc", "--json", str(js)]) == 0
    assert "[ctc]" in capsys.readouterr().out
    res = json.loads(js.read_text())
    assert res["utterances"] > 0 and res["wer"] <= 0.2, res["per_utterance"]
    state = load_checkpoint(ck)
    state["model"] = {k: v for k, v in state["model"].items() if not k.startswith("ctc.")}
    save_checkpoint(tmp_path / "noctc.pt", state)
    assert main(["eval", "--model", str(tmp_path / "noctc.pt"), "--manifest", man, "--mode", "ctc"]) == 2
    assert "no CTC head" in capsys.readouterr().err


def _assert_aat_parity(init, corpus, tmp_path):
    """The AAT forward in torch, trained 8 steps from ``init``, and its export in the engine
    agree bit for bit on the normalized input, on nearly every encoder integer, and on the
    tokens decoded. Returns the exported file."""
    from app.cli import main
    from engine.audio import load_audio
    from engine.frontend import compute_features
    from engine.model import load_model
    from engine.network import Network
    from engine.nna.spec import NNASpec
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.data.manifest import read_manifest

    aat = tmp_path / "aat"
    _train(corpus, aat, "--init", str(init), "--aat", "--weight-bits", "6", steps=8)
    out = tmp_path / "aat.nnasr"
    assert main(["export", str(aat / "last.pt"), "--out", str(out)]) == 0
    ck = load_checkpoint(aat / "last.pt")
    model = model_from_checkpoint(ck).eval()
    model.enable_aat(NNASpec.from_dict(json.loads(ck["spec"])))
    em = load_model(out)
    assert em.spec.weight_bits == 6 and em.arch == model.arch
    total = close = 0
    assert em.frontend == model.frontend
    for r in read_manifest(corpus / "dev.jsonl"):
        f = compute_features(load_audio(r["audio_filepath"]), em.frontend)
        ft, n = torch.from_numpy(f)[None], torch.tensor([len(f)])
        with torch.no_grad():
            x_torch, _ = model.stack_frames(ft, n)
            _, _, enc_q = model.encode(ft, n)
        net = Network(em)
        x = net.normalize(f)
        k = len(x) // em.arch.stack * em.arch.stack
        assert np.array_equal(x[:k].reshape(x_torch.shape[1:]), x_torch[0].numpy())
        e, kind = net.encode(x, net.init_encoder_state())
        assert kind == "q" and e.shape == tuple(enc_q.shape[1:])
        d = np.abs(enc_q[0].numpy() - e)
        total += d.size
        close += int((d <= 1).sum())
    assert close / total >= 0.999
    assert _decode_all(corpus, out) == _torch_decode_all(corpus, model)
    return out


def test_aat_parity_trainer_equals_engine(float_run, corpus, tmp_path):
    """Contract 2: the AAT forward in torch and the exported model in the engine agree
    bit for bit on every layer's integer output, and decode identical tokens."""
    _assert_aat_parity(float_run / "last.pt", corpus, tmp_path)


def test_causal_mean_normalization_trains_exports_and_streams(float_run, corpus, tmp_path):
    """A model switched to a causal running mean (``init_cmn_window``, a window short enough
    to slide within these clips) trains, keeps contract 2 (trainer and engine agree on the
    normalized input bit for bit, and on the integers), is written as format 3, and decodes
    the same tokens whatever the chunking: the running mean carries across chunks."""
    from helpers import read_model_file

    import engine
    from engine.audio import load_audio
    from trainer.data.manifest import read_manifest

    cmn = tmp_path / "cmn"
    _train(corpus, cmn, "--init", str(float_run / "last.pt"), steps=30,
           sets=["init_cmn_window=40", "cmn_prior=15"])
    out = _assert_aat_parity(cmn / "last.pt", corpus, tmp_path)
    _, meta = read_model_file(out)
    assert meta["format_version"] == 3
    assert (meta["arch"]["cmn_window"], meta["arch"]["cmn_prior"]) == (40, 15)
    m = engine.load_model(out)
    assert m.describe()["normalization"] == "causal mean of 40 speech frames (15 of prior)"
    rec = engine.Recognizer(m, endpoint=engine.EndpointConfig(enabled=False), vad=False)
    for r in read_manifest(corpus / "dev.jsonl")[:2]:
        audio = load_audio(r["audio_filepath"])
        got = []
        for step in (len(audio), 1234, 160):
            s = rec.create_stream()
            for i in range(0, len(audio), step):
                s.accept_waveform(audio[i:i + step], 16000)
            s.input_finished()
            got.append([i for f in s.finals for i in f.token_ids])
        assert got[0] == got[1] == got[2]
    # the recognizer's speech gate, being CMN_SPEECH, hands its detector's flags to the causal
    # mean: the same normalized input, chunk by chunk, as the state's own detector gives
    from engine.frontend import compute_features
    from engine.network import Network
    from engine.vad import CMN_SPEECH, SpeechGate

    net, gate = Network(m), SpeechGate(CMN_SPEECH, m.frontend)
    f = compute_features(load_audio(read_manifest(corpus / "dev.jsonl")[0]["audio_filepath"]))
    own, shared = net.init_encoder_state(), net.init_encoder_state()
    for a in range(0, len(f), 7):
        gate.accept(f[a:a + 7])
        assert np.array_equal(net.normalize(f[a:a + 7], own), net.normalize(f[a:a + 7], shared, gate.last_speech))
    assert engine.Recognizer(m).create_stream()._gate_is_cmn


def test_a_lower_log_floor_trains_exports_and_keeps_parity(float_run, corpus, tmp_path, capsys):
    """A model moved to another front-end log floor (``init_log_floor``) trains on features
    made with it, measures its feature mean again, keeps the floor in its checkpoint, in a
    resumed run and in its model file, and keeps contract 2 (``_assert_aat_parity`` computes
    the features with the model file's front-end)."""
    from engine.audio import load_audio
    from engine.frontend import FrontendConfig, compute_features
    from engine.model import load_model
    from trainer.checkpoint import checkpoint_frontend, load_checkpoint
    from trainer.data.manifest import read_manifest

    low = tmp_path / "low"
    _train(corpus, low, "--init", str(float_run / "last.pt"), steps=20, sets=["init_log_floor=1e-10"])
    assert "log floor 1e-06 -> 1e-10" in capsys.readouterr().out
    ck, old = load_checkpoint(low / "last.pt"), load_checkpoint(float_run / "last.pt")
    assert checkpoint_frontend(ck) == FrontendConfig(log_floor=1e-10)
    assert checkpoint_frontend(old) == FrontendConfig()  # the default, for checkpoints before
    audio = load_audio(read_manifest(corpus / "dev.jsonl")[0]["audio_filepath"])
    lower = compute_features(audio, FrontendConfig(log_floor=1e-10)) < np.log(1e-6)
    assert lower.any()  # these clips have cells below the old floor: the input did change
    assert float(ck["model"]["feat_mean"].min()) < float(old["model"]["feat_mean"].min())
    from app.cli import main

    assert main(["train", "--data", str(corpus), "--out", str(low), "--resume", "--steps", "25",
                 "--no-progress"]) == 0
    assert checkpoint_frontend(load_checkpoint(low / "last.pt")).log_floor == 1e-10
    assert main(["train", "--data", str(corpus), "--out", str(low), "--resume", "--steps", "26",
                 "--no-progress", "--set", "init_log_floor=1e-8"]) == 2
    assert "cannot change to 1e-08" in capsys.readouterr().err
    out = _assert_aat_parity(low / "last.pt", corpus, tmp_path)
    assert load_model(out).frontend.log_floor == 1e-10 == load_model(out).describe()["log_floor"]


def test_a_stateless_predictor_trains_exports_and_keeps_parity(float_run, corpus, tmp_path, capsys):
    """A model whose LSTM predictor is replaced by a stateless one (``init_pred_context``)
    starts it afresh and keeps the rest, decodes in the engine's float reference what torch
    decodes, is written as format 4, and keeps contract 2 under AAT: the torch emulation's
    predictor integers equal the engine's for every context, and the tokens decoded agree."""
    from helpers import read_model_file

    from app.cli import main
    from engine.model import load_model
    from engine.network import Network
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    sl = tmp_path / "sl"
    _train(corpus, sl, "--init", str(float_run / "last.pt"), steps=40, sets=["init_pred_context=2"])
    assert ("-> stateless: embedding 32 of the last 2 tokens + linear 64 + tanh; it starts afresh"
            in capsys.readouterr().out)
    ck, old = load_checkpoint(sl / "last.pt"), load_checkpoint(float_run / "last.pt")
    assert ck["arch"]["pred_context"] == 2 and ck["model"]["pred.weight"].shape == (64, 64)
    for k in ("embed.weight", "join_pred.weight", "enc.0.weight_hh_l0"):  # kept from --init
        assert k in old["model"]
    model = model_from_checkpoint(ck).eval()
    f32 = tmp_path / "sl.nnasr"
    assert main(["export", str(sl / "last.pt"), "--out", str(f32), "--data", str(corpus)]) == 0
    ref = _torch_decode_all(corpus, model)
    assert _decode_all(corpus, f32, mode="float") == ref and sum(map(len, ref)) > 0
    _, meta = read_model_file(f32)
    assert meta["format_version"] == 4 and meta["arch"]["pred_context"] == 2
    out = _assert_aat_parity(sl / "last.pt", corpus, tmp_path)
    em = load_model(out)
    assert em.describe()["predictor"].startswith("stateless")
    aat = model_from_checkpoint(load_checkpoint(tmp_path / "aat" / "last.pt")).eval()
    from engine.nna.spec import NNASpec

    aat.enable_aat(NNASpec.from_dict(json.loads(load_checkpoint(tmp_path / "aat" / "last.pt")["spec"])))
    tokens = torch.randint(1, em.arch.num_classes, (3, 6))
    with torch.no_grad():
        _, hq = aat.predict(tokens)
    net = Network(em)
    blank = em.arch.blank_id
    for b in range(3):
        seq = [blank, blank] + tokens[b].tolist()
        got = np.stack([net._pred_out_of(tuple(seq[u:u + 2])) for u in range(7)])
        assert np.array_equal(got, hq[b].numpy())


def test_another_predictor_from_init_starts_afresh_with_its_ranges_measured_again():
    """``adapted`` to another predictor: none of the old predictor's weights is kept (a
    stateless one of another context neither: its bias has the same shape), the rest is,
    and the AAT ranges are zeroed (the logits' range was the old predictor's)."""
    from types import SimpleNamespace

    from engine.arch import Architecture
    from trainer.model import RNNT
    from trainer.surgery import adapted

    cfg = SimpleNamespace(seed=0, init_grow_scale=0.0, init_vocab="map")
    for old_ctx, new_ctx in ((0, 2), (2, 3), (2, 0)):
        a = Architecture(num_classes=12, n_mels=8, enc_hidden=16, enc_layers=2, pred_embed=8, pred_hidden=16,
                         joiner_dim=16, pred_context=old_ctx)
        torch.manual_seed(1)
        m = RNNT(a)
        m.in_scale.fill_(0.01)
        m.out_scale.fill_(0.001)
        init = {"arch": a.__dict__, "model": m.state_dict()}
        log = []
        new = adapted(init, Architecture(**{**a.__dict__, "pred_context": new_ctx}), None, cfg, log.append)
        assert float(new.in_scale) == 0 == float(new.out_scale)
        assert "starts afresh" in log[0] and "NNA ranges are measured again" in log[0]
        for k, v in new.state_dict().items():
            same = k in init["model"] and init["model"][k].shape == v.shape and torch.equal(init["model"][k], v)
            assert same == (not k.startswith("pred.") and k not in ("in_scale", "out_scale")), k


def test_a_new_model_takes_its_log_floor_from_the_start(corpus, tmp_path):
    """``log_floor`` for a new model: its features, its checkpoint and its model file have the
    floor, and the torch model and its export decode alike (contract 2 on that front-end)."""
    from app.cli import main
    from engine.model import load_model
    from trainer.checkpoint import checkpoint_frontend, load_checkpoint, model_from_checkpoint

    out = tmp_path / "new"
    _train(corpus, out, steps=30, sets=["log_floor=1e-9"])
    ck = load_checkpoint(out / "last.pt")
    assert checkpoint_frontend(ck).log_floor == 1e-9
    path = tmp_path / "new.nnasr"
    assert main(["export", str(out / "last.pt"), "--out", str(path), "--data", str(corpus)]) == 0
    m = load_model(path)
    assert m.frontend.log_floor == 1e-9
    model = model_from_checkpoint(ck).eval()
    assert _decode_all(corpus, path, mode="float") == _torch_decode_all(corpus, model)
    from engine.audio import load_audio
    from engine.frontend import compute_features
    from engine.network import Network
    from trainer.data.manifest import read_manifest

    f = compute_features(load_audio(read_manifest(corpus / "dev.jsonl")[0]["audio_filepath"]), m.frontend)
    assert (f < np.log(1e-6)).any()  # cells the default floor would take
    with torch.no_grad():
        x_torch, _ = model.stack_frames(torch.from_numpy(f)[None], torch.tensor([len(f)]))
    x = Network(m).normalize(f)
    k = len(x) // m.arch.stack * m.arch.stack
    assert np.allclose(x[:k].reshape(x_torch.shape[1:]), x_torch[0].numpy(), atol=1e-5)


def test_a_new_normalization_measures_the_nna_ranges_again(float_run):
    """Ranges calibrated on globally normalized input do not carry over to a causal mean: an
    AAT run from such a checkpoint calibrates again. The weights are kept."""
    from dataclasses import replace

    from trainer.checkpoint import load_checkpoint
    from trainer.config import TrainConfig
    from trainer.surgery import adapted, init_shape

    init = load_checkpoint(float_run / "last.pt")
    init["model"] = {**init["model"], "in_scale": torch.tensor(0.05, dtype=torch.float64),
                     "out_scale": torch.tensor(0.02, dtype=torch.float64)}
    cfg = replace(TrainConfig(), init="x.pt", init_cmn_window=100)
    arch = init_shape(init["arch"], cfg)
    assert (arch.cmn_window, arch.cmn_prior) == (100, 100)  # the prior, at most the window
    said = []
    model = adapted(init, arch, None, cfg, said.append)
    assert float(model.in_scale) == 0 and float(model.out_scale) == 0
    assert torch.equal(model.state_dict()["enc.0.weight_ih_l0"], init["model"]["enc.0.weight_ih_l0"])
    assert any("causal mean of 100 speech frames" in m and "measured again" in m for m in said), said


def test_init_options_are_refused_where_they_would_not_act(float_run, corpus, tmp_path, capsys):
    """init_cmn_window, init_log_floor or init_pred_context without --init, cmn_window,
    log_floor or pred_context with --init
    (they would be ignored: the checkpoint's shape and front-end are used), negative windows
    and floors out of range: each a one-line error, exit 2."""
    from app.cli import main

    base = ["train", "--data", str(corpus), "--out", str(tmp_path / "x"), "--steps", "1", "--no-progress"]
    init = ["--init", str(float_run / "last.pt")]
    for extra, sets, err in (([], ["init_cmn_window=600"], "cmn_window=N"),
                             (init, ["cmn_window=600"], "init_cmn_window=600"),
                             ([], ["cmn_window=-1"], "0 (the global mean)"),
                             (init, ["init_cmn_window=-5"], "0 (the global mean)"),
                             ([], ["init_log_floor=1e-10"], "log_floor=N"),
                             (init, ["log_floor=1e-10"], "init_log_floor=1e-10"),
                             ([], ["log_floor=-1"], "between 0 and 1"),
                             (init, ["init_log_floor=2"], "between 0 and 1"),
                             ([], ["init_pred_context=2"], "pred_context=N"),
                             (init, ["pred_context=2"], "init_pred_context=2"),
                             ([], ["pred_context=9"], "pred_context=9 (0: an LSTM predictor; 1..8 tokens)"),
                             (init, ["init_pred_context=-3"], "init_pred_context=-3: 0 (an LSTM"),
                             ([], ["pred_context=-1"], "pred_context=-1: 0 (an LSTM predictor) or 1..8 tokens"),
                             (init, ["init_pred_context=2", "pred_hidden=32"],
                              "pred_hidden=32: a new model's shape; the --init checkpoint keeps its own (pred_hidden=64)")):
        assert main([*base, *extra, "--set", *TINY, *sets]) == 2, sets
        assert err in capsys.readouterr().err, sets


def test_resume_refuses_to_change_the_model_it_continues(float_run, corpus, tmp_path, capsys):
    """``--resume --set`` of the architecture or of how the run started would be recorded
    and do nothing (the checkpoint's model goes on): refused with the way to do it."""
    import shutil

    from app.cli import main

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(float_run / "last.pt", run / "last.pt")
    base = ["train", "--data", str(corpus), "--out", str(run), "--resume", "--steps", "451", "--no-progress"]
    for sets, was in ((["pred_context=2"], "pred_context=0"), (["enc_hidden=99", "lr=1e-4"], "enc_hidden=64"),
                      (["init_enc_hidden=128"], "init_enc_hidden=0")):
        assert main([*base, "--set", *sets]) == 2, sets
        err = capsys.readouterr().err
        assert was in err and "cannot change in it" in err and f"--init {run}/last.pt" in err, err
    assert main([*base, "--set", "lr=1e-4", "enc_hidden=64"]) == 0  # a recipe option may change;
    # naming what the model is changes nothing


def test_resume_after_kill_continues(corpus, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "app", "train", "--data", str(corpus), "--out", str(out),
           "--steps", "100000", "--no-progress", "--set", *TINY, "save_minutes=0", "eval_every=0"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    ckpt = out / "last.pt"
    t0 = time.time()
    while time.time() - t0 < 120:
        if ckpt.exists():
            time.sleep(3)  # let it train past the first checkpoint
            break
        time.sleep(0.5)
    p.send_signal(signal.SIGKILL)
    p.wait()
    from trainer.checkpoint import load_checkpoint

    before = load_checkpoint(ckpt)
    saved = before["step"]
    assert saved > 0
    from app.cli import main

    assert main(["train", "--data", str(corpus), "--out", str(out), "--resume", "--steps", str(saved + 5),
                 "--no-progress", "--set", *TINY, "eval_every=0"]) == 0
    ck = load_checkpoint(ckpt)
    assert ck["step"] == saved + 5
    # nothing logged before the kill is lost, nothing is logged twice: the saved history is a
    # prefix of the resumed one, whose entries after it are all past the saved step
    hist, old = json.loads(ck["history"]), json.loads(before["history"])
    assert hist[: len(old)] == old
    assert all(h["step"] > saved for h in hist[len(old):])
    steps = [h["step"] for h in hist]
    assert steps == sorted(set(steps))


def test_resume_keeps_the_saved_config_and_the_rest_of_its_budget(corpus, tmp_path, capsys):
    """`--resume --set lr=...` changes the LR and nothing else (the rest comes from the
    checkpoint, not the defaults); without `--minutes` the interrupted budget goes on where
    it stopped, and a spent one trains no more; `--minutes N` is N more minutes."""
    from app.cli import main
    from trainer.checkpoint import load_checkpoint, save_checkpoint

    out = tmp_path / "run"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--minutes", "0.03", "--no-progress",
                 "--set", *TINY, "dropout=0.2", "tempo=0.05", "steps=100000", "eval_every=0"]) == 0
    ck = load_checkpoint(out / "last.pt")
    assert ck["budget_seconds"] >= 1.8 and ck["step"] > 0
    step = ck["step"]

    def saved():
        return json.loads(load_checkpoint(out / "last.pt")["config"])

    # budget spent: no --data, no --minutes; one change on top of the saved config
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--no-progress", "--set", "lr=1e-3"]) == 0
    assert "budget is spent" in capsys.readouterr().out
    cfg = saved()
    assert load_checkpoint(out / "last.pt")["step"] == step
    assert (cfg["lr"], cfg["dropout"], cfg["tempo"], cfg["enc_hidden"], cfg["data"], cfg["minutes"]) == \
        (1e-3, 0.2, 0.05, 64, str(corpus), 0.03)
    # killed with 1 s of its budget left: trains about that second more
    ck = load_checkpoint(out / "last.pt")
    ck["budget_seconds"] = 0.03 * 60 - 1.0
    save_checkpoint(out / "last.pt", ck)
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 0
    after = load_checkpoint(out / "last.pt")
    assert after["step"] > step and after["budget_seconds"] >= 0.03 * 60
    # a new budget
    assert main(["train", "--out", str(out), "--resume", "--minutes", "0.02", "--no-progress"]) == 0
    last = load_checkpoint(out / "last.pt")
    # counted from 0 again (a continued count would be past after's plus these 1.2 s); the
    # bound leaves room for the last step's overrun on a loaded machine
    assert last["step"] > after["step"] and 1.2 <= last["budget_seconds"] < after["budget_seconds"] + 1.2
    assert saved()["minutes"] == 0.02 and saved()["dropout"] == 0.2
    # --data on resume: that corpus's train.jsonl, not the manifests the run named before
    ck = load_checkpoint(out / "last.pt")
    ck["config"] = json.dumps({**json.loads(ck["config"]), "train": str(tmp_path / "gone.jsonl")})
    save_checkpoint(out / "last.pt", ck)
    assert main(["train", "--data", str(corpus), "--out", str(out), "--resume", "--steps", str(last["step"] + 2),
                 "--minutes", "5", "--no-progress"]) == 0
    assert saved()["train"] == "" and load_checkpoint(out / "last.pt")["step"] == last["step"] + 2


def test_prefetched_batches_train_the_same_weights(float_run, corpus, tmp_path):
    """`prefetch=1` builds the next batch (padding, augmentation) in a thread while the step
    runs (the default on CUDA); on the CPU both ways give bit-identical weights after
    several epochs with feature augmentation on. Two runs from scratch with the same seed
    start from the same weights."""
    from app.cli import main
    from trainer.checkpoint import load_checkpoint

    ws = []
    for on in (0, 1):
        out = tmp_path / f"p{on}"
        assert main(["train", "--data", str(corpus), "--out", str(out), "--init", str(float_run / "last.pt"),
                     "--steps", "13", "--no-progress", "--set", *TINY, "eval_every=0", "tempo=0.1", "warp=0.1",
                     "tilt=0.5", "gain_db=3", "max_frames=300", f"prefetch={on}"]) == 0
        ck = load_checkpoint(out / "last.pt")
        assert ck["step"] == 13 and ck["epoch"] >= 2 and ck["batch_in_epoch"] > 0  # several batches an epoch
        ws.append(ck["model"])
    assert ws[0].keys() == ws[1].keys()
    for k in ws[0]:
        assert torch.equal(ws[0][k], ws[1][k]), k
    for i in (0, 1):
        _train(corpus, tmp_path / f"s{i}", steps=0)
    a, b = (load_checkpoint(tmp_path / f"s{i}" / "last.pt")["model"] for i in (0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_with_another_vocabulary_keeps_the_encoder(float_run, corpus, tmp_path, capsys):
    """`--init CKPT --set tokenizer=data`: the run takes DATA's tokenizer (here 30 pieces
    against the checkpoint's 40); the encoder starts as the checkpoint's, the embedding,
    joiner output and CTC head are new and vocabulary-sized; the run trains, exports and
    resumes with the new tokenizer."""
    import shutil

    from app.cli import main
    from trainer.checkpoint import load_checkpoint, tokenizer_from_tensor

    data = tmp_path / "c30"
    shutil.copytree(corpus, data, ignore=shutil.ignore_patterns("*.cache*", "features*"))
    (data / "tokenizer.model").write_bytes(tokenizer_proto(30))
    init = load_checkpoint(float_run / "last.pt")
    out = tmp_path / "v30"
    args = ["train", "--data", str(data), "--out", str(out), "--init", str(float_run / "last.pt"),
            "--steps", "6", "--no-progress", "--set", *TINY, "eval_every=0", "tokenizer=data", "freeze=enc"]
    assert main(args) == 0
    log = capsys.readouterr().out
    assert "new vocabulary (30 pieces, was 40): embed, join_out and ctc rebuilt from the old pieces" in log
    ck = load_checkpoint(out / "last.pt")
    assert ck["arch"]["num_classes"] == 31 and ck["model"]["join_out.weight"].shape[0] == 31
    assert tokenizer_from_tensor(ck["tokenizer"]) == (data / "tokenizer.model").read_bytes()
    for k, v in init["model"].items():
        if k.startswith("enc."):
            assert torch.equal(v, ck["model"][k]), k
    assert main(["export", str(out / "last.pt"), "--out", str(tmp_path / "v30.nnasr"), "--data", str(data)]) == 0
    assert main(["train", "--out", str(out), "--resume", "--steps", "8", "--no-progress"]) == 0
    assert load_checkpoint(out / "last.pt")["step"] == 8
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "bad"), "--init", str(float_run / "last.pt"),
                 "--steps", "1", "--no-progress", "--set", "tokenizer=mine"]) == 2
    def fresh(how):
        return main(["train", "--data", str(data), "--out", str(tmp_path / how), "--init", str(float_run / "last.pt"),
                     "--steps", "1", "--no-progress", "--set", *TINY, "eval_every=0", "tokenizer=data",
                     f"init_vocab={how}"])

    capsys.readouterr()
    assert fresh("fresh") == 0
    assert "new vocabulary (30 pieces, was 40): ctc, embed, join_out start afresh" in capsys.readouterr().out
    assert fresh("zero") == 2


def test_remap_vocabulary_starts_new_pieces_from_the_old_pieces_that_spell_them():
    """A piece in both vocabularies keeps its rows wherever its id moves (a permuted vocabulary
    is the same model); a longer piece gets the output row of its first old piece, with the
    bias shared among the new pieces that start with it, and the embedding of its last; one
    the old pieces cannot spell keeps its fresh rows; the blank is kept."""
    import math

    from trainer.surgery import remap_vocabulary

    g = torch.Generator().manual_seed(0)
    old = ["<blk>", "<unk>", "\u2581the", "\u2581a", "n", "re", "s"]

    def state(n):
        return {"join_out.weight": torch.randn(n + 1, 4, generator=g), "join_out.bias": torch.randn(n + 1, generator=g),
                "ctc.weight": torch.randn(n + 1, 3, generator=g), "ctc.bias": torch.randn(n + 1, generator=g),
                "embed.weight": torch.randn(n + 1, 5, generator=g), "enc.0.weight_ih_l0": torch.randn(2, 2, generator=g)}

    src = state(len(old))
    perm = [1, 0, 4, 6, 2, 5, 3]
    out, n = remap_vocabulary(src, state(len(old)), old, [old[i] for i in perm])
    assert n == {"exact": 7, "spelled": 0, "fresh": 0}
    for k in ("join_out.weight", "join_out.bias", "ctc.weight", "ctc.bias", "embed.weight"):
        assert torch.equal(out[k][0], src[k][0])  # the blank
        assert torch.equal(out[k][1:], src[k][1:][perm])
    assert out["enc.0.weight_ih_l0"] is src["enc.0.weight_ih_l0"]
    new = ["<blk>", "<unk>", "\u2581the", "\u2581there", "\u2581thes", "\u2581an", "x"]
    fresh = state(len(new))
    out, n = remap_vocabulary(src, fresh, old, new)
    assert n == {"exact": 3, "spelled": 3, "fresh": 1}
    the, a, re, s_ = 3, 4, 6, 7  # old classes (piece id + 1)
    for j, first, last, k in ((4, the, re, 3), (5, the, s_, 3), (6, a, 5, 1)):  # new classes
        assert torch.equal(out["join_out.weight"][j], src["join_out.weight"][first])
        assert out["ctc.bias"][j] == pytest.approx(float(src["ctc.bias"][first]) - math.log(k))
        assert torch.equal(out["embed.weight"][j], src["embed.weight"][last])
    assert out["join_out.bias"][3] == pytest.approx(float(src["join_out.bias"][the]) - math.log(3))
    assert torch.equal(out["embed.weight"][7], fresh["embed.weight"][7])  # "x": no old piece spells it
    assert torch.equal(out["join_out.weight"][7], fresh["join_out.weight"][7])


def test_init_can_move_the_time_reduction_to_40_ms_frames(float_run, corpus, tmp_path, capsys):
    """`--init CKPT --set init_reduce_after=0`: the checkpoint's 80 ms encoder continues at 40 ms
    (no time reduction). The layer that read two concatenated frames starts from the sum of
    its two input-weight blocks; the other encoder weights are the checkpoint's. The run trains,
    resumes, exports, and the engine's float execution of the export decodes as torch does."""
    from app.cli import main
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    init = load_checkpoint(float_run / "last.pt")
    assert init["arch"]["reduce_after"] == 1
    out = tmp_path / "r0"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--init", str(float_run / "last.pt"),
                 "--steps", "4", "--no-progress", "--set", *TINY, "eval_every=0", "freeze=enc",
                 "init_reduce_after=0"]) == 0
    assert "encoder time reduction after layer 1 -> 0 (80 -> 40 ms encoder frames)" in capsys.readouterr().out
    ck = load_checkpoint(out / "last.pt")
    assert ck["arch"]["reduce_after"] == 0
    w = init["model"]["enc.1.weight_ih_l0"]
    h = w.shape[1] // 2
    assert torch.equal(ck["model"]["enc.1.weight_ih_l0"], w[:, :h] + w[:, h:])
    for k, v in init["model"].items():
        if k != "enc.1.weight_ih_l0" and k.startswith(("enc.", "ctc.")):
            assert torch.equal(v, ck["model"][k]), k
    assert main(["train", "--out", str(out), "--resume", "--steps", "6", "--no-progress"]) == 0
    ck = load_checkpoint(out / "last.pt")
    assert ck["step"] == 6 and ck["arch"]["reduce_after"] == 0
    m = tmp_path / "r0.nnasr"
    assert main(["export", str(out / "last.pt"), "--out", str(m), "--data", str(corpus)]) == 0
    ref = _torch_decode_all(corpus, model_from_checkpoint(ck).eval())
    assert _decode_all(corpus, m, mode="float") == ref
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "bad"), "--init", str(float_run / "last.pt"),
                 "--steps", "1", "--no-progress", "--set", "init_reduce_after=2"]) == 2
    assert "reduce_after=2" in capsys.readouterr().err
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "bad2"), "--steps", "1",
                 "--no-progress", "--set", "init_reduce_after=0"]) == 2
    assert "a new model takes reduce_after=N" in capsys.readouterr().err
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "bad3"), "--init", str(float_run / "last.pt"),
                 "--steps", "1", "--no-progress", "--set", "init_grow_scale=1"]) == 2
    assert "without init_enc_hidden=N no unit is added" in capsys.readouterr().err


def test_init_can_widen_the_encoder_without_changing_its_outputs(float_run, corpus, tmp_path, capsys):
    """`--init CKPT --set init_enc_hidden=N`: every encoder LSTM grows to N units. The grown
    model computes what the checkpoint computed (same transcripts, logits within float
    rounding), the old weights sit inside the new ones, the new units' outgoing weights start
    at zero and training moves them; the run resumes and exports, and the engine's float
    execution decodes as torch does. It combines with `init_reduce_after`; shrinking is refused."""
    from dataclasses import replace

    from app.cli import main
    from engine.model import Architecture
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.model import RNNT
    from trainer.surgery import widen_encoder

    init = load_checkpoint(float_run / "last.pt")
    old = model_from_checkpoint(init).eval()
    arch = Architecture(**init["arch"])
    h, H = arch.enc_hidden, arch.enc_hidden + 16
    grown = RNNT(replace(arch, enc_hidden=H))
    grown.load_state_dict(widen_encoder(old.state_dict(), arch, H, torch.Generator().manual_seed(0)))
    grown.eval()
    assert _torch_decode_all(corpus, grown) == _torch_decode_all(corpus, old)
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 120, arch.n_mels, generator=g) + old.feat_mean
    lens, toks, tlens = torch.tensor([120, 90]), torch.randint(1, arch.num_classes, (2, 5), generator=g), torch.tensor([5, 3])
    with torch.no_grad():
        assert torch.allclose(grown(feats, lens, toks, tlens)[0], old(feats, lens, toks, tlens)[0], atol=1e-4)
    # an intermediate CTC head (training-only) is widened too: its logits are unchanged
    old.add_inter_ctc(1)
    torch.nn.init.normal_(old.ctc_inter.out.weight, generator=g)
    grown.add_inter_ctc(1)
    grown.load_state_dict(widen_encoder(old.state_dict(), arch, H, torch.Generator().manual_seed(0)))
    with torch.no_grad():
        heads = []
        for m in (old, grown):
            m.train(False)
            m(feats, lens, toks, tlens)
            inter, _ = m.take_inter()
            heads.append(m.ctc_inter.out(inter))
        assert torch.allclose(heads[0], heads[1], atol=1e-4)

    out = tmp_path / "wide"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--init", str(float_run / "last.pt"),
                 "--steps", "4", "--no-progress", "--set", *TINY, "eval_every=0", f"init_enc_hidden={H}"]) == 0
    assert f"encoder widened from {h} to {H} units per layer" in capsys.readouterr().out
    ck = load_checkpoint(out / "last.pt")
    assert ck["arch"]["enc_hidden"] == H
    w0, w1 = init["model"]["enc.0.weight_hh_l0"], ck["model"]["enc.0.weight_hh_l0"]
    assert w1.shape == (4 * H, H) and w0.shape == (4 * h, h)
    assert ck["model"]["join_enc.weight"][:, h:].abs().sum() > 0  # the new units' zeros trained
    assert main(["train", "--out", str(out), "--resume", "--steps", "6", "--no-progress"]) == 0
    ck = load_checkpoint(out / "last.pt")
    assert ck["step"] == 6 and ck["arch"]["enc_hidden"] == H
    m = tmp_path / "wide.nnasr"
    assert main(["export", str(out / "last.pt"), "--out", str(m), "--data", str(corpus)]) == 0
    assert _decode_all(corpus, m, mode="float") == _torch_decode_all(corpus, model_from_checkpoint(ck).eval())

    both = tmp_path / "wide40"
    assert main(["train", "--data", str(corpus), "--out", str(both), "--init", str(float_run / "last.pt"),
                 "--steps", "1", "--no-progress", "--set", *TINY, "eval_every=0", f"init_enc_hidden={H}",
                 "init_reduce_after=0"]) == 0
    a = load_checkpoint(both / "last.pt")["arch"]
    assert (a["enc_hidden"], a["reduce_after"]) == (H, 0)
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "bad"), "--init", str(float_run / "last.pt"),
                 "--steps", "1", "--no-progress", "--set", f"init_enc_hidden={h - 8}"]) == 2
    assert "can grow, not shrink" in capsys.readouterr().err
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "bad2"), "--steps", "1",
                 "--no-progress", "--set", f"init_enc_hidden={H}"]) == 2
    assert "a new model takes enc_hidden=N" in capsys.readouterr().err


def test_widened_units_are_read_only_with_a_grow_scale(float_run):
    """Growth at `init_grow_scale=0` keeps the function, so no op reads a new unit: as the
    engine prices and runs a model (`Architecture.live_outputs`), every new unit is dead
    until training gives it readers, and a pruning run that starts soon removes them first.
    With a scale every unit of every layer is read from the start, the old weights stay
    where they were, the new ones are as large as the trained ones beside them, and the
    function moves."""
    from dataclasses import replace

    from engine.model import Architecture
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.model import RNNT
    from trainer.surgery import widen_encoder

    init = load_checkpoint(float_run / "last.pt")
    old = model_from_checkpoint(init).eval()
    arch = Architecture(**init["arch"])
    h, H = arch.enc_hidden, arch.enc_hidden + 16
    wide = replace(arch, enc_hidden=H)

    def live(state):
        tensors = {k: state[keys[0]].numpy() for o in wide.ops for k, keys in o.float_params().items()}
        units = wide.live_outputs(tensors)
        return {o.name: units[o.name] for o in wide.encoder_ops}

    src = old.state_dict()
    zero = widen_encoder(src, arch, H, torch.Generator().manual_seed(0))
    read = widen_encoder(src, arch, H, torch.Generator().manual_seed(0), scale=1.0)
    for name, units in live(zero).items():
        assert units[:h].all() and not units[h:].any(), name
    for name, units in live(read).items():
        assert units.all(), name
    for k, v in src.items():  # the old weights sit where they were, and the new ones are as large
        w = read[k]
        if k.startswith("enc.") and v.dim() == 2:
            ow = torch.cat([v[g * h:(g + 1) * h] for g in range(4)])
            cols = list(range(v.shape[1])) if k == "enc.0.weight_ih_l0" else [
                c * H + j for c in range(v.shape[1] // h) for j in range(h)]
            rows = torch.cat([torch.arange(g * H, g * H + h) for g in range(4)])
            assert torch.equal(w[rows][:, cols], ow), k
            new = torch.ones_like(w, dtype=torch.bool)
            new[rows[:, None], torch.tensor(cols)[None, :]] = False
            assert 0.8 < w[new].abs().mean() / v.abs().mean() < 1.2, k
        elif k in ("join_enc.weight", "ctc.weight"):
            assert torch.equal(w[:, :h], v) and 0.8 < w[:, h:].abs().mean() / v.abs().mean() < 1.2, k
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 120, arch.n_mels, generator=g) + old.feat_mean
    lens, toks, tlens = torch.tensor([120, 90]), torch.randint(1, arch.num_classes, (2, 5), generator=g), torch.tensor([5, 3])
    outs = []
    for state in (zero, read):
        m = RNNT(wide)
        m.load_state_dict(state)
        with torch.no_grad():
            outs.append(m.eval()(feats, lens, toks, tlens)[0])
    with torch.no_grad():
        ref = old(feats, lens, toks, tlens)[0]
    assert torch.allclose(outs[0], ref, atol=1e-4)
    assert not torch.allclose(outs[1], ref, atol=1e-2)  # the function moved


def test_decoder_refresh_freezes_encoder_and_reinits_decoder(float_run, corpus, tmp_path):
    """`--set freeze=enc reinit=pred,join`: the encoder is bit-identical to the init's, the
    predictor starts from fresh weights and trains."""
    from app.cli import main
    from trainer.checkpoint import load_checkpoint

    init = load_checkpoint(float_run / "last.pt")["model"]
    out = tmp_path / "refresh"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--init", str(float_run / "last.pt"),
                 "--steps", "30", "--no-progress", "--set", *TINY, "eval_every=0", "freeze=enc",
                 "reinit=pred,join", "dropout=0.3"]) == 0
    new = load_checkpoint(out / "last.pt")["model"]
    for k, v in init.items():
        if k.startswith(("enc.", "ctc.")):
            assert torch.equal(v, new[k]), k
    assert not torch.allclose(init["pred.weight_hh_l0"], new["pred.weight_hh_l0"])
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "bad"), "--steps", "1",
                 "--no-progress", "--set", "freeze=enc,decoder"]) != 0


def test_resume_from_compact_checkpoint(float_run, corpus, tmp_path):
    """The repository keeps checkpoints without optimizer state; --resume continues from them."""
    from app.cli import main
    from trainer.checkpoint import compact_checkpoint, load_checkpoint

    run = tmp_path / "run"
    compact_checkpoint(float_run / "last.pt", run / "last.pt")
    ck = load_checkpoint(run / "last.pt")
    assert "optimizer" not in ck
    assert (run / "last.pt").stat().st_size < (float_run / "last.pt").stat().st_size
    assert main(["train", "--data", str(corpus), "--out", str(run), "--resume", "--steps", str(ck["step"] + 5),
                 "--no-progress", "--set", *TINY, "eval_every=0"]) == 0
    after = load_checkpoint(run / "last.pt")
    assert after["step"] == ck["step"] + 5 and "optimizer" in after
    assert json.loads(after["history"])[: len(json.loads(ck["history"]))] == json.loads(ck["history"])


def test_compact_checkpoint_can_average_the_newest_snapshots(float_run, tmp_path):
    """`python -m trainer.checkpoint compact SRC DST --average K`: the kept weights are the
    mean of the run's newest K snapshots, the steps averaged are recorded, the optimizer
    state is dropped, and a run without snapshots is refused."""
    from trainer.checkpoint import compact_checkpoint, load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    ck = load_checkpoint(float_run / "last.pt")
    save_checkpoint(run / "last.pt", ck)
    base = ck["model"]
    for i, step in enumerate((100, 200, 300)):  # the oldest must be left out with K=2
        w = {k: (v + (i + 1) if v.is_floating_point() else v) for k, v in base.items()}
        save_checkpoint(run / "snapshots" / f"step-{step:07d}.pt", {"model": w, "step": step})
    out = subprocess.run([sys.executable, "-m", "trainer.checkpoint", "compact", str(run / "last.pt"),
                          str(tmp_path / "avg.pt"), "--average", "2"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    avg = load_checkpoint(tmp_path / "avg.pt")
    assert avg["averaged_steps"] == [200, 300] and "optimizer" not in avg and avg["step"] == ck["step"]
    for k, v in base.items():
        want = v + 2.5 if v.is_floating_point() else v
        assert torch.allclose(avg["model"][k], want, atol=1e-5), k
    with pytest.raises(FileNotFoundError, match="no snapshots"):  # tmp_path/snapshots does not exist
        compact_checkpoint(tmp_path / "avg.pt", tmp_path / "x.pt", average=2)


def test_train_logs_lines_when_its_output_is_not_a_terminal(corpus, tmp_path, capsys):
    """`nnasr train ... > train.log &` must show progress: without a terminal the progress
    bar (which would print nothing until the end) gives way to log lines."""
    from app.cli import main

    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--steps", "20",
                 "--set", *TINY, "log_every=10", "eval_every=0"]) == 0
    out = capsys.readouterr().out
    assert "step 10 rnnt" in out and "step 20 rnnt" in out
    # the run says what it computes on and in what precision (CPU speed differs ~2x with bf16 units)
    assert "computing on CPU, " in out and ("bf16 autocast" in out or "fp32 (this CPU has no bf16 units" in out)


def test_train_mixes_several_manifests_each_cached_beside_itself(corpus, tmp_path, capsys):
    """`--train a.jsonl b.jsonl` trains on both: every utterance of each, once, with each
    manifest's feature cache in its own directory (so adding a corpus to a mix reuses the
    caches already computed)."""
    from app.cli import main
    from trainer.data.manifest import read_manifest

    recs = [json.dumps(r) for r in read_manifest(corpus / "train.jsonl")]  # absolute audio paths
    parts = []
    for name, lines in (("a", recs[: len(recs) // 2]), ("b", recs[len(recs) // 2:])):
        (tmp_path / name).mkdir()
        parts.append(tmp_path / name / "train.jsonl")
        parts[-1].write_text("\n".join(lines) + "\n")
    assert main(["train", "--data", str(corpus), "--train", *map(str, parts), "--out", str(tmp_path / "run"),
                 "--steps", "4", "--set", *TINY, "eval_every=0"]) == 0
    assert f"training on 2 manifests, {len(recs)} utterances" in capsys.readouterr().out
    for p in parts:
        assert len(list((p.parent / "features").glob("train-*.npy"))) == 1

    import sentencepiece as spm

    from trainer.dataset import concat_features, load_features

    sp = spm.SentencePieceProcessor(model_file=str(corpus / "tokenizer.model"))
    whole = load_features(corpus / "train.jsonl", sp, progress=False)
    mixed = concat_features([load_features(p, sp, progress=False) for p in parts])
    assert mixed.texts == whole.texts and mixed.tokens == whole.tokens
    assert np.array_equal(mixed.offsets, whole.offsets) and np.array_equal(mixed.feats, whole.feats)


def test_an_unbuildable_architecture_is_refused_with_its_reason(corpus, tmp_path):
    """A time reduction after the last encoder layer would feed nothing (the engine refuses
    such a model file): `nnasr train` says so before building, not with a shape error."""
    from app.cli import main
    from engine.model import Architecture
    from trainer.model import RNNT

    with pytest.raises(ValueError, match=r"reduce_after=1 \(0, or less than enc_layers\)"):
        RNNT(Architecture(num_classes=10, enc_layers=1, reduce_after=1))
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--steps", "2",
                 "--no-progress", "--set", *TINY, "enc_layers=1"]) != 0


def test_intermediate_ctc_trains_resumes_and_stays_out_of_the_export(corpus, tmp_path, capsys):
    """`--set inter_ctc_weight=W`: a CTC head on a middle encoder layer adds its loss (logged),
    is saved and resumed with the model, and the export is the same model without it."""
    from app.cli import main
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    out = tmp_path / "inter"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--steps", "20", "--no-progress",
                 "--set", *TINY, "inter_ctc_weight=0.3", "log_every=10", "eval_every=0"]) == 0
    log = capsys.readouterr().out
    assert "intermediate CTC loss on encoder layer 1's output (of 2), weight 0.3" in log
    assert " inter " in log
    ck = load_checkpoint(out / "last.pt")
    assert int(ck["model"]["ctc_inter.layer"]) == 1 and "ctc_inter.out.weight" in ck["model"]
    assert main(["train", "--data", str(corpus), "--out", str(out), "--resume", "--steps", "30",
                 "--no-progress"]) == 0
    log = capsys.readouterr().out
    assert "resuming from" in log and "its head from the checkpoint" in log
    assert int(load_checkpoint(out / "last.pt")["step"]) == 30
    model = model_from_checkpoint(load_checkpoint(out / "last.pt")).eval()
    assert model.ctc_inter is not None
    m = tmp_path / "m.nnasr"
    assert main(["export", str(out / "last.pt"), "--out", str(m), "--data", str(corpus)]) == 0
    assert _decode_all(corpus, m, mode="float") == _torch_decode_all(corpus, model)
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "bad"), "--steps", "1", "--no-progress",
                 "--set", *TINY, "inter_ctc_weight=0.3", "inter_ctc_layer=2"]) == 2
    assert "inter_ctc_layer=2" in capsys.readouterr().err

"""Pruning (trainer.prune): schedule, masks, CSP recovery vs magnitude, export, end to end."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchaudio")

from helpers import make_tiny_corpus, tokenizer_proto  # noqa: E402

torch.backends.mkldnn.enabled = False


def _cfg(**kw):
    d = dict(prune="csp", sparsity=0.8, steps=100, prune_start=0.1, prune_end=0.6, prune_every=10,
             csp_lambda=1e-3, seed=0, csp_utts=8)
    d.update(kw)
    return SimpleNamespace(**d)


def _tiny_model(num_classes=12, seed=0):
    from engine.model import Architecture
    from trainer.model import RNNT

    torch.manual_seed(seed)
    arch = Architecture(num_classes=num_classes, enc_hidden=16, enc_layers=2, pred_embed=8,
                        pred_hidden=16, joiner_dim=16)
    return RNNT(arch)


def _random_features(num_classes=12, n=10, seed=0):
    from trainer.dataset import FeatureSet

    rng = np.random.default_rng(seed)
    lens = rng.integers(40, 90, n)
    offs = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    feats = (rng.standard_normal((int(offs[-1]), 80)) * 2).astype(np.float16)
    toks = [rng.integers(1, num_classes, rng.integers(2, 6)).tolist() for _ in range(n)]
    return FeatureSet(feats, offs, toks, ["x"] * n, ["v"] * n, ["p"] * n)


def _simulate(pruner, model, steps, seed=0):
    """Run the pruner's hooks over ``steps`` with a random 'optimizer step' in between;
    return the masks after every step."""
    g = torch.Generator().manual_seed(seed)
    hist = []
    for step in range(steps):
        pruner.before_step(step)
        loss = pruner.loss_term()
        assert loss.dim() == 0
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn(p.shape, generator=g))
        pruner.after_step(step)
        hist.append({n: m.clone() for n, m in pruner.masks.items()})
    return hist


# --- schedule ---------------------------------------------------------------------------------
def test_schedule_values_hand_computed():
    from trainer.prune import Schedule

    s = Schedule.from_config(_cfg(steps=1000, prune_every=100, sparsity=0.8))
    assert (s.start, s.end, s.every) == (100, 600, 100)
    # s_t = 0.8 * (1 - (1 - (t - 100) / 500)^3) at t = 100, 200, ..., 600; constant in between
    expect = {0: 0.0, 99: 0.0, 100: 0.0, 150: 0.0, 199: 0.0, 200: 0.3904, 250: 0.3904,
              300: 0.6272, 400: 0.7488, 500: 0.7936, 599: 0.7936, 600: 0.8, 1000: 0.8}
    for t, v in expect.items():
        assert s.sparsity(t) == pytest.approx(v, abs=1e-12), t
    assert s.points() == [100, 200, 300, 400, 500, 600]
    # end not on the grid: t_end is the last pruning step, the cubic runs over [t0, t_end]
    s2 = Schedule.from_config(_cfg(steps=100, prune_start=0.1, prune_end=0.55, prune_every=20, sparsity=0.5))
    assert s2.points() == [10, 30, 50, 55]
    assert s2.sparsity(30) == pytest.approx(0.5 * (1 - (1 - 20 / 45) ** 3))
    assert s2.sparsity(54) == pytest.approx(0.5 * (1 - (1 - 40 / 45) ** 3))
    assert s2.sparsity(55) == 0.5


def test_parse_layers():
    from trainer.prune import parse_layers

    names = ["enc.0.wx", "enc.0.wh", "enc.1.wx", "pred.0.wx", "join.enc.w", "join.out.w"]
    assert parse_layers("all", names, 0.8) == dict.fromkeys(names, 0.8)
    d = parse_layers("enc=0.9,join,join.out.w=0.5", names, 0.8)
    assert d == {"enc.0.wx": 0.9, "enc.0.wh": 0.9, "enc.1.wx": 0.9, "join.enc.w": 0.8, "join.out.w": 0.5}
    with pytest.raises(ValueError):
        parse_layers("decoder", names, 0.8)
    # a pattern: the recurrent matrices of every encoder layer, over the encoder's own share
    d = parse_layers("enc=0.8,enc.*.wh=0.9,pred=0.3", names, 0.8)
    assert d == {"enc.0.wx": 0.8, "enc.0.wh": 0.9, "enc.1.wx": 0.8, "pred.0.wx": 0.3}
    assert parse_layers("*.wx=0.5", names, 0.8) == {"enc.0.wx": 0.5, "enc.1.wx": 0.5, "pred.0.wx": 0.5}
    assert parse_layers("enc.[0]", names, 0.8) == {"enc.0.wx": 0.8, "enc.0.wh": 0.8}
    with pytest.raises(ValueError, match="matches no prunable"):
        parse_layers("enc.*.bias", names, 0.8)


# --- masks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["magnitude", "csp"])
def test_masks_monotone_and_final_sparsity_exact(method):
    from trainer.prune import make_pruner, n_zeros

    model = _tiny_model()
    fs = _random_features()
    cfg = _cfg(prune=method, sparsity=0.8, steps=60, prune_every=10)
    pruner = make_pruner(cfg, model, fs, torch.device("cpu"), verbose=False)
    hist = _simulate(pruner, model, 60)
    pruned_steps = {e["step"] for e in pruner.log}
    assert pruned_steps == {16, 26, 36}  # t0 = 6 (sparsity 0), 16, 26, t_end = 36
    for prev, cur in zip(hist, hist[1:]):
        for n in cur:
            assert not bool((cur[n] & ~prev[n]).any()), f"{n}: a pruned weight came back"
    params = model.prunable()
    assert set(pruner.masks) == set(params)
    for n, p in params.items():
        zeros = int((p == 0).sum())
        assert zeros == n_zeros(p.numel(), 0.8), n  # exactly the target, up to rounding
        assert bool((p[~pruner.masks[n]] == 0).all())
        assert int((~pruner.masks[n]).sum()) == zeros
    if method == "magnitude":
        assert float(pruner.loss_term()) == 0.0
    else:
        assert pruner.targets and float(pruner.loss_term().detach()) > 0  # pulled toward Ŵ
        assert all(float(e["rel_err"]) <= float(e["rel_err_magnitude"]) for e in pruner.log)


def test_state_keys_and_mask_state_dict():
    from trainer.prune import make_pruner, mask_state_dict, state_key

    model = _tiny_model()
    by_id = {id(p): k for k, p in model.named_parameters()}
    for n, p in model.prunable().items():
        assert state_key(n) == by_id[id(p)]
    pruner = make_pruner(_cfg(prune="magnitude", sparsity=0.5, steps=10, prune_every=1), model, verbose=False)
    _simulate(pruner, model, 10)
    dense = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    masked = mask_state_dict(dense, pruner.state_dict())
    for n, m in pruner.masks.items():
        assert bool((masked[state_key(n)][~m] == 0).all())
        assert torch.equal(masked[state_key(n)][m], dense[state_key(n)][m])


def test_already_sparse_init_keeps_its_zeros():
    from trainer.prune import make_pruner

    model = _tiny_model()
    w = model.enc[0].weight_hh_l0
    with torch.no_grad():
        w[:, ::2] = 0  # half the matrix already pruned (e.g. --init from a pruned run)
    pruner = make_pruner(_cfg(sparsity=0.7, steps=30, prune_every=5), model, _random_features(), verbose=False)
    assert int((~pruner.masks["enc.0.wh"]).sum()) == w.numel() // 2
    _simulate(pruner, model, 30)
    assert bool((w.detach()[:, ::2] == 0).all())
    assert float((w == 0).float().mean()) == pytest.approx(0.7, abs=1e-2)


def test_csp_loss_term_gradient_and_state_round_trip():
    from trainer.prune import make_pruner

    model = _tiny_model()
    fs = _random_features()
    cfg = _cfg(steps=40, prune_every=5, sparsity=0.7)
    pruner = make_pruner(cfg, model, fs, verbose=False)
    _simulate(pruner, model, 20)  # mid-schedule
    loss = pruner.loss_term()
    loss.backward()
    w = model.enc[0].weight_ih_l0
    t = pruner.targets["enc.0.wx"]
    assert torch.allclose(w.grad, 2 * cfg.csp_lambda * (w.detach() - t))
    buf = io.BytesIO()
    torch.save({"prune": pruner.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)["prune"]
    model2 = _tiny_model(seed=1)
    model2.load_state_dict(model.state_dict())
    p2 = make_pruner(cfg, model2, fs, verbose=False)
    p2.load_state_dict(state)
    for n in pruner.masks:
        assert torch.equal(p2.masks[n], pruner.masks[n])
        assert torch.equal(p2.targets[n], pruner.targets[n])
    assert p2.log == pruner.log
    n_log = len(p2.log)
    p2.before_step(20)  # same schedule position: nothing to prune again
    assert len(p2.log) == n_log
    _simulate(p2, model2, 40)
    assert all(abs(v - 0.7) < 1e-2 for v in p2.sparsity().values())


# --- the recovery step ------------------------------------------------------------------------
def _correlated(n=3000, d_in=96, d_out=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d_in, generator=g)
    a = torch.randn(d_in, d_in, generator=g) / d_in ** 0.5
    x = z @ a + 0.5 * torch.randn(n, 1, generator=g)  # correlated inputs, a shared component
    x = x * torch.exp(0.5 * torch.randn(1, d_in, generator=g))  # uneven input scales
    w = torch.randn(d_out, d_in, generator=g) / d_in ** 0.5
    return x, w


@pytest.mark.parametrize("sparsity", [0.5, 0.8, 0.9])
def test_csp_recovery_lower_output_error_than_magnitude(sparsity):
    from trainer.prune import csp_recover, magnitude_mask, n_zeros

    x, w = _correlated()
    gram = x.T @ x / x.shape[0]
    k = w.numel() - n_zeros(w.numel(), sparsity)
    w_hat, info = csp_recover(w, gram, k)
    assert int((w_hat != 0).sum()) == k

    def out_err(wh):  # the layer-output error itself, from X
        return float(((x @ w.T - x @ wh.T) ** 2).sum())

    w_mag = w * magnitude_mask(w, k)
    e_csp, e_mag = out_err(w_hat), out_err(w_mag)
    assert e_csp < 0.7 * e_mag, (sparsity, e_csp, e_mag)
    assert info["rel_err"] <= info["rel_err_magnitude_refit"] <= info["rel_err_magnitude"]
    # restricted support (monotone masks): only inside the allowed mask, per block
    g = torch.Generator().manual_seed(1)
    allowed = torch.rand(w.shape, generator=g) < 0.6
    blocks = [(0, 40, int(allowed[:, :40].sum()) // 2), (40, 96, int(allowed[:, 40:].sum()) // 3)]
    w_hat2, _ = csp_recover(w, gram, blocks, mask=allowed)
    assert not bool((w_hat2 != 0)[~allowed].any())
    assert int((w_hat2[:, :40] != 0).sum()) == blocks[0][2]
    assert int((w_hat2[:, 40:] != 0).sum()) == blocks[1][2]


def test_record_grams_shapes_and_lstm_recurrent_input():
    from trainer.prune import record_grams

    model = _tiny_model()
    fs = _random_features()
    ops = ["enc.0", "enc.1", "pred.0", "join.enc", "join.pred", "join.out"]
    g = record_grams(model, fs, ops, n_utts=6)
    a = model.arch
    assert g["enc.0"].shape == (a.enc_input_dim(0) + a.enc_hidden,) * 2
    assert g["enc.1"].shape == (a.enc_input_dim(1) + a.enc_hidden,) * 2
    assert g["pred.0"].shape == (a.pred_embed + a.pred_hidden,) * 2
    assert g["join.out"].shape == (a.joiner_dim,) * 2
    for v in g.values():
        assert torch.allclose(v, v.T, atol=1e-5)
        assert float(torch.linalg.eigvalsh(v.double())[0]) > -1e-6
    assert model.training  # restored


# --- export -----------------------------------------------------------------------------------
def test_exported_sparsity_equals_trained_sparsity(tmp_path):
    import sentencepiece as spm

    from engine.model import load_model
    from engine.nna.spec import NNASpec
    from trainer.export import export_model
    from trainer.prune import make_pruner, n_zeros

    proto = tokenizer_proto(40)
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(proto)
    C = sp.get_piece_size() + 1
    model = _tiny_model(num_classes=C)
    fs = _random_features(num_classes=C)
    dense = export_model(model, proto, tmp_path / "dense.nnasr", spec=NNASpec(), in_scale=4 / 127,
                         out_scale=8 / 32767, float_ops=[])
    pruner = make_pruner(_cfg(sparsity=0.7, steps=30, prune_every=5), model, fs, verbose=False)
    _simulate(pruner, model, 30)
    path = export_model(model, proto, tmp_path / "sparse.nnasr", spec=NNASpec(), in_scale=4 / 127,
                        out_scale=8 / 32767, float_ops=[])
    em = load_model(path)
    total = zeros_trained = 0
    for n, p in model.prunable().items():
        p = p.detach()
        codes = em.tensors[n]
        z_trained = int((p == 0).sum())
        assert z_trained == n_zeros(p.numel(), 0.7)
        assert bool((codes[(p == 0).numpy()] == 0).all()), n  # every pruned weight is a zero code
        extra = int((codes == 0).sum()) - z_trained  # weights that quantize to 0 (rare)
        assert 0 <= extra <= 0.01 * p.numel(), (n, extra)
        total += p.numel()
        zeros_trained += z_trained
    codes = em.weight_codes()
    emb = codes["pred.embed.table"]
    expected = (zeros_trained + int((emb == 0).sum())) / (total + emb.size)
    assert em.sparsity() == pytest.approx(expected, abs=0.01)
    # zero-weight compression: bitmap (1/8 byte) + 30 % non-zeros instead of 1 byte per weight
    assert load_model(dense).file_bytes - em.file_bytes >= 0.5 * total


# --- end to end -------------------------------------------------------------------------------
TINY = ["enc_hidden=32", "enc_layers=2", "pred_hidden=32", "pred_embed=16", "joiner_dim=32",
        "specaug=false", "warmup=5", "log_every=10", "eval_every=0", "prune_every=4", "threads=1"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("corpus"), ["turn on the light", "stop", "yes please"])


def test_train_prune_csp_end_to_end_resume_export(corpus, tmp_path):
    from app.cli import main
    from engine.model import load_model
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    out = tmp_path / "csp"
    args = ["train", "--data", str(corpus), "--out", str(out), "--prune", "csp", "--sparsity", "0.5",
            "--no-progress"]
    assert main([*args, "--steps", "12", "--set", *TINY, "prune_end=1.0"]) == 0  # stops mid-schedule
    ck = load_checkpoint(out / "last.pt")  # weights_only=True
    masks = ck["prune"]["masks"]
    mid = {n: float((~m).float().mean()) for n, m in masks.items()}
    assert all(0 < v < 0.5 for v in mid.values()), mid
    # resume: the masks are kept and the schedule completes
    assert main([*args, "--steps", "24", "--resume", "--set", *TINY, "prune_end=0.75"]) == 0
    ck = load_checkpoint(out / "last.pt")
    model = model_from_checkpoint(ck)
    for n, p in model.prunable().items():
        assert bool((p.detach()[~masks[n]] == 0).all()), f"{n}: resumed run revived a pruned weight"
        assert abs(float((p == 0).float().mean()) - 0.5) < 0.01, n
    exp = tmp_path / "csp.nnasr"
    assert main(["export", str(out / "last.pt"), "--out", str(exp), "--data", str(corpus), "--no-float"]) == 0
    em = load_model(exp)
    for n in model.prunable():
        assert abs(float((em.tensors[n] == 0).mean()) - 0.5) < 0.01, n
    # the file says how it was pruned
    assert (em.facts["pruning"], em.facts["prune_sparsity"], em.facts["prune_layers"]) == ("csp", 0.5, "all")


def test_csp_prunes_a_stateless_predictor(corpus, tmp_path):
    """CSP on a new model with a stateless predictor (``pred_context=2``): its linear matrix
    over the two tokens' embeddings is pruned with the rest and exported as such."""
    from app.cli import main
    from engine.model import load_model

    out = tmp_path / "csp-sl"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--prune", "csp", "--sparsity", "0.5",
                 "--no-progress", "--steps", "16", "--set", *TINY, "pred_context=2", "prune_end=0.75"]) == 0
    exp = tmp_path / "csp-sl.nnasr"
    assert main(["export", str(out / "last.pt"), "--out", str(exp), "--data", str(corpus), "--no-float"]) == 0
    em = load_model(exp)
    assert em.arch.pred_context == 2 and em.tensors["pred.0.w"].shape[1] == 2 * em.arch.pred_embed
    assert abs(float((em.tensors["pred.0.w"] == 0).mean()) - 0.5) < 0.01


def test_train_prune_magnitude_with_aat(corpus, tmp_path):
    from app.cli import main
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    out = tmp_path / "aat-mag"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--aat", "--prune", "magnitude",
                 "--sparsity", "0.6", "--steps", "10", "--no-progress", "--set", *TINY]) == 0
    model = model_from_checkpoint(load_checkpoint(out / "last.pt"))
    for n, p in model.prunable().items():
        assert abs(float((p == 0).float().mean()) - 0.6) < 0.01, n


def test_ptq_calibration_takes_non_speech_clips():
    """A corpus's non-speech clips have no tokens; PTQ calibration (export, and the trainer's
    integer dev evaluation) runs the predictor on [blank] alone for them."""
    from trainer.export import calibrate

    fs = _random_features()
    fs.tokens[0] = []
    fs.tokens[3] = []
    i_s, o_s = calibrate(_tiny_model(), fs, n=len(fs))
    assert i_s > 0 and o_s > 0 and np.isfinite([i_s, o_s]).all()


def test_prune_sensitivity_makes_one_group_dense(corpus, tmp_path):
    """benchmarks/prune_sensitivity.py: a variant differs from the pruned checkpoint in its
    group's matrices only, which equal the dense parent's; the table covers every group."""
    import importlib.util
    import json
    from pathlib import Path

    from app.cli import main
    from trainer.checkpoint import load_checkpoint

    spec = importlib.util.spec_from_file_location(
        "prune_sensitivity", Path(__file__).resolve().parent.parent / "benchmarks" / "prune_sensitivity.py")
    ps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ps)
    dense, pruned = tmp_path / "dense", tmp_path / "pruned"
    assert main(["train", "--data", str(corpus), "--out", str(dense), "--aat", "--steps", "4", "--no-progress",
                 "--set", *TINY]) == 0
    assert main(["train", "--data", str(corpus), "--out", str(pruned), "--init", str(dense / "last.pt"), "--aat",
                 "--prune", "csp", "--sparsity", "0.6", "--steps", "8", "--no-progress", "--set", *TINY,
                 "prune_end=0.5"]) == 0
    p, d = load_checkpoint(pruned / "last.pt"), load_checkpoint(dense / "last.pt")
    v = ps.swapped(p, d, ["enc.0.wx", "join.out.w"])
    changed = {k for k in p["model"] if not torch.equal(v["model"][k], p["model"][k])}
    assert changed == {"enc.0.weight_ih_l0", "join_out.weight"}
    assert all(torch.equal(v["model"][k], d["model"][k]) for k in changed)
    assert "prune" not in v and "optimizer" not in v
    out = tmp_path / "rows.json"
    assert ps.main(["--pruned", str(pruned / "last.pt"), "--dense", str(dense / "last.pt"), "--manifest",
                    str(corpus / "dev.jsonl"), "--groups", "enc", "pred+join", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["group"] for r in rows[1:]] == ["enc", "pred+join"]
    assert sum(r["weights"] for r in rows[1:]) == pytest.approx(1.0)
    assert sum(r["zeros"] for r in rows[1:]) == pytest.approx(1.0)
    assert all(r["sparsity"] == pytest.approx(0.6, abs=0.01) for r in rows[1:])

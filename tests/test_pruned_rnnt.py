"""Pruned RNN-T (``--set rnnt_window=S``): the joiner and loss only in a window of label
positions per frame. Exact where the windows hold the whole lattice, never below the whole
lattice's loss, always a complete path inside the windows, and a tiny model learns with it."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from helpers import make_tiny_corpus  # noqa: E402

from trainer.rnnt_loss import (  # noqa: E402
    _label_log_probs,
    lattice_occupancy,
    pruned_rnnt_loss,
    rnnt_loss,
    window_positions,
    window_size,
    window_starts,
)


def _batch(seed=0, B=6, T=9, U=7, C=11):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, U + 1, C, generator=g, dtype=torch.float64)
    y = torch.randint(1, C, (B, U), generator=g)
    lt = torch.tensor([9, 7, 1, 9, 4, 3])[:B]
    lu = torch.tensor([7, 3, 2, 0, 7, 7])[:B]  # the last two: more labels than frames
    return logits, y, lt, lu


def _windows(logits, y, lt, lu, window):
    B, T, U1, C = logits.shape
    blank, emit, _ = _label_log_probs(logits, y[:, None, :, None].expand(B, T, U1 - 1, 1), 0)
    S = window_size(window, lt, lu)
    starts = window_starts(lattice_occupancy(blank, emit, lt, lu), S, lt, lu)
    pos = window_positions(starts, S)
    return starts, pos, logits.gather(2, pos[..., None].expand(B, T, S, C))


def test_a_window_over_the_whole_lattice_is_the_whole_loss_and_gradient():
    logits, y, lt, lu = _batch()
    logits.requires_grad_()
    full = rnnt_loss(logits, y, lt, lu)
    starts = torch.zeros(logits.shape[:2], dtype=torch.long)
    pruned = pruned_rnnt_loss(logits, y, starts, lt, lu)
    assert torch.allclose(pruned, full, rtol=1e-10, atol=1e-9)
    g_full, = torch.autograd.grad(full.sum(), logits)
    g_pruned, = torch.autograd.grad(pruned.sum(), logits)
    assert torch.allclose(g_pruned, g_full, atol=1e-9)


@pytest.mark.parametrize("window", [2, 3, 5])
def test_windows_always_hold_a_path_and_never_lower_the_loss(window):
    for seed in range(5):
        logits, y, lt, lu = _batch(seed)
        starts, pos, lw = _windows(logits, y, lt, lu, window)
        S = pos.shape[-1]
        assert S >= window and S <= y.shape[1] + 1
        for b in range(len(lt)):
            s = starts[b, : int(lt[b])]
            assert int(s[0]) == 0  # the path starts at label position 0
            steps = s[1:] - s[:-1]
            assert bool((steps >= 0).all()) and bool((steps <= S - 1).all())
            assert int(s[-1]) <= int(lu[b]) <= int(s[-1]) + S - 1  # the last frame reaches U_b
        full = rnnt_loss(logits, y, lt, lu)
        pruned = pruned_rnnt_loss(lw, y, starts, lt, lu)
        assert torch.isfinite(pruned).all() and bool((pruned < 1e3).all())  # a complete path exists
        assert bool((pruned >= full - 1e-9).all())  # fewer alignments, never more likely
    # a trained model's lattice is peaky: with one alignment much likelier than the rest
    # (frame t emits label t, then blank), windows of 3 keep nearly all of its mass
    logits, y, lt, lu = _batch(1)
    peaky = logits.clone()
    for b in range(len(lt)):
        for t in range(int(lt[b])):
            u = min(t, int(lu[b]))
            if u < int(lu[b]):
                peaky[b, t, u, y[b, u]] += 8
            peaky[b, t, min(u + 1, int(lu[b])) if u < int(lu[b]) else u, 0] += 8
    starts, pos, lw = _windows(peaky, y, lt, lu, 3)
    gap = pruned_rnnt_loss(lw, y, starts, lt, lu) - rnnt_loss(peaky, y, lt, lu)
    assert float(gap[lu <= lt].max()) < 0.01, gap


def test_model_window_matches_the_whole_lattice_and_trains_its_parameters():
    """Through the model (CTC-chosen windows, the windowed joiner): a window as large as the
    lattice gives the same loss and parameter gradients as no window; a small one a loss no
    lower, finite gradients for every parameter the whole lattice trains."""
    from engine.arch import Architecture
    from trainer.loss import compute_loss
    from trainer.model import RNNT

    torch.manual_seed(0)
    arch = Architecture(n_mels=80, enc_hidden=16, enc_layers=2, pred_embed=8, pred_hidden=16, joiner_dim=16,
                        num_classes=13, stack=4, reduce_after=1)
    model = RNNT(arch).double()
    x = torch.randn(3, 200, 80, dtype=torch.float64)
    lens = torch.tensor([200, 150, 96])
    y = torch.randint(1, 13, (3, 6))
    yl = torch.tensor([6, 4, 6])

    def grads(window):
        model.zero_grad()
        loss, rnnt, _, _ = compute_loss(model, x, lens, y, yl, 0.3, "torch", 0.0, window)
        loss.backward()
        return float(rnnt), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    full, g_full = grads(0)
    same, g_same = grads(7)  # U + 1 positions: the whole lattice
    assert same == pytest.approx(full, rel=1e-12)
    assert g_same.keys() == g_full.keys() and all(torch.allclose(g_same[n], g_full[n]) for n in g_full)
    small, g_small = grads(2)
    assert small >= full - 1e-9
    assert g_small.keys() == g_full.keys() and all(torch.isfinite(g).all() for g in g_small.values())


def test_a_tiny_model_learns_with_a_pruned_lattice(tmp_path):
    """`nnasr train --set rnnt_window=3` from random weights: the CTC head that chooses the
    windows learns beside the RNN-T, and the model overfits its sentences to WER 0."""
    from app.cli import main

    corpus = make_tiny_corpus(tmp_path / "corpus", ["turn on the light", "what time is it", "play some music",
                                                     "stop", "yes please"])
    out = tmp_path / "run"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--steps", "450", "--no-progress",
                 "--set", "enc_hidden=64", "enc_layers=2", "pred_hidden=64", "pred_embed=32", "joiner_dim=64",
                 "specaug=false", "warmup=20", "lr=3e-3", "log_every=50", "eval_every=450",
                 "rnnt_window=3"]) == 0
    devs = [h for h in json.loads((out / "history.json").read_text()) if "dev_wer" in h]
    assert devs and devs[-1]["dev_wer"] == 0.0, devs


def test_a_pruned_lattice_is_refused_where_no_ctc_head_guides_it(tmp_path, capsys):
    from app.cli import main

    corpus = make_tiny_corpus(tmp_path / "corpus", ["stop", "yes please"])
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "r"), "--steps", "1", "--no-progress",
                 "--set", "enc_hidden=16", "enc_layers=1", "reduce_after=0", "rnnt_window=4", "ctc_weight=0"]) == 2
    assert "rnnt_window=4" in capsys.readouterr().err

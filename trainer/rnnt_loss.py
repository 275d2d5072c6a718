"""RNN-T loss for CPU training, in plain torch ops (autograd gives the gradient, but for the
log-softmax's, written by hand).

``torchaudio.functional.rnnt_loss`` is the reference and what CUDA training uses. On the
2-core CPU machine it was the largest single cost of a training step: 0.40 s of a 1.19 s
step (64 utterances of 2.5 s, 31 encoder frames x 21 label positions x 257 classes; idle
machine, docs/experiments.md). This version does the same computation with tensor ops that
torch runs multi-threaded:

* the log-softmax denominator ``logsumexp`` over the classes (the only pass over the
  whole ``[B, T, U+1, C]`` logits), then the blank and target log-probabilities, gathered;
  their gradient, ``onehot - softmax`` times the incoming one, is made in one expression
  (``_LabelLogProbs``) rather than by autograd through every op: 1.3x faster bf16 steps;
* the forward variable row by row over encoder frames. Within frame ``t`` the recursion
  ``a[u] = logaddexp(c[u], a[u-1] + e[u-1])`` (``c``: arriving from frame ``t-1`` by
  blank, ``e``: emitting label ``u``) is a linear recurrence in log space with the closed
  form ``a = E + logcumsumexp(c - E)``, ``E`` the running sum of ``e``, so a frame is a
  handful of vectorized ops instead of a loop over labels. The recursion runs in float64
  (its tensors are ``[B, U+1]``, small), so the running sums lose no precision.

It returns the same per-utterance losses (negative log-likelihood of the labels, summed
over alignments) and gradients as torchaudio to float32 round-off
(``tests/test_train_recipe.py``).
"""

from __future__ import annotations

import torch


def rnnt_loss(logits: torch.Tensor, targets: torch.Tensor, logit_lengths: torch.Tensor,
              target_lengths: torch.Tensor, blank: int = 0, fused: bool = True) -> torch.Tensor:
    """Per-utterance RNN-T losses ``[B]``.

    ``logits`` ``[B, T, U+1, C]`` (unnormalized), ``targets`` ``[B, U]`` (labels, padded),
    ``logit_lengths`` ``[B]`` (valid encoder frames, >= 1), ``target_lengths`` ``[B]``.
    Padded frames and labels never reach a valid utterance's loss: the forward variable at
    ``(t, u)`` depends only on smaller ``t`` and ``u``. ``fused=False`` takes the log-softmax's
    gradient from autograd instead of ``_LabelLogProbs`` (the same numbers, slower: the
    reference for tests and ``benchmarks/train_speed.py``)."""
    B, T, U1, C = logits.shape
    U = U1 - 1
    if fused:
        blank_lp, emit_lp = _LabelLogProbs.apply(logits, targets[:, :U].long(), blank)
    else:
        blank_lp, emit_lp, _ = _label_log_probs(logits, targets[:, :U].long(), blank)
    blank_lp, emit_lp = blank_lp.double(), emit_lp.double()  # [B, T, U+1], [B, T, U]
    zero = emit_lp.new_zeros(B, 1)
    rows = []
    arrive = torch.cat([zero, emit_lp.new_full((B, U), float("-inf"))], dim=1)  # frame 0 starts at u = 0
    for t in range(T):
        run = torch.cat([zero, torch.cumsum(emit_lp[:, t], dim=1)], dim=1)  # E[u] = sum_{j<u} e[j]
        a = run + torch.logcumsumexp(arrive - run, dim=1)
        rows.append(a)
        arrive = a + blank_lp[:, t]
    alpha = torch.stack(rows, dim=1)  # [B, T, U+1]
    b = torch.arange(B, device=logits.device)
    tl = (logit_lengths.long() - 1).clamp(min=0)
    ul = target_lengths.long()
    return -(alpha[b, tl, ul] + blank_lp[b, tl, ul]).to(torch.promote_types(logits.dtype, torch.float32))


def _label_log_probs(logits, targets, blank: int):
    """Blank and target log-probabilities and the log-sum-exp ``[B, T, U+1]`` (float32)."""
    x = logits.float()
    B, T, U1, C = x.shape
    lse = torch.logsumexp(x, dim=-1)
    idx = targets[:, None, :, None].expand(B, T, U1 - 1, 1)
    return x[..., blank] - lse, x[:, :, :U1 - 1].gather(-1, idx).squeeze(-1) - lse[:, :, :U1 - 1], lse


class _LabelLogProbs(torch.autograd.Function):
    """The blank and target log-probabilities ``[B, T, U+1]`` and ``[B, T, U]`` of unnormalized
    ``logits`` ``[B, T, U+1, C]`` (float32 or bf16; computed in float32), with a hand-written
    backward: ``d lp_k / d logits = onehot(k) - softmax``, so the gradient is
    ``-(g_blank + g_emit) * softmax`` plus the two one-hot columns, made in three passes over
    the logits from the saved log-sum-exp. Autograd through ``log_softmax``, ``gather`` and the
    slices instead keeps a float32 copy and sums several full-size gradients (measured: 0.4 s of
    a 1.3 s bf16 step in those passes; docs/experiments.md, "The log-softmax's gradient by hand")."""

    @staticmethod
    def forward(ctx, logits, targets, blank: int):
        with torch.no_grad():
            blank_lp, emit_lp, lse = _label_log_probs(logits, targets, blank)
        B, T, U1, C = logits.shape
        ctx.blank = blank
        ctx.save_for_backward(logits, lse, targets[:, None, :, None].expand(B, T, U1 - 1, 1))
        return blank_lp, emit_lp

    @staticmethod
    def backward(ctx, g_blank, g_emit):
        logits, lse, idx = ctx.saved_tensors
        U = idx.shape[2]
        g = g_blank.clone()
        g[:, :, :U] += g_emit
        grad = logits.to(torch.float32, copy=True).sub_(lse[..., None]).exp_().mul_(-g[..., None])  # -g * softmax
        grad[..., ctx.blank] += g_blank
        grad[:, :, :U].scatter_add_(-1, idx, g_emit[..., None])
        return grad.to(logits.dtype), None, None

"""RNN-T loss for CPU training, in plain torch ops (autograd gives the gradient).

``torchaudio.functional.rnnt_loss`` is the reference and what CUDA training uses. On the
2-core CPU machine it was the largest single cost of a training step: 0.40 s of a 1.19 s
step (64 utterances of 2.5 s, 31 encoder frames x 21 label positions x 257 classes; idle
machine, docs/training.md). This version does the same computation with tensor ops that
torch runs multi-threaded:

* the log-softmax denominator ``logsumexp`` over the classes (the only pass over the
  whole ``[B, T, U+1, C]`` logits), then the blank and target log-probabilities, gathered;
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
              target_lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """Per-utterance RNN-T losses ``[B]``.

    ``logits`` ``[B, T, U+1, C]`` (unnormalized), ``targets`` ``[B, U]`` (labels, padded),
    ``logit_lengths`` ``[B]`` (valid encoder frames, >= 1), ``target_lengths`` ``[B]``.
    Padded frames and labels never reach a valid utterance's loss: the forward variable at
    ``(t, u)`` depends only on smaller ``t`` and ``u``."""
    B, T, U1, C = logits.shape
    U = U1 - 1
    lse = torch.logsumexp(logits, dim=-1)  # [B, T, U+1]
    blank_lp = (logits[..., blank] - lse).double()
    if U > 0:
        idx = targets[:, None, :U, None].long().expand(B, T, U, 1)
        emit_lp = (logits[:, :, :U].gather(-1, idx).squeeze(-1) - lse[:, :, :U]).double()  # [B, T, U]
    else:
        emit_lp = lse.new_zeros(B, T, 0, dtype=torch.float64)
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
    return -(alpha[b, tl, ul] + blank_lp[b, tl, ul]).to(logits.dtype)

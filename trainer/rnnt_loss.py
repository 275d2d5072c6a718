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
    idx = targets[:, None, :U, None].long().expand(B, T, U, 1)  # label u at every frame
    if fused:
        blank_lp, emit_lp = _LabelLogProbs.apply(logits, idx, blank)
    else:
        blank_lp, emit_lp, _ = _label_log_probs(logits, idx, blank)
    nll = lattice_nll(blank_lp, emit_lp, logit_lengths, target_lengths)
    return nll.to(torch.promote_types(logits.dtype, torch.float32))


def lattice_nll(blank_lp: torch.Tensor, emit_lp: torch.Tensor, logit_lengths: torch.Tensor,
                target_lengths: torch.Tensor) -> torch.Tensor:
    """Per-utterance ``-log P(labels)`` ``[B]`` (float64) of an RNN-T lattice given its arcs'
    log-probabilities: ``blank_lp`` ``[B, T, U+1]`` (leave frame ``t`` at label position
    ``u``), ``emit_lp`` ``[B, T, U]`` (emit label ``u`` within frame ``t``). The forward
    variable, row by row over frames (see the module's docstring)."""
    blank_lp, emit_lp = blank_lp.double(), emit_lp.double()
    B, T, U1 = blank_lp.shape
    U = U1 - 1
    zero = emit_lp.new_zeros(B, 1)
    rows = []
    arrive = torch.cat([zero, emit_lp.new_full((B, U), float("-inf"))], dim=1)  # frame 0 starts at u = 0
    for t in range(T):
        run = torch.cat([zero, torch.cumsum(emit_lp[:, t], dim=1)], dim=1)  # E[u] = sum_{j<u} e[j]
        a = run + torch.logcumsumexp(arrive - run, dim=1)
        rows.append(a)
        arrive = a + blank_lp[:, t]
    alpha = torch.stack(rows, dim=1)  # [B, T, U+1]
    b = torch.arange(B, device=blank_lp.device)
    tl = (logit_lengths.long() - 1).clamp(min=0)
    ul = target_lengths.long()
    return -(alpha[b, tl, ul] + blank_lp[b, tl, ul])


def _label_log_probs(logits, idx, blank: int):
    """Blank and label log-probabilities and the log-sum-exp ``[B, T, K]`` (float32) of
    ``logits`` ``[B, T, K, C]``; ``idx`` ``[B, T, L, 1]`` holds the label emitted at each of the
    first ``L`` positions (``L = K - 1`` on the whole lattice, whose last position emits nothing)."""
    x = logits.float()
    L = idx.shape[2]
    lse = torch.logsumexp(x, dim=-1)
    return x[..., blank] - lse, x[:, :, :L].gather(-1, idx).squeeze(-1) - lse[:, :, :L], lse


class _LabelLogProbs(torch.autograd.Function):
    """The blank and target log-probabilities ``[B, T, U+1]`` and ``[B, T, U]`` of unnormalized
    ``logits`` ``[B, T, U+1, C]`` (float32 or bf16; computed in float32; or the ``[B, T, S, C]``
    of a pruned lattice, ``pruned_rnnt_loss``), with a hand-written
    backward: ``d lp_k / d logits = onehot(k) - softmax``, so the gradient is
    ``-(g_blank + g_emit) * softmax`` plus the two one-hot columns, made in three passes over
    the logits from the saved log-sum-exp. Autograd through ``log_softmax``, ``gather`` and the
    slices instead keeps a float32 copy and sums several full-size gradients (measured: 0.4 s of
    a 1.3 s bf16 step in those passes; docs/experiments.md, "The log-softmax's gradient by hand")."""

    @staticmethod
    def forward(ctx, logits, idx, blank: int):
        with torch.no_grad():
            blank_lp, emit_lp, lse = _label_log_probs(logits, idx, blank)
        ctx.blank = blank
        ctx.save_for_backward(logits, lse, idx)
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


# ---------------------------------------------------------------- pruned lattice

OUTSIDE = -1.0e5  # log-prob of an arc left out of a pruned lattice: finite, so the forward
# variable's running sums stay finite (exp(-1e5) is 0 to float64)


def window_size(window: int, logit_lengths: torch.Tensor, target_lengths: torch.Tensor) -> int:
    """The label positions per frame that a batch needs: ``window``, or more where an utterance
    has more labels per frame than ``window - 1`` (every label must fit: a window of ``S``
    emits at most ``S - 1`` labels in one frame), never more than the whole lattice's ``U + 1``."""
    need = (target_lengths.long() + logit_lengths.long().clamp(min=1) - 1) // logit_lengths.long().clamp(min=1)
    U = int(target_lengths.max()) if target_lengths.numel() else 0
    return min(max(int(window), int(need.max()) + 1 if need.numel() else 1), U + 1)


def lattice_occupancy(blank_lp: torch.Tensor, emit_lp: torch.Tensor, logit_lengths: torch.Tensor,
                      target_lengths: torch.Tensor) -> torch.Tensor:
    """Posterior probability ``[B, T, U+1]`` that the alignment passes through node ``(t, u)``
    (the derivatives of ``log P`` by the arcs' log-probabilities are the arcs' posteriors,
    and every visit of a node leaves by exactly one arc). No gradient flows out."""
    with torch.enable_grad():
        b = blank_lp.detach().double().requires_grad_()
        e = emit_lp.detach().double().requires_grad_()
        gb, ge = torch.autograd.grad(-lattice_nll(b, e, logit_lengths, target_lengths).sum(), (b, e))
    occ = gb.clone()
    occ[..., : ge.shape[2]] += ge
    return occ


def window_starts(occ: torch.Tensor, size: int, logit_lengths: torch.Tensor,
                  target_lengths: torch.Tensor) -> torch.Tensor:
    """First label position ``[B, T]`` (long) of each frame's window of ``size`` positions:
    the window holding most of ``occ`` (``[B, T, U+1]``, e.g. :func:`lattice_occupancy`),
    moved as little as needed to keep a complete path inside the windows: frame 0's window
    starts at 0, a window never starts before the previous frame's or more than ``size - 1``
    after it, and the last frame's window holds the utterance's last position ``U_b``
    (``size`` from :func:`window_size` makes that possible)."""
    B, T, U1 = occ.shape
    S = int(size)
    if S >= U1:
        return torch.zeros(B, T, dtype=torch.long, device=occ.device)
    c = torch.nn.functional.pad(occ.cumsum(2), (1, 0))
    n = U1 - S + 1  # window starts 0 .. U - S + 1
    best = (c[..., S:S + n] - c[..., :n]).argmax(-1)  # [B, T]
    top = (target_lengths.long() + 1 - S).clamp(min=0)  # the last frame's start: holds U_b
    t = torch.arange(T, device=occ.device)
    # to reach top by the utterance's last frame, at most S - 1 positions a frame
    low = top[:, None] - (logit_lengths.long()[:, None] - 1 - t) * (S - 1)
    cols = [torch.zeros(B, dtype=torch.long, device=occ.device)]  # frame 0: position 0
    for i in range(1, T):
        prev = cols[-1]
        lo, hi = torch.maximum(prev, low[:, i]), torch.minimum(prev + S - 1, top)
        cols.append(torch.minimum(torch.maximum(best[:, i], lo), hi))
    return torch.stack(cols, 1)


def window_positions(starts: torch.Tensor, size: int) -> torch.Tensor:
    """Label positions ``[B, T, S]`` of the windows that start at ``starts`` ``[B, T]``."""
    return starts[..., None] + torch.arange(int(size), device=starts.device)


def pruned_rnnt_loss(logits: torch.Tensor, targets: torch.Tensor, starts: torch.Tensor,
                     logit_lengths: torch.Tensor, target_lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """Per-utterance RNN-T losses ``[B]`` on a pruned lattice (after k2's pruned RNN-T, Kuang
    et al. 2022): ``logits`` ``[B, T, S, C]`` are the joiner's only at label positions
    ``starts[b, t] + k``, ``k < S``; arcs outside these windows are left out. The loss is
    never below the whole lattice's (fewer alignments) and equals it when the windows hold
    every position; gradients come as in :func:`rnnt_loss`."""
    B, T, S, C = logits.shape
    U = targets.shape[1]
    pos = window_positions(starts, S)  # [B, T, S], <= U
    lab = targets.long().gather(1, pos.clamp(max=max(U - 1, 0)).view(B, T * S)).view(B, T, S) if U else \
        torch.zeros_like(pos)
    blank_w, emit_w = _LabelLogProbs.apply(logits, lab[..., None], blank)
    emit_w = torch.where(pos < U, emit_w, torch.full_like(emit_w, OUTSIDE))  # position U emits nothing
    blank_lp = blank_w.new_full((B, T, U + 1), OUTSIDE).scatter(2, pos, blank_w)
    emit_lp = emit_w.new_full((B, T, U + 1), OUTSIDE).scatter(2, pos, emit_w)[..., :U]
    nll = lattice_nll(blank_lp, emit_lp, logit_lengths, target_lengths)
    return nll.to(torch.promote_types(logits.dtype, torch.float32))

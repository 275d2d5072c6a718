"""Compressed-sensing pruning (CSP): our formulation, implemented and documented here.

The method is after Zhen, Nguyen et al., "Sparsification via Compressed Sensing for
Automatic Speech Recognition" (arXiv 2102.04932, ICASSP 2021), of which only the abstract
is public: pruning posed as a dual problem (induce sparsity; keep the compression error
small), solved with a classic compressed-sensing (CS) recovery step inside training. The
algorithm below is ours; nothing in it is taken from the paper beyond that idea.

Problem, per pruning step and per weight group
----------------------------------------------
A group is the weight matrices that add into one pre-activation: an LSTM op's input and
recurrent matrices ``[W_x W_h]`` (gate pre-activation ``W_x x_t + W_h h_{t-1}``; the two are
recovered jointly, so one may compensate the other's error), or one joiner matrix. With
``X`` [N, in] the group's recorded inputs (rows: frames; for an LSTM ``[x_t, h_{t-1}]``),
``W`` [out, in] the current weights (already zero outside the current mask) and
``G = XᵀX / N`` the Gram matrix, find

    Ŵ = argmin ‖X Wᵀ − X Ŵᵀ‖²_F / N = tr((W − Ŵ) G (W − Ŵ)ᵀ)
        subject to  nnz(Ŵ_b) = k_b for every matrix b of the group,  supp(Ŵ) ⊆ mask.

This is sparse recovery with ``X`` as the sensing matrix and ``X Wᵀ`` (the dense layer's
outputs) as the measurements, one right-hand side per output row. Everything runs on the
Gram matrix (in x in), never on ``X``, and is vectorized over all rows of a matrix.

Solver: Jacobi-preconditioned hard thresholding pursuit (HTP)
------------------------------------------------------------
HTP (Foucart 2011) is iterative hard thresholding (IHT, Blumensath & Davies 2009) in which
every thresholding step is followed by a least-squares fit on the chosen support:

1. start: ``S`` = the ``k_b`` entries of largest ``|w_ij| · sqrt(G_jj)`` per matrix (the
   magnitude weighted by the RMS of its input, the first-order estimate of each weight's
   contribution to the output error); ``Ŵ`` = least squares on ``S``;
2. gradient step with the diagonal (Jacobi) preconditioner ``D = diag(G)``:
   ``V = Ŵ + μ (W − Ŵ) G D⁻¹`` (``μ = 1``: for a single coordinate this is the exact
   minimizer, so off-support entries of ``V`` are the values they would take if added);
3. hard thresholding in the ``D``-weighted norm: ``S`` = the ``k_b`` entries of largest
   ``|v_ij| · sqrt(G_jj)`` inside the mask, per matrix. ``v²·G_jj`` is, coordinate-wise,
   the error a weight removes (off support) or would add if dropped (on support, where
   the gradient is zero after step 4), so this is a greedy swap test;
4. debias: ``Ŵ`` = argmin of the objective with support ``S``, by preconditioned
   conjugate gradients (PCG, Jacobi), warm-started from ``V``, all rows in parallel;
5. repeat 2–4 (``csp_iters`` times, or until the support stops changing), keeping the
   iterate of lowest error. The magnitude support (debiased) is a candidate too, so the
   recovered error is never above magnitude selection's, with or without re-fitting.

Why these choices: plain IHT with the safe step ``1/λ_max(G)`` barely moves the weights
of low-energy input directions, and on the strongly correlated, unevenly scaled inputs of
an LSTM stack (features vs. saturating hidden units) it needs many more iterations; the
Jacobi step and the least-squares debias give a much lower error in ~10 iterations
(on a correlated, unevenly scaled synthetic layer at 80 % sparsity, relative output
error: 0.015; the same HTP with the step ``1/λ_max(G)`` and unweighted thresholding: 0.10;
the magnitude support re-fitted: 0.15; magnitude selection: 0.37. ``tests/test_prune.py``
checks the recovery against magnitude selection). A small ridge
(``1e-4 · mean(diag G)``) keeps the PCG well posed on rank-deficient ``X``.

Training (the "dual problem")
-----------------------------
* Gradual schedule: Zhu & Gupta's cubic ``s_t`` (``schedule.py``), the same as the
  magnitude baseline, every ``prune_every`` steps between ``prune_start`` and ``prune_end``.
* At each pruning step: record the inputs of every pruned group on ``csp_utts`` training
  utterances (default 48) with the current model's float forward (under ``--aat`` too:
  the emulated forward differs from it only by quantization noise), solve the recovery
  above, set the new mask to ``supp(Ŵ)`` (inside the old one: masks are monotone), store
  ``Ŵ`` as the target, and (``csp_assign``, default on) copy ``Ŵ`` into the weights, so
  the network continues from the sparse weights of least output error rather than from
  ``W ⊙ mask``. This matters most: on the tiny espeak corpus (80 % within 100 fine-tuning
  steps) the final training loss was 0.013 with it, 1.21 without it, 1.24 for magnitude.
* Between pruning steps the loss is the ASR loss plus ``csp_lambda · Σ ‖W − Ŵ‖²`` (sum over
  the pruned matrices): the weights are pulled toward the recovered sparse solution while
  the ASR loss re-trains them, and ``W *= mask`` after every optimizer step keeps pruned
  weights at exactly zero.
* Sparsity per matrix follows the schedule exactly (``round(s · numel)`` zeros), as in the
  baseline, so the two methods differ only in which weights go to zero and in the values
  the survivors get.

Options (read with ``getattr`` from the training config, so they can be set on the config
object; defaults in brackets): ``csp_lambda`` [1e-3], ``csp_utts`` [48], ``csp_iters`` [10],
``csp_cg_iters`` [12], ``csp_assign`` [True], ``prune_layers`` ["all"] (see ``base.py``).
"""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F

from engine.arch import JOIN_ENC, JOIN_OUT, LSTM

from .base import Pruner, magnitude_mask

RIDGE = 1e-4


# --- the recovery step -------------------------------------------------------------------
def layer_error(w: torch.Tensor, w_hat: torch.Tensor, gram: torch.Tensor) -> float:
    """``tr((W − Ŵ) G (W − Ŵ)ᵀ)`` = ``‖X Wᵀ − X Ŵᵀ‖²/N`` for ``G = XᵀX/N``."""
    d = (w - w_hat).to(gram.dtype)
    return float(((d @ gram) * d).sum())


def _blocks_topk(score: torch.Tensor, blocks, mask: torch.Tensor) -> torch.Tensor:
    """Exactly ``k`` entries of largest score inside ``mask``, per column block ``(lo, hi, k)``."""
    out = torch.zeros_like(mask)
    for lo, hi, k in blocks:
        out[:, lo:hi] = magnitude_mask(score[:, lo:hi], k, mask[:, lo:hi])
    return out


def refit(w: torch.Tensor, gram: torch.Tensor, support: torch.Tensor, start: torch.Tensor,
          iters: int = 12) -> torch.Tensor:
    """Least squares on a fixed support: argmin tr((W−Ŵ)G(W−Ŵ)ᵀ), ``Ŵ = 0`` off ``support``.

    Jacobi-preconditioned conjugate gradients, one independent system per row, all rows
    at once (per-row step sizes), warm-started from ``start``.
    """
    s = support.to(w.dtype)
    d = torch.diagonal(gram)
    x = start * s
    r = ((w - x) @ gram) * s  # minus half the gradient
    z = r / d
    p = z.clone()
    rz = (r * z).sum(1)
    for _ in range(iters):
        ap = (p @ gram) * s
        pap = (p * ap).sum(1)
        a = torch.where(pap > 0, rz / pap.clamp_min(1e-30), torch.zeros_like(pap))
        x += a[:, None] * p
        r -= a[:, None] * ap
        z = r / d
        rz_new = (r * z).sum(1)
        b = torch.where(rz > 0, rz_new / rz.clamp_min(1e-30), torch.zeros_like(rz))
        p = z + b[:, None] * p
        rz = rz_new
    return x


@torch.no_grad()
def csp_recover(w: torch.Tensor, gram: torch.Tensor, k, mask: torch.Tensor | None = None,
                iters: int = 10, cg_iters: int = 12, step: float = 1.0) -> tuple[torch.Tensor, dict]:
    """Sparse ``Ŵ`` minimizing ``tr((W − Ŵ) G (W − Ŵ)ᵀ)`` (see the module docstring).

    ``w`` [out, in]; ``gram`` [in, in] (``XᵀX/N``); ``k``: non-zeros to keep, an int for the
    whole matrix or a list of ``(lo, hi, k)`` column blocks (the matrices of a group);
    ``mask``: allowed support (default all). Returns ``(Ŵ, info)``; ``info`` holds the
    relative errors (``err / tr(W G Wᵀ)``) of the result and of magnitude selection.
    """
    w = w.detach().float()
    gram = gram.to(w.device, torch.float32)
    n_in = w.shape[1]
    blocks = [(0, n_in, int(k))] if isinstance(k, (int, np.integer)) else [tuple(map(int, b)) for b in k]
    mask = torch.ones_like(w, dtype=torch.bool) if mask is None else mask.to(w.device, torch.bool)
    w = w * mask
    diag = torch.diagonal(gram)
    ridge = RIDGE * float(diag.mean().clamp_min(1e-12))
    g = gram + ridge * torch.eye(n_in, device=w.device, dtype=gram.dtype)
    d = torch.diagonal(g)
    sq = d.sqrt()[None]
    base = max(layer_error(w, torch.zeros_like(w), gram), 1e-30)
    # candidates: magnitude (as is, and debiased), then HTP from the input-weighted magnitude
    s_mag = _blocks_topk(w.abs(), blocks, mask)
    e_mag = layer_error(w, w * s_mag, gram)
    w_hat = refit(w, g, s_mag, w, cg_iters)
    best_e, best = layer_error(w, w_hat, gram), w_hat
    e_mag_refit = best_e
    if e_mag < best_e:
        best_e, best = e_mag, w * s_mag
    supp = _blocks_topk(w.abs() * sq, blocks, mask)
    w_hat = refit(w, g, supp, w, cg_iters)
    hist = [layer_error(w, w_hat, gram)]
    if hist[-1] < best_e:
        best_e, best = hist[-1], w_hat
    for _ in range(iters):
        v = w_hat + step * ((w - w_hat) @ g) / d[None]
        new = _blocks_topk(v.abs() * sq, blocks, mask)
        if torch.equal(new, supp):
            break
        supp = new
        w_hat = refit(w, g, supp, v, cg_iters)
        hist.append(layer_error(w, w_hat, gram))
        if hist[-1] < best_e:
            best_e, best = hist[-1], w_hat
    best = best * mask  # exact zeros off support
    # the support must hold exactly k per block: fill ties/zeros from the chosen support
    supp = _blocks_topk(best.abs() + (best != 0).float(), blocks, mask)
    best = best * supp
    info = {"rel_err": best_e / base, "rel_err_magnitude": e_mag / base,
            "rel_err_magnitude_refit": e_mag_refit / base, "htp_iters": len(hist) - 1}
    return best, info


# --- recording the layer inputs ----------------------------------------------------------
def _groups(names: list[str]) -> dict[str, list[str]]:
    """Pruned matrices grouped by the pre-activation they feed (LSTM: wx and wh together)."""
    out: dict[str, list[str]] = {}
    for n in names:
        op = n.rsplit(".", 1)[0]  # enc.0.wx -> enc.0; join.out.w -> join.out
        out.setdefault(op, []).append(n)
    for op in out:
        out[op].sort(key=lambda n: 0 if n.endswith(".wx") or n.endswith(".w") else 1)
    return out


def _pad_batch(fs, idx):
    lens = [int(fs.offsets[i + 1] - fs.offsets[i]) for i in idx]
    x = torch.zeros(len(idx), max(lens), fs.feats.shape[1])
    for j, i in enumerate(idx):
        x[j, : lens[j]] = torch.from_numpy(np.asarray(fs.frames(i), dtype=np.float32))
    toks = [fs.tokens[i] for i in idx]
    y = torch.zeros(len(idx), max(1, max(len(t) for t in toks)), dtype=torch.long)
    for j, t in enumerate(toks):
        y[j, : len(t)] = torch.tensor(t, dtype=torch.long)
    return x, torch.tensor(lens), y, torch.tensor([len(t) for t in toks])


class _GramAcc:
    def __init__(self) -> None:
        self.g: dict[str, torch.Tensor] = {}
        self.n: dict[str, int] = {}

    def add(self, key: str, z: torch.Tensor) -> None:
        z = z.reshape(-1, z.shape[-1]).double()
        gz = z.T @ z
        if key in self.g:
            self.g[key] += gz
        else:
            self.g[key] = gz
        self.n[key] = self.n.get(key, 0) + z.shape[0]

    def result(self) -> dict[str, torch.Tensor]:
        return {k: (v / max(self.n[k], 1)).float() for k, v in self.g.items()}


def _valid(lens: torch.Tensor, t: int) -> torch.Tensor:
    return torch.arange(t, device=lens.device)[None] < lens[:, None]


def _recorder(op, acc: _GramAcc, batch: dict):
    """A forward hook adding ``op``'s input rows (padding excluded) to its Gram matrix: an
    LSTM's ``[x_t, h_{t-1}]``, a linear op's input. ``batch``: the current batch's lengths
    (``frames``: at each encoder layer's input and at the encoder's output; ``tokens``)."""
    def rows(x: torch.Tensor) -> torch.Tensor:
        if op.name in batch["frames"]:  # an encoder layer
            return _valid(batch["frames"][op.name], x.shape[1])
        steps = _valid(batch["tokens"] + 1, x.shape[-2])  # predictor steps: start symbol + tokens
        if op.name not in (JOIN_ENC, JOIN_OUT):
            return steps
        frames = _valid(batch["frames"]["out"].clamp(min=1, max=x.shape[1]), x.shape[1])
        return frames if op.name == JOIN_ENC else frames[:, :, None] & steps[:, None, :]

    def hook(module, inputs, output):
        x = inputs[0]
        if op.kind == LSTM:
            x = torch.cat([x, F.pad(output[0][:, :-1], (0, 0, 1, 0))], -1)
        acc.add(op.name, x[rows(inputs[0])])

    return hook


def _frame_lengths(arch, lens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Frames at each encoder layer's input, and at the encoder's output (``out``)."""
    out, n = {}, lens // arch.stack
    for i, op in enumerate(arch.encoder_ops):
        out[op.name] = n
        if arch.reduce_after and i + 1 == arch.reduce_after:
            n = n // arch.reduce_factor
    out["out"] = n
    return out


@torch.no_grad()
def record_grams(model, fs, ops: list[str], n_utts: int = 48, seed: int = 0,
                 batch_frames: int = 8000, device=None) -> dict[str, torch.Tensor]:
    """Gram matrices ``XᵀX/N`` of the inputs of ``ops`` (``enc.L``, an LSTM ``pred.0``: ``[x_t, h_{t-1}]``;
    a stateless ``pred.0``: its last tokens' embeddings;
    ``join.enc`` / ``join.pred``: encoder / predictor outputs; ``join.out``: the joiner's tanh
    over the whole (t, u) lattice), recorded by forward hooks on the model's own float
    forward on ``n_utts`` random training utterances (padding excluded)."""
    device = device or next(model.parameters()).device
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(fs), size=min(n_utts, len(fs)), replace=False)
    idx = sorted(idx.tolist(), key=lambda i: fs.offsets[i + 1] - fs.offsets[i])
    batches, cur = [], []
    for i in idx:
        L = int(fs.offsets[i + 1] - fs.offsets[i])
        if cur and L * (len(cur) + 1) > batch_frames:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    acc = _GramAcc()
    a = model.arch
    batch: dict = {}
    modules = dict(model.named_modules())
    hooks = [modules[o.module].register_forward_hook(_recorder(o, acc, batch)) for o in a.ops if o.name in ops]
    training = model.training
    model.eval()
    try:
        with model.float_forward():
            for b in batches:
                x, lens, y, yl = (t.to(device) for t in _pad_batch(fs, b))
                batch.update(frames=_frame_lengths(a, lens), tokens=yl)
                model(x, lens, y, yl)
                model.take_inter()
    finally:
        for h in hooks:
            h.remove()
        model.train(training)
    return acc.result()


# --- the pruner ---------------------------------------------------------------------------
class CSPPruner(Pruner):
    """Gradual pruning whose masks and targets come from the CS recovery step (see above)."""

    method = "csp"

    def __init__(self, cfg, model, train_fs=None, device=None, layers: str | None = None,
                 verbose: bool = True) -> None:
        super().__init__(cfg, model, train_fs, device, layers, verbose)
        if train_fs is None or len(train_fs) == 0:
            raise ValueError("CSP pruning needs training data to record layer inputs")
        self.lam = float(getattr(cfg, "csp_lambda", 1e-3))
        self.n_utts = int(getattr(cfg, "csp_utts", 48))
        self.iters = int(getattr(cfg, "csp_iters", 10))
        self.cg_iters = int(getattr(cfg, "csp_cg_iters", 12))
        self.assign = bool(getattr(cfg, "csp_assign", True))
        self.seed = int(getattr(cfg, "seed", 0))
        self.groups = _groups(list(self.params))
        self.targets: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def prune(self, step: int, keep: dict[str, int]) -> dict:
        grams = record_grams(self.model, self.train_fs, list(self.groups), self.n_utts,
                             seed=self.seed * 100003 + step, device=self.device)
        errs, errs_mag = [], []
        for op, names in self.groups.items():
            ws = [self.params[n].detach().float() for n in names]
            w = torch.cat(ws, 1)
            mask = torch.cat([self.masks[n] for n in names], 1)
            blocks, lo = [], 0
            for n, wi in zip(names, ws):
                blocks.append((lo, lo + wi.shape[1], keep[n]))
                lo += wi.shape[1]
            gram = grams[op]
            if gram.shape[0] != w.shape[1]:  # only one of an LSTM's two matrices is pruned
                in_x = self.model.arch.op(op).in_dim
                sl = slice(0, in_x) if names[0].endswith(".wx") else slice(in_x, None)
                gram = gram[sl, sl]
            w_hat, info = csp_recover(w, gram, blocks, mask, iters=self.iters, cg_iters=self.cg_iters)
            errs.append(info["rel_err"])
            errs_mag.append(info["rel_err_magnitude"])
            for (lo, hi, _), n in zip(blocks, names):
                t = w_hat[:, lo:hi].contiguous()
                self.masks[n] = t != 0
                self.targets[n] = t.to(self.params[n].dtype)
        return {"rel_err": round(float(np.mean(errs)), 5), "rel_err_magnitude": round(float(np.mean(errs_mag)), 5)}

    @torch.no_grad()
    def commit(self) -> None:
        if self.assign:  # continue from the recovered sparse weights
            for n, t in self.targets.items():
                self.params[n].copy_(t)
        self.apply_masks()

    def loss_term(self) -> torch.Tensor:
        if not self.targets or self.lam == 0:
            return torch.zeros((), device=self.device)
        return self.lam * sum(((self.params[n] - t) ** 2).sum() for n, t in self.targets.items())

    def state_dict(self) -> dict:
        d = super().state_dict()
        d["targets"] = {n: t.detach().cpu().clone() for n, t in self.targets.items()}
        d["csp"] = json.dumps({"lambda": self.lam, "utts": self.n_utts, "iters": self.iters,
                               "cg_iters": self.cg_iters, "assign": self.assign})
        return d

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        self.targets = {n: t.to(self.device, self.params[n].dtype)
                        for n, t in d.get("targets", {}).items() if n in self.params}

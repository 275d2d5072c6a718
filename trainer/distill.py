"""Knowledge distillation from a dense teacher (``--set distill=W``): the fine-tunes that
change what a trained model computes (pruning, AAT, fewer weight bits) learn from the model
they started from as well as from the transcripts.

The teacher (the ``--init`` checkpoint unless ``teacher=PATH``) runs its float forward
(an AAT checkpoint with ``teacher_aat``: its integer emulation), without gradients, on the
features the student sees before SpecAugment. The loss is the
KL divergence between the teacher's and the student's output distributions at every node
``(t, u)`` of the RNN-T lattice, weighted by the posterior probability that the teacher's
alignment of the transcript passes through that node (``trainer.rnnt_loss.lattice_occupancy``),
summed over the lattice and averaged over the batch like the RNN-T loss:

    L_KD = sum_{t,u} occ_T(t, u) * KL(p_T(. | t, u) || p_S(. | t, u))

Weighting by the teacher's occupancy spends the loss where the transcript's alignments go,
not on the lattice corners no alignment reaches (the full-lattice KL of Panchapagesan et al.,
*Efficient Knowledge Distillation for RNN-Transducer Models*, ICASSP 2021, gives those as
much weight as the path). Its scale is that of the RNN-T loss: ``occ`` sums to the number
of arcs of an alignment, ``T + U``, per utterance.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from .checkpoint import checkpoint_frontend, load_checkpoint, model_from_checkpoint
from .rnnt_loss import _label_log_probs, lattice_occupancy


class Teacher:
    """A frozen float model whose lattice distributions the student is pulled toward."""

    def __init__(self, path: str, device, num_classes: int, emulate: bool = False, frontend=None) -> None:
        """``emulate``: an AAT checkpoint runs the NNA's integer emulation, as its model file
        does, instead of its float forward (a float checkpoint runs its float forward either way).
        ``frontend``: the student's front-end (default: the teacher's own). The teacher hears
        its own features: where only the log floor differs and the teacher's is the higher,
        the student's features raised to it are exactly the teacher's; any other difference
        is refused."""
        ckpt = load_checkpoint(path)
        self.path = path
        self.model = model_from_checkpoint(ckpt, device).eval().requires_grad_(False)
        if self.model.arch.num_classes != num_classes:
            raise ValueError(f"teacher {path}: {self.model.arch.num_classes} output classes, the student "
                             f"{num_classes}; distillation needs the same vocabulary")
        own = checkpoint_frontend(ckpt)
        self.floor = None  # the teacher's log floor, where the student's is lower
        if frontend is not None and frontend != own:
            if replace(frontend, log_floor=own.log_floor) != own or frontend.log_floor > own.log_floor:
                raise ValueError(f"teacher {path}: trained on another front-end ({own}) than the student "
                                 f"({frontend}); distillation needs the teacher's own features")
            self.floor = math.log(own.log_floor)
        self.emulated = bool(emulate and ckpt.get("aat") and ckpt.get("spec"))
        if self.emulated:
            import json

            from engine.nna.spec import NNASpec

            self.model.enable_aat(NNASpec.from_dict(json.loads(ckpt["spec"])))
        self.last = 0.0  # the last batch's distillation loss per utterance (progress lines)

    def loss(self, x, lens, y, yl, student_logits) -> torch.Tensor:
        """``L_KD`` summed over the batch (see the module's docstring); ``x`` the teacher's
        input features (the student's before SpecAugment), ``student_logits`` ``[B, T, U+1, C]``."""
        with torch.no_grad():
            if self.floor is not None:
                x = x.clamp(min=self.floor)
            t_logits, _, t_lens = self.model(x, lens, y, yl)
            B, T, U1, _ = t_logits.shape
            idx = y[:, None, : U1 - 1, None].long().expand(B, T, U1 - 1, 1)  # the RNN-T loss's arcs
            blank_lp, emit_lp, _ = _label_log_probs(t_logits, idx, self.model.arch.blank_id)
            occ = lattice_occupancy(blank_lp, emit_lp, t_lens.clamp(min=1, max=T), yl).float()
            t_lp = F.log_softmax(t_logits.float(), dim=-1)
        if student_logits.shape != t_lp.shape:
            raise ValueError(f"distillation: student logits {tuple(student_logits.shape)}, teacher "
                             f"{tuple(t_lp.shape)}: the two models must share frame rate and vocabulary")
        s_lp = F.log_softmax(student_logits.float(), dim=-1)
        kl = (t_lp.exp() * (t_lp - s_lp)).sum(-1)  # [B, T, U+1]
        total = (occ * kl).sum()
        self.last = float(total.detach()) / max(1, B)
        return total

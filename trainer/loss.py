"""The training loss: RNN-T (torchaudio's, or ``trainer.rnnt_loss`` in plain torch ops, 4x
faster on the CPU) + ``ctc_weight`` x CTC on the encoder output (+ an intermediate CTC
loss), summed per utterance and averaged over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .rnnt_loss import pruned_rnnt_loss, rnnt_loss

RNNT_IMPLS = ("auto", "torch", "torch-autograd", "torchaudio")


def compute_loss(model, x, lens, y, yl, ctc_weight: float, rnnt_impl: str = "auto",
                 inter_ctc_weight: float = 0.0, rnnt_window: int = 0, distill=None):
    """-> (loss, RNN-T, CTC, intermediate CTC), per utterance. ``model``: the RNNT, or its
    DistributedDataParallel wrapper (whose forward it calls; the CTC heads and the
    architecture are read from the wrapped model). ``rnnt_window`` > 0: the RNN-T loss on
    the pruned lattice of that many label positions per frame (``trainer/rnnt_loss.py``).
    ``distill``: a function of the whole lattice's logits giving a loss summed over the batch
    (``trainer.distill.Teacher.loss``, weighted), added to the loss."""
    logits, enc, enc_lens = model(x, lens, y, yl, window=rnnt_window)
    model = getattr(model, "module", model)
    inter_out = model.take_inter()
    starts = model.take_window()
    enc_lens = enc_lens.clamp(min=1, max=logits.shape[1])
    if starts is not None:
        rnnt = pruned_rnnt_loss(logits, y, starts, enc_lens, yl, blank=model.arch.blank_id).sum()
    elif rnnt_impl in ("torch", "torch-autograd") or (rnnt_impl == "auto" and logits.device.type == "cpu"):
        rnnt = rnnt_loss(logits, y, enc_lens, yl, blank=model.arch.blank_id,
                         fused=rnnt_impl != "torch-autograd").sum()
    elif rnnt_impl in ("torchaudio", "auto"):
        import torchaudio.functional as AF

        rnnt = AF.rnnt_loss(logits.float(), y.int(), enc_lens.int(), yl.int(),
                            blank=model.arch.blank_id, reduction="sum", clamp=-1)
    else:
        raise ValueError(f"rnnt_impl={rnnt_impl!r}: one of {', '.join(RNNT_IMPLS)}")
    loss = rnnt
    def ctc_loss(head, h, h_lens):
        lp = F.log_softmax(head(h).float(), dim=-1).transpose(0, 1)
        return F.ctc_loss(lp, y, h_lens, yl, blank=model.arch.blank_id, reduction="sum", zero_infinity=True)

    ctc = inter = torch.zeros(())
    if ctc_weight > 0:
        ctc = ctc_loss(model.ctc, enc, enc_lens)
        loss = loss + ctc_weight * ctc
    if inter_ctc_weight > 0 and inter_out is not None:
        h, h_lens = inter_out
        inter = ctc_loss(model.ctc_inter.out, h, h_lens.clamp(min=1, max=h.shape[1]))
        loss = loss + inter_ctc_weight * inter
    if distill is not None:  # a pruned lattice's logits fail Teacher.loss's shape check
        loss = loss + distill(logits)
    B = x.shape[0]
    return loss / B, rnnt.detach() / B, ctc.detach() / B, inter.detach() / B

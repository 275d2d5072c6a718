"""Greedy RNN-T decoding in torch (float or NNA-aware forward), one utterance at a time.

Used by tests to check that the torch model and its export decode the same tokens.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def greedy_decode(model, feats: torch.Tensor, max_symbols: int = 3) -> list[int]:
    """feats [T, n_mels] (raw log-mel) -> class ids (blank excluded)."""
    lens = torch.tensor([feats.shape[0]])
    enc, enc_lens, enc_q = model.encode(feats[None].float(), lens)
    out: list[int] = []
    for t in range(int(enc_lens[0])):
        for _ in range(max_symbols):
            pred, pred_q = model.predict(torch.tensor([out], dtype=torch.long))
            e = enc[:, t : t + 1]
            eq = enc_q[:, t : t + 1] if enc_q is not None else None
            p = pred[:, -1:]
            pq = pred_q[:, -1:] if pred_q is not None else None
            logits = model.joint(e, eq, p, pq)[0, 0, 0]
            k = int(torch.argmax(logits))
            if k == model.arch.blank_id:
                break
            out.append(k)
    return out


@torch.no_grad()
def ctc_greedy_decode(model, feats: torch.Tensor) -> list[int]:
    """feats [T, n_mels] (raw log-mel) -> class ids from the encoder's CTC head alone (best
    class per encoder frame, repeats merged, blanks dropped): the encoder without the
    predictor, a diagnostic. The CTC head is trained beside the RNN-T but never exported."""
    lens = torch.tensor([feats.shape[0]])
    enc, enc_lens, _ = model.encode(feats[None].float(), lens)
    best = model.ctc(enc[0, : int(enc_lens[0])]).argmax(-1).tolist()
    blank = model.arch.blank_id
    return [k for i, k in enumerate(best) if k != blank and (i == 0 or k != best[i - 1])]

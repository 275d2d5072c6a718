"""Checkpoint surgery: a trained model's state dict reshaped for another architecture or
vocabulary, computing the same function where it can (``nnasr train --set init=...`` with
``init_enc_hidden``, ``init_reduce_after`` or ``tokenizer=data``)."""

from __future__ import annotations

from dataclasses import asdict, replace

import torch

from engine.arch import JOIN_ENC, Architecture

from .checkpoint import tokenizer_from_tensor
from .model import RNNT


def widen_encoder(state: dict, arch: Architecture, hidden: int, gen: torch.Generator,
                  scale: float = 0.0) -> dict:
    """``state`` (an ``RNNT`` state dict of shape ``arch``) with every encoder LSTM widened
    from ``arch.enc_hidden`` to ``hidden`` units; the old weights are kept where they were.

    ``scale`` 0 computes the same function (Net2Net-style growth): the new units start from
    PyTorch's LSTM initialization (uniform +-1/sqrt(hidden), drawn from ``gen``) and every
    weight that reads a new unit (the next layer's input weights, the layer's own recurrent
    weights into old units, the joiner's encoder projection, the CTC head and the
    intermediate CTC head where there is one) starts at zero, so the outputs and the
    training losses are unchanged until training moves them. Those readers then stay far
    smaller than the trained weights beside them, and a pruning run takes them first: the
    new units end up read by nothing (docs/pruning.md, "What the width leaves").

    ``scale`` > 0 makes the new units as strong as the old ones: their weights and the
    weights that read them are drawn uniform with ``scale`` times the mean magnitude of
    the trained weights of the same matrix. The function changes (more so the larger the
    scale) and training has to absorb it; pruning then weighs old and new units alike."""
    h, H = arch.enc_hidden, hidden
    if H < h:
        raise ValueError(f"enc_hidden {h} -> {H}: an encoder can grow, not shrink")
    if H == h:
        return dict(state)
    wide = Architecture(**{**asdict(arch), "enc_hidden": H})
    k = 1.0 / H ** 0.5
    old_rows = torch.cat([torch.arange(g * H, g * H + h) for g in range(4)])  # gate order i, f, g, o

    def in_cols(layer: int) -> torch.Tensor:
        """Where each old input column of ``layer`` lands in its widened input."""
        d = arch.enc_input_dim(layer)
        if layer == 0:
            return torch.arange(d)
        r = d // h  # 1, or reduce_factor concatenated frames of h units each
        return torch.cat([torch.arange(c * H, c * H + h) for c in range(r)])

    def draw(shape, old: torch.Tensor) -> torch.Tensor:
        """Uniform: +-1/sqrt(hidden) (``scale`` 0), or with mean magnitude ``scale * mean|old|``."""
        bound = 2 * scale * float(old.abs().mean()) if scale and old.dim() == 2 else k
        return (torch.rand(shape, generator=gen, dtype=old.dtype) * 2 - 1) * bound

    out = dict(state)
    for i, op in enumerate(arch.encoder_ops):
        p = f"{op.module}."
        cols = in_cols(i)
        shapes = {"weight_ih_l0": (4 * H, wide.enc_input_dim(i)), "weight_hh_l0": (4 * H, H),
                  "bias_ih_l0": (4 * H,), "bias_hh_l0": (4 * H,)}
        for name, shape in shapes.items():
            old = state[p + name]
            new = draw(shape, old)
            if old.dim() == 1:
                new[old_rows] = old
            else:
                if not scale:
                    new[old_rows] = 0.0  # old units read nothing from new ones
                src_cols = cols if name == "weight_ih_l0" else torch.arange(h)
                new[old_rows[:, None], src_cols[None, :]] = old
            out[p + name] = new
    join_enc = arch.op(JOIN_ENC)
    heads = [join_enc.float_params()[f"{join_enc.name}.w"][0], "ctc.weight"]
    for name in heads + (["ctc_inter.out.weight"] if "ctc_inter.out.weight" in state else []):
        old = state[name]
        new = draw((old.shape[0], H), old) if scale else torch.zeros(old.shape[0], H, dtype=old.dtype)
        new[:, :h] = old
        out[name] = new
    return out


def remap_vocabulary(state: dict, fresh: dict, old_pieces: list[str], new_pieces: list[str]) -> tuple[dict, dict]:
    """``state`` (an ``RNNT`` state dict over ``old_pieces``) with its vocabulary-shaped layers
    (the embedding, the joiner's output layer, the CTC head) rebuilt for ``new_pieces``
    (sentencepiece pieces by id; model class = id + 1, class 0 the blank, kept as it is).

    A new piece that the old tokenizer spells with old pieces ``o1 .. on`` (greedy
    longest-prefix match) gets ``o1``'s output row, so the model emits it where it emitted
    ``o1``, with ``o1``'s bias minus ``log k`` when ``k`` new pieces start with ``o1`` (their
    joint probability is then ``o1``'s), and ``on``'s embedding row (the predictor goes on
    from where the old one stood after the word's last old piece). A piece the old tokenizer
    cannot spell keeps its rows in ``fresh`` (a newly initialized state dict of the new
    shape). Returns the
    state and counts: ``exact`` (the same piece in both), ``spelled`` (by 2 or more old
    pieces), ``fresh``."""
    import math

    index = {p: i for i, p in enumerate(old_pieces)}
    longest = max(map(len, old_pieces))
    first, last = {}, {}
    for j, piece in enumerate(new_pieces):
        if piece in index:
            first[j] = last[j] = index[piece]
            continue
        parts, s = [], piece
        while s:
            k = next((k for k in range(min(len(s), longest), 0, -1) if s[:k] in index), 0)
            if not k:
                break
            parts.append(index[s[:k]])
            s = s[k:]
        if parts and not s:
            first[j], last[j] = parts[0], parts[-1]
    share: dict[int, int] = {}
    for o in first.values():
        share[o] = share.get(o, 0) + 1
    out = dict(state)
    for name in ("join_out.weight", "join_out.bias", "ctc.weight", "ctc.bias", "embed.weight"):
        out[name] = fresh[name].clone()
        out[name][0] = state[name][0]  # the blank
    for j, o in first.items():
        for name in ("join_out", "ctc"):
            out[f"{name}.weight"][j + 1] = state[f"{name}.weight"][o + 1]
            out[f"{name}.bias"][j + 1] = state[f"{name}.bias"][o + 1] - math.log(share[o])
        out["embed.weight"][j + 1] = state["embed.weight"][last[j] + 1]
    exact = sum(1 for p in new_pieces if p in index)
    return out, {"exact": exact, "spelled": len(first) - exact, "fresh": len(new_pieces) - len(first)}


def move_time_reduction(state: dict, old: Architecture, arch: Architecture) -> dict:
    """``state`` (of shape ``old``) with the encoder's time reduction where ``arch`` has it
    (``reduce_after``; every other dimension equal). An encoder layer whose input narrows
    from ``r`` concatenated frames to one gets the sum of its ``r`` input-weight blocks (the
    same pre-activation for a steady input); one whose input widens gets its input weights
    tiled and divided by ``r``; recurrent weights and biases are kept as they are."""
    r = arch.reduce_factor
    out = dict(state)
    for was, op in zip(old.encoder_ops, arch.encoder_ops):
        k = op.float_params()[f"{op.name}.wx"][0]
        w, d_old, d_new = out[k], was.in_dim, op.in_dim
        if d_old == d_new * r:
            out[k] = w.reshape(w.shape[0], r, d_new).sum(1)
        elif d_new == d_old * r:
            out[k] = w.repeat(1, r) / r
    return out


def init_shape(arch: dict, cfg, num_classes: int = 0) -> Architecture | None:
    """The shape an ``--init`` checkpoint's model (of shape ``arch``) takes in this run:
    another vocabulary (``num_classes``, when given), time reduction
    (``cfg.init_reduce_after``), encoder width (``cfg.init_enc_hidden``) or feature
    normalization (``cfg.init_cmn_window``) or predictor (``cfg.init_pred_context``); None
    when it trains as it is."""
    changes = {"num_classes": num_classes} if num_classes else {}
    if cfg.init_reduce_after >= 0:
        changes["reduce_after"] = cfg.init_reduce_after
    if cfg.init_cmn_window >= 0:
        changes.update(Architecture.cmn_fields(cfg.init_cmn_window, cfg.cmn_prior))
    if cfg.init_pred_context >= 0:
        changes["pred_context"] = cfg.init_pred_context
    if cfg.init_enc_hidden:
        if cfg.init_enc_hidden < arch["enc_hidden"]:
            raise ValueError(f"init_enc_hidden={cfg.init_enc_hidden}: the checkpoint's encoder has "
                             f"{arch['enc_hidden']} units and can grow, not shrink")
        changes["enc_hidden"] = cfg.init_enc_hidden
    new = Architecture(**{**arch, **changes})
    return None if new == Architecture(**arch) and not num_classes else new


def adapted(init: dict, arch: Architecture, sp, cfg, log) -> RNNT:
    """``init``'s model in the shape ``arch``: a wider encoder (``init_enc_hidden``, grown
    first: :func:`widen_encoder`), another place for the encoder's time reduction
    (:func:`move_time_reduction`), another feature normalization, another predictor (a fresh
    one: ``init_pred_context``), and with ``sp`` (another
    tokenizer) the embedding, the joiner's output layer and the CTC head rebuilt
    (``cfg.init_vocab``: ``map``, :func:`remap_vocabulary`, or ``fresh``); every other weight
    is kept. ``log(message)``
    says what changed."""
    old = Architecture(**init["arch"])
    torch.manual_seed(cfg.seed)
    model = RNNT(arch)
    if "ctc_inter.layer" in init["model"]:  # its intermediate CTC head goes on (widened)
        model.add_inter_ctc(int(init["model"]["ctc_inter.layer"]))
    own = model.state_dict()
    src = dict(init["model"])
    if arch.enc_hidden != old.enc_hidden:
        scale = cfg.init_grow_scale
        src = widen_encoder(src, old, arch.enc_hidden, torch.Generator().manual_seed(cfg.seed), scale)
        log(f"encoder widened from {old.enc_hidden} to {arch.enc_hidden} units per layer "
            f"({old.num_params():,} -> {arch.num_params():,} parameters); "
            + (f"the new units start as strong as the old ones (init_grow_scale={scale:g})" if scale
               else "the outputs are unchanged"))
        old = replace(old, enc_hidden=arch.enc_hidden)
    src = move_time_reduction(src, old, arch)
    mapped = None
    if sp is not None and cfg.init_vocab == "map":
        import sentencepiece as spm

        old_sp = spm.SentencePieceProcessor(model_proto=tokenizer_from_tensor(init["tokenizer"]))
        src, mapped = remap_vocabulary(
            src, own, [old_sp.id_to_piece(i) for i in range(old_sp.get_piece_size())],
            [sp.id_to_piece(i) for i in range(sp.get_piece_size())])
    if arch.pred_context != old.pred_context:  # another predictor: all of it starts afresh
        src = {k: v for k, v in src.items() if not k.startswith("pred.")}
    keep = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(keep, strict=False)
    fresh = sorted({k.rsplit(".", 1)[0] for k in own if k not in keep})
    if mapped:
        log(f"new vocabulary ({arch.num_classes - 1} pieces, was {old.num_classes - 1}): embed, join_out "
            f"and ctc rebuilt from the old pieces: {mapped['exact']} kept, {mapped['spelled']} spelled "
            f"by old pieces, {mapped['fresh']} fresh")
    elif sp is not None:
        log(f"new vocabulary ({arch.num_classes - 1} pieces, was {old.num_classes - 1}): "
            f"{', '.join(fresh) or 'nothing'} start afresh")
    if arch.reduce_after != old.reduce_after:
        log(f"encoder time reduction after layer {old.reduce_after} -> {arch.reduce_after} "
            f"({old.encoder_frame_ms:g} -> {arch.encoder_frame_ms:g} ms encoder frames)")
    calibrated = bool(model.in_scale > 0)
    if arch.pred_context != old.pred_context:
        model.in_scale.zero_()  # the logits' range was measured with the old predictor
        model.out_scale.zero_()
        log(f"predictor: {old.predictor} -> {arch.predictor}; it starts afresh, the embedding, "
            "encoder and joiner are kept" + ("; the NNA ranges are measured again" if calibrated else ""))
    if (arch.cmn_window, arch.cmn_prior) != (old.cmn_window, old.cmn_prior):
        model.in_scale.zero_()  # ranges measured on the old input: calibrated again for AAT
        model.out_scale.zero_()
        log(f"feature normalization: {old.normalization} -> {arch.normalization}; the weights "
            "are kept" + ("; the NNA ranges are measured again" if calibrated else ""))
    return model

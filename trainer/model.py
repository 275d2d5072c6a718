"""The streaming RNN-T, in torch, mirroring ``engine.model.Architecture`` exactly.

Encoder: frame stacking (``stack`` x 10 ms) -> unidirectional LSTM layers, time reduction
(concatenate ``reduce_factor`` frames) after layer ``reduce_after``. Predictor: embedding
(blank = start symbol) -> one LSTM layer, or with ``pred_context`` N a stateless one: tanh of
a linear layer over the last N tokens' embeddings. Joiner: ``out(tanh(enc_proj(e) + pred_proj(p)))``.
A CTC head on the encoder output (training only, never exported) provides the auxiliary
loss. Two forward paths share the parameters: float (``nn.LSTM``, fast) and NNA-aware
(``aat``: the integer arithmetic of ``engine.nna`` with straight-through gradients).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.arch import EMBEDDING, Architecture, state_key
from engine.frontend import FrontendConfig
from engine.nna.spec import NNASpec

from .rnnt_loss import lattice_occupancy, window_positions, window_size, window_starts


def speech_flags(feats: torch.Tensor, lengths: torch.Tensor, fe: FrontendConfig) -> torch.Tensor:
    """[B, T] bool: the frames the engine's speech detector marks as speech, each utterance
    from its start (``engine.vad.SpeechGate.speech`` with ``CMN_SPEECH`` on the front-end
    ``fe``; frames past an utterance's length False). They choose a causal mean's frames, as
    in the engine."""
    from engine.vad import CMN_SPEECH, SpeechGate

    f = feats.detach().float().cpu().numpy()
    out = torch.zeros(f.shape[:2], dtype=torch.bool)
    for b, n in enumerate(lengths.tolist()):
        out[b, :n] = torch.from_numpy(SpeechGate(CMN_SPEECH, fe).speech(f[b, :n]))
    return out.to(feats.device)


def causal_mean(feats: torch.Tensor, mean: torch.Tensor, window: int, prior: int,
                speech: torch.Tensor) -> torch.Tensor:
    """Each frame's causal running mean [B, T, n_mels] (float64) of whole utterances, as
    ``engine.frontend.CausalMean`` computes it frame by frame: the sum of the last
    ``n = min(k, window)`` of the ``k`` speech frames so far (``speech`` [B, T]) plus
    ``min(prior, window - n)`` frames of the global ``mean``, over their count."""
    x = feats.double() * speech[..., None]
    B, T, M = x.shape
    c = torch.cat([x.new_zeros(B, 1, M), x.cumsum(1)], 1)  # [B, T+1]: sums of speech frames < tau
    k = torch.cat([speech.new_zeros(B, 1, dtype=torch.long), speech.long().cumsum(1)], 1)  # counts
    kt = k[:, 1:]  # speech frames among 0..t
    n = kt.clamp(max=window)
    tau = torch.searchsorted(k, kt - n)  # where the count was k - n: C of the first k - n speech frames
    start = torch.gather(c, 1, tau[..., None].expand(B, T, M))
    p = (window - n).clamp(max=prior).double()[..., None]
    return (c[:, 1:] - start + p * mean.double()) / (n.double()[..., None] + p)


class InterCTC(nn.Module):
    """An intermediate CTC head on encoder layer ``layer``'s output (InterCTC, Lee & Watanabe
    2021): a training-only loss that asks the lower layers for tokens too. Never exported."""

    def __init__(self, hidden: int, num_classes: int, layer: int) -> None:
        super().__init__()
        self.out = nn.Linear(hidden, num_classes)
        self.register_buffer("layer", torch.tensor(layer))


class RNNT(nn.Module):
    def __init__(self, arch: Architecture, frontend: FrontendConfig | None = None) -> None:
        """``frontend``: the front-end whose features the model reads (default: the engine's,
        ``FrontendConfig()``). Not a parameter: checkpoints keep it beside ``arch`` and
        model files in their header."""
        super().__init__()
        arch.check()
        self.arch = arch
        self.frontend = frontend or FrontendConfig(n_mels=arch.n_mels)
        if self.frontend.n_mels != arch.n_mels:
            raise ValueError(f"the front-end gives {self.frontend.n_mels} mel bands; the model reads {arch.n_mels}")
        a = arch
        self.enc = nn.ModuleList(
            nn.LSTM(a.enc_input_dim(i), a.enc_hidden, batch_first=True) for i in range(a.enc_layers)
        )
        self.embed = nn.Embedding(a.num_classes, a.pred_embed)
        self.pred = (nn.Linear(a.pred_context * a.pred_embed, a.pred_hidden) if a.pred_context
                     else nn.LSTM(a.pred_embed, a.pred_hidden, batch_first=True))
        self.join_enc = nn.Linear(a.enc_hidden, a.joiner_dim)
        self.join_pred = nn.Linear(a.pred_hidden, a.joiner_dim)
        self.join_out = nn.Linear(a.joiner_dim, a.num_classes)
        self.ctc = nn.Linear(a.enc_hidden, a.num_classes)
        self.register_buffer("feat_mean", torch.zeros(a.n_mels))
        self.register_buffer("feat_std", torch.ones(a.n_mels))
        # NNA-aware training state (calibrated ranges; 0 = not calibrated)
        self.register_buffer("in_scale", torch.zeros((), dtype=torch.float64))
        self.register_buffer("out_scale", torch.zeros((), dtype=torch.float64))
        self.spec: NNASpec | None = None
        self._emu = None
        self.dropout = 0.0  # between encoder layers, float training only (not exported)
        self.ctc_inter: InterCTC | None = None  # add_inter_ctc
        self._inter = None  # (output, lengths) of the InterCTC layer in the last float encode
        self._window = None  # window starts of the last pruned forward (take_window)

    def add_inter_ctc(self, layer: int) -> None:
        """An intermediate CTC head on the output of encoder layer ``layer`` (1-based, below
        the last), before any time reduction after it."""
        a = self.arch
        if not 1 <= layer < a.enc_layers:
            raise ValueError(f"inter_ctc_layer={layer}: an encoder layer below the last, 1..{a.enc_layers - 1}")
        self.ctc_inter = InterCTC(a.enc_hidden, a.num_classes, layer).to(self.feat_mean.device)

    # --- configuration -----------------------------------------------------------------
    def enable_aat(self, spec: NNASpec) -> None:
        from .aat.fake import Emulator

        if not (self.in_scale > 0 and self.out_scale > 0):
            raise RuntimeError("calibrate ranges (trainer.export.calibrate) before enabling AAT")
        self.spec = spec
        self._emu = Emulator(spec, self.feat_mean.device)
        if torch.cuda.is_available():  # exact integer matmuls need full fp32
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False

    @property
    def aat(self) -> bool:
        return self._emu is not None

    @contextmanager
    def float_forward(self):
        """Inside the block the model runs its float forward, even under AAT (calibration,
        CSP's recorded layer inputs); the emulation comes back after it."""
        emu, self._emu = self._emu, None
        try:
            yield self
        finally:
            self._emu = emu

    def take_inter(self):
        """(output, lengths) of the InterCTC layer in the last float encode, forgotten once
        taken (None without an InterCTC head or under AAT)."""
        out, self._inter = self._inter, None
        return out

    def take_window(self):
        """Window starts ``[B, T]`` of the last forward with a ``window`` (None when it joined
        the whole lattice), forgotten once taken."""
        out, self._window = self._window, None
        return out

    def config(self) -> dict:
        return asdict(self.arch)

    # --- encoder -------------------------------------------------------------------------
    def stack_frames(self, feats: torch.Tensor, lengths: torch.Tensor):
        """Normalize and stack: [B, T, n_mels] -> [B, T // stack, stack * n_mels]."""
        a = self.arch
        if a.cmn_window:
            mu = causal_mean(feats, self.feat_mean, a.cmn_window, a.cmn_prior, speech_flags(feats, lengths, self.frontend))
            x = (feats.double() - mu).float() / self.feat_std
        else:
            x = (feats - self.feat_mean) / self.feat_std
        T = (x.shape[1] // a.stack) * a.stack
        x = x[:, :T].reshape(x.shape[0], T // a.stack, a.stack * a.n_mels)
        return x, lengths // a.stack

    def _reduce(self, h, lengths):
        a = self.arch
        r = a.reduce_factor
        T = (h.shape[1] // r) * r
        return h[:, :T].reshape(h.shape[0], T // r, r * h.shape[2]), lengths // r

    def encode(self, feats: torch.Tensor, lengths: torch.Tensor):
        """-> (encoder output [B, T', H] float, lengths, encoder int codes or None)."""
        x, lengths = self.stack_frames(feats, lengths)
        a = self.arch
        if self.aat:
            return self._encode_aat(x, lengths)
        inter = int(self.ctc_inter.layer) if self.ctc_inter is not None else 0
        for i, lstm in enumerate(self.enc):
            x, _ = lstm(x)
            if i + 1 == inter:
                self._inter = (x, lengths)
            if self.dropout and i + 1 < len(self.enc):
                x = F.dropout(x, self.dropout, self.training)
            if a.reduce_after and i + 1 == a.reduce_after:
                x, lengths = self._reduce(x, lengths)
        return x, lengths, None

    def _encode_aat(self, x, lengths):
        emu, a = self._emu, self.arch
        scale = float(self.in_scale)
        xq, xh = emu.input(x, scale)
        for i, lstm in enumerate(self.enc):
            b = lstm.bias_ih_l0 + lstm.bias_hh_l0
            xq, xh, _ = emu.lstm(xq, xh, scale, lstm.weight_ih_l0, lstm.weight_hh_l0, b)
            scale = emu.hid
            if a.reduce_after and i + 1 == a.reduce_after:
                T = (xq.shape[1] // a.reduce_factor) * a.reduce_factor
                xq = xq[:, :T].reshape(xq.shape[0], T // a.reduce_factor, -1)
                xh, lengths = self._reduce(xh, lengths)
        return xh, lengths, xq

    # --- predictor -------------------------------------------------------------------------
    def predict(self, tokens: torch.Tensor):
        """tokens [B, U] -> predictor output for [blank] + tokens: [B, U+1, Hp] (+ codes)."""
        if self.arch.pred_context:
            return self._predict_stateless(tokens)
        y = F.pad(tokens, (1, 0), value=self.arch.blank_id)
        if self.aat:
            codes, t_hat, s = self._embedding_aat()
            b = self.pred.bias_ih_l0 + self.pred.bias_hh_l0
            hq, h, _ = self._emu.lstm(codes[y], t_hat[y], s, self.pred.weight_ih_l0, self.pred.weight_hh_l0, b)
            return h, hq
        h, _ = self.pred(self.embed(y))
        return h, None

    def _embedding_aat(self):
        """The embedding table under AAT: (codes, float with STE, scale), at the scale of
        ``engine.quantize.build_tensors`` (float64 max / qmax)."""
        table = self.embed.weight
        s = float(table.detach().double().abs().max().clamp_min(1e-8) / self.spec.act_qmax)
        return (*self._emu.input(table, s), s)

    def _predict_stateless(self, tokens: torch.Tensor):
        """The stateless predictor (``arch.pred_context`` = N): position u reads the
        embeddings of tokens u-N+1..u of [blank]*N + tokens, oldest first, concatenated:
        ``tanh(pred(...))``; under AAT a linear op to the gate format and the joiner's LUT
        tanh (``engine.nna.cells.joiner_activation``), as the engine computes it."""
        n, U = self.arch.pred_context, tokens.shape[1]
        y = F.pad(tokens, (n, 0), value=self.arch.blank_id)  # [B, U+N]
        idx = torch.arange(U + 1, device=y.device)[:, None] + torch.arange(n, device=y.device)  # [U+1, N]
        ctx = y[:, idx]  # [B, U+1, N]: the tokens each position reads, oldest first
        if self.aat:
            emu = self._emu
            codes, t_hat, s = self._embedding_aat()
            xq, x = codes[ctx].flatten(2), t_hat[ctx].flatten(2)
            gq, g = emu.linear(xq, x, s, self.pred.weight, self.pred.bias, emu.gate)
            hq, h = emu.tanh(gq, g)
            return h, hq
        return torch.tanh(self.pred(self.embed(ctx).flatten(2))), None

    # --- joiner ---------------------------------------------------------------------------------
    def joint(self, enc, enc_q, pred, pred_q):
        """Logits [B, T, U+1, C] (float; the exact int16 logits times out_scale under AAT)."""
        if self.aat:
            emu = self._emu
            eq, e = emu.linear(enc_q, enc, emu.hid, self.join_enc.weight, self.join_enc.bias, emu.gate)
            pq, p = emu.linear(pred_q, pred, emu.hid, self.join_pred.weight, self.join_pred.bias, emu.gate)
            _, logits = emu.joiner_out(eq[:, :, None], e[:, :, None], pq[:, None], p[:, None],
                                       self.join_out.weight, self.join_out.bias, float(self.out_scale))
            return logits.float()
        z = self.join_enc(enc)[:, :, None] + self.join_pred(pred)[:, None]
        return self.join_out(torch.tanh(z))

    def forward(self, feats, feat_lens, tokens, token_lens, window: int = 0):
        """-> (logits, encoder output, its lengths). ``window`` > 0 (float training): the joiner
        only at the ``window`` label positions per frame where the CTC head's alignment puts
        the path (a pruned lattice; the starts are kept for :meth:`take_window`), logits
        ``[B, T, S, C]`` instead of ``[B, T, U+1, C]``."""
        enc, enc_lens, enc_q = self.encode(feats, feat_lens)
        pred, pred_q = self.predict(tokens)
        if window and not self.aat:
            lens = enc_lens.clamp(min=1, max=enc.shape[1])
            size = window_size(window, lens, token_lens)
            if size < tokens.shape[1] + 1:
                starts = self.window_starts(enc, lens, tokens, token_lens, size)
                self._window = starts
                return self.joint_window(enc, pred, starts, size), enc, enc_lens
        logits = self.joint(enc, enc_q, pred, pred_q)
        return logits, enc, enc_lens

    @torch.no_grad()
    def window_starts(self, enc, enc_lens, tokens, token_lens, size: int) -> torch.Tensor:
        """Each frame's window: most of the alignment posterior of the lattice scored by the
        CTC head alone (blank and label log-probs of frame ``t``, the same at every label
        position), so choosing it costs one ``[B, T, C]`` projection and a ``[B, T, U+1]``
        forward-backward."""
        lp = F.log_softmax(self.ctc(enc).float(), dim=-1)  # [B, T, C]
        B, T, _ = lp.shape
        U = tokens.shape[1]
        blank = lp[..., self.arch.blank_id, None].expand(B, T, U + 1)
        emit = lp.gather(2, tokens.long()[:, None, :].expand(B, T, U))
        occ = lattice_occupancy(blank, emit, enc_lens, token_lens)
        return window_starts(occ, size, enc_lens, token_lens)

    def joint_window(self, enc, pred, starts, size: int):
        """Float logits ``[B, T, S, C]`` at label positions ``starts[b, t] + k``, ``k < S = size``."""
        B, T = starts.shape
        pj = self.join_pred(pred)  # [B, U+1, J]
        J = pj.shape[-1]
        pos = window_positions(starts, size).view(B, T * size, 1)
        pg = pj.gather(1, pos.expand(B, T * size, J)).view(B, T, size, J)
        return self.join_out(torch.tanh(self.join_enc(enc)[:, :, None] + pg))

    # --- export ---------------------------------------------------------------------------------
    def float_params(self) -> dict:
        """Parameters under the engine's names (numpy float32), for ``engine.quantize``:
        each op's state-dict keys as the op table names them (``Op.float_params``)."""
        state = dict(self.named_parameters())
        return {name: _sum(state[k] for k in keys).detach().float().cpu().numpy()
                for op in self.arch.ops for name, keys in op.float_params().items()}

    def groups(self) -> dict[str, list[nn.Module]]:
        """The model's parts by name, for freezing and re-initializing (``enc`` includes the
        CTC head, which reads the encoder output)."""
        enc = [*self.enc, self.ctc] + ([self.ctc_inter] if self.ctc_inter is not None else [])
        return {"enc": enc, "pred": [self.embed, self.pred],
                "join": [self.join_enc, self.join_pred, self.join_out]}

    def prunable(self) -> dict[str, torch.Tensor]:
        """Weight matrices that pruning may sparsify, by engine tensor name (every matrix
        but the embedding table, a lookup of one row per token)."""
        state = dict(self.named_parameters())
        return {name: state[state_key(name)] for op in self.arch.ops if op.kind != EMBEDDING
                for name in op.weights()}


def _sum(tensors):
    it = iter(tensors)
    total = next(it)
    for t in it:
        total = total + t
    return total

"""Executes an :class:`EngineModel` op by op, each on the NNA (integer kernels) or on the
CPU (float32), as its placement says, and counts op invocations for the cost model.

``mode="placed"`` follows the model's placement; ``mode="float"`` is the float reference
execution: every op in float (float weights from the file where present, else the
dequantized integer weights), no activation quantization.

Values passed between ops are ``Val(kind, array)`` with kind ``"q"`` (integer codes in
the consumer's fixed format) or ``"f"`` (float). Hidden states (LSTM ``h``, joiner
hidden) are Q0.(act_bits-1); gate-format values Q3.12. Conversion happens at each
placement boundary.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .arch import (
    EMBED,
    EMBEDDED,
    JOIN_ENC,
    JOIN_OUT,
    JOIN_PRED,
    LINEAR,
    LSTM,
    PREDICTOR,
    input_part,
)
from .frontend import CausalMean
from .model import EngineModel
from .nna import kernels as K
from .nna.cells import joiner_activation
from .nna.cost import build_cost_table, count_key, modeled_seconds
from .nna.fixedpoint import round_half_away, saturate, saturate_symmetric
from .nna.lut import fast_lut
from .vad import CMN_SPEECH, SpeechGate

PRED_CACHE_MAX = 4096  # stateless predictor outputs kept on the host, by context (2 KiB each at 256)


def _sigmoid(x):
    with np.errstate(over="ignore"):  # exp(-x) = inf for x < -88 gives the right limit, 0
        return 1.0 / (1.0 + np.exp(-x))


def _float_lstm_step(gx: np.ndarray, h: np.ndarray, c: np.ndarray, wh: np.ndarray):
    """One float LSTM step (gates i, f, g, o) of input projections gx [.., 4H]."""
    n = h.shape[-1]
    g = gx + h @ wh
    i_, f_, o_ = _sigmoid(g[..., :n]), _sigmoid(g[..., n : 2 * n]), _sigmoid(g[..., 3 * n :])
    c = f_ * c + i_ * np.tanh(g[..., 2 * n : 3 * n])
    return (o_ * np.tanh(c)).astype(np.float32), c


@dataclass
class LSTMState:
    h: np.ndarray
    c: np.ndarray


class Network:
    def __init__(self, model: EngineModel, mode: str = "placed", kernel: str = "auto",
                 skip_dead: bool = True) -> None:
        if mode not in ("placed", "float"):
            raise ValueError("mode must be 'placed' or 'float'")
        self.model = model
        self.mode = mode
        self.kernel = kernel  # host matvec kernel of every QLinear: auto / dense / sparse
        # the host leaves out the rows of the units and channels no op reads
        # (Architecture.live_outputs), as the cost model prices them: every result is the same,
        # only those outputs (read by nothing) hold their bias alone
        self.skip_dead = skip_dead
        self.spec = model.spec
        self.arch = model.arch
        self.t = model.tensors
        self._local = threading.local()  # op counts: each thread its own (streams in threads)
        placement = dict(model.placement)
        if mode == "float":
            placement = {op: "cpu" for op in placement}
        self.device = placement
        self.cost_table = build_cost_table(model, placement)
        self.encoder = [op.name for op in model.arch.encoder_ops]
        self.hfrac = self.spec.hidden_frac_bits
        self.gfrac = self.spec.gate_frac_bits
        self._build()

    # --- construction ------------------------------------------------------------------
    def _float(self, op: str, name: str, fallback):
        key = f"float.{op}.{name}"
        return self.t[key].astype(np.float32) if key in self.t else fallback().astype(np.float32)

    def _codes(self, name: str, live_rows: np.ndarray | None) -> np.ndarray:
        """A weight matrix's codes for the host's integer kernels: the rows of outputs no op
        reads set to zero (a kernel computes no all-zero rows) unless ``skip_dead`` is off."""
        w = self.t[name]
        if not self.skip_dead or live_rows is None or live_rows.all():
            return w
        w = w.copy()
        w[~live_rows] = 0
        return w

    def _build(self) -> None:
        t, a, spec = self.t, self.arch, self.spec
        self.q = {}
        self.f = {}
        live = self.model.live_outputs() if self.skip_dead else {}
        for op in (o.name for o in a.ops if o.kind == LSTM):
            in_scale = t[f"{op}.in_scale"].item()
            rows = np.tile(live[op], 4) if op in live else None
            wh = K.QLinear(self._codes(f"{op}.wh", rows), np.zeros(t[f"{op}.wh"].shape[0], np.int64),
                           t[f"{op}.mh"].astype(np.int64), t[f"{op}.shh"].astype(np.int64), spec,
                           spec.act_bits, kernel=self.kernel)
            self.q[op] = dict(
                wx=K.QLinear(self._codes(f"{op}.wx", rows), t[f"{op}.bias"].astype(np.int64),
                             t[f"{op}.mx"].astype(np.int64), t[f"{op}.shx"].astype(np.int64), spec,
                             spec.act_bits, kernel=self.kernel),
                wh=wh,
                cell=K.LSTMCellInt(wh, spec),
                in_scale=in_scale,
            )
            wx_s, wh_s = t[f"{op}.wx_scale"], t[f"{op}.wh_scale"]
            self.f[op] = dict(
                wx=self._float(op, "wx", lambda op=op, s=wx_s: t[f"{op}.wx"] * s[:, None]).T.copy(),
                wh=self._float(op, "wh", lambda op=op, s=wh_s: t[f"{op}.wh"] * s[:, None]).T.copy(),
                b=self._float(op, "b", lambda op=op, s=wx_s, i=in_scale: t[f"{op}.bias"] * (s * i)),
            )
        self.embed_q = t[f"{EMBED}.table"].astype(np.int64)
        self.embed_scale = t[f"{EMBED}.scale"].item()
        self.embed_f = self._float(EMBED, "table", lambda: t[f"{EMBED}.table"] * self.embed_scale)
        for o in (o for o in a.ops if o.kind == LINEAR):
            op = o.name
            self.q[op] = K.QLinear(self._codes(f"{op}.w", live.get(op)), t[f"{op}.bias"].astype(np.int64),
                                   t[f"{op}.m"].astype(np.int64), t[f"{op}.sh"].astype(np.int64), spec,
                                   spec.act_bits, kernel=self.kernel)
            ws = t[f"{op}.w_scale"]
            in_s = self.embed_scale if o.input == EMBEDDED else 2.0 ** -self.hfrac
            self.f[op] = dict(
                w=self._float(op, "w", lambda op=op, s=ws: t[f"{op}.w"] * s[:, None]).T.copy(),
                b=self._float(op, "b", lambda op=op, s=ws, i=in_s: t[f"{op}.bias"] * (s * i)),
            )
        self.out_scale = t[f"{JOIN_OUT}.out_scale"].item()
        self.mean = t["frontend.mean"].astype(np.float32)
        self.std = t["frontend.std"].astype(np.float32)
        # Host-side tabulation of functions of one small integer (identical results; the op
        # counts, and so the modeled NNA time, are unchanged: the NNA computes them each time):
        # * the predictor's input projection is a function of the token alone (embedding,
        #   then pred.0's wx), kept per token on first use; a stateless predictor's output
        #   (before join.pred) is a function of its context tokens alone, kept per context;
        # * join.out's input (engine.nna.cells.joiner_activation) is a function of the int16
        #   z = joiner_sum(e, p), tabulated once (an optimization of that rule, tested).
        self._pred_gx: dict[int, np.ndarray] = {}
        self._pred_out: dict[tuple, np.ndarray] = {}
        # the cost-model op of each LSTM's input projection, named once (counted every call)
        self._input_op = {o.name: input_part(o.name) for o in a.ops if o.kind == LSTM}
        z = np.arange(-32768, 32768, dtype=np.int64)
        self._join_in = joiner_activation(z, spec, fast_lut(spec))[1]

    # --- value conversion ----------------------------------------------------------------
    def _hidden_to(self, kind: str, x: np.ndarray, x_kind: str) -> np.ndarray:
        """Convert a Q0.(act_bits-1) hidden value between int codes and float."""
        if kind == x_kind:
            return x
        if kind == "f":
            return (x * 2.0 ** -self.hfrac).astype(np.float32)
        return saturate_symmetric(round_half_away(x * 2.0**self.hfrac), self.spec.act_bits)

    def _kind(self, op: str) -> str:
        return "q" if self.device[op] == "nna" else "f"

    # --- cost ------------------------------------------------------------------------------
    @property
    def counts(self) -> Counter:
        """Op invocations since the last :meth:`take_counts`, of this thread: streams of one
        recognizer decoded in several threads each count their own chunks."""
        c = getattr(self._local, "counts", None)
        if c is None:
            c = self._local.counts = Counter()
        return c

    @counts.setter
    def counts(self, c: Counter) -> None:
        self._local.counts = c

    def take_counts(self) -> Counter:
        c, self.counts = self.counts, Counter()
        return c

    def modeled_seconds(self, counts) -> float:
        return modeled_seconds(self.cost_table, counts)

    # --- encoder -----------------------------------------------------------------------
    def normalize(self, feats: np.ndarray, st: dict | None = None, speech: np.ndarray | None = None) -> np.ndarray:
        """Log-mel features [T, n_mels] -> the encoder's input: minus the global mean, or with
        ``arch.cmn_window`` minus the stream's causal running mean over its speech frames
        (:func:`cmn_state`; its state in ``st``, the encoder state; without it ``feats`` is
        a whole utterance), over the global std. ``speech``: the frames' flags from a
        detector with ``CMN_SPEECH``'s thresholds that has seen the whole stream (the
        recognizer's speech gate), instead of running the state's own; a stream gives them
        always or never."""
        if not self.arch.cmn_window:
            return (feats - self.mean) / self.std  # float32, as the trainer
        cmn, gate = st["cmn"] if st is not None else self.cmn_state()
        mean = cmn.accept(feats, gate.speech(feats) if speech is None else speech)
        return (feats - mean).astype(np.float32) / self.std

    def cmn_state(self) -> tuple[CausalMean, SpeechGate]:
        """A stream's causal mean and the speech detector that chooses its frames
        (``engine.vad.CMN_SPEECH``, whatever gate the recognizer decodes with: the model
        learned its input with these thresholds)."""
        return (CausalMean(self.mean, self.arch.cmn_window, self.arch.cmn_prior),
                SpeechGate(CMN_SPEECH, self.model.frontend))

    def init_encoder_state(self, cmn: tuple | None = None) -> dict:
        """A fresh encoder state; ``cmn``: a causal mean's state to carry on (the stream's,
        when its encoder starts afresh at an endpoint), else a new one."""
        a = self.arch
        st = {}
        for i in range(a.enc_layers):
            op = self.encoder[i]
            st[op] = self._init_lstm(op, a.enc_hidden)
        st["stack_buf"] = np.zeros((0, a.n_mels), np.float32)
        st["reduce_buf"] = None
        st["cmn"] = cmn if cmn is not None else self.cmn_state() if a.cmn_window else None
        return st

    def _init_lstm(self, op: str, hidden: int):
        if self._kind(op) == "q":
            return ("q", LSTMState(np.zeros(hidden, np.int64), np.zeros(hidden, np.int64)))
        return ("f", LSTMState(np.zeros(hidden, np.float32), np.zeros(hidden, np.float32)))

    def encode(self, feats: np.ndarray, st: dict) -> tuple[np.ndarray, str]:
        """Normalized features [T, n_mels] -> encoder frames [T', H] and their kind."""
        a = self.arch
        x = np.concatenate([st["stack_buf"], feats.astype(np.float32)])
        n = (len(x) // a.stack) * a.stack
        st["stack_buf"] = x[n:]
        x = x[:n].reshape(-1, a.stack * a.n_mels)
        kind = "f"
        for i in range(a.enc_layers):
            op = self.encoder[i]
            if len(x) == 0:
                break
            if i == 0:
                if self._kind(op) == "q":
                    x = K.quantize_input(x, self.q[op]["in_scale"], self.spec.act_bits)
                    kind = "q"
            else:
                x = self._hidden_to(self._kind(op), x, kind)
                kind = self._kind(op)
            x = self._lstm(op, x, st)
            if a.reduce_after and i + 1 == a.reduce_after:
                buf = st["reduce_buf"]
                if buf is not None:
                    x = np.concatenate([self._hidden_to(kind, buf[1], buf[0]), x])
                r = a.reduce_factor
                m = (len(x) // r) * r
                st["reduce_buf"] = (kind, x[m:]) if m < len(x) else None
                x = x[:m].reshape(m // r, r * x.shape[1])
        if len(x) == 0:
            return np.zeros((0, a.enc_hidden)), kind
        return x, kind

    def _lstm(self, op: str, x: np.ndarray, st: dict) -> np.ndarray:
        """Run an LSTM op over x [T, in]: its input projection as one invocation on the T
        vectors, then one invocation per step."""
        kind, s = st[op]
        self.counts[count_key(self._input_op[op], len(x))] += 1
        self.counts[op] += len(x)
        if self._kind(op) == "q":
            q = self.q[op]
            gx = q["wx"](x, out_bits=16)
            out, h, c = q["cell"].run(gx, s.h, s.c)
            st[op] = (kind, LSTMState(h, c))
            return out
        out = []
        f = self.f[op]
        gx = x.astype(np.float32) @ f["wx"] + f["b"]
        h, c = s.h, s.c
        for t in range(len(x)):
            h, c = _float_lstm_step(gx[t], h, c, f["wh"])
            out.append(h)
        st[op] = (kind, LSTMState(h, c))
        return np.stack(out)

    # --- predictor ---------------------------------------------------------------------
    def init_predictor(self) -> tuple:
        """State after the start symbol (blank): (lstm state, pred_proj output); a stateless
        predictor's state is its last ``pred_context - 1`` tokens (blanks before the first)."""
        a = self.arch
        if a.pred_context:
            st = ("ctx", (a.blank_id,) * (a.pred_context - 1))
        else:
            st = self._init_lstm(PREDICTOR, a.pred_hidden)
        return self.predict(a.blank_id, st)

    def predict(self, token: int, st) -> tuple:
        """One predictor step: returns (new lstm state, join.pred output)."""
        return self.predict_batch([token], [st])[0]

    def predict_batch(self, tokens: list[int], states: list) -> list[tuple]:
        """One predictor step of several hypotheses at once (a beam search round): token
        ``tokens[i]`` after state ``states[i]``. Returns [(new lstm state, join.pred
        output)], each equal to :meth:`predict` of that pair alone; pred.0 and join.pred
        run as one invocation on ``len(tokens)`` vectors (one weight stream)."""
        n = len(tokens)
        self.counts[EMBED] += n  # a lookup reads one row per token
        if self.arch.pred_context:
            return self._predict_stateless(tokens, states)
        kind = states[0][0]  # one network's states: all of its predictor's kind
        hs = np.stack([s.h for _, s in states])
        cs = np.stack([s.c for _, s in states])
        hs, cs = self._pred_step(tokens, hs, cs)
        pk, p = self._proj(JOIN_PRED, hs, self._kind(PREDICTOR))
        return [((kind, LSTMState(hs[i], cs[i])), (pk, p[i])) for i in range(n)]

    def _pred_step(self, tokens: list[int], hs: np.ndarray, cs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """pred.0, one step of n hypotheses [n, H]: its input projection and its step, one
        invocation on n vectors each."""
        self.counts[count_key(self._input_op[PREDICTOR], len(tokens))] += 1
        self.counts[count_key(PREDICTOR, len(tokens))] += 1
        if self._kind(PREDICTOR) == "q":
            gx = np.stack([self._pred_gx_of(k) for k in tokens])
            return self.q[PREDICTOR]["cell"].step(gx, hs, cs)
        f = self.f[PREDICTOR]
        x = np.concatenate([self._pred_input(k) for k in tokens]).astype(np.float32)
        return _float_lstm_step(x @ f["wx"] + f["b"], hs, cs, f["wh"])

    def _predict_stateless(self, tokens: list[int], states: list) -> list[tuple]:
        """:meth:`predict_batch` of a stateless predictor: pred.0 (a linear op on the
        embeddings of each hypothesis's last ``pred_context`` tokens, then the joiner's LUT
        tanh) and join.pred, one invocation on ``len(tokens)`` vectors each. A context's
        pred.0 output is computed once on the host and kept (the NNA computes it each time:
        the op is counted every call). The embeddings of the earlier tokens are the ones
        read before, carried with the hypothesis: one row is looked up per token."""
        ctxs = [ctx + (k,) for k, (_, ctx) in zip(tokens, states)]
        self.counts[count_key(PREDICTOR, len(tokens))] += 1
        kind = self._kind(PREDICTOR)
        hs = np.stack([self._pred_out_of(c) for c in ctxs])
        pk, p = self._proj(JOIN_PRED, hs, kind)
        return [(("ctx", c[1:]), (pk, p[i])) for i, c in enumerate(ctxs)]

    def _pred_out_of(self, ctx: tuple) -> np.ndarray:
        """A stateless pred.0's output for the tokens ``ctx`` (hidden codes on the NNA, float
        on the CPU), kept per context."""
        h = self._pred_out.get(ctx)
        if h is None:
            x = np.concatenate([self._pred_input(k) for k in ctx], axis=1)
            if self._kind(PREDICTOR) == "q":
                z = self.q[PREDICTOR](x, out_bits=16)[0]  # int16, saturated
                h = self._join_in[z + 32768]  # joiner_activation, tabulated
            else:
                f = self.f[PREDICTOR]
                h = np.tanh(x.astype(np.float32) @ f["w"] + f["b"])[0]
            if len(self._pred_out) >= PRED_CACHE_MAX:  # V^N contexts could be seen: a bound
                self._pred_out.clear()
            self._pred_out[ctx] = h
        return h

    def _pred_gx_of(self, token: int) -> np.ndarray:
        gx = self._pred_gx.get(token)
        if gx is None:
            gx = self._pred_gx[token] = self.q[PREDICTOR]["wx"](self._pred_input(token), 16)[0]
        return gx

    def _pred_input(self, token: int) -> np.ndarray:
        """The embedding of ``token`` [1, E], in pred.0's input format."""
        if self._kind(EMBED) == "q":
            e, ek = K.embedding_lookup(self.embed_q, token)[None], "q"
        else:
            e, ek = self.embed_f[token][None], "f"
        if self._kind(PREDICTOR) != ek:
            if ek == "q":
                e = (e * self.embed_scale).astype(np.float32)
            else:
                scale = self.embed_scale if self.arch.pred_context else self.q[PREDICTOR]["in_scale"]
                e = K.quantize_input(e, scale, self.spec.act_bits)
        return e

    # --- joiner -------------------------------------------------------------------------
    def _proj(self, op: str, h: np.ndarray, h_kind: str) -> tuple[str, np.ndarray]:
        """join.enc / join.pred: hidden -> joiner pre-activation (gate format or float): one
        invocation on the rows of h [n, H] (a chunk's encoder frames, a round's hypotheses)."""
        if len(h):
            self.counts[count_key(op, len(h))] += 1
        kind = self._kind(op)
        x = self._hidden_to(kind, h, h_kind)
        if kind == "q":
            return ("q", self.q[op](x, out_bits=16))
        f = self.f[op]
        return ("f", x.astype(np.float32) @ f["w"] + f["b"])

    def project_encoder(self, enc: np.ndarray, kind: str) -> tuple[str, np.ndarray]:
        return self._proj(JOIN_ENC, enc, kind)

    def joint(self, e: tuple[str, np.ndarray], p: tuple[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Joiner output for pre-activations e [.., J] and p [.., J].

        Returns (logits float32 [.., C], best class [..]); the best class is the integer
        argmax of the int16 logits on the NNA, the float argmax on the CPU.
        """
        op = JOIN_OUT
        kind = self._kind(op)
        if e[1].ndim <= 1 and p[1].ndim <= 1:  # greedy search: one vector
            self.counts[op] += 1
        else:  # a beam round's hypotheses: one invocation on n vectors
            n = int(np.prod(np.broadcast_shapes(e[1].shape, p[1].shape)[:-1]))
            if n:
                self.counts[count_key(op, n)] += 1

        def conv(v):
            k, x = v
            if k == kind:
                return x
            if kind == "f":
                return (x * 2.0 ** -self.gfrac).astype(np.float32)
            return saturate(round_half_away(x * 2.0**self.gfrac), 16)

        a, b = conv(e), conv(p)
        if kind == "q":
            z = np.add(a, b, dtype=np.int64)  # joiner_sum, in place
            np.clip(z, -32768, 32767, out=z)
            z += 32768
            hz = self._join_in[z]  # joiner_activation(joiner_sum(a, b)), tabulated
            logits_q = self.q[op](hz, out_bits=16)
            return (logits_q * self.out_scale).astype(np.float32), K.argmax(logits_q)
        f = self.f[op]
        logits = np.tanh(a + b).astype(np.float32) @ f["w"] + f["b"]
        return logits, np.argmax(logits, axis=-1)

"""The RNN-T's shape and its op table: the one place where op and tensor names are made.

:attr:`Architecture.ops` lists every op in execution order with its kind, widths, the
formats of its input and output, the names of its weight tensors in a model file and the
state-dict keys of the trainer's torch module that holds it. The model file's validation,
the exporter (``engine.quantize``), the network, the cost model (through
``EngineModel.op_shapes``), the trainer's parameters, pruning and checkpoint state keys
all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .nna.cost import OpShape

LSTM, LINEAR, EMBEDDING = "lstm", "linear", "embedding"
MAX_PRED_CONTEXT = 8  # tokens a stateless predictor may read
# op names (the encoder's are ENCODER + layer index)
ENCODER, EMBED, PREDICTOR, JOIN_ENC, JOIN_PRED, JOIN_OUT = (
    "enc", "pred.embed", "pred.0", "join.enc", "join.pred", "join.out")
# the formats ops read and write
FEATURES, HIDDEN, TOKEN, EMBEDDED, GATE, LOGITS = (
    "features", "hidden", "token", "embedding", "gate", "logits")


def _row(op: str, stateless: bool = False) -> tuple[str, str, str, str]:
    """(kind, input format, output format, torch module) of an op by name; ``stateless``: the
    predictor is a linear op over its last tokens' embeddings (``Architecture.pred_context``)."""
    if op == PREDICTOR and stateless:
        return LINEAR, EMBEDDED, GATE, "pred"
    if op.startswith(ENCODER + "."):
        return LSTM, FEATURES if op == f"{ENCODER}.0" else HIDDEN, GATE, op
    return {
        EMBED: (EMBEDDING, TOKEN, EMBEDDED, "embed"),
        PREDICTOR: (LSTM, EMBEDDED, GATE, "pred"),
        JOIN_ENC: (LINEAR, HIDDEN, GATE, "join_enc"),
        JOIN_PRED: (LINEAR, HIDDEN, GATE, "join_pred"),
        JOIN_OUT: (LINEAR, HIDDEN, LOGITS, "join_out"),
    }[op]


@dataclass(frozen=True)
class Op:
    """One op of the table.

    ``kind``: ``lstm`` (input matrix ``.wx`` [4H, in] and recurrent ``.wh`` [4H, H], gate
    order i, f, g, o), ``linear`` (``.w`` [out, in]) or ``embedding`` (``.table``
    [classes, width], one row read per call). ``in_dim``: input width (an embedding's:
    its number of rows); ``out_dim``: output channels (an LSTM's: its 4H gate channels).
    ``input`` / ``output``: formats (``features``: stacked normalized features at the
    model's input scale; ``hidden``: Q0.(act_bits-1); ``embedding``: at the embedding
    scale; ``gate``: int16 gate format; ``logits``: int16 at the output scale).
    ``module``: the trainer's torch module, as a state-dict key prefix. A stateless
    predictor's ``pred.0`` (``Architecture.pred_context``) is a linear op from the embedding
    format to the gate format whose output then passes through the joiner's LUT tanh to the
    hidden format (``engine.nna.cells.joiner_activation``), as ``join.pred`` reads it."""

    name: str
    kind: str
    in_dim: int
    out_dim: int
    input: str
    output: str
    module: str

    @classmethod
    def make(cls, name: str, in_dim: int, out_dim: int, stateless: bool = False) -> Op:
        kind, fmt_in, fmt_out, module = _row(name, stateless)
        return cls(name, kind, in_dim, out_dim, fmt_in, fmt_out, module)

    @property
    def hidden(self) -> int:
        """An LSTM's hidden units (its output width); another op's output channels."""
        return self.out_dim // 4 if self.kind == LSTM else self.out_dim

    def weights(self) -> dict[str, tuple[int, int]]:
        """Weight tensors by model-file name: (rows, columns)."""
        if self.kind == LSTM:
            return {f"{self.name}.wx": (self.out_dim, self.in_dim),
                    f"{self.name}.wh": (self.out_dim, self.hidden)}
        if self.kind == LINEAR:
            return {f"{self.name}.w": (self.out_dim, self.in_dim)}
        return {f"{self.name}.table": (self.in_dim, self.out_dim)}

    def float_params(self) -> dict[str, tuple[str, ...]]:
        """Float parameters by engine name (``engine.quantize.build_tensors``) -> the
        trainer's state-dict keys that add up to each (an LSTM's two biases are one)."""
        m, n = self.module, self.name
        if self.kind == LSTM:
            return {f"{n}.wx": (f"{m}.weight_ih_l0",), f"{n}.wh": (f"{m}.weight_hh_l0",),
                    f"{n}.b": (f"{m}.bias_ih_l0", f"{m}.bias_hh_l0")}
        if self.kind == LINEAR:
            return {f"{n}.w": (f"{m}.weight",), f"{n}.b": (f"{m}.bias",)}
        return {f"{n}.table": (f"{m}.weight",)}

    def shapes(self, tensors: dict[str, np.ndarray], live: np.ndarray | None = None) -> list[OpShape]:
        """What the cost model needs of this op, with its weight codes from ``tensors``: one
        invocation kind each. An LSTM is two: its input projection (:func:`input_part`, the
        ``.wx`` products of all the steps a chunk or a round holds, at once) and its step
        (the recurrent ``.wh`` products and the cell, one step after another). ``live``:
        which of its outputs some op reads (:meth:`Architecture.live_outputs`; an LSTM's
        units); each matrix's kept rows and columns follow from it."""
        mats = tuple(tensors[k] for k in self.weights())
        if self.kind == EMBEDDING:
            return [OpShape(self.name, "lookup", mats, 1, self.out_dim)]
        if self.kind == LSTM:
            gates = None if live is None else np.tile(live, 4)  # rows: gate-major, i f g o
            # x crosses in once per projection; h crosses out every step
            return [OpShape(input_part(self.name), "matmul", mats[:1], self.in_dim, 0,
                            part_of=self.name, crossings=1, **_kept(mats[0], gates)),
                    OpShape(self.name, "matmul", mats[1:], 0, self.hidden, crossings=1, bias=False,
                            **_kept(mats[1], gates))]
        return [OpShape(self.name, "matmul", mats, self.in_dim, self.hidden, **_kept(mats[0], live))]


def _kept(w: np.ndarray, live_rows: np.ndarray | None) -> dict:
    """``rows`` / ``cols`` of an :class:`OpShape`: the live rows of ``w`` and the columns
    that are non-zero in some live row; ``None`` where all are kept."""
    rows = None if live_rows is None or live_rows.all() else np.flatnonzero(live_rows)
    read = (np.asarray(w if rows is None else w[rows]) != 0).any(axis=0)
    return {"rows": rows, "cols": None if read.all() else np.flatnonzero(read)}


def _read_closure(wh: np.ndarray, read: np.ndarray) -> np.ndarray:
    """An LSTM's units that something reads: those ``read`` from outside, and those the kept
    units' gates read through the recurrent matrix ``wh`` [4H, H], until no more join."""
    live = read.copy()
    while True:
        grown = live | wh[np.tile(live, 4)].any(axis=0)
        if (grown == live).all():
            return live
        live = grown


def input_part(op: str) -> str:
    """The cost-model op of an LSTM op's input projection (``enc.0`` -> ``enc.0.x``)."""
    return f"{op}.x"


def state_key(weight_name: str) -> str:
    """The trainer's state-dict key of a weight tensor given by model-file name (the
    predictor's ``pred.0.w`` too: a stateless predictor's matrix)."""
    op = weight_name.rpartition(".")[0]
    try:
        o = Op.make(op, 0, 0, stateless=weight_name == f"{PREDICTOR}.w")
    except KeyError:
        raise KeyError(f"{weight_name!r} is not a weight matrix name") from None
    if weight_name not in o.weights():
        raise KeyError(f"{weight_name!r} is not a weight matrix name")
    return o.float_params()[weight_name][0]


@dataclass(frozen=True)
class Architecture:
    """The RNN-T's shape. Output class 0 is blank; class ``k >= 1`` is tokenizer piece k-1."""

    num_classes: int
    n_mels: int = 80
    stack: int = 4  # input frame stacking: 4 x 10 ms -> 40 ms
    enc_hidden: int = 256
    enc_layers: int = 3
    reduce_after: int = 1  # time reduction (concat of reduce_factor frames) after layer N; 0: none
    reduce_factor: int = 2
    pred_embed: int = 128
    pred_hidden: int = 256
    joiner_dim: int = 256
    blank_id: int = 0
    # feature normalization: 0 subtracts the global mean alone; N > 0 subtracts a causal
    # running mean of the last N speech frames (10 ms each), starting from cmn_prior frames'
    # worth of the global mean (engine.frontend.CausalMean)
    cmn_window: int = 0
    cmn_prior: int = 200
    # the predictor: 0, an LSTM of pred_hidden units over the embedded tokens; N > 0, stateless
    # (Ghodsi et al. 2020, icefall's decoder): tanh of a linear op over the embeddings of the
    # last N tokens (blank before the first), pred_hidden wide. Its state is N - 1 tokens
    pred_context: int = 0

    def check(self, error: type[Exception] = ValueError) -> None:
        """Raise ``error`` naming what makes this shape unbuildable (nothing when it is sound)."""
        dims = {k: getattr(self, k) for k in ("n_mels", "stack", "enc_hidden", "enc_layers",
                                              "reduce_factor", "pred_embed", "pred_hidden", "joiner_dim")}
        bad = [f"{k}={v}" for k, v in dims.items() if not 1 <= v <= 1 << 16]
        if self.num_classes < 2 or self.num_classes > 1 << 20:
            bad.append(f"num_classes={self.num_classes}")
        if not 0 <= self.blank_id < self.num_classes:
            bad.append(f"blank_id={self.blank_id}")
        if not 0 <= self.reduce_after < self.enc_layers:  # a reduction must feed another layer
            bad.append(f"reduce_after={self.reduce_after} (0, or less than enc_layers)")
        if not 0 <= self.cmn_window <= 1 << 16:
            bad.append(f"cmn_window={self.cmn_window} (0: the global mean; 1..65536 speech frames)")
        if self.cmn_window and not 1 <= self.cmn_prior <= self.cmn_window:
            bad.append(f"cmn_prior={self.cmn_prior} (1..cmn_window frames)")
        if not 0 <= self.pred_context <= MAX_PRED_CONTEXT:
            bad.append(f"pred_context={self.pred_context} (0: an LSTM predictor; 1..{MAX_PRED_CONTEXT} tokens)")
        if bad:
            raise error(f"invalid architecture ({', '.join(bad)})")

    @property
    def normalization(self) -> str:
        """How the model normalizes its features, in words (``cmn_window``)."""
        if not self.cmn_window:
            return "global mean"
        return f"causal mean of {self.cmn_window} speech frames ({self.cmn_prior} of prior)"

    @property
    def predictor(self) -> str:
        """The predictor, in words (``pred_context``)."""
        if not self.pred_context:
            return f"embedding {self.pred_embed} + LSTM {self.pred_hidden}"
        return (f"stateless: embedding {self.pred_embed} of the last {self.pred_context} token"
                f"{'s' if self.pred_context > 1 else ''} + linear {self.pred_hidden} + tanh")

    @staticmethod
    def cmn_fields(window: int, prior: int) -> dict:
        """``cmn_window``/``cmn_prior`` for a causal mean of ``window`` frames (0: the global
        mean, with the default prior): the prior at most the window."""
        return {"cmn_window": window, "cmn_prior": min(prior, window) if window else Architecture.cmn_prior}

    def enc_input_dim(self, layer: int) -> int:
        if layer == 0:
            return self.n_mels * self.stack
        if self.reduce_after and layer == self.reduce_after:
            return self.enc_hidden * self.reduce_factor
        return self.enc_hidden

    @property
    def encoder_frame_ms(self) -> float:
        """Encoder output frame duration, for 10 ms front-end frames."""
        return 10.0 * self.stack * (self.reduce_factor if self.reduce_after else 1)

    # --- the op table ----------------------------------------------------------------------
    @property
    def ops(self) -> tuple[Op, ...]:
        """Every op, in execution order."""
        return (
            *self.encoder_ops,
            Op.make(EMBED, self.num_classes, self.pred_embed),
            Op.make(PREDICTOR, self.pred_context * self.pred_embed, self.pred_hidden, stateless=True)
            if self.pred_context else Op.make(PREDICTOR, self.pred_embed, 4 * self.pred_hidden),
            Op.make(JOIN_ENC, self.enc_hidden, self.joiner_dim),
            Op.make(JOIN_PRED, self.pred_hidden, self.joiner_dim),
            Op.make(JOIN_OUT, self.joiner_dim, self.num_classes),
        )

    @property
    def encoder_ops(self) -> tuple[Op, ...]:
        return tuple(Op.make(f"{ENCODER}.{i}", self.enc_input_dim(i), 4 * self.enc_hidden)
                     for i in range(self.enc_layers))

    def live_outputs(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per op with weight rows (an LSTM: its units; a linear op: its output channels),
        a boolean mask of the outputs some op reads, found from the logits back: a joiner
        channel lives if ``join.out`` reads it; an LSTM unit if the next op reads it (the
        encoder's last layer: ``join.enc``; the predictor: ``join.pred``; another layer: the
        next one, through any frame of a time reduction's stack) or a living unit's gates do
        through the recurrence. Every weight of a dead output is multiplied by nothing that
        reaches the logits, so leaving it out changes no result (the cost model's
        ``drop_dead_channels``). A weight counts where its integer code or, for an op that
        keeps float weights (placed on the CPU), its float value is not zero. Pruning a
        widened model, for one, can remove whole units."""
        nz = {}
        for k in self.weight_shapes():
            if k in tensors:
                nz[k] = np.asarray(tensors[k]) != 0
                if f"float.{k}" in tensors:  # an op that runs in float reads its float weights,
                    nz[k] |= np.asarray(tensors[f"float.{k}"]) != 0  # which a code of 0 may not be
        join = nz[f"{JOIN_OUT}.w"].any(axis=0)
        live = {JOIN_OUT: np.ones(self.num_classes, bool), JOIN_ENC: join, JOIN_PRED: join}
        read = nz[f"{JOIN_PRED}.w"][join].any(axis=0)
        live[PREDICTOR] = read if self.pred_context else _read_closure(nz[f"{PREDICTOR}.wh"], read)
        read = nz[f"{JOIN_ENC}.w"][join].any(axis=0)
        for op in reversed(self.encoder_ops):
            units = live[op.name] = _read_closure(nz[f"{op.name}.wh"], read)
            if op.input == HIDDEN:  # columns: the previous layer's units, once per stacked frame
                read = nz[f"{op.name}.wx"][np.tile(units, 4)].any(axis=0).reshape(-1, self.enc_hidden).any(axis=0)
        return live

    def op(self, name: str) -> Op:
        for o in self.ops:
            if o.name == name:
                return o
        raise KeyError(f"no op {name!r} (ops: {', '.join(self.op_names())})")

    def op_names(self) -> list[str]:
        return [o.name for o in self.ops]

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        """Every weight matrix, by tensor name: (out, in)."""
        return {k: v for o in self.ops for k, v in o.weights().items()}

    def num_params(self) -> int:
        """Weights and biases (an LSTM's two biases count once: they are one in the file)."""
        n = sum(a * b for a, b in self.weight_shapes().values())
        return n + sum(o.out_dim for o in self.ops if o.kind != EMBEDDING)

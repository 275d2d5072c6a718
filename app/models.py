"""Finding models: the shipped ones in ``assets/models``, and any the user names.

A model is named on the command line by a path (``runs/x/model.nnasr``) or by the stem
of a file in a model directory (``aat-csp``). The default is the best shipped model
present: the one named in the directory's ``DEFAULT`` file (written by
``benchmarks/model_card.py``: the lowest measured test WER), else in the order of
:data:`PREFERENCE` (AAT+CSP, then AAT, then the PTQ baseline), then any other model file,
alphabetically.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path

from app.assets import ASSETS_DIR, AUDIO_DIR, DEMO_AUDIO  # noqa: F401  (package data)
from app.cli import UserError, why_unreadable
from engine.frontend import FrontendConfig

# The order in which the shipped model files (stems) are listed after the default one (which
# `make models` measures and names in DEFAULT_FILE); other files follow by name.
PREFERENCE = ("aat-csp", "aat", "baseline-ptq")
EXTENSION = ".nnasr"

NO_MODEL_HINT = (
    "no model found in {dirs}: the shipped models (assets/models/aat-csp.nnasr, aat.nnasr, "
    "baseline-ptq.nnasr) are not there yet; train and export one (`nnasr train`, "
    "`nnasr export`) or pass --model PATH"
)


def model_dirs() -> list[Path]:
    """Where models are looked for: ``$NNASR_MODEL_DIR`` (if set), then assets/models."""
    dirs = []
    env = os.environ.get("NNASR_MODEL_DIR")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(ASSETS_DIR / "models")
    return dirs


DEFAULT_BEAM = 4
"""Beam width of the commands people use (live, transcribe, compare; `nnasr eval` stays greedy
unless told, as the model card's main WER column). Measured by the model card on 428
unseen-voice test utterances (an earlier generation of the models): beam 4 cuts every shipped model's WER by 5-8
points (baseline-ptq 78.0 -> 70.6 %, aat 79.0 -> 71.1 %), at 1.63x the host time per chunk
(aat: p50 1.77 -> 2.89 ms) and 1.28x the modeled NNA time (more joiner and predictor steps);
beam 8 is no better than 4 on dev (docs/decoding.md)."""

def add_lm_arguments(p) -> None:
    """The search's fusion options of the decoding commands (eval, transcribe, live): an
    n-gram LM and hotwords."""
    from engine.lm import LM_BONUS, LM_WEIGHT

    p.add_argument("--lm", metavar="FILE", help="n-gram LM for shallow fusion (built by `nnasr lm`)")
    p.add_argument("--lm-weight", type=float, default=LM_WEIGHT,
                   help=f"LM weight with --lm (default {LM_WEIGHT})")
    p.add_argument("--lm-bonus", type=float, default=LM_BONUS,
                   help=f"score added per emitted token with --lm (default {LM_BONUS})")
    add_hotword_arguments(p)


def add_hotword_arguments(p, peers: bool = False) -> None:
    """``--hotwords FILE`` and ``--hotword-score S`` (eval, transcribe, live, compare)."""
    from engine.context import HOTWORD_SCORE

    p.add_argument("--hotwords", metavar="FILE",
                   help="phrases to favour (contextual biasing): one per line, optionally ending "
                        "in ' :SCORE', its own bonus per token (negative: avoid it); lines "
                        "starting with # are skipped; a bonus is kept only when the whole phrase "
                        "is said (docs/decoding.md)"
                        + ("; peers get them too: pocketsphinx as a grammar, whisper-tiny as its "
                           "prompt hint" if peers else ""))
    p.add_argument("--hotword-score", type=finite_float, default=HOTWORD_SCORE, metavar="S",
                   help=f"bonus per token of a hotword (default {HOTWORD_SCORE}; more holds closer "
                        "to the list and costs more on other speech: 2.5-3.5 suits an app that hears "
                        "only its phrases)")


def lm_options(args, model) -> dict:
    """Recognizer keyword arguments for ``--lm`` and ``--hotwords`` (none without them): the
    LM loaded and checked against ``model``, the hotwords read and normalized as transcripts
    are (numbers spelled out, lowercase); a missing, foreign or mismatched file, or a
    hotwords file with no phrase, is a one-line :class:`UserError`, before any decoding
    starts."""
    out = {}
    if getattr(args, "lm", None):
        from engine.lm import NgramLM

        try:
            lm = NgramLM(Path(args.lm).expanduser())
            lm.check_tokenizer(model.tokenizer_proto, model.name)
        except (OSError, ValueError) as e:
            raise UserError(str(e)) from None
        out.update(lm=lm, lm_weight=args.lm_weight, lm_bonus=args.lm_bonus)
    if getattr(args, "hotwords", None):
        out.update(hotwords=hotwords(args.hotwords, model, args.hotword_score),
                   hotword_score=args.hotword_score)
    return out


def hotwords(path, model, score: float) -> list[tuple[str, float | None]]:
    """The phrases of a hotwords file, normalized as the model's transcripts are (each
    recognizer spells them in its own model's pieces); a file that cannot be read, has no
    phrase, a phrase ``model``'s tokenizer cannot spell or a score that is not finite (the
    engine's :class:`~engine.context.ContextGraph` checks both) is a :class:`UserError`."""
    from app.comparison import normalizer
    from engine.context import ContextGraph, read_hotwords

    try:
        items = read_hotwords(path)
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the hotwords file {path} ({why_unreadable(e)})") from None
    except ValueError as e:
        raise UserError(str(e)) from None
    norm = normalizer()
    for text, _ in items:
        # a letter the normalizer writes as nothing ("é" is written "e"; "ß", "ø", "中" are lost)
        bad = [c for c in dict.fromkeys(text) if c.isalpha() and not norm(c)]
        if bad:
            raise UserError(f"{path}: the hotword {text!r} has letters the model cannot write "
                            f"({', '.join(bad)}): it writes a-z only; spell it as it would")
    phrases = [(t, s) for t, s in ((norm(text), s) for text, s in items) if t]
    if not phrases:
        raise UserError(f"{path}: no hotwords (one phrase per line, optionally ' :SCORE')")
    sp = model.tokenizer()
    try:
        ContextGraph.from_texts(phrases, sp, score)
    except ValueError as e:
        raise UserError(f"{path}: {e}") from None
    single = [t for t, _ in phrases if " " not in t]
    if single:
        import sys

        print(f"nnasr: note: {len(single)} of the {len(phrases)} hotwords are a single word (e.g. "
              f"{single[0]!r}): the search gains the bonus whenever it writes one, heard or not, which "
              "adds words to speech outside the list (docs/decoding.md, Hotwords)", file=sys.stderr)
    return phrases


def finite_float(s: str) -> float:
    """argparse type of a score: any real number, not nan or inf."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {s}")
    return v


MAX_GAIN_DB = 60.0  # --gain's bound: beyond it 16-bit input is all clipping or all floor


AUTO_GAIN = "auto"


def gain_db(s: str) -> float:
    """argparse type of a level change: a finite number of dB within +-MAX_GAIN_DB."""
    v = finite_float(s)
    if abs(v) > MAX_GAIN_DB:
        raise argparse.ArgumentTypeError(f"must be within -{MAX_GAIN_DB:g}..{MAX_GAIN_DB:g} dB, got {s}")
    return v


def gain_option(s: str) -> float | str:
    """argparse type of ``--gain``: :func:`gain_db`, or ``auto``."""
    if s.strip().lower() == AUTO_GAIN:
        return AUTO_GAIN
    try:
        return gain_db(s)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e} (a number of dB, or auto)") from None


def positive_int(s: str) -> int:
    """argparse type of a count or size that must be at least 1 (--beam, --chunk-ms, --limit):
    a bad value is argparse's one-line usage error, not a traceback or a silent default."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def add_engine_arguments(p) -> None:
    """The engine's runtime options of the decoding commands: the speech gate and BLAS threads."""
    p.add_argument("--no-vad", action="store_true",
                   help="decode every frame: no speech gate (by default silence, noise and hum "
                        "give no words; engine/vad.py)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="BLAS threads of the engine (default: $NNASR_THREADS, else 1; 0: the "
                        "BLAS library's default, every core)")
    p.add_argument("--gain", type=gain_option, default=0.0, metavar="DB|auto",
                   help="raise (or lower) the input's level by DB (-60..60) before decoding, "
                        "clipped at full scale: for a quiet microphone, whose speech below about "
                        "-45 dBFS loses its weaker bands to the front-end's log floor (default 0). "
                        "auto: each file or clip raised so its loudest 100 ms (DC left out) reach "
                        "-24 dBFS, by at most 40 dB, never lowered (engine/level.py; transcribe reads "
                        "the file twice, so not standard input or a pipe); live raises the gain in "
                        "5 dB steps whenever 3 s of speech sit below -45 dBFS, and lowers it before "
                        "a block would clip")


def engine_options(args) -> dict:
    """Recognizer keyword arguments for :func:`add_engine_arguments`' options."""
    from engine.threads import blas_threads

    threads = getattr(args, "threads", None)
    try:
        blas_threads(threads)
    except ValueError as e:
        raise UserError(str(e)) from None
    gain = getattr(args, "gain", 0.0) or 0.0
    return {"vad": not getattr(args, "no_vad", False), "threads": threads,
            "gain_db": 0.0 if gain == AUTO_GAIN else float(gain)}


def auto_gain(args) -> bool:
    """Whether ``--gain auto`` asks for each recording's gain to be chosen from its level."""
    return getattr(args, "gain", 0.0) == AUTO_GAIN


DEFAULT_FILE = "DEFAULT"  # a model directory may name its measured-best model in this file


def _measured_default(d: Path) -> str | None:
    f = d / DEFAULT_FILE
    try:
        return f.read_text().strip() or None if f.is_file() else None
    except OSError:
        return None


def _rank(path: Path) -> tuple[int, str]:
    stem = path.stem
    if stem == _measured_default(path.parent):
        return (-1, stem)
    return (PREFERENCE.index(stem) if stem in PREFERENCE else len(PREFERENCE), stem)


def discover(dirs: list[Path] | None = None) -> list[Path]:
    """Model files in the model directories, the default first (:data:`PREFERENCE`)."""
    seen: dict[str, Path] = {}
    for d in dirs if dirs is not None else model_dirs():
        if not d.is_dir():
            continue
        for p in sorted(d.glob(f"*{EXTENSION}")):
            if p.is_file() and p.stem not in seen:
                seen[p.stem] = p
    return sorted(seen.values(), key=_rank)


def resolve(name: str | os.PathLike | None, dirs: list[Path] | None = None) -> Path:
    """A --model argument (path, or stem of a file in a model dir; None: the default)."""
    dirs = dirs if dirs is not None else model_dirs()
    if name is None or str(name) == "":
        found = discover(dirs)
        if not found:
            raise UserError(NO_MODEL_HINT.format(dirs=", ".join(_show(d) for d in dirs)))
        return found[0]
    p = Path(name).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        raise UserError(f"{name}: is a directory, not a model file")
    for d in dirs:
        for cand in (d / str(name), d / f"{name}{EXTENSION}"):
            if cand.is_file():
                return cand
    known = ", ".join(q.stem for q in discover(dirs)) or "none found"
    raise UserError(f"{name}: no such model file (known models: {known})")


def resolve_many(names: list[str] | None) -> list[Path]:
    """Several --model arguments; none given: every model found, the default first."""
    if not names:
        found = discover()
        if not found:
            raise UserError(NO_MODEL_HINT.format(dirs=", ".join(_show(d) for d in model_dirs())))
        return found
    return [resolve(n) for n in names]


def load(path: Path):
    """Load a model file; a bad file becomes a one-line :class:`UserError`."""
    import engine

    try:
        return engine.load_model(path)
    except engine.ModelFormatError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"{path}: cannot read model file ({e.strerror or e})") from None


def _show(p: Path) -> str:
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


# --- facts -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelFacts:
    """What a person wants to know about a model, for tables and the live panel."""

    name: str
    path: str
    params: int
    sparsity: float  # fraction of weights that are zero
    weight_bits: int
    act_bits: int
    file_bytes: int
    cpu_ops: tuple[str, ...]  # ops placed on the CPU (float); empty: all on the NNA
    spec: str
    wer: dict[str, float]  # WER (fraction) by set name, if the model file records any
    default: bool = False
    # the same as a compiler keeps the model: without the units and channels no op reads
    # (EngineModel.live_weights); a pruned model whose zeros took whole units is narrower
    live_weights: int | None = None
    live_sparsity: float | None = None
    stored_name: str = ""  # the name the file stores, where it is not ``name`` (a renamed copy)
    normalization: str = "global mean"  # the features' (Architecture.normalization)
    log_floor: float = FrontendConfig.log_floor  # the front-end's floor on mel power
    predictor: str = ""  # in words (Architecture.predictor): an LSTM, or stateless over N tokens
    pred_context: int = 0  # 0: an LSTM predictor; N: stateless over the last N tokens

    @property
    def label(self) -> str:
        """``name`` for tables, with the stored name where a copy was saved under another."""
        return f"{self.name} ({self.stored_name})" if self.stored_name and self.stored_name != self.name else self.name

    @property
    def sparsity_text(self) -> str:
        """The sparsity of the model that runs, and the stored matrices' where they differ."""
        if self.live_sparsity is None or abs(self.live_sparsity - self.sparsity) < 0.0005:
            return f"{100 * self.sparsity:.1f}%"
        return f"{100 * self.live_sparsity:.1f}% ({100 * self.sparsity:.1f}% stored)"

    @property
    def placement(self) -> str:
        return "all on NNA" if not self.cpu_ops else "CPU: " + ", ".join(self.cpu_ops)

    @property
    def predictor_kind(self) -> str:
        """The predictor in two words, for tables (``predictor`` says it whole)."""
        if not self.pred_context:
            return "LSTM"
        return f"stateless, {self.pred_context} token{'s' if self.pred_context > 1 else ''}"

    @property
    def bits(self) -> str:
        return f"w{self.weight_bits}a{self.act_bits}"

    def to_dict(self) -> dict:
        return {
            "name": self.name, "path": self.path, "default": self.default,
            "params": self.params, "sparsity": self.sparsity,
            "weight_bits": self.weight_bits, "act_bits": self.act_bits,
            "file_bytes": self.file_bytes, "placement": self.placement,
            "cpu_ops": list(self.cpu_ops), "spec": self.spec, "wer": self.wer,
            "live_weights": self.live_weights, "live_sparsity": self.live_sparsity,
            "stored_name": self.stored_name or self.name, "normalization": self.normalization,
            "log_floor": self.log_floor, "predictor": self.predictor,
            "pred_context": self.pred_context,
        }


def is_default(path: Path) -> bool:
    """Whether ``path`` is the model the apps use when none is named (:func:`discover`'s first)."""
    found = discover()[:1]
    return bool(found) and Path(path).resolve() == found[0].resolve()


def facts_of(model, default: bool = False) -> ModelFacts:
    """Facts of a loaded :class:`engine.EngineModel`. Its name is the one a user types
    (``--model NAME`` finds ``NAME.nnasr``): the file's stem; ``stored_name`` the name the file
    stores (they differ for a copy saved under another name; tables show both)."""
    d = model.describe()
    stored, path = str(d.get("name", model.name)), str(d.get("path") or "")
    stem = Path(path).stem if path else ""
    return ModelFacts(
        name=stem or stored, stored_name=stored, path=path,
        params=int(d["params"]), sparsity=float(d["sparsity"]),
        weight_bits=int(d["weight_bits"]), act_bits=int(d["act_bits"]),
        file_bytes=int(d["file_bytes"]), cpu_ops=tuple(d.get("cpu_ops") or ()),
        spec=str(d.get("spec", "")), wer=wer_facts(model.facts), default=default,
        live_weights=d.get("live_weights"), live_sparsity=d.get("live_sparsity"),
        normalization=str(d.get("normalization", "global mean")),
        log_floor=float(d.get("log_floor", model.frontend.log_floor)),
        predictor=str(d.get("predictor", "")), pred_context=int(d.get("pred_context", 0)),
    )


def wer_facts(facts: dict) -> dict[str, float]:
    """The model's own evaluations recorded in its file (``nnasr eval --record SET``):
    WER (fraction) by set name, in the names' order (every model lists its sets alike, however
    its evaluations were recorded). A training-time figure (``last_dev_wer``: the checkpoint's
    last dev evaluation in training, before export) is not the model's, and is not shown.
    A set's name says how it was decoded where that was not greedy with the speech gate and no
    LM (``human dev (beam 4, LM)``): the figures differ by that much."""
    evals = (facts or {}).get("evaluations")
    if not isinstance(evals, dict):
        return {}
    out: dict[str, float] = {}
    for name, e in sorted(evals.items(), key=lambda kv: str(kv[0])):
        wer = e.get("wer") if isinstance(e, dict) else None
        if isinstance(wer, (int, float)) and not isinstance(wer, bool):
            how = _decoding_words(e)
            out[f"{name} ({how})" if how else str(name)] = float(wer)
    return out


def _decoding_words(e: dict) -> str:
    """How a recorded evaluation ``e`` decoded, where not greedy, gated and without an LM."""
    words = []
    beam = e.get("beam")
    if isinstance(beam, int) and not isinstance(beam, bool) and beam > 1:
        words.append(f"beam {beam}")
    if e.get("lm") is True:
        words.append("LM")
    if e.get("speech_gate") is False:
        words.append("no speech gate")
    return ", ".join(words)


def record_evaluation(path: Path, name: str, result: dict) -> None:
    """Store ``result`` (at least ``wer``) in a model file as its evaluation on set ``name``
    (``facts.evaluations[name]``); the file is rewritten atomically, its tensors unchanged."""
    import json

    from safetensors import safe_open

    from engine.model import METADATA_KEY, write_safetensors

    load(path)  # a valid model, or a one-line error
    with safe_open(str(path), framework="numpy") as f:
        metadata = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta = json.loads(metadata[METADATA_KEY])
    meta.setdefault("facts", {}).setdefault("evaluations", {})[name] = result
    metadata[METADATA_KEY] = json.dumps(meta)
    write_safetensors(path, tensors, metadata)
    load(path)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def human_count(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} k"
    return str(int(n))

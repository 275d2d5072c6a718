"""The NNA spec: the one definition of the accelerator's arithmetic and costs.

Every rule of the integer arithmetic (bit widths, rounding, saturation, LUTs, LSTM
formats) and every cost-model constant is a named field of :class:`NNASpec`. The engine's
kernels and the trainer's accelerator-aware emulation both read them from here; nothing
else restates them. Profiles are data: ``engine/profiles/<name>.json``.

Formats (Qm.n = signed, n fractional bits):

* weights: signed ``weight_bits`` integers, symmetric, per output channel scale,
  range ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` (the most negative code is unused so that
  the range is symmetric).
* activations between layers: signed ``act_bits`` integers, symmetric, per tensor scale.
  LSTM hidden state ``h`` is Q0.(act_bits-1): scale ``2^-(act_bits-1)``.
* accumulators: int32, saturating; bias int32 at scale ``s_in * s_w[c]``.
* requantize (gemmlowp / TFLite): ``y = RoundingDivideByPOT(SRDHM(acc, M), shift)`` with
  ``M`` a Q0.31 multiplier in ``[2^30, 2^31)`` and ``shift`` a right shift (negative: a
  left shift of ``acc``, saturating to int32, at most 31); ``SRDHM`` =
  SaturatingRoundingDoublingHighMul exactly as gemmlowp's reference, which rounds to nearest
  with ties toward +infinity (``-0.5 -> 0``); the shift (``rounding``) rounds half away from
  zero; then saturate to the destination type. ``M = round(m * 2^(31+shift))``, half away
  from zero. Hand-worked examples: ``tests/test_engine_fixedpoint.py``.
* LSTM gates: int16 ``Q(gate_int_bits).(15-gate_int_bits)`` (default Q3.12, range ±8).
  Gate non-linearities by lookup table over that input format, output int16 Q0.15.
  Cell state: int16 Q(15-cell_frac_bits).cell_frac_bits (default Q4.11, range ±16).
* LUT: ``lut_entries`` segments over the full int16 input range, i.e. over
  ``[-2^gate_int_bits, 2^gate_int_bits)``, ``lut_entries + 1`` breakpoint values in Q0.15,
  linear interpolation, product rounded half up (add half, arithmetic shift right).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

SPEC_VERSION = 1
PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"


@dataclass(frozen=True)
class NNASpec:
    """A neural network accelerator: arithmetic and cost model. Units in field names."""

    name: str = "reference-speaker"
    spec_version: int = SPEC_VERSION

    # --- arithmetic -----------------------------------------------------------------
    weight_bits: int = 8  # 4..8, symmetric per-output-channel
    act_bits: int = 8  # 8 or 16, symmetric per-tensor
    acc_bits: int = 32  # accumulator width, saturating
    bias_bits: int = 32
    multiplier_bits: int = 32  # requantization multiplier: Q0.31 in an int32
    rounding: str = "half_away_from_zero"  # rounding right shift; SRDHM is gemmlowp's (ties up)
    gate_int_bits: int = 3  # LSTM gate pre-activations int16 Q3.12
    cell_frac_bits: int = 11  # LSTM cell state int16 Q4.11
    lut_entries: int = 256  # segments; LUT holds lut_entries + 1 breakpoints
    lut_out_frac_bits: int = 15  # LUT output Q0.15
    lut_interpolation: str = "linear"

    # --- zero-weight compression -------------------------------------------------------
    zwc_enabled: bool = True  # bitmap (1 bit per weight) + packed non-zero weights
    zwc_min_sparsity: float = 0.125  # below this, a matrix is stored dense (no bitmap)
    # 0: a bitmap marks the non-zeros. k in 2..8: relative indices too (as EIE's), for each
    # matrix where they are smaller: each non-zero carries a k-bit count of the zeros before it
    # in its row, a zero "filler" entry stands in for every 2^k zeros skipped beyond that, and
    # each row has a 16-bit entry count
    zwc_index_bits: int = 0
    # the compiler drops what no result depends on, as it lays the weights out: the output
    # channels no op reads (an LSTM unit whose hidden state nothing reads, with its four gate
    # rows) and the input columns that are zero in every row it keeps (an input no kept row
    # reads). Exact: every output is the same. The model's engine tells the cost model which
    # channels these are (``OpShape.rows`` / ``OpShape.cols``)
    drop_dead_channels: bool = True

    # --- cost model (modeling assumptions, not measurements) ----------------------------
    macs_per_cycle: int = 256  # int8 MAC array
    clock_hz: float = 800e6
    sram_bytes: int = 512 * 1024  # on-chip weight SRAM; weights beyond it stream from DRAM
    dram_bytes_per_s: float = 4e9  # DRAM bandwidth available to the NNA
    op_overhead_s: float = 2e-6  # fixed cost of dispatching one op
    skip_zero_macs: bool = False  # the MAC array does not skip zero weights
    transfer_latency_s: float = 20e-6  # one NNA<->CPU crossing
    transfer_bytes_per_s: float = 1e9
    cpu_flops_per_s: float = 4e9  # float32 on the host CPU, for ops placed on the CPU

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("invalid NNA spec: " + "; ".join(problems))

    def problems(self) -> list[str]:
        p = []
        if self.spec_version != SPEC_VERSION:
            p.append(f"spec_version {self.spec_version} is not {SPEC_VERSION}")
        if not 4 <= self.weight_bits <= 8:
            p.append(f"weight_bits must be 4..8, got {self.weight_bits}")
        if self.act_bits not in (8, 16):
            p.append(f"act_bits must be 8 or 16, got {self.act_bits}")
        if self.acc_bits != 32 or self.bias_bits != 32 or self.multiplier_bits != 32:
            p.append("acc_bits, bias_bits and multiplier_bits must be 32")
        if self.rounding != "half_away_from_zero":
            p.append(f"unsupported rounding {self.rounding!r}")
        if not 1 <= self.gate_int_bits <= 6:
            p.append("gate_int_bits must be 1..6")
        if not 8 <= self.cell_frac_bits <= 14:
            p.append("cell_frac_bits must be 8..14")
        if self.lut_entries not in (64, 128, 256, 512, 1024):
            p.append("lut_entries must be a power of two in 64..1024")
        if self.lut_out_frac_bits != 15:
            p.append("lut_out_frac_bits must be 15")
        if self.lut_interpolation != "linear":
            p.append("lut_interpolation must be 'linear'")
        for f in ("macs_per_cycle", "clock_hz", "dram_bytes_per_s", "transfer_bytes_per_s",
                  "cpu_flops_per_s"):
            if not getattr(self, f) > 0:
                p.append(f"{f} must be > 0")
        if self.zwc_index_bits != 0 and not 2 <= self.zwc_index_bits <= 8:
            p.append(f"zwc_index_bits must be 0 (a bitmap) or 2..8, got {self.zwc_index_bits}")
        for f in ("sram_bytes", "op_overhead_s", "transfer_latency_s"):
            if getattr(self, f) < 0:
                p.append(f"{f} must be >= 0")
        return p

    # --- derived quantities (the only place they are computed) ---------------------------
    @property
    def weight_qmax(self) -> int:
        return (1 << (self.weight_bits - 1)) - 1

    @property
    def act_qmax(self) -> int:
        return (1 << (self.act_bits - 1)) - 1

    @property
    def acc_min(self) -> int:
        return -(1 << (self.acc_bits - 1))

    @property
    def acc_max(self) -> int:
        return (1 << (self.acc_bits - 1)) - 1

    @property
    def hidden_frac_bits(self) -> int:
        """LSTM hidden state h (and joiner hidden) are Q0.(act_bits-1)."""
        return self.act_bits - 1

    @property
    def gate_frac_bits(self) -> int:
        return 15 - self.gate_int_bits

    @property
    def lut_shift(self) -> int:
        """Right shift that maps an int16 gate value (offset by 2^15) to a LUT segment."""
        return 16 - (self.lut_entries.bit_length() - 1)

    @property
    def macs_per_s(self) -> float:
        return self.macs_per_cycle * self.clock_hz

    @property
    def exact_float32_max_k(self) -> int:
        """Largest dot-product length whose int partial sums stay exact in float32 (< 2^24)."""
        return ((1 << 24) - 1) // (self.weight_qmax * self.act_qmax)

    # --- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def stored_dict(self) -> dict:
        """What a model file stores: every field but the cost fields left at their defaults,
        so that a cost field added later (read back as its default) does not make a new
        file unreadable to an older engine, which refuses fields it does not know."""
        default = NNASpec()
        return {k: v for k, v in self.to_dict().items() if k not in COST_FIELDS or v != getattr(default, k)}

    @classmethod
    def from_dict(cls, d: dict) -> NNASpec:
        _check_fields(d)
        return cls(**d)

    def replace(self, **changes) -> NNASpec:
        """This spec with fields changed. A change of its arithmetic without a new ``name``
        renames it (:meth:`honest_name`): a spec's name never claims arithmetic it has not."""
        new = dataclasses.replace(self, **changes)
        if "name" in changes or _arithmetic(new) == _arithmetic(self):
            return new
        return dataclasses.replace(new, name=new.honest_name(base=self))

    def honest_name(self, base: NNASpec | None = None) -> str:
        """A name for this spec's arithmetic, given the spec it came from (``base``; by default
        the profile it is named after, where one is): ``base``'s name where the arithmetic is
        ``base``'s; else, for a profile's spec, the profile whose arithmetic it is; else
        ``BASE+FIELD=VALUE,...`` for the fields it changed. A file exported at
        ``--weight-bits 4`` before exports renamed kept the 8-bit profile's name: its facts
        and costs show the 4-bit profile's. A name that is no profile's is kept."""
        if base is None:
            try:
                base = load_profile(self.name)
            except (OSError, ValueError):  # a spec of its own: nothing to check it against
                return self.name
        mine = _arithmetic(self)
        if _arithmetic(base) == mine:
            return base.name
        profiles = list_profiles()
        if base.name in profiles:
            for name in profiles:
                if _arithmetic(load_profile(name)) == mine:
                    return name
        changed = [f"{k}={v}" for k, v in mine if v != getattr(base, k)]
        return f"{base.name}+{','.join(changed)}"

    def what_if(self, changes: dict[str, str | float | int | bool]) -> NNASpec:
        """This spec with cost-model fields changed (values may be strings, as typed on a
        command line): a model's arithmetic is fixed when it is exported, but its modeled
        cost on another accelerator is only a calculation. Arithmetic fields are refused."""
        known = {f.name for f in dataclasses.fields(self)}
        out = {}
        for k, v in changes.items():
            if k not in known:
                raise ValueError(f"unknown NNA spec field {k!r}; cost fields: {', '.join(COST_FIELDS)}")
            if k not in COST_FIELDS:
                raise ValueError(f"{k} is part of the arithmetic, fixed when the model was exported "
                                 f"(re-export with another profile); a what-if may change only "
                                 f"{', '.join(COST_FIELDS)}")
            out[k] = parse_value(k, v, getattr(self, k))
        return dataclasses.replace(self, **out)

# Fields that change only the modeled cost (and the bytes the cost model counts), never a
# computed value: zero-weight compression and the cost model.
COST_FIELDS = ("zwc_enabled", "zwc_min_sparsity", "zwc_index_bits", "drop_dead_channels", "macs_per_cycle",
               "clock_hz", "sram_bytes", "dram_bytes_per_s", "op_overhead_s", "skip_zero_macs", "transfer_latency_s",
               "transfer_bytes_per_s", "cpu_flops_per_s")


# the words --set takes for true and false
BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
              "off": False}


def parse_value(name: str, value, current):
    """``value`` (typed on a command line, or already typed) for a field ``name`` whose value
    is now ``current``, of ``current``'s type; a ValueError that names the field and what it
    takes: true/false words for a switch, a number, a whole number for an int."""
    if isinstance(current, bool):
        word = value if isinstance(value, bool) else BOOL_WORDS.get(str(value).strip().lower())
        if word is None:
            raise ValueError(f"{name}={value!r}: not true or false (true/false, yes/no, on/off, 1/0)")
        return word
    if isinstance(current, (int, float)):
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r}: not a number") from None
        if isinstance(current, int):
            if not (math.isfinite(f) and f == int(f)):
                raise ValueError(f"{name}={value!r}: not a whole number")
            return int(f)
        return type(current)(f)
    return type(current)(value)


def profile_costs(spec: NNASpec, profile: dict) -> dict:
    """The cost fields of ``profile`` (a :func:`read_profile` object, whole or only some fields),
    as changes for ``spec.what_if``: another accelerator priced for a model exported for
    ``spec``. A field of the arithmetic the profile gives must equal the model's."""
    differ = [f"{k}={profile[k]!r} (the model's: {getattr(spec, k)!r})" for k in sorted(profile)
              if k not in COST_FIELDS and k not in ("name", "spec_version") and profile[k] != getattr(spec, k)]
    if differ:
        raise ValueError(f"the profile's arithmetic differs from the model's: {', '.join(differ)}; "
                         f"a model's arithmetic is fixed when it is exported (re-export it with "
                         f"`nnasr export --profile`), only the cost fields are priced here")
    return {k: profile[k] for k in COST_FIELDS if k in profile}


def read_profile(name_or_path: str) -> dict:
    """A profile's JSON object: a named profile (``engine/profiles/NAME.json``) or a path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"NNA profile {name_or_path!r} not found; known profiles: {', '.join(list_profiles())}"
        )
    d = json.loads(path.read_text())
    if not isinstance(d, dict):
        raise ValueError(f"NNA profile {name_or_path!r}: expected a JSON object of spec fields")
    _check_fields(d)
    return d


def _check_fields(d: dict) -> None:
    unknown = set(d) - {f.name for f in dataclasses.fields(NNASpec)}
    if unknown:
        raise ValueError(f"unknown NNA spec fields: {sorted(unknown)}")


def _arithmetic(spec: NNASpec) -> tuple:
    """The fields of ``spec`` that decide what it computes (all but its name, version and cost
    fields), as (name, value) pairs."""
    return tuple((k, v) for k, v in spec.to_dict().items()
                 if k not in COST_FIELDS and k not in ("name", "spec_version"))


def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


def load_profile(name_or_path: str) -> NNASpec:
    """A named profile (``engine/profiles/NAME.json``) or a path to a JSON file."""
    return NNASpec.from_dict(read_profile(name_or_path))


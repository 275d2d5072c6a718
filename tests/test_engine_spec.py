"""The NNA spec (engine/nna/spec.py): profiles, validation, serialization, derived values."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.nna.spec import SPEC_VERSION, NNASpec, list_profiles, load_profile


def test_profiles_load():
    names = list_profiles()
    assert {"reference-speaker", "reference-speaker-w4"} <= set(names)
    for name in names:
        spec = load_profile(name)
        assert spec.name == name and spec.spec_version == SPEC_VERSION
    assert load_profile("reference-speaker") == NNASpec()
    w4 = load_profile("reference-speaker-w4")
    assert w4.weight_bits == 4 and w4.weight_qmax == 7
    assert w4.replace(weight_bits=8, name="reference-speaker") == NNASpec()


def test_a_spec_is_named_for_its_arithmetic():
    """A spec whose arithmetic changed is not named after the profile it came from: it takes
    the profile that is it, else says what it changed; cost fields keep the name."""
    s, w4 = NNASpec(), load_profile("reference-speaker-w4")
    assert s.replace(weight_bits=4) == w4
    assert w4.replace(weight_bits=8).name == "reference-speaker"
    assert s.replace(weight_bits=6, act_bits=16).name == "reference-speaker+weight_bits=6,act_bits=16"
    assert s.replace(sram_bytes=1 << 20).name == "reference-speaker"  # only a cost changed
    assert s.replace(weight_bits=6, name="chip").name == "chip"  # named as the caller says
    # a file written before renaming: the 8-bit profile's name on 4-bit arithmetic
    stale = dataclasses.replace(s, weight_bits=4)
    assert stale.name == "reference-speaker" and stale.honest_name() == "reference-speaker-w4"
    # a spec of its own (no profile's name) keeps its name; changed, it says what changed
    mine = dataclasses.replace(s, name="my-chip", sram_bytes=1 << 20)
    assert mine.honest_name() == "my-chip" and mine.replace(weight_bits=4).name == "my-chip+weight_bits=4"


def test_profile_from_path_and_unknown(tmp_path):
    p = tmp_path / "chip.json"
    p.write_text(json.dumps(NNASpec(name="chip", sram_bytes=1 << 20).to_dict()))
    assert load_profile(str(p)).sram_bytes == 1 << 20
    with pytest.raises(FileNotFoundError, match="known profiles: .*reference-speaker"):
        load_profile("no-such-chip")


def test_derived_values_hand_worked():
    s = NNASpec()
    assert (s.weight_qmax, s.act_qmax, s.acc_min, s.acc_max) == (127, 127, -(1 << 31), (1 << 31) - 1)
    assert (s.hidden_frac_bits, s.gate_frac_bits) == (7, 12)
    assert s.lut_shift == 8  # 65536 int16 inputs / 256 segments = 2^8 per segment
    assert s.macs_per_s == 256 * 800e6
    assert s.exact_float32_max_k == 1040  # (2^24 - 1) // (127 * 127)
    assert NNASpec(weight_bits=4).exact_float32_max_k == (2**24 - 1) // (7 * 127)
    assert NNASpec(act_bits=16).hidden_frac_bits == 15
    assert NNASpec(lut_entries=1024).lut_shift == 6


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"weight_bits": 3}, "weight_bits must be 4..8, got 3"),
        ({"weight_bits": 9}, "weight_bits must be 4..8"),
        ({"act_bits": 12}, "act_bits must be 8 or 16, got 12"),
        ({"acc_bits": 24}, "acc_bits, bias_bits and multiplier_bits must be 32"),
        ({"rounding": "half_even"}, "unsupported rounding 'half_even'"),
        ({"gate_int_bits": 0}, "gate_int_bits must be 1..6"),
        ({"cell_frac_bits": 15}, "cell_frac_bits must be 8..14"),
        ({"lut_entries": 100}, "lut_entries must be a power of two"),
        ({"lut_out_frac_bits": 14}, "lut_out_frac_bits must be 15"),
        ({"lut_interpolation": "cubic"}, "lut_interpolation must be 'linear'"),
        ({"clock_hz": 0}, "clock_hz must be > 0"),
        ({"sram_bytes": -1}, "sram_bytes must be >= 0"),
        ({"spec_version": 99}, f"spec_version 99 is not {SPEC_VERSION}"),
    ],
)
def test_invalid_specs_rejected_with_clear_messages(changes, message):
    with pytest.raises(ValueError, match="invalid NNA spec: .*" + message.replace("(", r"\(")):
        NNASpec(**changes)


def test_several_problems_reported_together():
    with pytest.raises(ValueError) as e:
        NNASpec(weight_bits=2, act_bits=4)
    assert "weight_bits" in str(e.value) and "act_bits" in str(e.value)


def test_round_trip_and_unknown_fields():
    s = NNASpec(name="x", weight_bits=6, act_bits=16, lut_entries=512, sram_bytes=0, zwc_enabled=False)
    assert NNASpec.from_dict(s.to_dict()) == s
    assert NNASpec.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(ValueError, match=r"unknown NNA spec fields: \['turbo'\]"):
        NNASpec.from_dict({**s.to_dict(), "turbo": True})
    with pytest.raises(ValueError, match="weight_bits"):
        NNASpec.from_dict({**s.to_dict(), "weight_bits": 12})
    hash(s)  # frozen: usable as a cache key
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.weight_bits = 8

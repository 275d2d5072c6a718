"""The results table in README.md and assets/MODEL_CARD.md is what `benchmarks/model_card.py`
writes from the stored measurements, and a new system or evaluation set is one list entry."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import model_card  # noqa: E402
import model_card_text  # noqa: E402


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads(model_card.RESULTS.read_text())


def test_readme_and_card_hold_the_table_the_stored_figures_give(stored):
    block = model_card.table_block(stored)
    assert block in (ROOT / "README.md").read_text(), \
        "README's table differs from models.json: run python benchmarks/model_card.py --render"
    card = (ROOT / "assets" / "MODEL_CARD.md").read_text()
    assert card == model_card_text.card(stored, block), \
        "assets/MODEL_CARD.md differs from models.json: run python benchmarks/model_card.py --render"
    assert stored["meta"]["command"] in block


def test_every_stored_system_is_a_row_with_its_measured_wer(stored):
    lines = model_card.table(stored).splitlines()
    for s in model_card.SYSTEMS:
        if s.name in stored["systems"]:
            row = next(line for line in lines if line.startswith(f"| {s.name} |"))
            wer = stored["systems"][s.name]["results"]["test"]["beam1"]["wer"]
            assert f"| {wer:.1%} |" in row


def test_a_new_set_and_a_new_system_are_one_entry_each(stored, monkeypatch):
    human = model_card.EvalSet("human-dev", "human dev", "/nowhere/dev.jsonl", beams=(1, 4))
    peer = model_card.System("peer", "another recognizer", "peer")
    monkeypatch.setattr(model_card, "SETS", [*model_card.SETS, human])
    monkeypatch.setattr(model_card, "SYSTEMS", [*model_card.SYSTEMS, peer])
    with_peer = {**stored, "systems": {**stored["systems"], "peer": {
        "results": {"test": {"beam1": {"wer": 0.25, "cer": 0.1}}, "human-dev": {"beam1": {"wer": 0.5}}}}}}
    lines = model_card.table(with_peer).splitlines()
    head = lines[0].split(" | ")
    assert "human dev WER" in head and "human dev WER, beam 4 (app default)" in head
    assert all(len(line.split(" | ")) == len(head) for line in lines[2:])
    peer_row = next(line for line in lines if line.startswith("| peer |"))
    assert "| 25.0% | 10.0% |" in peer_row and "| 50.0% |" in peer_row
    base_row = next(line for line in lines if line.startswith("| baseline-ptq |"))
    assert base_row.split(" | ")[head.index("human dev WER")] == "-"  # not measured: shown as such


def test_the_table_goes_between_the_markers_only(tmp_path):
    f = tmp_path / "doc.md"
    f.write_text(f"intro\n{model_card.BEGIN}\nold\n{model_card.END}\noutro\n")
    assert model_card.replace_block(f, f"{model_card.BEGIN}\nnew\n{model_card.END}")
    assert f.read_text() == f"intro\n{model_card.BEGIN}\nnew\n{model_card.END}\noutro\n"
    g = tmp_path / "plain.md"
    g.write_text("no markers\n")
    assert not model_card.replace_block(g, "x") and g.read_text() == "no markers\n"


def test_the_default_model_is_the_lowest_measured_wer_as_the_apps_decode(stored):
    best = model_card.default_model(stored)
    assert (ROOT / "assets" / "models" / "DEFAULT").read_text().strip() == best
    shipped = [s.name for s in model_card.SYSTEMS if s.kind == "shipped" and s.name in stored["systems"]]
    beam = {n: stored["systems"][n]["results"]["test"][f"beam{model_card.APP_BEAM}"]["wer"] for n in shipped}
    assert beam[best] == min(beam.values())


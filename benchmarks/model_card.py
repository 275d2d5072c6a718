"""Measure the shipped models and write their results table and model card.

    python benchmarks/model_card.py --data data/corpus --runs runs   # measure (~3 min), then write
    python benchmarks/model_card.py --render                         # write from the stored figures

Measuring evaluates every system of SYSTEMS on every set of SETS on this machine and stores
the figures, with the command, date and machine, in benchmarks/results/models.json. Writing
reads only that file: the results table goes between the markers
``<!-- results-table:begin -->`` / ``<!-- results-table:end -->`` in README.md and in
assets/MODEL_CARD.md (the rest of the card is written around it), and into
benchmarks/results/models.md. No figure is typed by hand.

To add a system (a row) or an evaluation set (columns), add one entry to SYSTEMS or SETS.
A new kind of system (e.g. a peer recognizer) also adds a branch to ``open_system``
that returns its decode function.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "benchmarks" / "results" / "models.json"
BEGIN, END = "<!-- results-table:begin -->", "<!-- results-table:end -->"
APP_BEAM = 4  # the apps' default search (app.models.DEFAULT_BEAM); checked in measure()


@dataclass(frozen=True)
class System:
    """One row: ``kind`` says how it is decoded (see ``open_system``)."""

    name: str
    what: str
    kind: str  # "float": the float checkpoint's export, engine float reference;
    #            "shipped": assets/models/NAME.nnasr on the integer NNA emulator


@dataclass(frozen=True)
class EvalSet:
    """Columns: one WER per search in ``beams`` (1 = greedy), and CER for greedy if ``cer``.
    The first set is the primary one: the relative WER and the latency columns come from it."""

    key: str
    label: str
    manifest: str  # relative to --data, or an absolute path
    beams: tuple[int, ...] = (1,)
    cer: bool = False


SYSTEMS = [
    System("float", "float reference (engine, float weights)", "float"),
    System("baseline-ptq", "float training + post-training quantization, all ops on the NNA", "shipped"),
    System("aat", "accelerator-aware fine-tune, all ops on the NNA", "shipped"),
    System("aat-csp", "AAT + compressed-sensing pruning, all ops on the NNA", "shipped"),
]
SETS = [
    EvalSet("test", "test (unseen voices)", "test.jsonl", beams=(1, APP_BEAM), cer=True),
    EvalSet("seen", "seen voices", "test-seen-voices.jsonl"),
]


# ---------------------------------------------------------------- measuring

def split_phases(hist: list[dict]) -> list[list[dict]]:
    """A history in training phases: a run started from another's checkpoint (``--init``)
    carries that run's history and counts its steps from 0 again."""
    phases: list[list[dict]] = [[]]
    last = -1
    for h in hist:
        if h["step"] < last:
            phases.append([])
        phases[-1].append(h)
        last = h["step"]
    return [p for p in phases if p]


def voice_summary(ids: list[str]) -> str:
    """Voice ids ("engine:name") in a line: espeak-ng as a count, the others by name."""
    by: dict[str, list[str]] = {}
    for v in ids:
        engine, _, name = v.partition(":")
        by.setdefault(engine, []).append(name)
    parts = []
    for engine, names in by.items():
        if engine == "espeak-ng":
            parts.append(f"espeak-ng accents x variants ({len(names)})")
        else:
            parts.append(f"{engine} {'/'.join(names)}")
    return ", ".join(parts)


def open_system(system: System, ctx: dict):
    """``(decode(records, beam) -> EvalResult, facts dict)`` for one row, or None when absent."""
    from engine.model import load_model
    from trainer.evaluate import evaluate_engine

    if system.kind == "float":
        f = Path(ctx["tmp"]) / "float.nnasr"
        subprocess.run([sys.executable, "-m", "app", "export", str(ctx["checkpoint"]), "--out", str(f),
                        "--data", str(ctx["data"])], check=True)
        m = load_model(f)
        return (lambda recs, beam: evaluate_engine(m, recs, mode="float", beam=beam, progress=True)), {}
    if system.kind == "shipped":
        p = ROOT / "assets" / "models" / f"{system.name}.nnasr"
        if not p.exists():
            return None
        m = load_model(p)
        facts = {"file_bytes": m.file_bytes, "sparsity": m.sparsity(), "params": m.arch.num_params(),
                 "facts": m.facts, "weight_bits": m.spec.weight_bits}
        return (lambda recs, beam: evaluate_engine(m, recs, mode="placed", beam=beam, progress=True)), facts
    raise ValueError(f"unknown system kind {system.kind!r}")


def checkpoint_facts(ck: Path, runs: Path) -> dict:
    """The float checkpoint's size, length of training and dev-WER curve (one point per
    evaluation: phase, wall h, audio h, dev WER), and the CSP run's per-group sparsity."""
    import torch

    c = torch.load(ck, map_location="cpu", weights_only=True)
    phases = split_phases(json.loads(c.get("history", "[]")))
    curve = [[i, h["wall_s"] / 3600, h["audio_h"], h["dev_wer"]]
             for i, ph in enumerate(phases) for h in ph if "dev_wer" in h]
    out = {"path": str(ck), "step": c["step"], "wall_h": c["wall_seconds"] / 3600,
           "audio_h": c.get("audio_seen", 0) / 3600, "arch": c["arch"], "averaged_steps": c.get("averaged_steps"),
           "phases": len(phases), "curve": curve, "csp_layers": "all"}
    p = runs / "aat-csp" / "last.pt"
    if p.exists():
        out["csp_layers"] = json.loads(torch.load(p, map_location="cpu", weights_only=True)["config"]).get(
            "prune_layers", "all")
    return out


def measure(args) -> dict:
    """Evaluate SYSTEMS on SETS here; the figures and how they were made, as models.json holds them."""
    from app.commands.export import load_training_checkpoint
    from app.models import DEFAULT_BEAM
    from trainer.data.manifest import read_manifest
    from trainer.evaluate import evaluate_torch

    assert DEFAULT_BEAM == APP_BEAM, "APP_BEAM must follow app.models.DEFAULT_BEAM"
    data, runs = Path(args.data), Path(args.runs)
    sets = {}
    for s in SETS:
        p = Path(s.manifest) if Path(s.manifest).is_absolute() else data / s.manifest
        if p.exists():
            sets[s.key] = read_manifest(p)[: args.limit or None]
        else:
            print(f"{p} not found: the {s.label!r} columns stay empty ({s.key})")
    fdir = runs / ("float-refresh" if (runs / "float-refresh" / "last.pt").exists() else "float")
    ck = fdir / "last.pt"
    corpus = json.loads((data / "corpus.json").read_text()) if (data / "corpus.json").exists() else {}
    train = corpus.get("splits", {}).get("train", {})
    cmd = f"python benchmarks/model_card.py --data {args.data} --runs {args.runs}"
    meta = {"command": cmd + (f" --limit {args.limit}" if args.limit else ""), "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU", "data": args.data,
            "wall_seconds": args.wall_seconds, "utterances": {k: len(v) for k, v in sets.items()},
            "corpus": {"train_utterances": train.get("utterances"), "train_hours": train.get("hours"),
                       "train_voices": voice_summary(train.get("voices", [])),
                       "train_voice_count": len(train.get("voices", [])),
                       "held_out_voices": corpus.get("held_out_voices", {})},
            "float_checkpoint": checkpoint_facts(ck, runs)}
    systems: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ctx = {"tmp": tmp, "checkpoint": ck, "data": data}
        for sysm in SYSTEMS:
            opened = open_system(sysm, ctx)
            if opened is None:
                print(f"{sysm.name}: not found, left out")
                continue
            decode, facts = opened
            res: dict[str, dict] = {}
            for s in SETS:
                if s.key in sets:
                    res[s.key] = {f"beam{b}": decode(sets[s.key], b).to_dict() for b in s.beams}
            systems[sysm.name] = {**facts, "results": res}
    if "float" in systems and SETS[0].key in sets:  # the float checkpoint decoded by torch itself
        _, tm, proto, _ = load_training_checkpoint(str(ck))
        rt = evaluate_torch(tm, proto, sets[SETS[0].key], progress=True)
        systems["float"]["torch"] = {"wer": rt.wer, "cer": rt.cer}
    return {"meta": meta, "systems": systems}


def curve_plot(curve: list, labels: list[str], out: Path) -> None:
    """Dev WER against audio hours seen, one series per training phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, label in enumerate(labels):
        xs = [(p[2], 100 * p[3]) for p in curve if p[0] == i]
        if xs:
            ax.plot([x[0] for x in xs], [x[1] for x in xs], marker="o", label=label)
    ax.set_xlabel("hours of audio trained on")
    ax.set_ylabel("dev WER % (unseen voices)")
    ax.set_title("float model: dev WER vs training")
    ax.grid(alpha=0.3)
    if len(labels) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


# ---------------------------------------------------------------- writing

def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def table(stored: dict) -> str:
    """The results table (markdown): one row per SYSTEMS entry measured, columns from SETS."""
    sysd, primary = stored["systems"], SETS[0]

    def get(name, set_key, beam, field):
        return sysd.get(name, {}).get("results", {}).get(set_key, {}).get(f"beam{beam}", {}).get(field)

    heads = ["model", "what"]
    for s in SETS:
        for b in s.beams:
            heads.append(f"{s.label} WER" + ("" if b == 1 else f", beam {b}" + (" (app default)" if b == APP_BEAM else "")))
            if b == 1 and s.cer:
                heads.append(f"{s.label} CER")
    heads += ["rel. WER vs float", "sparsity", "size (MB)", f"modeled NNA ms/chunk p50 (beam {APP_BEAM})",
              f"host ms/chunk p50 / p95 (beam {APP_BEAM} p50)", "RTF"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    fw = get("float", primary.key, 1, "wer")
    for sysm in SYSTEMS:
        if sysm.name not in sysd:
            continue
        r, cells = sysd[sysm.name], [sysm.name, sysm.what]
        for s in SETS:
            for b in s.beams:
                cells.append(_pct(get(sysm.name, s.key, b, "wer")))
                if b == 1 and s.cer:
                    cells.append(_pct(get(sysm.name, s.key, b, "cer")))
        w = get(sysm.name, primary.key, 1, "wer")
        cells.append("-" if sysm.name == "float" or w is None or not fw else f"{(w - fw) / fw:+.1%}")
        cells.append("-" if r.get("sparsity") is None else f"{r['sparsity']:.0%}")
        cells.append("-" if r.get("file_bytes") is None else f"{r['file_bytes'] / 1e6:.2f}")
        cells += latency_cells(sysm, lambda field, beam=1, n=sysm.name: get(n, primary.key, beam, field))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latency_cells(sysm: System, g) -> list[str]:
    """Modeled NNA ms, host ms and RTF on the primary set; ``g(field, beam=1)`` reads a figure."""
    def with_beam(field, fmt):
        b = g(field, APP_BEAM)
        return f"{g(field):{fmt}}" + ("" if b is None else f" ({b:{fmt}})")

    nna = "-" if sysm.kind == "float" or g("modeled_nna_ms_p50") is None else with_beam("modeled_nna_ms_p50", ".3f")
    host = "-" if g("host_ms_p50") is None else (
        f"{g('host_ms_p50'):.2f} / {g('host_ms_p95'):.2f}"
        + ("" if g("host_ms_p50", APP_BEAM) is None else f" ({g('host_ms_p50', APP_BEAM):.2f})"))
    return [nna, host, "-" if g("rtf") is None else f"{g('rtf'):.3f}"]


def table_block(stored: dict) -> str:
    """The table with the command that measured it, as it stands between the markers."""
    m = stored["meta"]
    n = m.get("utterances", {})
    sizes = ", ".join(f"{s.label} {n[s.key]} utterances" for s in SETS if s.key in n)
    return (f"{BEGIN}\n`{m['command']}` on {m['date']} ({m['machine']}; {sizes}; 160 ms chunks; "
            f"greedy unless the column says beam {APP_BEAM}, the apps' default). Host times are measured; "
            f"NNA times are modeled by the cost model.\n\n{table(stored)}\n{END}")


def replace_block(path: Path, block: str) -> bool:
    """Put ``block`` between the markers in ``path``; False when the file has no markers."""
    text = path.read_text()
    pat = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pat.search(text):
        return False
    path.write_text(pat.sub(lambda _: block, text, count=1))
    return True


def default_model(stored: dict) -> str | None:
    """The apps' default: the shipped model with the lowest measured primary-set WER as the apps decode."""
    shipped = [s.name for s in SYSTEMS if s.kind == "shipped" and s.name in stored["systems"]]
    if not shipped:
        return None
    key = SETS[0].key

    def wer(n, b):
        return stored["systems"][n]["results"].get(key, {}).get(f"beam{b}", {}).get("wer", 1e9)

    return min(shipped, key=lambda n: (wer(n, APP_BEAM), wer(n, 1)))


def write(stored: dict) -> None:
    """Write the table into README.md, the model card, models.md and the DEFAULT model file."""
    from model_card_text import card  # the card's prose, beside this file

    block = table_block(stored)
    (ROOT / "benchmarks" / "results" / "models.md").write_text(table(stored) + "\n")
    (ROOT / "assets" / "MODEL_CARD.md").write_text(card(stored, block))
    if not replace_block(ROOT / "README.md", block):
        print(f"README.md has no {BEGIN} ... {END} markers: its table is not updated")
    best = default_model(stored)
    if best:
        (ROOT / "assets" / "models" / "DEFAULT").write_text(best + "\n")
        print(f"default model: {best}")
    print(table(stored))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/corpus", help="corpus with the SETS' manifests (default: data/corpus)")
    ap.add_argument("--runs", default="runs", help="run directories of `make models` (default: runs)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N utterances of each set")
    ap.add_argument("--wall-seconds", type=int, default=0, help="the recipe's wall time, to state in the card")
    ap.add_argument("--render", action="store_true",
                    help=f"measure nothing: write the table and card from {RESULTS.relative_to(ROOT)}")
    args = ap.parse_args()
    os.chdir(ROOT)
    if args.render:
        if not RESULTS.exists():
            print(f"{RESULTS} not found: measure first (python benchmarks/model_card.py --data data/corpus)")
            return 1
        stored = json.loads(RESULTS.read_text())
    else:
        stored = measure(args)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(stored, indent=1))
        from model_card_text import phase_labels

        ck = stored["meta"]["float_checkpoint"]
        if ck["curve"]:
            curve_plot(ck["curve"], phase_labels(ck["phases"]), ROOT / "benchmarks" / "results" / "float_curve.png")
    write(stored)
    return 0


if __name__ == "__main__":
    sys.exit(main())

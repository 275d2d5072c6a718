"""Measure the shipped models and write their results table and model card.

    python benchmarks/model_card.py --data data/corpus --runs runs   # measure all, then write
    python benchmarks/model_card.py --render                         # write from the stored figures
    python benchmarks/model_card.py --systems baseline-ptq whisper-tiny --sets human
                                    # measure only these rows x column groups, keep the rest
    python benchmarks/model_card.py --limit 2 --dry-run              # a quick try: print, store nothing

Measuring evaluates every system of SYSTEMS on every set of SETS on this machine and stores
the figures, with the command, date and machine, in benchmarks/results/models.json. With
``--systems`` and/or ``--sets`` only those are measured and merged into the stored figures
(the caption then names each partial run too). Peers (``pip install 'nnasr[peers]'``;
app/peers.py) are rows like the models: each clip decoded once with the peer's own search,
scored by the same normalizer and WER code as ``nnasr compare``. Writing
reads only that file: the results table goes between the markers
``<!-- results-table:begin -->`` / ``<!-- results-table:end -->`` in README.md and in
assets/MODEL_CARD.md (the rest of the card is written around it), and into
benchmarks/results/models.md. No figure is typed by hand.

To add a system (a row) or an evaluation set (columns), add one entry to SYSTEMS or SETS.
A new kind of system also adds a branch to ``open_system`` that returns its decode function.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import machine

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "benchmarks" / "results" / "models.json"
BEGIN, END = "<!-- results-table:begin -->", "<!-- results-table:end -->"
APP_BEAM = 4  # the apps' default search (app.models.DEFAULT_BEAM); checked in measure()
HUMAN_DEFAULT = "data/human"  # `nnasr synth --human --out data/human`
WORDS_DEFAULT = "data/words"  # `nnasr synth --words-fraction 1 --out data/words` (scripts/make_models.sh)


@dataclass(frozen=True)
class System:
    """One row: ``kind`` says how it is decoded (see ``open_system``)."""

    name: str
    what: str
    kind: str  # "float": the float checkpoint's export, engine float reference;
    #            "shipped": assets/models/NAME.nnasr on the integer NNA emulator;
    #            "ptq": the float checkpoint quantized here at ``weight_bits`` (not shipped: a
    #            reference row, e.g. where post-training quantization breaks), integer emulator;
    #            "peer": another recognizer, app.peers.load(NAME), decoded once with its own search
    weight_bits: int = 8  # "ptq" only

    @property
    def integer(self) -> bool:
        """Decoded on the integer NNA emulator: its WER is what quantization (and pruning) cost."""
        return self.kind in ("shipped", "ptq")


@dataclass(frozen=True)
class EvalSet:
    """Columns: one WER per search in ``beams`` (1 = greedy), CER for greedy if ``cer``, and
    if ``nonspeech`` the words written on the set's clips with an empty transcript (at the
    apps' beam, else the widest search measured). The first set is the primary one: the
    relative WER and the latency columns come from it."""

    key: str
    label: str
    manifest: str  # relative to the ``root`` directory, or an absolute path
    beams: tuple[int, ...] = (1,)
    cer: bool = False
    nonspeech: bool = False
    root: str = "data"  # "data": the corpus (--data); "human": the real recordings (--human);
    # "words": the isolated words and letters corpus (--words)


SYSTEMS = [
    System("float", "float reference (engine, float weights)", "float"),
    System("baseline-ptq", "float training + post-training quantization, all ops on the NNA", "shipped"),
    System("aat", "accelerator-aware fine-tune, all ops on the NNA", "shipped"),
    System("aat-csp", "AAT + compressed-sensing pruning, all ops on the NNA", "shipped"),
    System("aat-mag", "AAT + gradual magnitude pruning at aat-csp's sparsity, steps and schedule: "
           "the pruning baseline", "shipped"),
    System("aat-w4", "accelerator-aware fine-tune at 4-bit weights, all ops on the NNA", "shipped"),
    System("ptq-w4", "float training + post-training quantization at 4-bit weights (not shipped: "
           "where PTQ breaks)", "ptq", weight_bits=4),
    System("pocketsphinx", "peer: PocketSphinx 5.1 with its bundled US English models, streaming", "peer"),
    System("whisper-tiny", "peer: whisper tiny.en (faster-whisper, int8, 1 thread), whole utterances", "peer"),
]
SETS = [
    EvalSet("test", "test (unseen voices)", "test.jsonl", beams=(1, APP_BEAM), cer=True, nonspeech=True),
    EvalSet("human", "human dev", "dev.jsonl", beams=(1, APP_BEAM), root="human"),
    EvalSet("seen", "seen voices", "test-seen-voices.jsonl"),
    EvalSet("words", "words & letters (unseen voices)", "test.jsonl", beams=(APP_BEAM,), root="words"),
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
        elif engine == "kokoro":
            blends = sum(n.startswith("blend-") for n in names)
            parts.append(f"kokoro {len(names) - blends} voices + {blends} blends")
        else:
            parts.append(f"{engine} {'/'.join(names)}")
    return ", ".join(parts)


class LeftOut(Exception):
    """A system that cannot be measured here; the message is the one line saying why."""


def nonspeech_words(pairs: list[tuple[str, str]]) -> dict:
    """Words written on the clips whose reference is empty (``(ref, hyp)`` pairs), counted
    after the shared normalizer (app.comparison.normalizer); {} when the set has none."""
    from app.comparison import normalizer

    norm = normalizer()
    hyps = [norm(h or "") for r, h in pairs if not (r or "").strip()]
    return {"nonspeech_clips": len(hyps), "nonspeech_words": sum(len(h.split()) for h in hyps)} if hyps else {}


def decode_peer(peer, records: list[dict], progress: bool = False) -> dict:
    """Every record through a peer, scored as ``nnasr compare`` scores it (app.comparison.ModelRun:
    the same normalizer, WER and CER); the keys of ``EvalResult.to_dict`` that the table reads,
    and the words written on non-speech. A peer has no modeled NNA time; a peer that is not
    streaming has no per-chunk host time (None)."""
    from rich.progress import Progress

    from app.comparison import ModelRun

    run = ModelRun(facts=peer.facts, kind="peer", streaming=peer.streaming)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"decoding ({peer.name})", total=len(records))
        for r in records:
            run.add(peer.run_file(r["audio_filepath"]), r["text"], r["audio_filepath"])
            bar.advance(task)
    m = run.metrics()
    per = run.utterances()
    return {"wer": m["wer"], "cer": m["cer"], "rtf": m["rtf"], "host_ms_p50": m["host_ms_p50"],
            "host_ms_p95": m["host_ms_p95"], "modeled_nna_ms_p50": None, "modeled_nna_ms_p95": None,
            "utterances": len(records), "audio_seconds": run.audio_s, "host_seconds": run.compute_ms / 1000,
            "ref_words": sum(u["ref_words"] or 0 for u in per),
            **nonspeech_words([(u["ref"], u["hyp"]) for u in per])}


def open_system(system: System, ctx: dict):
    """``(decode(records, beam) -> figures dict, facts dict)`` for one row; raises
    :class:`LeftOut` when the system cannot be measured here. A peer's decode ignores ``beam``."""
    from engine.model import load_model
    from trainer.evaluate import evaluate_engine

    def scored(res) -> dict:
        return {**res.to_dict(), **nonspeech_words([(u["ref"], u["hyp"]) for u in res.per_utterance])}

    def export_here(name: str, *options: str) -> Path:
        """The float checkpoint exported (and quantized after training) into the temporary directory."""
        if not Path(ctx["checkpoint"]).exists():
            raise LeftOut(f"{system.name}: {ctx['checkpoint']} not found (make models), left out")
        f = Path(ctx["tmp"]) / f"{name}.nnasr"
        subprocess.run([sys.executable, "-m", "app", "export", str(ctx["checkpoint"]), "--out", str(f),
                        "--data", str(ctx["data"]), *options], check=True)
        return f

    if system.kind == "float":
        m = load_model(export_here("float"))
        return (lambda recs, beam: scored(evaluate_engine(m, recs, mode="float", beam=beam, progress=True))), {}
    if system.kind in ("shipped", "ptq"):
        # a ptq row is quantized here, as `make models` quantizes baseline-ptq
        p = ROOT / "assets" / "models" / f"{system.name}.nnasr" if system.kind == "shipped" else export_here(
            system.name, "--no-float", "--weight-bits", str(system.weight_bits), "--name", system.name)
        if not p.exists():
            raise LeftOut(f"{system.name}: {p} not found, left out")
        m = load_model(p)
        facts = {"file_bytes": m.file_bytes, "sparsity": m.sparsity(), "params": m.arch.num_params(),
                 "live_sparsity": m.live_sparsity(),
                 "facts": m.facts, "weight_bits": m.spec.weight_bits}
        return (lambda recs, beam: scored(evaluate_engine(m, recs, mode="placed", beam=beam, progress=True))), facts
    if system.kind == "peer":
        from app import peers

        try:
            peer = peers.load(system.name)
        except peers.PeerUnavailable:
            raise LeftOut(f"{system.name}: not installed, left out ({peers.INSTALL_HINT})") from None
        f = peer.facts
        return (lambda recs, beam: decode_peer(peer, recs, progress=True)), {
            "file_bytes": f.file_bytes, "streaming": f.streaming, "about": f.about}
    raise ValueError(f"unknown system kind {system.kind!r}")


def checkpoint_facts(ck: Path) -> dict:
    """The float checkpoint's size, length of training and dev-WER curve (one point per
    evaluation: phase, wall h, audio h, dev WER)."""
    import torch

    c = torch.load(ck, map_location="cpu", weights_only=True)
    phases = split_phases(json.loads(c.get("history", "[]")))
    curve = [[i, h["wall_s"] / 3600, h["audio_h"], h["dev_wer"]]
             for i, ph in enumerate(phases) for h in ph if "dev_wer" in h]
    return {"path": str(ck), "step": c["step"], "wall_h": c["wall_seconds"] / 3600,
            "audio_h": c.get("audio_seen", 0) / 3600, "arch": c["arch"], "averaged_steps": c.get("averaged_steps"),
            "phases": len(phases), "curve": curve}


def pruning_run_facts(runs: Path, float_hidden: int | None) -> dict:
    """How aat-csp was made, from its run in `make models`' layout: the per-group split
    (``layers``), the manifests (``train``, make models' PRUNE_TRAIN), the encoder width and,
    for a model widened and pruned in float steps first (``runs/aat-csp-float``), that
    stage's steps and settings (``float``); {} without the run. Stored on the aat-csp row, so
    measuring aat-csp again refreshes them with its figures."""
    import torch

    p = runs / "aat-csp" / "last.pt"
    if not p.exists():
        return {}
    csp = torch.load(p, map_location="cpu", weights_only=True)
    cfg = json.loads(csp["config"])
    out = {"layers": cfg.get("prune_layers", "all"), "train": cfg.get("train", ""),
           "enc_hidden": csp["arch"]["enc_hidden"]}
    fp = runs / "aat-csp-float" / "last.pt"
    if fp.exists() and out["enc_hidden"] != float_hidden:
        f = torch.load(fp, map_location="cpu", weights_only=True)
        out["float"] = {"steps": int(f["step"]), "config": json.loads(f["config"])}
    return out


def set_path(s: EvalSet, args) -> Path:
    """Where an EvalSet's manifest is: under --data, --human or --words, unless absolute."""
    root = Path({"human": args.human, "words": args.words}.get(s.root, args.data))
    return Path(s.manifest) if Path(s.manifest).is_absolute() else root / s.manifest


def run_command(args) -> str:
    """The command line that reproduces this measurement (defaults left out)."""
    cmd = f"python benchmarks/model_card.py --data {args.data} --runs {args.runs}"
    if args.human != HUMAN_DEFAULT:
        cmd += f" --human {args.human}"
    if args.words != WORDS_DEFAULT:
        cmd += f" --words {args.words}"
    if args.float_run:
        cmd += f" --float-run {args.float_run}"
    if args.systems:
        cmd += " --systems " + " ".join(args.systems)
    if args.sets:
        cmd += " --sets " + " ".join(args.sets)
    return cmd + (f" --limit {args.limit}" if args.limit else "")


def measure(args) -> dict:
    """Evaluate SYSTEMS on SETS here (only ``args.systems`` / ``args.sets`` when given); the
    figures and how they were made, as models.json holds them."""
    from app.models import DEFAULT_BEAM
    from trainer.data.manifest import read_manifest

    assert DEFAULT_BEAM == APP_BEAM, "APP_BEAM must follow app.models.DEFAULT_BEAM"
    data, runs = Path(args.data), Path(args.runs)
    sets = {}
    for s in SETS:
        if args.sets and s.key not in args.sets:
            continue
        p = set_path(s, args)
        if p.exists():
            sets[s.key] = read_manifest(p)[: args.limit or None]
        else:
            hint = {"human": " (nnasr synth --human --out DIR, then --human DIR)",
                    "words": " (nnasr synth --words-fraction 1 --out DIR, then --words DIR)"}.get(s.root, "")
            print(f"{p} not found: the {s.label!r} columns are not measured ({s.key}){hint}")
    fdir = runs / (args.float_run or ("float-refresh" if (runs / "float-refresh" / "last.pt").exists()
                                      else "float"))
    ck = fdir / "last.pt"
    corpus = json.loads((data / "corpus.json").read_text()) if (data / "corpus.json").exists() else {}
    train = corpus.get("splits", {}).get("train", {})
    meta = {"command": run_command(args), "date": time.strftime("%Y-%m-%d"),
            "machine": machine(gpu=False), "data": args.data,
            "human": args.human, "words": args.words, "wall_seconds": args.wall_seconds,
            "utterances": {k: len(v) for k, v in sets.items()},
            "minutes": {k: round(sum(r["duration"] for r in v) / 60, 2) for k, v in sets.items()},
            "nonspeech_clips": {k: sum(not r["text"].strip() for r in v) for k, v in sets.items()},
            "systems_measured": [], "sets_measured": list(sets)}
    if corpus and train.get("utterances"):  # an evaluation-only copy (`nnasr synth --hours 0`)
        meta["corpus"] = {"train_utterances": train.get("utterances"), "train_hours": train.get("hours"),
                          "train_voices": voice_summary(train.get("voices", [])),
                          "train_voice_count": len(train.get("voices", [])),
                          "held_out_voices": corpus.get("held_out_voices", {})}
    meta["float_checkpoint"] = checkpoint_facts(ck) if ck.exists() else {}
    systems: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ctx = {"tmp": tmp, "checkpoint": ck, "data": data}
        for sysm in SYSTEMS:
            if args.systems and sysm.name not in args.systems:
                continue
            try:
                decode, facts = open_system(sysm, ctx)
            except LeftOut as e:
                print(e)
                continue
            res: dict[str, dict] = {}
            for s in SETS:
                if s.key not in sets:
                    continue
                if sysm.kind == "peer":  # its own search, once: the same figures in every beam column
                    once = decode(sets[s.key], None)
                    res[s.key] = {f"beam{b}": once for b in s.beams}
                else:
                    res[s.key] = {f"beam{b}": decode(sets[s.key], b) for b in s.beams}
            if sysm.name == "aat-csp":  # how the pruned pair was made (no run here: the stored facts stay)
                run = pruning_run_facts(runs, meta["float_checkpoint"].get("arch", {}).get("enc_hidden"))
                facts = {**facts, "run": run} if run else facts
            systems[sysm.name] = {**facts, "results": res}
            meta["systems_measured"].append(sysm.name)
    primary = SETS[0].key
    if "float" in systems and primary in sets:  # the float checkpoint decoded by torch itself
        from app.commands.export import load_training_checkpoint
        from trainer.evaluate import evaluate_torch

        _, tm, proto, _ = load_training_checkpoint(str(ck))
        rt = evaluate_torch(tm, proto, sets[primary], progress=True)
        systems["float"]["torch"] = {"wer": rt.wer, "cer": rt.cer}
    return {"meta": meta, "systems": systems}


def _cells(update: dict) -> set[tuple[str, str]]:
    return {(n, k) for n in update["systems_measured"] for k in update["sets_measured"]}


def standing(updates: list[dict]) -> list[dict]:
    """``updates`` (oldest first) without those whose every (system, set) figure a later one
    measured again: the caption names only the commands whose figures still stand."""
    later: set[tuple[str, str]] = set()
    kept = []
    for u in reversed(updates):
        if not _cells(u) <= later:
            kept.append(u)
        later |= _cells(u)
    return kept[::-1]


def model_identity(row: dict) -> str | None:
    """What tells one model file from another in a stored row: the facts its file carries
    (training steps, time, pruning, ...), less the WERs ``nnasr eval --record`` adds to them;
    None for rows without a file (float, peers)."""
    facts = row.get("facts")
    if not facts:
        return None
    return json.dumps({k: v for k, v in facts.items() if k != "evaluations"}, sort_keys=True)


def merge(stored: dict | None, new: dict, partial: bool) -> dict:
    """The figures to store after a measurement. A full one replaces ``stored``; a partial one
    (``--systems`` / ``--sets``) replaces only what it measured, keeps every other stored figure,
    and is listed in ``meta["updates"]`` (the caption names it). A shipped model whose file
    changed (:func:`model_identity`) keeps none of its old figures: a set not measured now is
    left blank rather than showing the old model's WER beside the new one's."""
    nm = new["meta"]
    if not partial or not stored:
        return new
    meta = dict(stored["meta"])
    for k in ("utterances", "minutes", "nonspeech_clips"):
        meta[k] = {**meta.get(k, {}), **nm.get(k, {})}
    if nm.get("wall_seconds"):  # a partial run inside `make models` states the recipe's time
        meta["wall_seconds"] = nm["wall_seconds"]
    if "float" in nm["systems_measured"] and "float_checkpoint" in nm:
        meta["float_checkpoint"] = nm["float_checkpoint"]
    if SETS[0].key in nm["sets_measured"] and "corpus" in nm:
        meta["corpus"] = nm["corpus"]
    update = {k: nm[k] for k in ("command", "date", "machine", "systems_measured", "sets_measured")}
    meta["updates"] = standing([*meta.get("updates", []), update])
    systems = {n: dict(r) for n, r in stored["systems"].items()}
    for name, r in new["systems"].items():
        old = systems.get(name, {})
        was_id, now_id = model_identity(old), model_identity(r)
        if was_id is not None and now_id is not None and was_id != now_id:
            stale = [k for k in old.get("results", {}) if k not in r["results"]]
            if stale:
                print(f"note: {name} is another model file than the stored figures': its figures on "
                      f"{', '.join(stale)} are dropped (measure them: --systems {name})")
            old = {}  # nothing of another file's row stays (its figures, how it was made)
        results = {**old.get("results", {}), **r["results"]}
        for key, by_beam in r["results"].items():
            was = old.get("results", {}).get(key, {}).get("beam1", {}).get("utterances")
            now = next(iter(by_beam.values()), {}).get("utterances")
            if was and now and was != now:
                print(f"note: {name} on {key}: {now} utterances now, {was} in the stored figures")
        order = [s.key for s in SETS] + [k for k in results if k not in {s.key for s in SETS}]
        systems[name] = {**old, **r, "results": {k: results[k] for k in order if k in results}}
    order = [s.name for s in SYSTEMS] + [n for n in systems if n not in {s.name for s in SYSTEMS}]
    return {"meta": meta, "systems": {n: systems[n] for n in order if n in systems}}


def curve_plot(curve: list, labels: list[str], out: Path) -> None:
    """Dev WER against audio hours seen, one series per training phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.8))
    colors = plt.get_cmap("tab20").colors  # more phases than tab10 has colours
    for i, label in enumerate(labels):
        xs = [(p[2], 100 * p[3]) for p in curve if p[0] == i]
        if xs:
            ax.plot([x[0] for x in xs], [x[1] for x in xs], marker="o", markersize=4,
                    color=colors[i % len(colors)], label=label)
    ax.set_xlabel("hours of audio trained on")
    ax.set_ylabel("dev WER % (unseen voices)")
    ax.set_title("float model: dev WER vs training")
    ax.grid(alpha=0.3)
    if len(labels) > 1:  # beside the axes: the phases' points fill the plot
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


# ---------------------------------------------------------------- writing

def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def nonspeech_beam(s: EvalSet) -> int:
    """The search whose words on non-speech the table shows: the apps' beam if measured."""
    return APP_BEAM if APP_BEAM in s.beams else max(s.beams)


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
        if s.nonspeech:
            heads.append(f"{s.label} words on non-speech (beam {nonspeech_beam(s)})")
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
            if s.nonspeech:
                words = get(sysm.name, s.key, nonspeech_beam(s), "nonspeech_words")
                cells.append("-" if words is None else str(words))
        w = get(sysm.name, primary.key, 1, "wer")
        # the column is what quantization and pruning cost
        cells.append("-" if not sysm.integer or w is None or not fw else f"{(w - fw) / fw:+.1%}")
        cells.append(sparsity_cell(r))
        cells.append("-" if r.get("file_bytes") is None else f"{r['file_bytes'] / 1e6:.2f}")
        cells += latency_cells(sysm, lambda field, beam=1, n=sysm.name: get(n, primary.key, beam, field))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sparsity_cell(r: dict) -> str:
    """A row's sparsity: of the model as it runs (without the units no op reads), and of its
    stored matrices where that differs (a pruned model whose zeros took whole units)."""
    if r.get("sparsity") is None:
        return "-"
    live = r.get("live_sparsity")
    if live is None or round(live, 2) == round(r["sparsity"], 2):
        return f"{r['sparsity']:.0%}"
    return f"{live:.0%} ({r['sparsity']:.0%} stored)"


def latency_cells(sysm: System, g) -> list[str]:
    """Modeled NNA ms, host ms and RTF on the primary set; ``g(field, beam=1)`` reads a figure."""
    def with_beam(field, fmt):
        b = g(field, APP_BEAM)
        return f"{g(field):{fmt}}" + ("" if b is None else f" ({b:{fmt}})")

    nna = "-" if not sysm.integer or g("modeled_nna_ms_p50") is None else with_beam("modeled_nna_ms_p50", ".3f")
    once = sysm.kind == "peer" or g("host_ms_p50", APP_BEAM) is None  # a peer has one search
    host = "-" if g("host_ms_p50") is None else (
        f"{g('host_ms_p50'):.2f} / {g('host_ms_p95'):.2f}" + ("" if once else f" ({g('host_ms_p50', APP_BEAM):.2f})"))
    return [nna, host, "-" if g("rtf") is None else f"{g('rtf'):.3f}"]


def set_sizes(meta: dict) -> str:
    """Each measured set's size: utterances (non-speech among them), minutes of audio."""
    n, mins, ns = meta.get("utterances", {}), meta.get("minutes", {}), meta.get("nonspeech_clips", {})
    out = []
    for s in SETS:
        if s.key in n:
            out.append(f"{s.label} {n[s.key]} utterances" + (f" ({ns[s.key]} of them non-speech)" if ns.get(s.key) else "")
                       + (f", {mins[s.key]:.1f} min" if s.key in mins else ""))
    return "; ".join(out)


def caption(stored: dict) -> str:
    """What the table measured, how, where and with which command(s)."""
    m = stored["meta"]
    label = {s.key: s.label for s in SETS}
    text = (f"`{m['command']}` on {m['date']} ({m['machine']}; {set_sizes(m)}; 160 ms chunks; "
            f"greedy unless the column says beam {APP_BEAM}, the apps' default).")
    for u in m.get("updates", []):  # merge keeps only the standing ones
        text += (f" Then `{u['command']}` on {u['date']} ({u['machine']}) measured again "
                 f"{', '.join(u['systems_measured']) or 'no row'} on "
                 f"{', '.join(label.get(k, k) for k in u['sets_measured']) or 'no set'}.")
    text += " Host times are measured; NNA times are modeled by the cost model."
    if any(s.kind == "peer" and s.name in stored["systems"] for s in SYSTEMS):
        text += (" Peers decode each clip once with their own search (pocketsphinx streaming in 160 ms chunks; "
                 "whisper-tiny beam 5 on whole utterances, so no per-chunk host time): the same figures stand in "
                 f"their greedy and beam-{APP_BEAM} columns. Every row's text is scored with the same normalizer "
                 "and WER code as `nnasr compare`.")
    for s in SETS:
        if s.nonspeech:
            text += (f" Words on non-speech: the words written on the {s.label} clips whose transcript is empty, "
                     f"summed (beam {nonspeech_beam(s)}; peers: their own search); non-speech should give none.")
    return text


def table_block(stored: dict) -> str:
    """The table with the command that measured it, as it stands between the markers."""
    return f"{BEGIN}\n{caption(stored)}\n\n{table(stored)}\n{END}"


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
    ap.add_argument("--human", default=HUMAN_DEFAULT,
                    help=f"real recordings of `nnasr synth --human --out DIR`: the human dev set is DIR/dev.jsonl "
                         f"(default: {HUMAN_DEFAULT})")
    ap.add_argument("--words", default=WORDS_DEFAULT,
                    help="corpus of isolated words and letters of `nnasr synth --words-fraction 1 --out DIR`: "
                         f"its test split is the words & letters set (default: {WORDS_DEFAULT})")
    ap.add_argument("--runs", default="runs", help="run directories of `make models` (default: runs)")
    ap.add_argument("--float-run", default=None, metavar="NAME",
                    help="the float run (RUNS/NAME) the shipped models came from, for the float and "
                         "ptq-w4 rows (default: float-refresh where it has a checkpoint, else float; "
                         "`make models` names its own)")
    ap.add_argument("--systems", nargs="+", choices=[s.name for s in SYSTEMS], metavar="NAME",
                    help="measure only these rows and keep the other stored ones "
                         f"({', '.join(s.name for s in SYSTEMS)}; default: all)")
    ap.add_argument("--sets", nargs="+", choices=[s.key for s in SETS], metavar="KEY",
                    help="measure only these column groups and keep the other stored ones "
                         f"({', '.join(f'{s.key} = {s.label}' for s in SETS)}; default: all)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N utterances of each set")
    ap.add_argument("--wall-seconds", type=int, default=0, help="the recipe's wall time, to state in the card")
    ap.add_argument("--dry-run", action="store_true",
                    help="measure and print the table with the stored figures merged in; change no file")
    ap.add_argument("--render", action="store_true",
                    help=f"measure nothing: write the table and card from {RESULTS.relative_to(ROOT)}")
    args = ap.parse_args()
    os.chdir(ROOT)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else None
    if args.render:
        if old is None:
            print(f"{RESULTS} not found: measure first (python benchmarks/model_card.py --data data/corpus)")
            return 1
        stored = old
    else:
        new = measure(args)
        stored = merge(old, new, partial=bool(args.systems or args.sets))
        if args.dry_run:
            print(table_block(stored))
            return 0
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(stored, indent=1))
        from model_card_text import phase_labels

        ck = stored["meta"]["float_checkpoint"]
        if "float" in new["systems"] and ck.get("curve"):
            curve_plot(ck["curve"], phase_labels(ck["phases"]), ROOT / "benchmarks" / "results" / "float_curve.png")
    write(stored)
    return 0


if __name__ == "__main__":
    sys.exit(main())

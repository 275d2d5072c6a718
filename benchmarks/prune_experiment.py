"""Pruning experiment (issue 7): compressed-sensing pruning (CSP) vs gradual magnitude pruning.

    python benchmarks/prune_experiment.py --init runs/float/last.pt --data data/corpus \\
        --test data/corpus/test.jsonl --steps 3000

From the same dense checkpoint (``--init``), fine-tunes one run per method (``csp``,
``magnitude``) and target sparsity (default 50/70/80/90 %) with the same budget
(``--steps``), seed and training config (Zhu & Gupta cubic schedule, ``prune_start`` ..
``prune_end`` of the steps), exports each run, and evaluates it on the test manifest:

* WER: engine float reference (``mode="float"``: float weights, as trained) and the NNA
  integer execution (``mode="placed"``, PTQ for float runs, exact for ``--aat`` runs);
* compressed model size: file bytes of an export without float copies (``float_ops=[]``;
  zero-weight compression stores bitmap + non-zeros for sparse matrices);
* modeled NNA latency per chunk (p50; cost model: fewer DRAM bytes with fewer non-zeros);
* measured host latency per chunk (p50, wall clock on this machine; all models measured in
  one interleaved pass, on ``--latency-utts`` utterances, ``--latency-repeats`` times, with
  the engine's default kernel choice and with the sparse (ELL) kernel forced).

Fine-tuning defaults (override with ``--set KEY=VALUE``): lr 5e-4, ``warmup`` and
``prune_every`` = steps / 20 (at most 100), the schedule from 10 % to 60 % of the steps,
no dev evaluation. CSP options: ``--csp csp_utts=48 csp_assign=true prune_layers=...``.
The fine-tuning wall clock of each run is in the JSON (``train_s``; CSP's recovery steps
make it longer than magnitude pruning's for the same number of steps).

The dense row is the ``--init`` checkpoint itself (exported and measured the same way);
``--dense-finetune`` adds a dense run fine-tuned with the same budget as a control.
Resumable (in a work folder bound to the arguments its results depend on, ``WORK/arguments.json``):
a run whose ``result.json`` exists is skipped, a run with a partial checkpoint
resumes. Writes ``<out>.md``, ``<out>.json`` and ``<out>.png`` (WER vs sparsity), default
``benchmarks/results/prune``; runs and exports go to ``--work``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import claim_work

ROOT = Path(__file__).resolve().parent.parent


def _log(msg: str) -> None:
    print(f"[prune-experiment] {msg}", flush=True)


def _atomic_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)


def _train_config(args, out: Path, method: str, sparsity: float):
    from trainer.train import TrainConfig, parse_overrides

    cfg = TrainConfig(data=args.data, out=str(out), init=args.init, steps=args.steps,
                      prune=method, sparsity=sparsity if method != "none" else 0.0,
                      aat=args.aat, seed=args.seed, eval_every=0, log_every=50,
                      lr=5e-4, warmup=max(1, min(100, args.steps // 20)),
                      prune_every=max(1, min(100, args.steps // 20)))
    cfg = parse_overrides(cfg, args.set)
    for item in args.csp:  # CSP options that are not TrainConfig fields (trainer/prune/csp.py)
        k, _, v = item.partition("=")
        if not k.startswith(("csp_", "prune_layers")):
            raise SystemExit(f"--csp takes csp_*=VALUE or prune_layers=SPEC, got {item!r}")
        setattr(cfg, k, v if k == "prune_layers" else (v.lower() in ("1", "true", "yes") if k == "csp_assign" else float(v)))
    return cfg


def _train(args, run: Path, method: str, sparsity: float) -> Path:
    """Fine-tune (or resume) one run; returns its checkpoint."""
    import torch

    from trainer.train import Trainer

    ck = run / "last.pt"
    if ck.exists():
        step = torch.load(ck, weights_only=True, map_location="cpu")["step"]
        if step >= args.steps:
            return ck
        _log(f"{run.name}: resuming at step {step}")
    cfg = _train_config(args, run, method, sparsity)
    t0 = time.time()
    r = Trainer(cfg, resume=ck.exists(), progress=False).run()
    if r["step"] < args.steps:
        raise SystemExit(f"{run.name}: training stopped at step {r['step']} of {args.steps}; rerun to resume")
    _log(f"{run.name}: trained in {time.time() - t0:.0f} s")
    return ck


def _export(args, ck: Path, stem: Path, train_fs) -> tuple[Path, Path]:
    """Two exports: with float copies (float reference WER) and without (size, NNA, latency)."""
    import json as _json

    from engine.nna.spec import NNASpec, load_profile
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint, tokenizer_from_tensor
    from trainer.export import export_model, export_ranges

    full, compact = stem.with_name(stem.name + "-float.nnasr"), stem.with_suffix(".nnasr")
    if full.exists() and compact.exists() and compact.stat().st_mtime >= ck.stat().st_mtime:
        return full, compact
    c = load_checkpoint(ck)
    model = model_from_checkpoint(c).eval()
    spec = NNASpec.from_dict(_json.loads(c["spec"])) if c.get("spec") else load_profile(args.profile)
    i_s, o_s, how = export_ranges(model, bool(c.get("aat")), train_fs, n=args.calib, spec=spec)
    cfg = _json.loads(c["config"]) if c.get("config") else {}
    facts = {"name": stem.name, "quantization": how, "training_steps": int(c.get("step", 0)),
             "aat": bool(c.get("aat", False)), "pruning": cfg.get("prune", "none"),
             "target_sparsity": cfg.get("sparsity", 0.0)}
    proto = tokenizer_from_tensor(c["tokenizer"])
    for path, fops in ((full, None), (compact, [])):
        export_model(model, proto, path, spec=spec, in_scale=i_s, out_scale=o_s,
                     float_ops=fops, facts=facts)
    return full, compact


def _evaluate(full: Path, compact: Path, records) -> dict:
    from engine.model import load_model
    from engine.nna.zwc import zwc_bytes
    from trainer.evaluate import evaluate_engine

    mf, mc = load_model(full), load_model(compact)
    rf = evaluate_engine(mf, records, mode="float")
    rp = evaluate_engine(mc, records, mode="placed")
    codes = mc.weight_codes()
    per_matrix = {n: round(float((v == 0).mean()), 4) for n, v in codes.items()}
    pruned = [v for n, v in codes.items() if n != "pred.embed.table"]  # RNNT.prunable()
    return {"wer_float": rf.wer, "wer_placed": rp.wer, "ref_words": rf.ref_words,
            "utterances": rf.utterances, "file_bytes": mc.file_bytes,
            "weight_bytes": sum(zwc_bytes(v, mc.spec) for v in codes.values()),
            "pruned_matrix_sparsity": sum(int((v == 0).sum()) for v in pruned) / sum(v.size for v in pruned),
            "file_bytes_with_float": mf.file_bytes, "engine_sparsity": mc.sparsity(),
            "matrix_sparsity": per_matrix,
            "modeled_nna_ms_p50": rp.modeled_nna_ms_p50, "modeled_nna_ms_p95": rp.modeled_nna_ms_p95,
            "eval_host_ms_p50": rp.host_ms_p50, "eval_rtf": rp.rtf}


def _measure_latency(models: dict[str, Path], records, repeats: int) -> dict[str, dict]:
    """Per-chunk host ms (p50, p95) of every model, placed mode, measured round-robin so that
    load changes on the host hit all models alike; default kernel choice and sparse forced."""
    import numpy as np

    from engine.audio import load_audio
    from engine.model import load_model
    from engine.recognizer import EndpointConfig, Recognizer

    audio = [load_audio(r["audio_filepath"]) for r in records]
    recs = {}
    for name, path in models.items():
        m = load_model(path)
        for kernel in ("auto", "sparse"):
            recs[(name, kernel)] = Recognizer(m, mode="placed", kernel=kernel,
                                              endpoint=EndpointConfig(enabled=False))
    times: dict[tuple, list[float]] = {k: [] for k in recs}
    for _ in range(repeats):
        for x in audio:
            for key, rec in recs.items():
                s = rec.create_stream()
                s.accept_waveform(x, 16000)
                s.input_finished()
                times[key] += [c.host_ms for c in s.stats.chunks if c.audio_ms > 0]
    out = {}
    for name in models:
        a, sp = np.array(times[(name, "auto")] or [0.0]), np.array(times[(name, "sparse")] or [0.0])
        out[name] = {"host_ms_p50": float(np.percentile(a, 50)), "host_ms_p95": float(np.percentile(a, 95)),
                     "host_ms_p50_sparse_kernel": float(np.percentile(sp, 50)), "chunks": len(a)}
    return out


def _rel(w: float, ref: float) -> float:
    if ref:
        return (w - ref) / ref
    return 0.0 if w == ref else float("inf")


def _fmt_rel(x: float) -> str:
    return f"{x:+.1%}" if x != float("inf") else "n/a (dense WER 0)"


def _report(args, rows: list[dict], out: Path) -> str:
    key = "wer_placed" if args.aat else "wer_float"
    dense = next(r for r in rows if r["method"] == "dense")
    dw, ds, dh = dense[key], dense["file_bytes"], dense["host_ms_p50"]
    lines = [
        "| method | target sparsity | sparsity (prunable / all matrices) | WER float | WER NNA (int) | "
        "rel. WER vs dense | file KB | weights KB | smaller (file) | modeled NNA ms/chunk (p50) | "
        "host ms/chunk (p50) | faster (host) | host ms, sparse kernel |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['sparsity']:.0%} | {r['pruned_matrix_sparsity']:.1%} / {r['engine_sparsity']:.1%} | "
            f"{r['wer_float']:.2%} | {r['wer_placed']:.2%} | {_fmt_rel(_rel(r[key], dw))} | {r['file_bytes'] / 1024:.1f} | "
            f"{r['weight_bytes'] / 1024:.1f} | {ds / r['file_bytes']:.2f}x | {r['modeled_nna_ms_p50']:.3f} | "
            f"{r['host_ms_p50']:.3f} | {dh / max(r['host_ms_p50'], 1e-9):.2f}x | {r['host_ms_p50_sparse_kernel']:.3f} |")
    by = {(r["method"], r["sparsity"]): r for r in rows}
    checks = []
    sps = sorted({r["sparsity"] for r in rows if r["method"] == "csp"})
    for s in sps:
        c, m = by.get(("csp", s)), by.get(("magnitude", s))
        if c and m:
            checks.append((f"CSP WER <= magnitude WER at {s:.0%}", c[key] <= m[key], f"{c[key]:.2%} vs {m[key]:.2%}"))
    c80 = by.get(("csp", 0.8))
    if c80:
        rel = _rel(c80[key], dw)
        checks.append(("CSP at 80 % within 10 % relative WER of dense", rel <= 0.10, _fmt_rel(rel)))
        checks.append(("80 %-sparse model >= 1.5x faster (host, per chunk)", dh / c80["host_ms_p50"] >= 1.5,
                       f"{dh / c80['host_ms_p50']:.2f}x"))
        checks.append(("80 %-sparse model >= 2x smaller (file)", ds / c80["file_bytes"] >= 2.0,
                       f"{ds / c80['file_bytes']:.2f}x (weights {dense['weight_bytes'] / c80['weight_bytes']:.2f}x)"))
    tgt = ["", "Targets (issue 7):", ""] + [f"- [{'x' if ok else ' '}] {name}: {val}" for name, ok, val in checks]
    if not checks:
        tgt.append("- (none applicable to these runs)")
    n_utts = dense["utterances"]
    note = (f"\n{n_utts} test utterances ({args.test}, {dense['ref_words']} words); every pruned run "
            f"fine-tuned {args.steps} steps from `{args.init}` (seed {args.seed}{', AAT' if args.aat else ''}). "
            f"Rel. WER uses the {'NNA integer' if args.aat else 'float reference'} WER. Size: model file "
            f"without float copies (weights KB: the weight matrices as the NNA stores them, zero-weight "
            f"compressed). Host latency: measured on this machine (placed mode, engine's default "
            f"kernels; last column with the sparse ELL kernel forced), {args.latency_utts} utterances x "
            f"{args.latency_repeats}, all models interleaved. Modeled NNA latency: the cost model "
            f"(reference-speaker profile unless the checkpoint says otherwise). Sparsity: zero weight codes of "
            f"the prunable matrices (all but the embedding table) / of all matrices.\n")
    cmd = ("\nCommand: `python benchmarks/prune_experiment.py " + " ".join(sys.argv[1:]) + "`\n")
    md = "\n".join(lines) + "\n" + note + "\n".join(tgt) + "\n" + cmd
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(md)
    _atomic_json(out.with_suffix(".json"), {"rows": rows, "wer_key": key, "args": vars(args),
                                            "targets": [{"check": n, "ok": ok, "value": v} for n, ok, v in checks]})
    _plot(rows, key, out.with_suffix(".png"))
    return md


def _plot(rows, key, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    dense = next(r for r in rows if r["method"] == "dense")
    for method, color in (("csp", "tab:blue"), ("magnitude", "tab:orange")):
        rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["sparsity"])
        if not rs:
            continue
        xs = [100 * r["sparsity"] for r in rs]
        ax.plot(xs, [100 * r["wer_float"] for r in rs], "o-", color=color, label=f"{method} (float)")
        ax.plot(xs, [100 * r["wer_placed"] for r in rs], "s--", color=color, alpha=0.6, label=f"{method} (NNA int)")
    ax.axhline(100 * dense[key], color="gray", ls=":", label="dense")
    ax.set_xlabel("sparsity of the pruned matrices (%)")
    ax.set_ylabel("WER (%)")
    ax.set_title("WER vs sparsity: CSP vs gradual magnitude pruning")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _latency(exports: dict, work: Path, test, args) -> dict:
    """Host latency by model name: one interleaved pass over every model not yet measured
    (all of them again when some were measured at another time), kept in WORK/latency.json."""
    lat_path = work / "latency.json"
    lat = {} if args.remeasure_latency or not lat_path.exists() else json.loads(lat_path.read_text())
    todo = {n: p for n, p in exports.items() if n not in lat}
    if todo:
        if lat:  # models measured at another time: measure all together again
            todo = exports
        _log(f"measuring host latency of {len(todo)} models ...")
        lat.update(_measure_latency(todo, test[: args.latency_utts], args.latency_repeats))
        _atomic_json(lat_path, lat)
    return lat


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", required=True, help="dense checkpoint (float, or AAT with --aat)")
    ap.add_argument("--data", default="data/corpus", help="corpus dir: train.jsonl (+ tokenizer) for fine-tuning")
    ap.add_argument("--test", default="data/corpus/test.jsonl", help="test manifest")
    ap.add_argument("--limit", type=int, default=0, help="test utterances (0: all)")
    ap.add_argument("--steps", type=int, default=3000, help="fine-tuning steps per run (the budget)")
    ap.add_argument("--sparsities", type=float, nargs="+", default=[0.5, 0.7, 0.8, 0.9])
    ap.add_argument("--methods", nargs="+", default=["csp", "magnitude"], choices=["csp", "magnitude"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--aat", action="store_true", help="fine-tune with accelerator-aware training too")
    ap.add_argument("--profile", default="reference-speaker", help="NNA profile for float checkpoints")
    ap.add_argument("--calib", type=int, default=64, help="PTQ calibration utterances")
    ap.add_argument("--dense-finetune", action="store_true", help="also fine-tune dense with the same budget")
    ap.add_argument("--latency-utts", type=int, default=20)
    ap.add_argument("--latency-repeats", type=int, default=2)
    ap.add_argument("--remeasure-latency", action="store_true", help="measure every model's latency again")
    ap.add_argument("--work", default="runs/prune-experiment", help="runs, exports, per-run results")
    ap.add_argument("--out", default="benchmarks/results/prune", help="output stem (.md, .json, .png)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="training config overrides")
    ap.add_argument("--csp", nargs="*", default=[], metavar="KEY=VALUE",
                    help="CSP options: csp_utts, csp_iters, csp_cg_iters, csp_assign, prune_layers")
    return ap


def main(argv=None) -> int:
    args = _parser().parse_args(argv)

    import sentencepiece as spm
    import torch

    torch.backends.mkldnn.enabled = False  # CPU LSTM ~25x faster without it
    from trainer.checkpoint import checkpoint_frontend, load_checkpoint, tokenizer_from_tensor
    from trainer.data.manifest import read_manifest
    from trainer.dataset import load_features

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    # what every run's result depends on (more sparsities or methods add runs: a resume)
    claim_work(work, args, ("init", "data", "test", "limit", "steps", "seed", "aat", "profile", "calib",
                            "set", "csp"))
    test = read_manifest(args.test)
    if args.limit:
        test = test[: args.limit]
    ckpt0 = load_checkpoint(args.init)
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(tokenizer_from_tensor(ckpt0["tokenizer"]))
    fs_cache = {}
    init_wall = float(ckpt0.get("wall_seconds", 0.0))

    def train_fs():  # PTQ calibration features, loaded once when needed
        if "fs" not in fs_cache:
            fs_cache["fs"] = load_features(Path(args.data) / "train.jsonl", sp, checkpoint_frontend(ckpt0),
                                           limit=max(4 * args.calib, 200), progress=False)
        return fs_cache["fs"]

    runs = [("dense", 0.0, None)]
    if args.dense_finetune:
        runs.append(("dense-finetuned", 0.0, "none"))
    runs += [(m, s, m) for s in args.sparsities for m in args.methods]
    rows, exports = [], {}
    for method, s, train_method in runs:
        name = method if method.startswith("dense") else f"{method}-s{round(100 * s)}"
        run = work / name
        run.mkdir(parents=True, exist_ok=True)
        res_path = run / "result.json"
        stem = run / name
        if res_path.exists():
            res = json.loads(res_path.read_text())
            _log(f"{name}: done (WER float {res['wer_float']:.2%}, NNA {res['wer_placed']:.2%})")
        else:
            ck = Path(args.init) if train_method is None else _train(args, run, train_method, s)
            full, compact = _export(args, ck, stem, train_fs())
            train_s = 0.0
            if train_method is not None:  # fine-tuning wall clock (the checkpoint counts the init's too)
                train_s = float(load_checkpoint(ck).get("wall_seconds", 0.0)) - init_wall
            res = {"method": method, "sparsity": s, "name": name, "train_s": round(train_s, 1),
                   **_evaluate(full, compact, test)}
            _atomic_json(res_path, res)
            _log(f"{name}: WER float {res['wer_float']:.2%}, NNA {res['wer_placed']:.2%}, "
                 f"sparsity {res['engine_sparsity']:.1%}, {res['file_bytes'] / 1024:.0f} KB")
        rows.append(res)
        exports[name] = stem.with_suffix(".nnasr")
    lat = _latency(exports, work, test, args)
    for r in rows:
        r.update(lat[r["name"]])
    md = _report(args, rows, Path(args.out))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

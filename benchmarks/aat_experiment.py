"""AAT experiment (issue 6): float vs PTQ (all NNA) vs PTQ + CPU fallback vs AAT (all NNA).

    python benchmarks/aat_experiment.py --init runs/float/last.pt --data data/corpus \
        --manifest data/corpus/test.jsonl --aat-steps 1500 --bits 8 4

For each weight width: exports the float checkpoint with PTQ (all ops on the NNA), measures
each op's sensitivity (dev WER with only that op in float on the CPU), exports PTQ with the
``--cpu-ops`` most sensitive ops on the CPU, fine-tunes with AAT from the same float start
(``--aat-steps``), and evaluates everything on the same test manifest: WER, relative
degradation vs float, modeled NNA ms per chunk, measured host ms per chunk, model size.
Resumable: finished pieces (runs, exports, results) are reused. Writes
``benchmarks/results/aat.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from common import claim_work

ROOT = Path(__file__).resolve().parent.parent


def sh(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "app", *args], check=True, cwd=ROOT)


def evaluate(model_path: Path, records, mode: str, cache: dict, key: str) -> dict:
    if key in cache:
        return cache[key]
    from engine.model import load_model
    from trainer.evaluate import evaluate_engine

    m = load_model(model_path)
    r = evaluate_engine(m, records, mode=mode, progress=True)
    size = m.file_bytes
    d = {"wer": r.wer, "host_ms_p50": r.host_ms_p50, "host_ms_p95": r.host_ms_p95,
         "modeled_nna_ms_p50": r.modeled_nna_ms_p50, "modeled_nna_ms_p95": r.modeled_nna_ms_p95,
         "rtf": r.rtf, "file_bytes": size, "cpu_ops": [k for k, v in m.placement.items() if v == "cpu"],
         "weight_bits": m.spec.weight_bits, "utterances": r.utterances}
    cache[key] = d
    return d


def render(rows: list, cache: dict, args, n_test: int) -> str:
    """The results table (markdown) with its note and the per-op sensitivities."""
    fw = rows[0][1]["wer"]  # the float row
    lines = ["| model | WER | rel. degradation vs float | modeled NNA ms/chunk (p50) | host ms/chunk (p50) | RTF | size (MB) | CPU ops |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows:
        rel = (r["wer"] - fw) / fw if fw else 0.0
        lines.append(f"| {name} | {r['wer']:.2%} | {rel:+.1%} | {r['modeled_nna_ms_p50']:.3f} | "
                     f"{r['host_ms_p50']:.2f} | {r['rtf']:.3f} | {r['file_bytes'] / 1e6:.2f} | {', '.join(r['cpu_ops']) or '-'} |")
    note = (f"\n{n_test} test utterances ({args.manifest}); AAT fine-tuned {args.aat_steps} steps from "
            f"{args.init}. Float row: engine float reference (float weights, no activation quantization). "
            f"Sizes are the model files without float copies, except the float row (float weights) and the CPU ops' float weights in the fallback rows.\n")
    sens_lines = ["", "Per-op sensitivity (dev WER change when the op alone runs in float on the CPU):", ""]
    for bits in args.bits:
        s = cache[f"sensitivity-w{bits}"]
        sens_lines.append(f"- w{bits} (PTQ dev WER {s['base_dev_wer']:.2%}): " + ", ".join(
            f"{k} {v:+.2%}" for k, v in sorted(s["delta_wer_when_on_cpu"].items(), key=lambda kv: kv[1])))
    return "\n".join(lines) + "\n" + note + "\n".join(sens_lines) + "\n"


def sensitivity(args, bits: int, work: Path, dev, cache: dict, save) -> dict:
    """Per-op sensitivity on dev: the WER change with only that op in float on the CPU."""
    from engine.model import load_model
    from trainer.evaluate import evaluate_engine

    skey = f"sensitivity-w{bits}"
    if skey not in cache:
        full = work / f"ptq-w{bits}-with-float.nnasr"  # float copies of every op
        if not full.exists():
            sh("export", args.init, "--out", str(full), "--data", args.data, "--weight-bits", str(bits))
        m = load_model(full)
        base = evaluate_engine(m, dev).wer
        sens = {}
        for op in m.arch.op_names():
            sens[op] = evaluate_engine(m.with_placement({op: "cpu"}), dev).wer - base
            print(f"  sensitivity w{bits} {op}: dWER {sens[op]:+.4f}", flush=True)
        cache[skey] = {"base_dev_wer": base, "delta_wer_when_on_cpu": sens}
        save()
    return cache[skey]["delta_wer_when_on_cpu"]


def aat_model(args, bits: int, work: Path) -> Path:
    """The AAT fine-tune from the float start (resumed until ``--aat-steps``), exported."""
    run = work / f"aat-w{bits}"
    ck = run / "last.pt"
    done = False
    if ck.exists():
        import torch

        done = torch.load(ck, weights_only=True, map_location="cpu")["step"] >= args.aat_steps
    if not done:
        sh("train", "--data", args.data, "--out", str(run), "--init", args.init, "--aat",
           "--weight-bits", str(bits), "--steps", str(args.aat_steps), "--no-progress",
           *(["--resume"] if ck.exists() else []),
           "--set", "lr=3e-4", "warmup=50", "eval_every=0", *args.set)
    aat = work / f"aat-w{bits}.nnasr"
    if not aat.exists() or aat.stat().st_mtime < ck.stat().st_mtime:
        sh("export", str(ck), "--out", str(aat), "--no-float")
    return aat


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", required=True, help="float checkpoint")
    ap.add_argument("--data", default="data/corpus")
    ap.add_argument("--manifest", default="data/corpus/test.jsonl")
    ap.add_argument("--dev-manifest", default="data/corpus/dev.jsonl", help="for op sensitivity")
    ap.add_argument("--limit", type=int, default=0, help="test utterances (0: all)")
    ap.add_argument("--sens-limit", type=int, default=60, help="dev utterances for sensitivity")
    ap.add_argument("--aat-steps", type=int, default=1500)
    ap.add_argument("--bits", type=int, nargs="+", default=[8, 4])
    ap.add_argument("--cpu-ops", type=int, default=2, help="ops moved to the CPU for PTQ+fallback")
    ap.add_argument("--work", default="runs/aat-experiment")
    ap.add_argument("--out", default="benchmarks/results/aat")
    ap.add_argument("--set", nargs="*", default=[], help="extra training overrides for AAT")
    args = ap.parse_args()

    from trainer.data.manifest import read_manifest

    work = ROOT / args.work
    work.mkdir(parents=True, exist_ok=True)
    # what every row depends on (more --bits add rows: a resume)
    claim_work(work, args, ("init", "data", "manifest", "dev_manifest", "limit", "sens_limit", "aat_steps",
                            "cpu_ops", "set"))
    cache_path = work / "results.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}

    def save():
        cache_path.write_text(json.dumps(cache, indent=1))

    test = read_manifest(args.manifest)
    if args.limit:
        test = test[: args.limit]
    dev = read_manifest(args.dev_manifest)[: args.sens_limit]
    rows = []
    flt_file = work / "float.nnasr"
    if not flt_file.exists():
        sh("export", args.init, "--out", str(flt_file), "--data", args.data)
    flt = evaluate(flt_file, test, "float", cache, "float")
    save()
    rows.append(("float (engine float reference)", flt))
    for bits in args.bits:
        ptq = work / f"ptq-w{bits}.nnasr"
        if not ptq.exists():
            sh("export", args.init, "--out", str(ptq), "--data", args.data, "--weight-bits", str(bits),
               "--no-float")
        r_ptq = evaluate(ptq, test, "placed", cache, f"ptq-w{bits}")
        save()
        sens = sensitivity(args, bits, work, dev, cache, save)
        worst = sorted(sens, key=lambda o: sens[o])[: args.cpu_ops]  # most negative = most helped
        fb = work / f"ptq-w{bits}-cpu.nnasr"
        if not fb.exists():
            sh("export", args.init, "--out", str(fb), "--data", args.data, "--weight-bits", str(bits),
               "--cpu", ",".join(worst), "--no-float")
        r_fb = evaluate(fb, test, "placed", cache, f"ptq-w{bits}-cpu")
        save()
        r_aat = evaluate(aat_model(args, bits, work), test, "placed", cache, f"aat-w{bits}")
        save()
        rows += [(f"PTQ w{bits}, all ops on NNA", r_ptq),
                 (f"PTQ w{bits}, {'+'.join(worst)} on CPU", r_fb),
                 (f"AAT w{bits}, all ops on NNA", r_aat)]
    md = render(rows, cache, args, len(test))
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(md)
    out.with_suffix(".json").write_text(json.dumps({"rows": [{"name": n, **r} for n, r in rows],
                                                    "sensitivity": {k: v for k, v in cache.items() if k.startswith("sens")},
                                                    "args": vars(args)}, indent=1))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Engine benchmark: host compute per chunk and modeled NNA time, dense vs 80 % sparse.

Builds random-weight models of the architecture's defaults (``Architecture(num_classes=257)``:
3 encoder LSTM layers of 256, predictor 256, joiner 256; about 2.5 M weights, smaller than the
shipped 4 x 288, 513-class models' 3.76 M), one
dense and one with 80 % zero weights (``engine.quantize.random_params(sparsity=0.8)``),
both integer-only model files (no float copies, as shipped). Streams synthetic
speech-like audio (``tests/helpers.speechlike``) through ``engine.Recognizer`` in real-time
sized pieces, on one thread, alternating the models (interleaved repeats, so drift in the
machine's load hits both alike), and prints per model: real-time factor, p50/p95 host
milliseconds per chunk, p95 as a share of the chunk, modeled NNA milliseconds per chunk,
model file size, and the sparse/dense ratios.

Random models emit either on every frame or never, nothing in between; two decoding
loads are measured: ``blank_bias=0`` (3 tokens on every 80 ms frame, 37.5 tokens/s: about
ten times real speech, a worst case for the predictor/joiner) and ``blank_bias=1`` (no
tokens: encoder and joiner only).

    python benchmarks/bench_engine.py                 # the table (about a minute)
    python benchmarks/bench_engine.py --json out.json --seconds 60 --repeats 3
    python benchmarks/bench_engine.py --kernels       # also: dense BLAS vs sparse (ELL) matvec

Host times are measured (time.perf_counter, this machine, one thread); NNA times are the
cost model's (engine/nna/cost.py), a modeling assumption. Both are labelled as such.
"""

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_v] = "1"  # one core, set before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from common import at_least, test_helpers  # noqa: E402

_helpers = test_helpers()
tokenizer_256, speechlike = _helpers.pseudo_word_tokenizer_proto, _helpers.speechlike

import engine  # noqa: E402
from engine.frontend import FrontendConfig  # noqa: E402
from engine.model import Architecture, save_model  # noqa: E402
from engine.nna import kernels as K  # noqa: E402
from engine.nna.spec import NNASpec  # noqa: E402
from engine.quantize import build_tensors, random_params  # noqa: E402

TARGET_RTF = 0.05
TARGET_P95_SHARE = 0.10


def build_model(path: Path, proto: bytes, sparsity: float, blank_bias: float, seed: int = 0) -> Path:
    arch = Architecture(num_classes=257)
    spec = NNASpec()
    params = random_params(arch, seed=seed, sparsity=sparsity)
    params["join.out.b"][0] += blank_bias
    tensors = build_tensors(params, arch, spec, in_scale=4.0 / 127, out_scale=8.0 / 32767,
                            mean=np.full(arch.n_mels, -5.0, np.float32),
                            std=np.full(arch.n_mels, 3.0, np.float32), float_ops=[])
    return save_model(path, arch=arch, frontend=FrontendConfig(), spec=spec, placement={},
                      tensors=tensors, tokenizer_proto=proto,
                      facts={"kind": "random benchmark model", "sparsity_target": sparsity})


def run_once(rec: engine.Recognizer, audio: np.ndarray, chunk_ms: int) -> dict:
    n = int(rec.sample_rate * chunk_ms / 1000)
    s = rec.create_stream()
    for i in range(0, len(audio), n):  # audio arrives in chunk-sized pieces, as from a microphone
        s.accept_waveform(audio[i : i + n], rec.sample_rate)
    s.input_finished()
    full = [c for c in s.stats.chunks if abs(c.audio_ms - chunk_ms) < 1e-6]
    return {
        "host_ms": [c.host_ms for c in full],
        "modeled_ms": [c.modeled_nna_ms for c in full],
        "host_s": s.stats.host_seconds,
        "audio_s": s.stats.audio_seconds,
        "tokens": sum(len(r.token_ids) for r in s.finals) + len(s.result.token_ids),
    }


def summarize(runs: list[dict], chunk_ms: int) -> dict:
    host = np.concatenate([r["host_ms"] for r in runs])
    modeled = np.concatenate([r["modeled_ms"] for r in runs])
    audio = sum(r["audio_s"] for r in runs)
    return {
        "rtf": sum(r["host_s"] for r in runs) / audio,
        "rtf_per_repeat": [r["host_s"] / r["audio_s"] for r in runs],
        "host_ms_p50": float(np.percentile(host, 50)),
        "host_ms_p95": float(np.percentile(host, 95)),
        "host_ms_max": float(host.max()),
        "p95_share_of_chunk": float(np.percentile(host, 95)) / chunk_ms,
        "modeled_nna_ms_p50": float(np.percentile(modeled, 50)),
        "modeled_nna_ms_mean": float(modeled.mean()),
        "tokens_per_s": runs[0]["tokens"] / runs[0]["audio_s"],
        "chunks": int(len(host)),
    }


def kernel_microbench(reps: int = 200) -> list[dict]:
    """Dense float32 BLAS vs the sparse (ELL) matvec on 1024 x 256 recurrent matrices.

    "cold": 16 different matrices in turn (16 MB of float32 weights, more than L2, as in the
    recognizer); "hot": one matrix again and again.
    """
    rng = np.random.default_rng(0)
    spec = NNASpec()
    out = []
    for density in (0.2, 0.1, 0.05, 0.02):
        mats = {"dense": [], "sparse": []}
        for _ in range(16):
            w = rng.integers(-127, 128, (1024, 256))
            w[rng.random(w.shape) > density] = 0
            args = (w, np.zeros(1024, np.int64), np.full(1024, 1 << 30), np.full(1024, 8), spec)
            mats["dense"].append(K.QLinear(*args, kernel="dense"))
            mats["sparse"].append(K.QLinear(*args, kernel="sparse"))
        x = rng.integers(-127, 128, 256)
        row = {"density": density}
        for kind, qs in mats.items():
            for mode, seq in (("cold", qs), ("hot", [qs[0]] * 16)):
                best = float("inf")
                for _ in range(5):
                    t = time.perf_counter()
                    for _ in range(reps // 5):
                        for q in seq:
                            q.accumulate(x)
                    best = min(best, (time.perf_counter() - t) / (reps // 5) / len(seq) * 1e6)
                row[f"{kind}_{mode}_us"] = best
        out.append(row)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=at_least(1.0), default=60.0, help="audio per run (default 60)")
    ap.add_argument("--repeats", type=at_least(1, int), default=3, help="interleaved repeats per model (default 3)")
    ap.add_argument("--chunk-ms", type=at_least(10, int), default=160)
    ap.add_argument("--blank-bias", type=float, nargs="+", default=[0.0, 1.0],
                    help="decoding loads: 0 = 3 tokens every frame, 1 = none (default both)")
    ap.add_argument("--no-ell", action="store_true", help="skip the sparse model run with the ELL kernel")
    ap.add_argument("--kernels", action="store_true", help="also micro-benchmark the host matvec kernels")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)

    audio = speechlike(args.seconds, seed=0)
    proto = tokenizer_256()
    results = {
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "processor": platform.processor() or platform.machine(), "threads": 1,
                    "cpus": os.cpu_count()},
        "chunk_ms": args.chunk_ms, "seconds": args.seconds, "repeats": args.repeats, "scenarios": [],
    }
    variants = [("dense", 0.0, "auto"), ("sparse80", 0.8, "auto")]
    if not args.no_ell:
        variants.append(("sparse80+ELL", 0.8, "sparse"))
    with tempfile.TemporaryDirectory() as tmp:
        for bb in args.blank_bias:
            recs, facts = {}, {}
            for name, sparsity, kernel in variants:
                path = Path(tmp) / f"{name.split('+')[0]}-{bb}.nnasr"
                if not path.exists():
                    build_model(path, proto, sparsity, bb)
                t = time.perf_counter()
                m = engine.load_model(path)
                load_s = time.perf_counter() - t
                recs[name] = engine.Recognizer(m, chunk_ms=args.chunk_ms, kernel=kernel)
                facts[name] = {"params": m.arch.num_params(), "sparsity": m.sparsity(),
                               "file_bytes": m.file_bytes, "load_s": load_s, "kernel": kernel}
            for rec in recs.values():  # warm-up: tables, caches
                run_once(rec, audio[: 16000], args.chunk_ms)
            runs = {name: [] for name in recs}
            for _ in range(args.repeats):
                for name, rec in recs.items():
                    runs[name].append(run_once(rec, audio, args.chunk_ms))
            rows = {name: {**facts[name], **summarize(r, args.chunk_ms)} for name, r in runs.items()}
            results["scenarios"].append({"blank_bias": bb, "models": rows})
    if args.kernels:
        results["kernels"] = kernel_microbench()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nwrote {args.json}")
    return 0


def report(results: dict) -> None:
    ch = results["chunk_ms"]
    m = results["machine"]
    print(f"engine benchmark: {results['seconds']:.0f} s of audio x {results['repeats']} interleaved repeats, "
          f"chunk {ch} ms, 1 thread; numpy {m['numpy']}, Python {m['python']}, {m['cpus']} CPUs")
    print("host = measured wall-clock on this machine; NNA = modeled by engine/nna/cost.py\n")
    head = (f"{'model':<13} {'load':<11} {'tok/s':>5} {'RTF':>7} {'host p50':>9} {'host p95':>9} "
            f"{'p95/chunk':>9} {'NNA ms':>7} {'file MB':>8} {'sparsity':>8} {'kernel':>6}")
    print(head)
    print("-" * len(head))
    for sc in results["scenarios"]:
        load = "3 tok/frame" if sc["blank_bias"] == 0 else f"bias {sc['blank_bias']:g}"
        rows = sc["models"]
        for name, r in rows.items():
            print(f"{name:<13} {load:<11} {r['tokens_per_s']:>5.1f} {r['rtf']:>7.4f} {r['host_ms_p50']:>9.2f} "
                  f"{r['host_ms_p95']:>9.2f} {100 * r['p95_share_of_chunk']:>8.1f}% "
                  f"{r['modeled_nna_ms_p50']:>7.3f} {r['file_bytes'] / 1e6:>8.2f} {r['sparsity']:>8.3f} "
                  f"{r['kernel']:>6}")
        if "dense" in rows and "sparse80" in rows:
            d, s = rows["dense"], rows["sparse80"]
            print(f"{'sparse/dense':<13} {load:<11} {'':>5} {s['rtf'] / d['rtf']:>7.3f} "
                  f"{s['host_ms_p50'] / d['host_ms_p50']:>9.3f} {s['host_ms_p95'] / d['host_ms_p95']:>9.3f} "
                  f"{'':>9} {s['modeled_nna_ms_p50'] / d['modeled_nna_ms_p50']:>7.3f} "
                  f"{s['file_bytes'] / d['file_bytes']:>8.3f}")
        print()
    worst = max((r for sc in results["scenarios"] for r in sc["models"].values() if r["kernel"] == "auto"),
                key=lambda r: r["rtf"])
    p95 = max(r["p95_share_of_chunk"] for sc in results["scenarios"] for r in sc["models"].values()
              if r["kernel"] == "auto")
    print(f"target RTF <= {TARGET_RTF}: worst {worst['rtf']:.4f} "
          f"{'met' if worst['rtf'] <= TARGET_RTF else 'MISSED'}")
    print(f"target p95 <= {100 * TARGET_P95_SHARE:.0f} % of the chunk: worst {100 * p95:.1f} % "
          f"{'met' if p95 <= TARGET_P95_SHARE else 'MISSED'}")
    for sc in results["scenarios"]:
        rows = sc["models"]
        if "dense" in rows and "sparse80" in rows:
            d, s = rows["dense"], rows["sparse80"]
            print(f"blank_bias {sc['blank_bias']:g}: sparse/dense host RTF {s['rtf'] / d['rtf']:.3f} "
                  f"(repeats: dense {', '.join(f'{v:.4f}' for v in d['rtf_per_repeat'])}; "
                  f"sparse {', '.join(f'{v:.4f}' for v in s['rtf_per_repeat'])}); "
                  f"modeled NNA {s['modeled_nna_ms_p50'] / d['modeled_nna_ms_p50']:.3f}")
    if "kernels" in results:
        print("\nhost matvec, 1024 x 256, one int8 vector (us per call; cold = 16 matrices in turn):")
        print(f"{'density':>8} {'dense cold':>11} {'ELL cold':>9} {'dense hot':>10} {'ELL hot':>8}")
        for r in results["kernels"]:
            print(f"{r['density']:>8.2f} {r['dense_cold_us']:>11.1f} {r['sparse_cold_us']:>9.1f} "
                  f"{r['dense_hot_us']:>10.1f} {r['sparse_hot_us']:>8.1f}")


if __name__ == "__main__":
    sys.exit(main())

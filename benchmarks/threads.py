"""Host latency with BLAS on every core (the library default) against one thread (the
engine's default), on idle cores and on cores kept busy: the table in docs/reliability.md.

    python benchmarks/threads.py                       # default model, greedy and beam 4
    python benchmarks/threads.py --model aat --repeat 5 --json threads.json

Each configuration runs in a fresh process (a BLAS thread count is per process): the demo
audio, repeated ``--repeat`` times, through one ``engine.Recognizer`` stream in 160 ms
chunks; host ms per chunk are measured (``time.perf_counter``), RTF = host time / audio.
"Busy" starts one busy-loop process per CPU core for the run and stops it after. The
configurations alternate (idle, busy; then the other thread setting) so that a drift in
the machine's other load falls on both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from contextlib import contextmanager

from common import at_least, beam_list

CHILD = r"""
import json, sys, numpy as np
import engine
from app import models as M
model = engine.load_model(M.resolve(sys.argv[1]))
rec = engine.Recognizer(model, beam=int(sys.argv[2]), threads=int(sys.argv[3]))
x = np.tile(engine.load_audio(M.DEMO_AUDIO, 16000), int(sys.argv[4]))
s = rec.create_stream()
s.accept_waveform(x[:16000], 16000)  # warm-up: caches, first BLAS calls
s = rec.create_stream()
s.accept_waveform(x, 16000)
s.input_finished()
from threadpoolctl import threadpool_info
blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
d = s.stats.summary()
print(json.dumps({"rtf": d["rtf"], "p50": d["host_ms_p50"], "p95": d["host_ms_p95"],
                  "chunks": d["chunks"], "blas": [(i["internal_api"], i["num_threads"]) for i in blas]}))
"""


@contextmanager
def busy_cores(n: int):
    """``n`` busy-loop processes for the duration (stopped by their ids on exit)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def run_one(model: str, beam: int, threads: int, repeat: int) -> dict:
    env = dict(os.environ)
    env.pop("NNASR_THREADS", None)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(k, None)
    out = subprocess.run([sys.executable, "-c", CHILD, model, str(beam), str(threads), str(repeat)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model name or file (default: the default model)")
    ap.add_argument("--beams", type=beam_list, default=[1, 4], help="beam widths (default 1,4)")
    ap.add_argument("--repeat", type=at_least(1, int), default=4, help="demo repeats per run (8.5 s each; default 4)")
    ap.add_argument("--busy", type=at_least(1, int), default=os.cpu_count() or 2,
                    help="busy-loop processes for the busy runs (default: one per core)")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    args = ap.parse_args(argv)
    from app import models as M

    try:
        model = str(M.resolve(args.model))
    except M.UserError as e:
        sys.exit(f"threads.py: --model {args.model}: {e}")
    rows = []
    for beam in args.beams:
        for threads, label in ((0, "BLAS default (before)"), (1, "1 thread (after)")):
            for load in ("idle", "busy"):
                if load == "busy":
                    with busy_cores(args.busy):
                        r = run_one(model, beam, threads, args.repeat)
                else:
                    r = run_one(model, beam, threads, args.repeat)
                rows.append({"beam": beam, "threads": label, "load": load, **r})
                print(f"beam {beam}  {label:22s} {load:4s}  RTF {r['rtf']:.4f}  host ms/chunk "
                      f"p50 {r['p50']:.2f}  p95 {r['p95']:.2f}  BLAS {r['blas']}", file=sys.stderr)
    print(f"\nmodel {os.path.basename(model)}, {os.cpu_count()} cores, busy = {args.busy} busy-loop "
          f"processes, {args.repeat} x demo.flac per run\n")
    print("| beam | BLAS threads | cores | RTF | host ms/chunk p50 | p95 |")
    print("|---:|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['beam']} | {r['threads']} | {r['load']} | {r['rtf']:.4f} | {r['p50']:.2f} | {r['p95']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

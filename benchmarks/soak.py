"""Soak benchmark: one engine stream fed an hour (or more) of audio; memory and latency over time.

Streams ``--minutes`` of audio (default 60) through a single ``engine.Recognizer`` stream in
100 ms pieces, as a microphone would deliver them, and never starts a new stream. The audio
is generated on the fly, so the benchmark itself holds none of it: a repeating cycle of the
bundled demo utterance (``assets/audio/demo.flac``, real TTS speech), pauses (digital
silence and low noise, so endpointing cuts utterances) and synthetic speech-like bursts
(``tests/helpers.speechlike``, a new seed each cycle).

Every ``--every`` minutes of audio it prints a row: minute of audio, resident memory
(VmRSS from /proc/self/status, MB), p50 / p95 host milliseconds per chunk *in that
window* (measured, ``time.perf_counter`` around each chunk, this machine, one thread),
cumulative real-time factor, finals so far, and the bytes of per-chunk stats the stream
keeps. At the end, two verdicts (no assertion):

* memory: RSS growth from the first row (after warm-up) to the last < 5 %: "flat";
* latency: median p95 of the last quarter of the windows vs the first quarter, drift
  < 20 %: "stable".

Model: ``--model PATH`` or a model name, else the default shipped model (`nnasr models`), else a random-weight
model of the architecture's defaults (3 encoder LSTM layers of 256, predictor 256, joiner 256,
256 tokenizer pieces: about 2.5 M weights; the shipped models are 4 x 288 with 512 pieces,
3.76 M). Random models emit tokens on nearly every frame or
on none; the default ``--blank-bias 0.1`` gives the former, about 30 tokens/s, ten times
real speech: a worst case for the decoder and for the transcript held in memory.

The stream keeps the last ``--max-finals`` final results (default 20, the way to run a
stream for hours: ``Recognizer(max_finals=...)``); ``--max-finals -1`` keeps every final,
the API default, and then memory grows with the transcript (about 230 bytes per token).

    nice -n 10 python benchmarks/soak.py                    # 60 min of audio, a row per 5 min
    python benchmarks/soak.py --minutes 120 --every 10 --json soak.json
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
from common import ROOT, at_least, test_helpers  # noqa: E402

_helpers = test_helpers()
tokenizer_256, speechlike = _helpers.pseudo_word_tokenizer_proto, _helpers.speechlike

import engine  # noqa: E402

RATE = 16000
BLOCK = RATE // 10  # 100 ms pieces, as a microphone delivers them
RSS_FLAT = 0.05
P95_DRIFT = 0.20


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    vals = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    vals[k] = int(v.split()[0]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak
    return vals.get("VmRSS", 0.0), vals.get("VmHWM", 0.0)


def random_shipped_size_model(path: Path, blank_bias: float, seed: int = 0) -> Path:
    from engine.frontend import FrontendConfig
    from engine.model import Architecture, save_model
    from engine.nna.spec import NNASpec
    from engine.quantize import build_tensors, random_params

    arch = Architecture(num_classes=257)  # the defaults: 3 x 256 encoder, 256 predictor/joiner
    spec = NNASpec()
    params = random_params(arch, seed=seed)
    params["join.out.b"][0] += blank_bias
    tensors = build_tensors(params, arch, spec, in_scale=4.0 / 127, out_scale=8.0 / 32767,
                            mean=np.full(arch.n_mels, -5.0, np.float32),
                            std=np.full(arch.n_mels, 3.0, np.float32), float_ops=[])
    return save_model(path, arch=arch, frontend=FrontendConfig(), spec=spec, placement={},
                      tensors=tensors, tokenizer_proto=tokenizer_256(), chunk_ms=160,
                      facts={"kind": "random-weight soak model (the architecture's defaults)"})


def pick_model(args, tmp: Path) -> tuple[Path, str]:
    if args.model:  # a file, or a model's name as the CLI takes it
        from app.models import UserError, resolve

        try:
            return resolve(args.model), "given"
        except UserError as e:
            sys.exit(f"soak.py: --model {args.model}: {e}")
    try:
        from app.models import discover

        found = discover()
    except Exception:
        found = []
    if found:
        return found[0], "the default shipped model"
    return random_shipped_size_model(tmp / "soak-random.nnasr", args.blank_bias), "random, the architecture's defaults"


def audio_cycles(demo: np.ndarray):
    """Endless 100 ms blocks: demo speech, pauses, speech-like bursts (new seed per cycle)."""
    k = 0
    noise = np.random.default_rng(123)
    while True:
        parts = [
            demo,
            np.zeros(int(1.5 * RATE), np.float32),  # digital silence
            speechlike(6.0, RATE, seed=k),
            (0.003 * noise.standard_normal(int(2.5 * RATE))).astype(np.float32),  # quiet room
        ]
        cycle = np.concatenate(parts)
        for i in range(0, len(cycle) - BLOCK + 1, BLOCK):
            yield cycle[i : i + BLOCK]
        k += 1


def finals_bytes(finals) -> int:
    """Approximate memory held by the final results (deep getsizeof)."""
    n = 0
    for r in finals:
        n += sys.getsizeof(r) + sys.getsizeof(r.__dict__) + sys.getsizeof(r.text)
        for lst in (r.tokens, r.token_ids, r.timestamps, r.words):
            n += sys.getsizeof(lst) + sum(sys.getsizeof(v) for v in lst)
    return n


def verdicts(rows: list[dict]) -> dict:
    first, last = rows[0], rows[-1]
    growth = (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"]
    q = max(1, len(rows) // 4)
    p95_first = float(np.median([r["host_ms_p95"] for r in rows[:q]]))
    p95_last = float(np.median([r["host_ms_p95"] for r in rows[-q:]]))
    drift = p95_last / p95_first - 1
    return {
        "rss_growth": growth, "rss_flat": abs(growth) < RSS_FLAT,
        "rss_mb_first": first["rss_mb"], "rss_mb_last": last["rss_mb"],
        "p95_first_quarter_ms": p95_first, "p95_last_quarter_ms": p95_last,
        "p95_drift": drift, "p95_stable": abs(drift) < P95_DRIFT,
    }


def feed(stream, demo: np.ndarray, minutes: float, every: float) -> tuple[list[dict], int, int, int]:
    """Feed ``minutes`` of audio (``audio_cycles`` of ``demo``) in 100 ms pieces, printing a
    row every ``every`` minutes; returns (rows, finals, tokens, partials) after the end."""
    blocks_total = int(minutes * 60 * RATE / BLOCK)
    blocks_per_row = max(1, int(every * 60 * RATE / BLOCK))
    rows: list[dict] = []
    seen_chunks = 0
    partials = tokens = finals = 0
    t_start = time.perf_counter()
    gen = audio_cycles(demo)
    for b in range(1, blocks_total + 1):
        stream.accept_waveform(next(gen), RATE)
        for r in stream.results():
            if r.is_final:
                finals += 1
                tokens += len(r.token_ids)
            else:
                partials += 1
        if b % blocks_per_row == 0 or b == blocks_total:
            chunks = stream.stats.chunks
            host = chunks.column("host_ms")[seen_chunks:]
            full = chunks.column("audio_ms")[seen_chunks:] > 0
            host = host[full]
            seen_chunks = len(chunks)
            rss, _ = rss_mb()
            row = {
                "audio_min": round(b * BLOCK / RATE / 60, 2), "rss_mb": round(rss, 1),
                "host_ms_p50": float(np.percentile(host, 50)), "host_ms_p95": float(np.percentile(host, 95)),
                "rtf": stream.stats.rtf, "finals": finals, "finals_kept": len(stream.finals), "tokens": tokens,
                "chunks": len(chunks), "stats_bytes": chunks.nbytes,
                "wall_s": round(time.perf_counter() - t_start, 1),
            }
            rows.append(row)
            print(f"{row['audio_min']:9.1f} {row['rss_mb']:8.1f} {row['host_ms_p50']:9.2f} "
                  f"{row['host_ms_p95']:9.2f} {row['rtf']:8.4f} {row['finals']:7d} {row['tokens']:7d} "
                  f"{row['stats_bytes'] / 1024:9.0f} {row['wall_s']:7.0f}", flush=True)
    stream.input_finished()
    for r in stream.results():
        if r.is_final and r.text:
            finals += 1
            tokens += len(r.token_ids)
    return rows, finals, tokens, partials


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=at_least(0.1), default=60.0, help="minutes of audio (default 60)")
    ap.add_argument("--every", type=at_least(0.1), default=5.0, help="minutes of audio per row (default 5)")
    ap.add_argument("--model", help="model file or name (default: the default shipped model, else a random one of the architecture's defaults)")
    ap.add_argument("--blank-bias", type=float, default=0.1,
                    help="random model only: blank logit bias (0.1: tokens on most frames; "
                         ">= 0.3: none)")
    ap.add_argument("--max-finals", type=int, default=20,
                    help="finals the stream keeps (default 20; -1: all, the API default)")
    ap.add_argument("--chunk-ms", type=int, default=None, help="chunk size (default: the model's)")
    ap.add_argument("--json", metavar="FILE", help="also write the rows and verdicts as JSON")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path, origin = pick_model(args, Path(tmp))
        model = engine.load_model(path)
    max_finals = None if args.max_finals < 0 else args.max_finals
    rec = engine.Recognizer(model, chunk_ms=args.chunk_ms, max_finals=max_finals)
    demo = engine.load_audio(ROOT / "assets" / "audio" / "demo.flac", RATE)
    d = model.describe()
    print(f"soak: model {model.name} ({origin}; {d['params']:,} params, sparsity {d['sparsity']:.1%}), "
          f"chunk {rec.chunk_ms} ms, {args.minutes:g} min of audio fed in 100 ms pieces to ONE stream, "
          f"keeping {'all' if max_finals is None else max_finals} finals")
    print(f"      {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"numpy {np.__version__}, one thread; host ms measured, per chunk, in each window")
    print()
    hdr = (f"{'audio min':>9} {'RSS MB':>8} {'host p50':>9} {'host p95':>9} {'cum RTF':>8} "
           f"{'finals':>7} {'tokens':>7} {'stats KB':>9} {'wall s':>7}")
    print(hdr)
    print("-" * len(hdr))

    stream = rec.create_stream()
    rows, finals, tokens, partials = feed(stream, demo, args.minutes, args.every)
    _, hwm = rss_mb()
    v = verdicts(rows)
    fb = finals_bytes(stream.finals)
    print()
    print(f"memory:  RSS {v['rss_mb_first']:.1f} MB at minute {rows[0]['audio_min']:g} -> "
          f"{v['rss_mb_last']:.1f} MB at minute {rows[-1]['audio_min']:g} "
          f"({100 * v['rss_growth']:+.1f} %; peak {hwm:.1f} MB): "
          f"{'flat' if v['rss_flat'] else 'NOT flat'} (threshold {100 * RSS_FLAT:.0f} %)")
    print(f"latency: host p95 per chunk {v['p95_first_quarter_ms']:.2f} ms (first quarter) -> "
          f"{v['p95_last_quarter_ms']:.2f} ms (last quarter) ({100 * v['p95_drift']:+.1f} %): "
          f"{'stable' if v['p95_stable'] else 'NOT stable'} (threshold {100 * P95_DRIFT:.0f} %)")
    print(f"stream state kept: {len(stream.stats.chunks)} chunk stats in "
          f"{stream.stats.chunks.nbytes / 1024:.0f} KiB "
          f"(8 B x {len(stream.stats.chunks.FIELDS)} fields per chunk, in blocks of "
          f"{stream.stats.chunks.BLOCK}); {len(stream.finals)} of {finals} finals kept, "
          f"~{fb / 1024:.0f} KiB; "
          f"{len(stream.stats.upl_ms)} UPL values; {partials} partial results emitted")
    print(f"total: {rows[-1]['audio_min']:.1f} min of audio in {rows[-1]['wall_s']:.0f} s wall, "
          f"RTF {stream.stats.rtf:.4f} (host compute / audio)")
    if args.json:
        out = {"model": model.name, "model_origin": origin, "chunk_ms": rec.chunk_ms,
               "minutes": args.minutes, "rows": rows, "verdicts": v, "peak_rss_mb": hwm,
               "max_finals": max_finals, "finals": finals, "finals_kept": len(stream.finals),
               "finals_bytes": fb, "partials": partials,
               "machine": platform.platform(), "python": platform.python_version()}
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

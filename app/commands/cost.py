"""`nnasr cost [--models M ...] [FILE ... | --manifest M.jsonl]`: where the modeled NNA time goes.

Decodes real audio (default: the bundled demo) to count how often every op runs (the
predictor and joiner run per emitted token and per beam hypothesis, so the counts depend
on what was said and on the search), then prices each op with the cost model of the
model's NNA profile, of another accelerator's profile (`--profile my-nna.json`: its cost
fields), or of a what-if (`--set FIELD=VALUE` on the cost fields). The table is modeled,
never measured; the host's measured time is `nnasr compare`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.models import DEFAULT_BEAM, positive_int

PROG = "nnasr cost"

EXAMPLES = """\
examples:
  nnasr cost                                   # every model found, on the bundled demo audio
  nnasr cost --models aat-csp                  # one model
  nnasr cost --models aat aat-csp --manifest data/corpus/test.jsonl --limit 20
  nnasr cost --models aat-csp --set sram_bytes=1048576      # what if the NNA had 1 MiB of SRAM
  nnasr cost --models aat aat-csp --profile my-nna.json     # priced on your accelerator (its cost fields)
  nnasr cost --models aat-csp --sram-by-traffic             # SRAM for the busiest ops, not the smallest
  nnasr cost --models aat aat-csp --set zwc_index_bits=4   # 4-bit relative indices where smaller than the bitmap
  nnasr cost --models aat-mag --set drop_dead_channels=false  # price the units no op reads too
  nnasr cost --set macs_per_cycle=64 dram_bytes_per_s=2e9 --json

rows: an LSTM is two ops: enc.N.x / pred.0.x, its input projection (x @ Wx of all the frames
of a chunk, or all the hypotheses of a beam round, in one call), and enc.N / pred.0, its step
(h @ Wh and the cell, one call per step: the recurrence orders them). A stateless predictor
(pred_context) is one op, pred.0: its matrix over the last tokens' embeddings and a tanh.

columns: calls/s = invocations per second of audio (decoded, not assumed); vec/call = input
vectors per call (a chunk's frames through an input projection or join.enc, a beam round's
hypotheses through the joiner and the predictor: one call, one weight stream, one
dispatch); MACs/call per vector, dense (non-zero), without the channels no op reads
(drop_dead_channels); weights = bytes read per call when not
SRAM-resident (after zero-weight compression); µs/call = mean modeled time of a call;
bound = what limits a call on one vector (MACs, DRAM, dispatch overhead; CPU or transfer for
ops placed on the CPU); ms/s = modeled milliseconds per second of audio.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = (__doc__.split("\n\n", 1)[1]).strip() if __doc__ else None
    p.epilog = EXAMPLES
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="audio files (default: the bundled demo audio); audio files listed after "
                        "--models are recognized by their extension")
    p.add_argument("--models", nargs="+", action="extend", metavar="MODEL",
                   help="model files or names (default: every model found, the default model first)")
    p.add_argument("--manifest", metavar="M.jsonl", help="decode the audio of a JSON-lines manifest instead")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N", help="only the first N files / entries")
    p.add_argument("--beam", type=positive_int, default=DEFAULT_BEAM,
                   help=f"beam size (1: greedy; default {DEFAULT_BEAM}, as the apps decode)")
    p.add_argument("--chunk-ms", type=positive_int, default=None, help="audio per recognizer step in ms")
    p.add_argument("--profile", metavar="NAME|FILE.json",
                   help="price on another NNA: a profile's cost fields (MAC rate, clock, SRAM, DRAM "
                        "bandwidth, dispatch, transfers, zero-weight compression; a JSON object of "
                        "these, like engine/profiles/reference-speaker.json, or only some of them); "
                        "fields of the arithmetic it gives must equal the model's: a named model "
                        "that differs is an error, one found by default is skipped with a note")
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="FIELD=VALUE",
                   help="what-if cost-model fields of the NNA profile, e.g. sram_bytes=1048576 "
                        "macs_per_cycle=128 skip_zero_macs=true (the arithmetic stays the model's); "
                        "`--set help` lists the fields")
    p.add_argument("--sram-by-traffic", action="store_true",
                   help="what-if: SRAM holds the ops that save the most modeled time for the decoded "
                        "traffic (the profile's rule is smallest first, blind to how often an op runs)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def _what_if(items: list[str]) -> dict[str, str]:
    from app.cli import UserError

    out = {}
    for it in items:
        if "=" not in it:
            raise UserError(f"--set {it!r}: expected FIELD=VALUE; `--set help` lists the fields")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _print_fields() -> int:
    """``--set help``: the cost fields, the reference profile's values and what each models."""
    from app.cli import print_field_docs
    from engine.fields import field_docs
    from engine.nna.spec import COST_FIELDS, NNASpec

    print_field_docs("nnasr cost --set FIELD=VALUE ...  (the NNA's cost fields, reference-speaker's "
                     "values; the arithmetic is the model's own)",
                     [d for d in field_docs(NNASpec) if d[0] in COST_FIELDS])
    return 0


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    import engine
    from app import comparison as C
    from app import models as M
    from app.cli import UserError
    from app.commands.compare import _split_files_from_models
    from app.commands.transcribe import _describe_failure
    from app.transcription import transcribe_file
    from engine.nna.cost import best_residency, breakdown, build_cost_table, modeled_seconds
    from engine.nna.spec import profile_costs, read_profile

    if any(a in ("help", "list") for a in args.set):
        return _print_fields()
    _split_files_from_models(args)  # `--models A B x.wav`: the audio files back
    # `--set F=V x.wav`: --set takes every word after it; an audio file among them goes back
    files_in_set = [a for a in args.set if "=" not in a and Path(a).is_file()]
    if files_in_set:
        args.set = [a for a in args.set if a not in files_in_set]
        args.files = list(args.files) + files_in_set
    if args.manifest and args.files:
        raise UserError("give either --manifest M.jsonl or audio FILEs, not both")
    if args.manifest:
        files = [it.audio for it in C.read_manifest(args.manifest)]
    else:
        files = list(args.files) or [str(M.DEMO_AUDIO)]
    if args.limit is not None:
        files = files[: args.limit]
    if not files:
        raise UserError("no audio to decode")
    changes = _what_if(args.set)
    profile = None
    if args.profile:
        try:
            profile = read_profile(args.profile)
        except (OSError, ValueError) as e:
            raise UserError(f"--profile: {e}") from None
    reports = []
    console = Console()
    if not console.is_terminal:  # a file or a pipe: wide enough that the table does not wrap
        console = Console(width=140)
    for path in M.resolve_many(args.models):
        model = M.load(path)
        try:
            spec = model.spec
            if profile is not None:
                try:
                    costs = profile_costs(spec, profile)
                except ValueError as e:
                    if args.models:  # named: the user asked for this pair
                        raise
                    print(f"nnasr cost: skipped {model.name}: {e}", file=sys.stderr)
                    continue
                spec = spec.what_if(costs).replace(name=str(profile.get("name", args.profile)))
            spec = spec.what_if(changes)
            rec = engine.Recognizer(model, chunk_ms=args.chunk_ms, beam=args.beam, keep_chunk_counts=True)
        except ValueError as e:
            raise UserError(f"{model.name}: {e}") from None
        counts: dict[str, int] = {}
        audio_s, chunk_counts = 0.0, []
        for f in files:
            try:
                t = transcribe_file(rec, f)
            except Exception as e:  # noqa: BLE001 - one line per unreadable file
                raise UserError(_describe_failure(f, e)) from None
            for op, n in t.op_counts.items():
                counts[op] = counts.get(op, 0) + n
            audio_s += t.audio_s
            chunk_counts += t.chunk_op_counts
        resident = best_residency(model, counts, spec) if args.sram_by_traffic else None
        table = build_cost_table(model, spec=spec, resident=resident)
        rows = breakdown(table, counts, audio_s)
        # every chunk priced again with this table (the engine priced it with the model's own)
        per_chunk = [1e3 * modeled_seconds(table, c) for c in chunk_counts]
        total = sum(r["ms_per_audio_s"] for r in rows)
        dram = sum(r["calls"] * r["dram_bytes_per_call"] for r in rows) / max(audio_s, 1e-9)
        sram_used = sum(c.weight_bytes for c in table.values() if c.resident)
        reports.append({
            "model": model.name, "file": str(path), "files": len(files), "audio_s": round(audio_s, 3),
            "beam": args.beam, "profile": spec.honest_name(), "what_if": changes,
            "sram_policy": "by traffic" if args.sram_by_traffic else "smallest first",
            "modeled_nna_ms_per_audio_s": total, "dram_bytes_per_audio_s": dram,
            "sram_bytes": spec.sram_bytes, "sram_used_bytes": sram_used,
            "modeled_nna_ms_per_chunk": C.percentiles(per_chunk),
            "ops": rows,
        })
    if not reports:
        raise UserError(f"no model found whose arithmetic matches the profile {args.profile!r}")
    if args.json:
        print(json.dumps(reports, indent=2))
        return 0
    for r in reports:
        _print(console, r)
    if len(reports) > 1:
        ref = reports[0]["modeled_nna_ms_per_audio_s"] or 1.0
        t = Table(title="modeled NNA time: per second of audio, and per chunk (median)", title_justify="left")
        ref_chunk = reports[0]["modeled_nna_ms_per_chunk"]["p50"] or 1.0
        for c in ("model", "ms/s", "vs first", "ms/chunk p50", "vs first", "DRAM MB/s", "top op"):
            t.add_column(c, justify="left" if c in ("model", "top op") else "right")
        for r in reports:
            top = max(r["ops"], key=lambda o: o["share"])
            p50 = r["modeled_nna_ms_per_chunk"]["p50"] or 0.0
            t.add_row(r["model"], f"{r['modeled_nna_ms_per_audio_s']:.3f}",
                      f"{r['modeled_nna_ms_per_audio_s'] / ref:.2f}x", f"{p50:.3f}", f"{p50 / ref_chunk:.2f}x",
                      f"{r['dram_bytes_per_audio_s'] / 1e6:.2f}", f"{top['op']} ({top['share']:.0%})")
        console.print(t)
    return 0


def _print(console, r: dict) -> None:
    from rich.table import Table

    wi = ", ".join([f"{k}={v}" for k, v in r["what_if"].items()]
                   + (["SRAM by traffic"] if r["sram_policy"] == "by traffic" else []))
    title = (f"{r['model']}: modeled cost on {r['profile']}" + (f" with {wi} (what-if)" if wi else "")
             + f"; {r['files']} file(s), {r['audio_s']:.1f} s of audio, beam {r['beam']}")
    t = Table(title=title, title_justify="left")
    for c in ("op", "on", "calls/s", "vec/call", "MACs/call (non-zero)", "weights KiB", "SRAM", "µs/call", "bound",
              "ms/s", "share"):
        t.add_column(c, justify="left" if c in ("op", "on", "bound", "SRAM") else "right")
    for o in r["ops"]:
        t.add_row(o["op"], o["device"].upper(), f"{o['calls_per_audio_s']:.1f}",
                  f"{o['vectors'] / o['calls']:.2f}" if o["calls"] else "-",
                  f"{o['macs']:,} ({o['nnz_macs']:,})", f"{o['weight_bytes'] / 1024:.0f}",
                  "yes" if o["resident"] else ("-" if o["device"] == "cpu" else "no"),
                  f"{o['us_per_call']:.1f}", o["bound"], f"{o['ms_per_audio_s']:.3f}", f"{o['share']:.0%}")
    console.print(t)
    per_chunk = r["modeled_nna_ms_per_chunk"]
    chunk = (f"; per chunk p50 {per_chunk['p50']:.3f} ms, p95 {per_chunk['p95']:.3f} ms"
             if per_chunk["p50"] is not None else "")
    console.print(f"total {r['modeled_nna_ms_per_audio_s']:.3f} ms of NNA time per second of audio "
                  f"({r['modeled_nna_ms_per_audio_s'] / 10:.2f} % busy){chunk}; weights streamed from DRAM "
                  f"{r['dram_bytes_per_audio_s'] / 1e6:.2f} MB/s; SRAM {r['sram_used_bytes'] / 1024:.0f} of "
                  f"{r['sram_bytes'] / 1024:.0f} KiB used ({r['sram_policy']}). Modeled, not measured.\n",
                  highlight=False)

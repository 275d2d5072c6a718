"""Hotwords (contextual biasing) measured: each human source's clips with its own phrase list,
and open speech with an unrelated list, at several scores (the table in docs/decoding.md).

    python benchmarks/hotwords.py                                # aat, beam 4, scores 0 1.5 2.5 3.5
    python benchmarks/hotwords.py --model aat-csp --scores 0 1.5 --sources warzone2100-data
    python benchmarks/hotwords.py --no-lead --open none          # quicker: no lead-in, no open speech

Per source of ``nnasr synth --human`` (its ``SPLIT.SOURCE.jsonl`` clips and its
``phrases.SOURCE.txt``, the source's transcripts: what an app built on it can say), the WER
of every score (0: no list), as the clips are and with 0.4 s of silence put before each
(``--channel lead:0.4``: these clips start on their first frame, a microphone stream does
not). Then the open-speech cost: ``--open`` (default the corpus test split) with the
``--unrelated`` source's list. Decoding as ``nnasr eval --beam B --hotwords``
(``trainer.evaluate.evaluate_engine``, endpointing off). Writes OUT.json and OUT.md
(default ``benchmarks/results/hotwords``) and prints the table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _phrases(path: Path) -> list[str]:
    from engine.context import read_hotwords

    return [t for t, _ in read_hotwords(path)]


def measure(model, records: list[dict], phrases: list[str] | None, score: float, beam: int,
            lead: bool) -> dict:
    """WER and error counts of ``model`` on a manifest's ``records`` with ``phrases`` at
    ``score`` (none at 0), optionally with the 0.4 s lead-in."""
    from trainer.data.audio import parse_channel
    from trainer.evaluate import evaluate_engine

    search = {"hotwords": phrases, "hotword_score": score} if phrases and score else {}
    r = evaluate_engine(model, records, beam=beam,
                        channel=parse_channel("lead:0.4") if lead else None, **search)
    return {"wer": round(r.wer, 4), "cer": round(r.cer, 4), "substitutions": r.substitutions,
            "deletions": r.deletions, "insertions": r.insertions, "words": r.ref_words,
            "utterances": r.utterances}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="aat", help="model name or file (default aat)")
    ap.add_argument("--human", default="data/human", help="nnasr synth --human's folder (default data/human)")
    ap.add_argument("--split", default="dev", help="human split (default dev: for decisions)")
    ap.add_argument("--sources", nargs="*", help="human sources (default: every one with clips in the split)")
    ap.add_argument("--scores", nargs="+", type=float, default=[0, 1.5, 2.5, 3.5],
                    help="hotword scores; 0 is without the list (default 0 1.5 2.5 3.5)")
    ap.add_argument("--beam", type=int, default=4, help="beam width (default 4, as the apps decode)")
    ap.add_argument("--no-lead", action="store_true", help="skip the runs with the 0.4 s lead-in")
    ap.add_argument("--open", default="data/corpus/test.jsonl",
                    help="open speech for the cost of an unrelated list (default the corpus test "
                         "split; 'none' skips it)")
    ap.add_argument("--unrelated", default="warzone2100-data", help="the source whose list the open speech gets")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "hotwords"),
                    help="OUT.json and OUT.md (default benchmarks/results/hotwords)")
    args = ap.parse_args(argv)

    from common import machine

    from app import models as M
    from trainer.data.manifest import read_manifest, write_json_atomic, write_text_atomic

    human = Path(args.human)
    sources = args.sources or sorted(p.name[len(args.split) + 1:-len(".jsonl")]
                                     for p in human.glob(f"{args.split}.*.jsonl"))
    if not sources:
        print(f"no {args.split}.SOURCE.jsonl in {human}: run `nnasr synth --human --out {human}`",
              file=sys.stderr)
        return 2
    model_path = M.resolve(args.model)
    model = M.load(model_path)
    unrelated = human / f"phrases.{args.unrelated}.txt"
    if args.open != "none" and not unrelated.exists():  # found at the end, after every source
        sys.exit(f"--unrelated {args.unrelated}: no {unrelated}")
    rows = []
    t0 = time.time()
    for src in sources:
        manifest, plist = human / f"{args.split}.{src}.jsonl", human / f"phrases.{src}.txt"
        if not manifest.exists() or not plist.exists():
            print(f"{src}: no {manifest.name} or {plist.name} in {human}; skipped", file=sys.stderr)
            continue
        phrases, records = _phrases(plist), read_manifest(manifest)
        for lead in (False,) if args.no_lead else (False, True):
            for s in args.scores:
                m = measure(model, records, phrases, s, args.beam, lead)
                rows.append({"set": f"{src} {args.split}", "list": f"its {len(phrases)} phrases",
                             "score": s, "lead_in": lead, **m})
                print(f"{src} {args.split}{' lead-in' if lead else ''} score {s:g}: WER {m['wer']:.2%}",
                      file=sys.stderr, flush=True)
    if not rows:  # nothing measured: the stored table stays as it is
        sys.exit(f"no source measured (--sources {' '.join(sources)} in {human}); nothing written")
    if args.open != "none":
        phrases, records = _phrases(unrelated), read_manifest(args.open)
        for s in args.scores:
            m = measure(model, records, phrases, s, args.beam, False)
            rows.append({"set": args.open, "list": f"{args.unrelated}'s {len(phrases)} phrases (unrelated)",
                         "score": s, "lead_in": False, **m})
            print(f"{args.open} score {s:g}: WER {m['wer']:.2%}", file=sys.stderr, flush=True)
    command = "python benchmarks/hotwords.py " + " ".join(argv if argv is not None else sys.argv[1:])
    facts = {"model": model_path.stem, "beam": args.beam, "machine": machine(gpu=False),
             "date": time.strftime("%Y-%m-%d"), "command": command.strip(),
             "wall_s": round(time.time() - t0, 1)}
    md = table(rows, facts)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out.with_suffix(".json"), {**facts, "rows": rows})
    write_text_atomic(out.with_suffix(".md"), md)
    print(md)
    return 0


def table(rows: list[dict], facts: dict) -> str:
    """Markdown: one line per set and list, a column per score (WER %, with the lead-in after
    a slash where measured)."""
    scores = sorted({r["score"] for r in rows})
    lines = [f"`{facts['command']}` on {facts['date']} ({facts['machine']}); model {facts['model']}, "
             f"beam {facts['beam']}; WER %, with the 0.4 s lead-in after the slash; score 0: no list.", "",
             "| set | list | " + " | ".join(f"{s:g}" for s in scores) + " |",
             "|---|---|" + "---:|" * len(scores)]
    keys = list(dict.fromkeys((r["set"], r["list"]) for r in rows))
    for key in keys:
        cells = []
        for s in scores:
            got = {r["lead_in"]: r["wer"] for r in rows if (r["set"], r["list"]) == key and r["score"] == s}
            cell = "/".join(f"{100 * got[lead]:.2f}" for lead in (False, True) if lead in got)
            cells.append(cell)
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

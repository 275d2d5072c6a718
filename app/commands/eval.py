"""nnasr eval: word error rate of a model on a manifest."""

from __future__ import annotations

import argparse

from app.models import (
    DEFAULT_BEAM,
    add_engine_arguments,
    add_lm_arguments,
    auto_gain,
    engine_options,
    lm_options,
    positive_int,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = (
        "WER and CER (jiwer; both sides normalized by trainer.data.text.normalize_text), substitution/\n"
        "deletion/insertion counts, RTF and per-chunk latency of an engine model (.nnasr) or a\n"
        "torch checkpoint (.pt, exported in memory) on a JSONL manifest; under the WER, its 95% interval\n"
        "by a bootstrap over the utterances (how far the set's sampling noise moves it).\n\n"
        "examples:\n"
        "  nnasr eval --model assets/models/aat.nnasr --manifest data/corpus/test.jsonl\n"
        "  nnasr eval --model runs/float/last.pt --manifest data/corpus/test.jsonl --mode float\n"
        "  nnasr eval --model runs/float/last.pt --manifest data/corpus/test.jsonl --mode torch\n"
        "      # the same checkpoint decoded by torch itself: its WER against --mode float's is\n"
        "      # the parity of the engine's float execution with training (docs/training.md)\n"
        "  nnasr eval --model runs/float/last.pt --manifest data/corpus/dev.jsonl --mode ctc\n"
        "      # the encoder alone (CTC head, greedy): compare with --mode torch's WER\n"
        "  nnasr eval --model m.nnasr --manifest test.jsonl --json out.json   # per-utterance output\n"
        "  nnasr eval --model baseline-ptq --manifest data/corpus/test.jsonl --by-voice\n"
        "  nnasr eval --model baseline-ptq --manifest data/test-aug/test.jsonl --by-condition\n"
        "  nnasr eval --model aat --manifest data/corpus/dev.jsonl --no-vad   # without the speech gate\n"
        "  nnasr eval --model aat --manifest data/human/dev.jsonl --beam 4 --hotwords phrases.txt\n"
        "  nnasr eval --model aat --manifest data/corpus/dev.jsonl --channel lowpass:4000\n"
        "      # every clip low-passed at 4 kHz first: what a recording channel costs (against\n"
        "      # the same command without it); also hum:DB, whine:DB, noise:DB, phone, gain:DB, combined\n"
        "      # with commas (lowpass:4500,hum:20); tight (every clip cut at its speech onset)\n"
        "      # and lead:0.4 (0.4 s of silence before it) measure how the speech's start matters\n"
        "  nnasr eval --model assets/models/aat.nnasr --manifest data/corpus/dev.jsonl \\\n"
        "      --record 'synthetic dev'   # store the WER in the model file (nnasr models shows it)\n"
    )
    p.add_argument("--model", required=True,
                   help="engine model file (.nnasr) or its shipped name, or a checkpoint (.pt)")
    p.add_argument("--manifest", required=True,
                   help="JSONL manifest: audio_filepath and text per line (duration is read from the audio "
                        "when absent)")
    p.add_argument("--mode", choices=["placed", "float", "torch", "ctc"], default="placed",
                   help="placed: integer NNA emulator with the model's placement; float: the engine's "
                        "float reference; torch: a checkpoint's own float torch forward, AAT checkpoints too "
                        "(greedy, no export; compare with --mode float); ctc: a checkpoint's encoder alone "
                        "through its training-only CTC head (greedy, no predictor: how much of the error "
                        "is the encoder's)")
    p.add_argument("--beam", type=positive_int, default=1,
                   help=f"beam width (default 1: greedy, as the model card's WER column; the apps "
                        f"decode with {DEFAULT_BEAM}, see docs/decoding.md)")
    p.add_argument("--chunk-ms", type=positive_int, help="chunk size in ms (default: the model's)")
    add_lm_arguments(p)
    add_engine_arguments(p)
    p.add_argument("--limit", type=positive_int, help="only the first N utterances")
    p.add_argument("--data", help="corpus for PTQ calibration of a checkpoint (default: the one it was "
                                  "trained on, where it is here; else data/corpus)")
    p.add_argument("--by-voice", action="store_true",
                   help="also print WER per voice (the manifest's 'voice' key), worst first")
    p.add_argument("--by-condition", action="store_true",
                   help="also print WER per acoustic condition of `nnasr synth` clips (added noise's SNR "
                        "band, reverb or dry), worst first; a clean test split has one condition, "
                        "`nnasr synth --hours 0 --dev-hours 0 --augment-eval` makes a varied one")
    add_channel_argument(p, "before decoding")
    p.add_argument("--json", metavar="FILE", help="write results with per-utterance output ('-' = stdout)")
    p.add_argument("--record", metavar="SET",
                   help="store this WER in the model file as its evaluation on SET (a short name, "
                        "e.g. 'synthetic dev'), shown by `nnasr models` and the live app; engine "
                        "models (.nnasr) only, with --mode placed")


def run(args) -> int:
    import contextlib
    import sys
    import tempfile
    from pathlib import Path

    from app.cli import UserError
    from engine.audio import AudioError
    from engine.model import ModelFormatError, load_model
    from trainer.data.manifest import ManifestError, read_manifest
    from trainer.evaluate import evaluate_engine

    try:
        records = read_manifest(args.manifest)
    except (OSError, ManifestError) as e:
        raise UserError(str(e)) from None
    if not records:
        raise UserError(f"{args.manifest}: manifest has no entries")
    if args.record and args.limit and args.limit < len(records):
        raise UserError(f"--record stores the WER of the whole set: leave out --limit (the manifest "
                        f"has {len(records)} utterances)")
    if args.limit:
        records = records[: args.limit]
    if args.record and (args.mode != "placed" or args.model.endswith(".pt")):
        raise UserError("--record stores a WER in an engine model file: use a .nnasr model and --mode placed")
    if args.record and args.channel:
        raise UserError("--record stores the WER of the manifest's own audio: leave out --channel")
    if args.record and args.hotwords:
        raise UserError("--record stores the model's own WER: leave out --hotwords (a phrase list "
                        "made for this audio would flatter it)")
    if args.record and args.gain:
        raise UserError("--record stores the WER of the manifest's own audio: leave out --gain")
    channel = channel_option(args.channel)
    if args.gain and args.mode in ("torch", "ctc"):
        if auto_gain(args):
            raise UserError(f"--gain auto is the engine's input gain; --mode {args.mode} decodes without "
                            "the engine: leave out one of them")
        raise UserError(f"--gain is the engine's input gain; --mode {args.mode} decodes without the "
                        f"engine: use --channel {args.channel + ',' if args.channel else ''}gain:{args.gain:g} "
                        "to change the audio's level")
    if args.mode in ("torch", "ctc"):
        return _run_torch(args, records, channel)
    with tempfile.TemporaryDirectory() as d:
        path = args.model
        if not path.endswith(".pt"):
            from app import models as M

            path = str(M.resolve(path))  # a file, or a shipped model's name
        if path.endswith(".pt"):
            from app.commands import export

            out = str(Path(d) / "ckpt.nnasr")
            ep = argparse.ArgumentParser(prog="nnasr export")
            export.add_arguments(ep)  # export's own defaults, not a copy of them
            ea = ep.parse_args([path, "--out", out] + (["--data", args.data] if args.data else []))
            ea.in_memory = True  # a temporary file: no advice to record a WER in it
            with contextlib.redirect_stdout(sys.stderr):  # stdout may be --json -
                export.run(ea)
            path = out
        try:
            model = load_model(path)
        except ModelFormatError as e:
            raise UserError(str(e)) from None
        lm = lm_options(args, model)
        try:
            r = evaluate_engine(model, records, mode=args.mode, beam=args.beam, chunk_ms=args.chunk_ms,
                                progress=True, channel=channel, auto_gain=auto_gain(args), **lm,
                                **engine_options(args))
        except AudioError as e:  # a bad file in the manifest: one line, not a traceback
            raise UserError(f"{args.manifest}: {' '.join(str(e).split())}") from None
    rc = _report(args, r)
    if args.record:
        from app.models import record_evaluation

        record_evaluation(Path(path), args.record, {
            "wer": round(r.wer, 4), "cer": round(r.cer, 4), "utterances": r.utterances,
            "words": r.ref_words, "manifest": args.manifest, "beam": args.beam,
            "speech_gate": not args.no_vad, "lm": bool(args.lm),
            "command": "nnasr eval " + " ".join(_command_args(args))})
        print(f"recorded in {path}: WER {r.wer:.2%} on {args.record}", file=_text_out(args))
    return rc


def add_channel_argument(p: argparse.ArgumentParser, when: str) -> None:
    """``--channel SPEC`` (eval and compare), its help saying ``when`` the channel acts. The
    channels are trainer.data.audio.CHANNELS, not imported here: every command's arguments
    are built at start-up, without numpy (tests/test_channels.py keeps the list in step)."""
    p.add_argument("--channel", metavar="SPEC",
                   help=f"put every clip through a recording channel {when}: lowpass[:HZ] "
                        "(8-pole, default 4000), hum[:DB] (50 Hz and harmonics, DB below the speech, "
                        "default 15), whine[:DB] (a 3.5 kHz tone), noise[:DB] (pink noise DB below the speech, "
                        "default 20), phone (300-3400 Hz, 8 kHz mu-law), "
                        "gain[:DB] (default -20), tight[:DB] (the audio before the speech cut off: its first frame "
                        "within DB of the loudest, default 30), lead[:S] (S seconds of silence put before "
                        "the clip, default 0.4); several joined by commas are applied in order")


def channel_option(spec: str | None):
    """``--channel``'s function (eval and compare), or None; a bad spec is a one-line error
    listing the channels."""
    if not spec:
        return None
    from app.cli import UserError
    from trainer.data.audio import parse_channel

    try:
        return parse_channel(spec)
    except ValueError as e:
        raise UserError(f"--channel: {e}") from None


def _command_args(args) -> list[str]:
    import shlex

    out = ["--model", args.model, "--manifest", args.manifest]
    if args.beam != 1:
        out += ["--beam", str(args.beam)]
    if args.no_vad:
        out.append("--no-vad")
    if args.lm:
        out += ["--lm", args.lm]
    if args.hotwords:
        out += ["--hotwords", args.hotwords, "--hotword-score", str(args.hotword_score)]
    if args.limit:
        out += ["--limit", str(args.limit)]
    return [shlex.quote(a) for a in out]


def _run_torch(args, records, channel=None) -> int:
    from app.cli import UserError
    from engine.audio import AudioError

    if not args.model.endswith(".pt"):
        raise UserError(f"--mode {args.mode} decodes a training checkpoint (.pt) with torch; an engine "
                        "model runs with --mode float or placed")
    if args.beam != 1 or args.lm or args.hotwords or args.chunk_ms:
        raise UserError(f"--mode {args.mode} is greedy whole-utterance decoding: no --beam, --lm, "
                        "--hotwords or --chunk-ms")
    from app.commands.export import load_training_checkpoint
    from trainer.evaluate import evaluate_torch

    ck, model, proto, _ = load_training_checkpoint(args.model)
    if args.mode == "ctc" and "ctc.weight" not in ck["model"]:
        raise UserError(f"{args.model}: this checkpoint has no CTC head to decode with (compacted "
                        "or trained without one); --mode torch decodes its RNN-T")
    try:
        r = evaluate_torch(model, proto, records, progress=True, ctc=args.mode == "ctc",
                           channel=channel)
    except AudioError as e:
        raise UserError(f"{args.manifest}: {' '.join(str(e).split())}") from None
    return _report(args, r)


def _text_out(args):
    """Where the text summary goes: stderr when the JSON goes to stdout (``--json -``), so
    that stdout is JSON alone."""
    import sys

    return sys.stderr if args.json == "-" else sys.stdout


def _report(args, r) -> int:
    import json
    from pathlib import Path

    out = _text_out(args)

    d = r.to_dict(per_utterance=bool(args.json))
    d.update(model=args.model, manifest=args.manifest, mode=args.mode, beam=args.beam)
    if args.channel:
        d["channel"] = args.channel
    gain_note = ""
    if auto_gain(args):
        gains = [u["gain_db"] for u in r.per_utterance if "gain_db" in u]
        med = float(sorted(gains)[len(gains) // 2]) if gains else 0.0
        d["gain"] = "auto"
        d["auto_gain_db"] = {"median": med, "max": max(gains, default=0.0),
                             "raised": sum(g > 0 for g in gains)}
        gain_note = f", input gain auto (median {med:+.1f} dB, {d['auto_gain_db']['raised']} clips raised)"
    elif args.gain:
        d["gain_db"] = args.gain
        gain_note = f", input gain {args.gain:+g} dB"
    if args.lm:
        d.update(lm=args.lm, lm_weight=args.lm_weight, lm_bonus=args.lm_bonus)
    if args.hotwords:
        d.update(hotwords=args.hotwords, hotword_score=args.hotword_score)
    print(f"WER {r.wer:.2%}  (S {r.substitutions}, D {r.deletions}, I {r.insertions}, N {r.ref_words}), "
          f"CER {r.cer:.2%} "
          f"on {r.utterances} utterances, {r.audio_seconds / 60:.1f} min of audio; RTF {r.rtf:.3f}; "
          + ("torch, whole utterances (no chunks)" if args.mode == "torch" else
             "the encoder's CTC head alone, torch, whole utterances" if args.mode == "ctc" else
             f"host ms/chunk p50 {r.host_ms_p50:.2f} p95 {r.host_ms_p95:.2f}; "
             + (f"modeled NNA ms/chunk p50 {r.modeled_nna_ms_p50:.3f}" if args.mode == "placed" else
                f"modeled cost with every op on the CPU, ms/chunk p50 {r.modeled_nna_ms_p50:.3f}"))
          + f"  [{args.mode}{', channel ' + args.channel if args.channel else ''}"
          + gain_note + "]", file=out)
    ci = _wer_interval(r)
    if ci is not None:
        d["wer_ci"] = list(ci)
        print(f"  WER 95% CI {ci[0]:.1%} to {ci[1]:.1%} (bootstrap over the {r.utterances} "
              f"utterances: how far this set's sampling noise moves the figure)", file=out)
    for name, groups in (("by_voice", r.by_voice), ("by_condition", r.by_condition)):
        if getattr(args, name):
            d[name] = groups()
            width = max(len(v) for v in d[name])
            for v, c in d[name].items():
                print(f"  {v:<{width}}  WER {c['wer']:6.1%}  CER {c['cer']:6.1%}  "
                      f"({c['utterances']} utterances, {c['ref_words']} words)", file=out)
    if args.json:
        s = json.dumps(d, indent=1)
        if args.json == "-":
            print(s)
        else:
            Path(args.json).write_text(s)
    return 0


def _wer_interval(r) -> tuple[float, float] | None:
    """Bootstrap interval of ``r``'s WER over its utterances (app.comparison.wer_interval)."""
    from app.comparison import result_error_counts, wer_interval

    return wer_interval(*result_error_counts(r.per_utterance))

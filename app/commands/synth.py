"""`nnasr synth`: synthesize an offline speech corpus with Debian's TTS voices and the neural
voices (Kokoro, Piper), or import a LibriSpeech-style directory, into JSONL manifests plus a
tokenizer."""

from __future__ import annotations

import argparse
import math
import os


def _positive_float(s: str) -> float:
    v = float(s)
    if not 0 <= v < math.inf:  # nan ran forever
        raise argparse.ArgumentTypeError(f"{s!r}: a number of hours, 0 or more")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = (
        "Output: OUT/{train,dev,test}.jsonl (audio_filepath, text, duration, voice),\n"
        "16 kHz mono WAV under OUT/audio/, OUT/tokenizer.model, OUT/corpus.json.\n"
        "A rerun resumes: finished utterances are kept, never made twice.\n\n"
        "examples:\n"
        "  nnasr synth --voices list                    # the voices and their splits\n"
        "  nnasr synth --hours 10                       # data/corpus: 10 h train, 0.3 h dev and test\n"
        "  nnasr synth --out data/dev-only --hours 0 --dev-hours 0.2 --test-hours 0 --workers 1\n"
        "  nnasr synth --out data/noisy --hours 0 --dev-hours 0 --augment-eval   # a noisy test set\n"
    )
    p.add_argument("--out", default="data/corpus", metavar="DIR",
                   help="output directory (default: data/corpus)")
    p.add_argument("--hours", type=_positive_float, default=10.0, metavar="H",
                   help="hours of training audio (default: 10)")
    p.add_argument("--dev-hours", type=_positive_float, default=0.3, metavar="H",
                   help="hours of dev audio, held-out voices (default: 0.3)")
    p.add_argument("--test-hours", type=_positive_float, default=0.3, metavar="H",
                   help="hours of test audio, held-out voices (default: 0.3)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes (default: all CPUs)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--voices", default=None, metavar="PATTERNS",
                   help="comma-separated voice ids or glob patterns to use, e.g. "
                        "'espeak-ng:*,flite' (default: every installed voice); "
                        "'list' prints the voices and their splits")
    p.add_argument("--no-augment", action="store_true",
                   help="no speed perturbation, reverb or noise (training split)")
    p.add_argument("--augment-eval", action="store_true",
                   help="augment dev/test too (default: they are clean)")
    p.add_argument("--vocab-size", type=int, default=256, metavar="N",
                   help="sentencepiece vocabulary size (default: 256)")
    p.add_argument("--tokenizer-type", choices=("unigram", "bpe"), default="unigram",
                   help="sentencepiece model type (default: unigram)")
    p.add_argument("--max-sentences", type=int, default=None, metavar="N",
                   help="use at most N distinct sentences (default: all)")
    p.add_argument("--short-fraction", type=float, default=0.12, metavar="F",
                   help="share of short utterances: words, numbers, commands (default: 0.12)")
    p.add_argument("--gloss-fraction", type=float, default=0.0, metavar="F",
                   help="train split only: share of WordNet definition clauses, ~110k more "
                        "distinct phrases than the ~34k example sentences (default: 0; "
                        "0.35 for corpora of 20 h and more)")
    p.add_argument("--everyday-fraction", type=float, default=0.6, metavar="F",
                   help="share of everyday text in every split: assistant commands and "
                        "questions, numbers, times, money, names, dictation (~50k distinct "
                        "sentences; default: 0.6, which makes WordNet a minority; 0 gives "
                        "the WordNet-only text of older corpora)")
    p.add_argument("--nonspeech-fraction", type=float, default=0.05, metavar="F",
                   help="share of non-speech clips with an empty transcript in every split: "
                        "silence, noise, mains hum, clicks, music-like tones (default: 0.05)")
    p.add_argument("--words-fraction", type=float, default=0.0, metavar="F",
                   help="share of isolated items in every split: a frequent word said alone, a "
                        "letter said by its name ('b', read 'bee'), or a word or code spelled "
                        "letter by letter ('c a t'); half words, a quarter each letters and "
                        "spellings (default: 0; 1 makes a corpus of them only, e.g. "
                        "--out data/words --hours 2 --words-fraction 1, to train beside "
                        "another with nnasr train --train A/train.jsonl data/words/train.jsonl)")
    p.add_argument("--engine-weights", default=None, metavar="G=W,...",
                   help="training split: change the relative share of voice groups (kokoro, "
                        "kokoro-blend, rhvoice, piper, espeak-ng, mbrola, mbrola-accented, flite, "
                        "pico, festival; 0 leaves a group out), e.g. 'kokoro=0.1,kokoro-blend=0.08' "
                        "to spend less time on Kokoro, the slowest engine (default: the shares in "
                        "trainer/data/voices.py, Kokoro and its blends 40 %%)")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="keep the audio in DIR/audio (OUT/audio links there), so that a later "
                        "run on this machine reuses every clip already made, whatever its "
                        "--out; 'none' keeps the audio inside OUT (default: $NNASR_CACHE/synth, "
                        "else ~/.cache/nnasr/synth)")
    p.add_argument("--min-duration", type=float, default=0.3, metavar="S",
                   help="drop clips shorter than S seconds (default: 0.3)")
    p.add_argument("--max-duration", type=float, default=15.0, metavar="S",
                   help="drop clips longer than S seconds (default: 15)")
    p.add_argument("--from-librispeech", default=None, metavar="DIR",
                   help="instead of synthesizing, import a LibriSpeech-style directory "
                        "(*/*/*.trans.txt + .flac) into manifests in --out")
    p.add_argument("--human", action="store_true",
                   help="instead of synthesizing, build the human dev/test set (real "
                        "recordings from Debian packages, never trained on) into --out "
                        "(default then: data/human), e.g. `nnasr synth --human --out "
                        "data/human && nnasr eval --model baseline-ptq --manifest "
                        "data/human/dev.jsonl`")
    p.add_argument("--check-intelligibility", action="store_true",
                   help="instead of synthesizing, transcribe a sample of every voice's clips "
                        "in --out with a real-speech recognizer (--peer) and report its WER "
                        "per engine and voice (OUT/intelligibility.json), e.g. `nnasr synth "
                        "--out data/corpus --check-intelligibility --per-voice 2`")
    p.add_argument("--peer", default="whisper-tiny", choices=("whisper-tiny", "pocketsphinx"),
                   help="recognizer of the intelligibility check (default: whisper-tiny; "
                        "pip install 'nnasr[peers]')")
    p.add_argument("--per-voice", type=int, default=2, metavar="N",
                   help="intelligibility check: clips per voice (default: 2; at most 300 "
                        "clips per split)")
    p.add_argument("--drop-above", type=float, default=None, metavar="WER",
                   help="intelligibility check: drop checked clips whose WER is above this "
                        "fraction (e.g. 0.5); a later synth run makes others in their place")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _list_voices() -> int:
    from trainer.data.voices import discover_voices

    voices, missing = discover_voices()
    for split in ("train", "dev", "test"):
        vs = [v for v in voices if v.split == split]
        print(f"{split}: {len(vs)} voices")
        for engine in dict.fromkeys(v.engine for v in vs):  # every engine, as found
            names = [v.id.split(":", 1)[1] for v in vs if v.engine == engine]  # as --voices takes them
            if engine == "espeak-ng":
                accents = sorted({n.split("+")[0] for n in names})
                variants = sorted({n.split("+")[1] if "+" in n else "(default)" for n in names})
                print(f"  {engine:<9} {len(names):>3} = accents {', '.join(accents)}")
                print(f"  {'':<13} x variants {', '.join(variants)}")
            elif engine == "kokoro":  # the named voices, and blends of them ("a*0.6+b*0.4")
                plain = [n for n in names if "*" not in n]
                print(f"  {engine:<9} {len(names):>3} = {len(plain)} voices: {', '.join(plain)}")
                if len(plain) < len(names):
                    print(f"  {'':<13} + {len(names) - len(plain)} blends of them, e.g. "
                          f"{next(n for n in names if '*' in n)}")
            else:
                print(f"  {engine:<9} {len(names):>3}   {', '.join(names)}")
    for what, pkg in sorted(missing.items()):
        print(f"missing: {what} (Debian package: {pkg})")
    print("voice ids look like espeak-ng:en-us+f2, mbrola:us1, flite:slt, festival:kal_diphone, "
          "pico:en-US, kokoro:af_sky, rhvoice:slt, piper:joe")
    return 0


def _human(args: argparse.Namespace) -> int:
    from app.cli import UserError
    from trainer.data.human import build_human_set

    defaults = argparse.ArgumentParser()
    add_arguments(defaults)
    given = [f"--{k.replace('_', '-')}" for k, v in vars(defaults.parse_args([])).items()
             if k not in ("out", "human", "workers", "cache", "no_progress") and getattr(args, k) != v]
    if given:  # they were ignored without a word
        raise UserError(f"--human copies Debian's recordings as they are: {', '.join(given)} "
                        f"{'does' if len(given) == 1 else 'do'} not apply")
    out = "data/human" if args.out == "data/corpus" else args.out
    if os.path.exists(os.path.join(out, "corpus.json")):
        raise UserError(f"{out} holds a training corpus; write the human set into another "
                        "directory with --out (e.g. data/human)")
    try:
        s = build_human_set(out)
    except FileNotFoundError as e:
        raise UserError(str(e)) from None
    for name, src in s["sources"].items():
        spk = ", ".join(f"{v.split(':', 1)[1]} ({sp})" for v, sp in src["speakers"].items())
        print(f"  {name:<22} {src['files']:4d} files {src['minutes']:6.2f} min  {spk}")
    print(f"wrote {out}/dev.jsonl (decisions) and {out}/test.jsonl (report only), "
          f"human.json; never train on them")
    print(f"  and per source: {out}/dev.SOURCE.jsonl, test.SOURCE.jsonl, phrases.SOURCE.txt "
          "(its transcripts, a --hotwords list)")
    return 0


def _check_args(args: argparse.Namespace) -> None:
    from app.cli import UserError

    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    if args.vocab_size < 8:
        raise UserError("--vocab-size must be at least 8")
    if not 0.0 <= args.short_fraction <= 1.0:
        raise UserError("--short-fraction must be between 0 and 1")
    if args.gloss_fraction < 0 or args.short_fraction + args.gloss_fraction > 1.0:
        raise UserError("--gloss-fraction must be at least 0, and with --short-fraction "
                        "at most 1")
    if args.everyday_fraction < 0 or (args.short_fraction + args.gloss_fraction
                                      + args.everyday_fraction) > 1.0:
        raise UserError("--everyday-fraction must be at least 0, and with --short-fraction "
                        "and --gloss-fraction at most 1")
    if not 0.0 <= args.words_fraction <= 1.0:
        raise UserError("--words-fraction must be between 0 and 1")
    if not 0.0 <= args.nonspeech_fraction < 1.0:
        raise UserError("--nonspeech-fraction must be at least 0 and below 1")
    if args.min_duration >= args.max_duration:
        raise UserError("--min-duration must be below --max-duration")
    if args.engine_weights is not None:
        args.engine_weights = _engine_weights(args.engine_weights)


def _engine_weights(spec: str) -> dict[str, float]:
    """``kokoro=0.1,rhvoice=0.2`` -> {"kokoro": 0.1, "rhvoice": 0.2}, checked against the
    voice groups of trainer/data/voices.py."""
    from app.cli import UserError
    from trainer.data.voices import ENGINE_WEIGHTS

    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, val = part.partition("=")
        name = name.strip()
        if name not in ENGINE_WEIGHTS:
            raise UserError(f"--engine-weights: unknown voice group {name!r}; groups: "
                            f"{', '.join(ENGINE_WEIGHTS)}")
        try:
            w = float(val)
        except ValueError:  # "", "x"
            w = -1.0
        if not 0 <= w < math.inf:  # negative, nan or inf
            raise UserError(f"--engine-weights: {part!r} needs a weight of 0 or more, "
                            f"e.g. {name}=0.1 (groups are separated by commas)")
        out[name] = w
    if not out:
        raise UserError("--engine-weights: give at least one GROUP=WEIGHT, e.g. kokoro=0.1")
    return out


def _intelligibility(args: argparse.Namespace) -> int:
    from app.cli import UserError
    from app.intelligibility import check, print_report

    if not any(os.path.exists(os.path.join(args.out, f"{s}.jsonl")) for s in ("train", "dev", "test")):
        raise UserError(f"{args.out} has no manifests: make a corpus first (nnasr synth "
                        f"--out {args.out})")
    print_report(check(args.out, args.peer, per_voice=args.per_voice, drop_above=args.drop_above,
                       log=(lambda *a: None) if args.no_progress else print))
    return 0


def _librispeech(args: argparse.Namespace) -> int:
    import json

    from app.cli import UserError
    from trainer.data.librispeech import import_librispeech

    meta = os.path.join(args.out, "corpus.json")
    if os.path.exists(meta):
        try:
            with open(meta, encoding="utf-8") as f:
                src = json.load(f).get("source")
        except (OSError, ValueError):
            src = None
        if src == "synth":
            raise UserError(f"{args.out} holds a synthesized corpus; import into "
                            "another directory with --out")
    try:
        s = import_librispeech(args.from_librispeech, args.out, args.vocab_size,
                               args.tokenizer_type, max_duration=args.max_duration)
    except FileNotFoundError as e:
        raise UserError(str(e)) from None
    print(f"wrote {args.out}/{{train,dev,test}}.jsonl, tokenizer.model, corpus.json "
          f"({s['splits']['train']['hours']:.2f} h train)")
    return 0


def _print_summary(s: dict, out: str) -> None:
    sp = s["splits"]
    print(f"corpus in {out} ({s['last_run_wall_time_s']:.0f} s):")
    for name in ("train", "dev", "test"):
        print(f"  {name:<5} {sp[name]['hours']:7.2f} h  {sp[name]['utterances']:6d} utts  "
              f"{sp[name]['voices_used']} voices  ({sp[name]['made_this_run']} made now, "
              f"{sp[name]['reused']} reused)")  # the voices heard
        eng = sp[name].get("hours_per_engine", {})
        if eng:
            print("        " + ", ".join(f"{k} {v:.2f} h" for k, v in eng.items()))
    d = s["dropped"]
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(d["by_reason"].items())) or "none"
    print(f"  dropped {d['total']} clips ({reasons}); see dropped.jsonl")
    def voices(name: str) -> str:
        if not sp[name]["utterances"]:
            return "(no clips in this split)"
        vs = s["held_out_voices"][name]
        return ", ".join(vs[:8]) + (f", … ({len(vs)} in all: corpus.json)" if len(vs) > 8 else "")

    # held out from training only where the splits' speakers are disjoint
    what = "held out" if s.get("speaker_disjoint", True) else "NOT held out (a voice trains too)"
    print(f"  {what}: dev  {voices('dev')}")
    print(f"  {' ' * len(what)}  test {voices('test')}")
    tok = s["tokenizer"]
    print(f"  tokenizer: {tok['type']}, {tok['vocab_size']} pieces" if tok else "  tokenizer: none (no training split)")


def _cache(arg: str | None) -> str | None:
    from trainer.data.neural_voices import cache_dir

    if arg is None:
        return os.path.join(cache_dir(), "synth")
    return None if arg.strip().lower() == "none" else arg


def run(args: argparse.Namespace) -> int:
    from app.cli import UserError

    if args.voices and args.voices.strip() == "list":
        return _list_voices()
    _check_args(args)
    if args.human:
        return _human(args)
    if args.check_intelligibility:
        return _intelligibility(args)
    if args.from_librispeech:
        return _librispeech(args)

    from trainer.data.synth import CorpusError, SynthConfig, run_synth

    cfg = SynthConfig(
        out=args.out, hours=args.hours, dev_hours=args.dev_hours, test_hours=args.test_hours,
        workers=args.workers, seed=args.seed,
        voices=args.voices.split(",") if args.voices else None,
        augment=not args.no_augment, augment_eval=args.augment_eval,
        vocab_size=args.vocab_size, tokenizer_type=args.tokenizer_type,
        max_sentences=args.max_sentences, short_fraction=args.short_fraction,
        gloss_fraction=args.gloss_fraction, everyday_fraction=args.everyday_fraction,
        nonspeech_fraction=args.nonspeech_fraction, engine_weights=args.engine_weights,
        words_fraction=args.words_fraction, cache=_cache(args.cache),
        min_duration=args.min_duration, max_duration=args.max_duration,
        progress=not args.no_progress,
    )
    try:
        s = run_synth(cfg)
    except CorpusError as e:
        raise UserError(str(e)) from None
    _print_summary(s, args.out)
    return 0

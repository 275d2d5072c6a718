"""`nnasr lm`: build a token n-gram language model for shallow fusion in the decoder."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = (
        "Count an interpolated Kneser-Ney n-gram model over a model's sentencepiece pieces, for\n"
        "shallow fusion in the decoder (`--lm` of eval and transcribe): every non-blank token\n"
        "then scores log P_rnnt + lm_weight * log P_lm + lm_bonus. Text: the synthesized\n"
        "corpus's whole train text pool (never a dev or test sentence; default), your\n"
        "manifests' transcripts, or plain text files (one utterance per line).\n\n"
        "examples:\n"
        "  nnasr lm --model baseline-ptq --out lm.nnasr-lm\n"
        "  nnasr lm --model my.nnasr --no-pool --text domain.txt --manifest train.jsonl --out my.lm\n"
        "  nnasr eval --model baseline-ptq --manifest test.jsonl --beam 4 --lm lm.nnasr-lm\n\n"
        "Measured on the shipped models (docs/decoding.md): no gain on the synthetic test\n"
        "split, whose errors are acoustic; it is for domain text the model never heard.\n"
    )
    p.add_argument("--model", "-m", required=True,
                   help="model whose tokenizer the LM counts in (file or shipped name)")
    p.add_argument("--out", "-o", required=True, help="LM file to write")
    p.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    p.add_argument("--prune", type=int, default=1,
                   help="drop n-grams of order >= 3 seen at most this often (default 1; 0 keeps all)")
    p.add_argument("--text", nargs="*", action="extend", default=[], metavar="FILE",
                   help="plain text files, one utterance per line")
    p.add_argument("--manifest", nargs="*", action="extend", default=[], metavar="JSONL",
                   help="manifests whose 'text' to count")
    p.add_argument("--no-pool", action="store_true",
                   help="leave out the synthesized corpus's train text pool")


def run(args) -> int:
    from pathlib import Path

    from app import models as M
    from app.cli import UserError, why_unreadable
    from trainer.data.manifest import ManifestError, read_manifest
    from trainer.data.text import normalize_text
    from trainer.lm import build_lm_file, pool_texts

    if args.order < 1:
        raise UserError("--order must be >= 1")
    model = M.load(M.resolve(args.model))
    texts: list[str] = []
    sources: dict[str, int] = {}
    if not args.no_pool:
        try:
            pool = pool_texts()
        except FileNotFoundError as e:
            raise UserError(f"{e} (or pass --no-pool with --text/--manifest)") from None
        texts += pool
        sources["train_text_pool"] = len(pool)
    for f in args.text:
        try:
            lines = Path(f).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{f}: cannot read the text file ({why_unreadable(e)})") from None
        got = [t for t in (normalize_text(x) for x in lines) if t]
        texts += got
        sources[f] = len(got)
    for m in args.manifest:
        try:
            got = [t for t in (normalize_text(r["text"]) for r in read_manifest(m)) if t]
        except (OSError, ManifestError) as e:
            raise UserError(str(e)) from None
        texts += got
        sources[m] = len(got)
    if not texts:
        raise UserError("no text: give --text or --manifest, or drop --no-pool")
    print(f"nnasr lm: {len(texts):,} utterances ({', '.join(f'{k}: {v:,}' for k, v in sources.items())})")
    try:
        path = build_lm_file(args.out, texts, model.tokenizer_proto, order=args.order, prune=args.prune,
                             sources=sources, progress=lambda s: print(f"  {s}", flush=True))
    except ValueError as e:  # an order too high for the vocabulary
        raise UserError(f"--order {args.order}: {e}") from None
    print(f"nnasr lm: wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0

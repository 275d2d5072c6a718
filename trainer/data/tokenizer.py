"""The subword tokenizer stored with the data: sentencepiece, trained on the training
text only (never on dev/test text)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from .text import normalize_text


def train_tokenizer(
    texts: Iterable[str],
    out_prefix: str | os.PathLike,
    vocab_size: int = 256,
    model_type: str = "unigram",
) -> dict:
    """Train a sentencepiece model on ``texts`` (normalized with
    :func:`normalize_text`) and write ``OUT_PREFIX.model`` and ``OUT_PREFIX.vocab``.

    The alphabet is the normalized one (a-z, apostrophe, word boundary), so every
    character is covered. When the text is too small for ``vocab_size`` pieces the
    limit is relaxed and the model is smaller: the returned dict says so
    (``vocab_size`` is the size of the model actually written).
    """
    import sentencepiece as spm

    sents = [t for t in (normalize_text(x) for x in texts) if t]
    if not sents:
        raise ValueError("no training text for the tokenizer")
    out_prefix = os.fspath(out_prefix)
    os.makedirs(os.path.dirname(os.path.abspath(out_prefix)), exist_ok=True)
    # sentencepiece writes PREFIX.model/.vocab itself; train to a temp prefix and rename
    tmp_prefix = f"{out_prefix}.tmp{os.getpid()}"
    common = dict(
        model_type=model_type,
        vocab_size=vocab_size,
        character_coverage=1.0,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        split_digits=True,
        max_sentence_length=4096,
        input_sentence_size=2_000_000,
        shuffle_input_sentence=True,
        num_threads=1,
        minloglevel=2,
        # ids fixed for the trainer: 0 = <blk>/<pad>, 1 = <unk>; no bos/eos
        pad_id=0,
        pad_piece="<blk>",
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
    )
    hard = True
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sents), model_prefix=tmp_prefix, **common
        )
    except RuntimeError as e:
        if "Vocabulary size" not in str(e) and "vocab_size" not in str(e):
            raise
        hard = False
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sents), model_prefix=tmp_prefix, hard_vocab_limit=False,
            **common,
        )
    for ext in (".model", ".vocab"):
        os.replace(tmp_prefix + ext, os.fspath(out_prefix) + ext)
    sp = spm.SentencePieceProcessor(model_file=os.fspath(out_prefix) + ".model")
    return {
        "path": os.fspath(out_prefix) + ".model",
        "type": model_type,
        "vocab_size": sp.get_piece_size(),
        "requested_vocab_size": vocab_size,
        "hard_vocab_limit": hard,
        "sentences": len(sents),
        "blank_id": 0,
        "unk_id": 1,
    }


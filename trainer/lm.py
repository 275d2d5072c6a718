"""Build the decoder's token n-gram language model (:mod:`engine.lm`) from text.

Interpolated Kneser-Ney (Chen & Goodman 1998, one discount per order,
``D = n1 / (n1 + 2 n2)``) over sentencepiece pieces, counted with numpy: every n-gram is
one base-(V+1) integer, so counting is ``numpy.unique``. Lower orders use continuation
counts (how many distinct tokens precede the n-gram), except n-grams that start at the
sentence start, which keep their raw counts. ``prune`` drops n-grams of order 3 and up
seen at most that many times; each context's back-off weight is then ``1 - sum`` of its
kept discounted probabilities, so every distribution still sums to one (a context with
nothing kept is not stored: it backs off entirely).

Text sources: the synthesized corpus's *train* text pool (every training sentence,
everyday text, gloss clause and short utterance: far more text than is ever synthesized, and never a
dev or test sentence), manifests (their ``text``) and plain text files (one utterance per
line, normalized as the corpus is).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from engine.lm import save_lm


def pool_texts() -> list[str]:
    """Every train-split text of the synthesized corpus's text pool."""
    from trainer.data.sentences import build_text_pools, train_texts

    return train_texts(build_text_pools())


def _encode_all(texts: Iterable[str], sp, eos: int) -> tuple[np.ndarray, np.ndarray]:
    """All texts as one token stream ``[eos, t1..tm, eos, eos, u1.., eos, ...]`` and, per
    position, the index of its sentence's start symbol."""
    seqs = sp.encode(list(texts))
    lens = np.fromiter((len(s) + 2 for s in seqs), np.int64, count=len(seqs))
    stream = np.full(int(lens.sum()), eos, np.int64)
    starts = np.repeat(np.cumsum(lens) - lens, lens)
    flat = np.fromiter((t for s in seqs for t in s), np.int64)
    # token positions: every position that is neither a sentence's first nor its last
    pos = np.arange(len(stream))
    inner = (pos != starts) & (pos != starts + np.repeat(lens, lens) - 1)
    stream[inner] = flat
    return stream, starts


def build_ngram(texts: Iterable[str], sp, order: int = 5, prune: int = 1,
                progress=None) -> dict:
    """Count and smooth; returns the arrays :func:`engine.lm.save_lm` takes."""
    if order < 1:
        raise ValueError("order must be >= 1")
    V = sp.get_piece_size()
    eos = V
    base = V + 1
    if base ** (order - 1) * base >= 2**63:
        raise ValueError(f"order {order} too high for a vocabulary of {V}")
    stream, starts = _encode_all(texts, sp, eos)
    pos = np.arange(len(stream))
    # raw counts of every order, keyed by the base-(V+1) integer of the n-gram
    raw: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    key = np.zeros(len(stream), np.int64)
    for n in range(1, order + 1):
        # key[j] = n-gram ending at j (built incrementally: previous key * base + token)
        if n == 1:
            key = stream.copy()
        else:
            key = np.concatenate([[0], key[:-1]]) * base + stream
        valid = (pos - (n - 1) >= starts) & (pos != starts)  # inside one sentence, predicts a token
        k, c = np.unique(key[valid], return_counts=True)
        raw[n] = (k, c)
        if progress:
            progress(f"order {n}: {len(k):,} distinct n-grams")
    # adjusted counts: continuation counts below the top order (raw for sentence-initial)
    adj: dict[int, tuple[np.ndarray, np.ndarray]] = {order: raw[order]}
    for n in range(order - 1, 0, -1):
        k, c = raw[n]
        hi_keys = raw[n + 1][0]
        suffix = hi_keys % (base**n)
        sk, sc = np.unique(suffix, return_counts=True)  # distinct left extensions
        idx = np.searchsorted(sk, k)
        idx = np.minimum(idx, len(sk) - 1)
        cont = np.where(sk[idx] == k, sc[idx], 0)
        first = k // (base ** (n - 1))  # the n-gram's first token
        initial = (first == eos) & (n >= 2)  # a sentence-initial context, never a predicted </s>
        adj[n] = (k, np.where(initial | (cont == 0), c, cont).astype(np.int64))
    # unigram with a uniform floor
    k1, a1 = adj[1]
    d1 = _discount(a1)
    total = a1.sum()
    uni = np.zeros(base, np.float64)
    uni[k1] = np.maximum(a1 - d1, 0) / total
    uni += (d1 * len(k1) / total) / base
    levels = []
    for n in range(2, order + 1):
        k, a = adj[n]
        d = _discount(a)
        ctx = k // base
        tok = (k % base).astype(np.int64)
        uctx, first_idx, n_tok = np.unique(ctx, return_index=True, return_counts=True)
        a_ctx = np.add.reduceat(a, first_idx)
        disc = np.maximum(a - d, 0) / np.repeat(a_ctx, n_tok)
        keep = np.ones(len(k), bool) if (n < 3 or prune <= 0) else a > prune
        kept_mass = np.add.reduceat(np.where(keep, disc, 0.0), first_idx)
        backoff = np.clip(1.0 - kept_mass, 0.0, 1.0)
        kept_per_ctx = np.add.reduceat(keep.astype(np.int64), first_idx)
        has = kept_per_ctx > 0  # a context with nothing kept backs off entirely: not stored
        offsets = np.concatenate([[0], np.cumsum(kept_per_ctx[has])])
        levels.append({"keys": uctx[has], "backoff": backoff[has], "offsets": offsets,
                       "tokens": tok[keep], "probs": disc[keep]})
        if progress:
            progress(f"order {n}: {int(has.sum()):,} contexts, {int(keep.sum()):,} n-grams kept, D={d:.3f}")
    return {"order": order, "vocab_size": V, "unigram": uni, "levels": levels,
            "tokens": int(len(stream))}


def _discount(counts: np.ndarray) -> float:
    n1 = int(np.count_nonzero(counts == 1))
    n2 = int(np.count_nonzero(counts == 2))
    if n1 == 0:
        return 0.5
    return float(min(max(n1 / (n1 + 2 * n2), 0.1), 0.95))


def build_lm_file(out: str | Path, texts: list[str], tokenizer_proto: bytes, *, order: int = 5,
                  prune: int = 1, sources: dict | None = None, progress=None) -> Path:
    """Build from ``texts`` (already normalized) and write ``out``."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(tokenizer_proto)
    t0 = time.time()
    lm = build_ngram(texts, sp, order=order, prune=prune, progress=progress)
    facts = {"texts": len(texts), "tokens": lm["tokens"], "order": order, "prune": prune,
             "sources": sources or {}, "build_seconds": round(time.time() - t0, 1)}
    return save_lm(out, order=order, vocab_size=lm["vocab_size"], tokenizer_proto=tokenizer_proto,
                   unigram=lm["unigram"], levels=lm["levels"], facts=facts)

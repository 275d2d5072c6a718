"""Token n-gram language model for shallow fusion in the decoder (numpy only).

The RNN-T's predictor is a language model trained only on the texts that were spoken in
the training audio. A language model counted on far more text (every training sentence
of the text pool, not only the synthesized ones; or a user's own domain text) is cheap
to add at decoding time: every non-blank token ``k`` scores

    log P_rnnt(k | audio, history) + lm_weight * log P_lm(k | last n-1 tokens) + lm_bonus

("shallow fusion"; ``lm_bonus`` per emitted token offsets the LM's pull towards short
outputs). The LM runs on the host CPU, after the NNA's joiner, so it changes no modeled
NNA cost; its host cost is measured with the rest of the chunk.

The model is interpolated Kneser-Ney over the tokenizer's pieces (one absolute discount
per order), with a sentence-boundary symbol ``</s>`` = ``vocab_size`` (also used as the
start-of-sentence context). It is stored in a safetensors file (no pickle) as, per order
n: the sorted context keys (the n-1 context tokens as one base-(V+1) integer), each
context's back-off weight and the offsets of its discounted next-token probabilities.
``trainer.lm`` builds it; :class:`NgramLM` loads it and gives the whole next-token
distribution of a context with n lookups (``numpy.searchsorted``), cached per context.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .model import write_safetensors

LM_FORMAT = "nnasr-ngram/1"
METADATA_KEY = "nnasr_lm"
LM_WEIGHT = 0.3  # default fusion weight and per-token bonus (docs/decoding.md)
LM_BONUS = 0.5


def tokenizer_digest(tokenizer_proto: bytes) -> str:
    """Short fingerprint of a tokenizer, stored in the LM to catch a mismatched model."""
    return hashlib.sha1(tokenizer_proto).hexdigest()[:16]


def context_key(ctx, base: int) -> int:
    """The base-``base`` integer of a token tuple (oldest token most significant)."""
    k = 0
    for t in ctx:
        k = k * base + int(t)
    return k


def save_lm(path: str | os.PathLike, *, order: int, vocab_size: int, tokenizer_proto: bytes,
            unigram: np.ndarray, levels: list[dict[str, np.ndarray]], facts: dict | None = None) -> Path:
    """Write an LM file atomically. ``levels[i]`` is order i+2: keys, backoff, offsets,
    tokens, probs (see the module docstring)."""
    tensors = {"unigram": np.asarray(unigram, np.float32)}
    for i, lv in enumerate(levels):
        n = i + 2
        tensors[f"o{n}.keys"] = np.asarray(lv["keys"], np.int64)
        tensors[f"o{n}.backoff"] = np.asarray(lv["backoff"], np.float32)
        tensors[f"o{n}.offsets"] = np.asarray(lv["offsets"], np.int64)
        tensors[f"o{n}.tokens"] = np.asarray(lv["tokens"], np.int16 if vocab_size < 32767 else np.int32)
        tensors[f"o{n}.probs"] = np.asarray(lv["probs"], np.float32)
    meta = {"format": LM_FORMAT, "order": int(order), "vocab_size": int(vocab_size),
            "tokenizer": tokenizer_digest(tokenizer_proto), "facts": facts or {}}
    return write_safetensors(path, tensors, {METADATA_KEY: json.dumps(meta)})


class NgramLM:
    """A loaded token n-gram LM. ``logprobs(history)`` -> float32 [vocab_size + 1] natural
    log probabilities of the next piece (index = sentencepiece id; the last is ``</s>``),
    given the pieces so far (sentencepiece ids, oldest first)."""

    def __init__(self, path: str | os.PathLike, cache_size: int = 20000) -> None:
        from safetensors import safe_open
        from safetensors.numpy import load_file

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such language model file")
        try:
            with safe_open(str(path), framework="np") as f:
                meta = json.loads((f.metadata() or {}).get(METADATA_KEY, "null"))
        except Exception as e:  # not a safetensors file at all
            raise ValueError(f"{path}: not an nnasr language model file ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != LM_FORMAT:
            raise ValueError(f"{path}: not an nnasr language model file (build one with `nnasr lm`)")
        t = load_file(str(path))
        self.path = path
        self.order = int(meta["order"])
        self.vocab_size = int(meta["vocab_size"])
        self.tokenizer = str(meta["tokenizer"])
        self.facts = dict(meta.get("facts") or {})
        self.eos = self.vocab_size
        self.base = self.vocab_size + 1
        self._uni = t["unigram"].astype(np.float32)
        self._levels = []
        for n in range(2, self.order + 1):
            self._levels.append((t[f"o{n}.keys"], t[f"o{n}.backoff"], t[f"o{n}.offsets"],
                                 t[f"o{n}.tokens"], t[f"o{n}.probs"]))
        self._cache: dict[tuple, np.ndarray] = {}
        self._cache_size = cache_size

    def check_tokenizer(self, tokenizer_proto: bytes, what: str = "the model") -> None:
        """Raise ValueError when the LM was built for another tokenizer than ``what``'s."""
        if tokenizer_digest(tokenizer_proto) != self.tokenizer:
            raise ValueError(f"{self.path}: built for another tokenizer than {what}'s; "
                             f"rebuild it with `nnasr lm --model ...` for that model")

    def probs(self, history) -> np.ndarray:
        """Next-piece probabilities (float32 [V+1]) after ``history`` (read-only array)."""
        ctx = (self.eos,) + tuple(history)
        ctx = ctx[len(ctx) - min(len(ctx), self.order - 1):]
        p = self._cache.get(ctx)
        if p is not None:
            return p
        p = self._uni.copy()
        for n, (keys, backoff, offsets, tokens, probs) in enumerate(self._levels, start=2):
            if len(ctx) < n - 1:
                break
            key = context_key(ctx[len(ctx) - (n - 1):], self.base)
            i = int(np.searchsorted(keys, key))
            if i >= len(keys) or keys[i] != key:
                continue  # unseen or pruned: backs off entirely (a longer one may be stored)
            a, b = offsets[i], offsets[i + 1]
            p *= backoff[i]
            p[tokens[a:b]] += probs[a:b]
        p.flags.writeable = False
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[ctx] = p
        return p

    def logprobs(self, history) -> np.ndarray:
        """Natural-log next-piece probabilities (float32 [V+1])."""
        ctx = ("log",) + tuple(history[-(self.order - 1):] if self.order > 1 else ())
        lp = self._cache.get(ctx)
        if lp is None:
            lp = np.log(np.maximum(self.probs(history), 1e-30))
            lp.flags.writeable = False
            self._cache[ctx] = lp
        return lp

    def sentence_logprob(self, ids) -> float:
        """Natural-log probability of a whole piece sequence, ``</s>`` included."""
        ids = [int(i) for i in ids]
        total = 0.0
        for j, t in enumerate(ids + [self.eos]):
            total += float(self.logprobs(ids[:j])[t])
        return total

    def describe(self) -> dict:
        return {"path": str(self.path), "order": self.order, "vocab_size": self.vocab_size,
                "ngrams": int(sum(len(lv[3]) for lv in self._levels) + len(self._uni)),
                **self.facts}

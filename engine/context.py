"""Contextual biasing ("hotwords"): phrases the search is tempted towards (numpy only).

A voice app often knows what people will say: a game's commands, a device's names, a
contact list. The model need not be retrained for them: the search adds a bonus to the
tokens that spell one of the phrases, as sherpa-onnx and icefall do it (an Aho-Corasick
automaton over the phrases' token sequences; Wei Kang, "hotwords" in icefall, 2023):

* A hypothesis carries a state, the node of the phrase trie for the longest phrase prefix
  its last tokens spell (the root when none).
* A token that extends the match earns its phrase's ``score``. The bonus is provisional:
  a token that breaks the match falls back along the failure links to the longest suffix
  that still is a phrase prefix, and gives back what the abandoned prefix earned beyond
  that suffix. A hypothesis that ends in the middle of a phrase gives it back too
  (:meth:`ContextGraph.end_score`, when a beam's finished hypotheses are ranked).
* A token that completes a phrase makes its bonus final (the "output" score; phrases that
  end as a suffix of the match count too): what the match earned up to there is never
  given back. Unlike icefall's graph, the completed phrase's bonus is not counted twice
  while the match stays on its last node (its provisional part is the bonus since the last
  completed phrase on the match, not since the root); measured against it in
  docs/decoding.md, "Hotwords".

So a phrase said in full gains ``len(tokens) * score``, one started and abandoned gains
nothing, and the search is only tempted, never forced: the acoustic evidence still has to
carry the phrase's tokens into the beam. The bonus runs on the host after the NNA's joiner,
like the n-gram LM (:mod:`engine.lm`): it changes no modeled NNA cost.

The automaton is used as a DFA: each state's transitions on every token and their score
changes are one vector each (``row = row(fail) with the state's children``), made the first
time a hypothesis reaches the state and kept.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

HOTWORD_SCORE = 1.5  # default bonus per token of a phrase (docs/decoding.md)

_SCORE_SUFFIX = re.compile(r"\s:\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*$")
_ANY_SUFFIX = re.compile(r"\s:\s*(\S*)\s*$")  # what a score's place holds, number or not


def read_hotwords(path: str | os.PathLike) -> list[tuple[str, float | None]]:
    """The phrases of a hotwords file: one per line, optionally ending in `` :SCORE`` (its
    own bonus per token, sherpa-onnx's format); blank lines and lines starting with ``#``
    are skipped. Returns ``(text, score or None)`` in file order; a line whose `` :SCORE`` is
    not a number is a ValueError naming it."""
    out = []
    for n, line in enumerate(Path(path).expanduser().read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SCORE_SUFFIX.search(line)
        score = None
        if m:
            score = float(m.group(1))
            line = line[: m.start()].strip()
        elif bad := _ANY_SUFFIX.search(line):  # a mistyped score would become part of the phrase
            raise ValueError(f"{path}:{n}: ' :{bad.group(1)}' is not a score (a number, e.g. "
                             f"'{line[: bad.start()].strip()} :2.5')")
        if line:
            out.append((line, score))
    return out


class ContextGraph:
    """An Aho-Corasick automaton over token sequences, each with a bonus per token.

    ``phrases``: token id sequences (ids in ``[0, vocab)``); ``scores``: one bonus per
    token for all, or one per phrase (negative: a phrase the search should avoid). A phrase
    completed gains its own ``len(tokens) * score``; on the way, a prefix shared by phrases
    of different scores earns the largest of them per token (provisionally). A phrase given
    twice counts once, at its larger bonus. State 0 is the root.
    """

    def __init__(self, phrases: Iterable[Sequence[int]], scores: float | Sequence[float], vocab: int,
                 texts: Sequence[str] | None = None) -> None:
        phrases = [list(map(int, p)) for p in phrases]
        if isinstance(scores, numbers.Real):
            scores = [float(scores)] * len(phrases)
        scores = [float(s) for s in scores]
        if len(scores) != len(phrases):
            raise ValueError(f"{len(phrases)} phrases but {len(scores)} scores")
        if not all(math.isfinite(s) for s in scores):
            raise ValueError("hotword scores must be finite numbers")
        self.vocab = int(vocab)
        children: list[dict[int, int]] = [{}]
        token_score = [0.0]
        parent = [0]
        is_end = [False]
        bonus = {}  # end node -> the bonus its phrase gains when completed
        self.phrase_at: dict[int, int] = {}  # end node -> the (first) phrase index ending there
        self.phrases = phrases
        # the phrases' names (from_texts: their text; else their token ids)
        self.texts = list(texts) if texts is not None else [" ".join(map(str, p)) for p in phrases]
        for k, (p, s) in enumerate(zip(phrases, scores)):
            if not p:
                continue
            if min(p) < 0 or max(p) >= self.vocab:
                raise ValueError(f"token id out of range [0, {self.vocab}): {p}")
            node = 0
            for tok in p:
                nxt = children[node].get(tok)
                if nxt is None:
                    nxt = len(children)
                    children[node][tok] = nxt
                    children.append({})
                    token_score.append(s)
                    parent.append(node)
                    is_end.append(False)
                else:
                    token_score[nxt] = max(token_score[nxt], s)
                node = nxt
            is_end[node] = True
            bonus[node] = max(bonus.get(node, -math.inf), s * len(p))
            self.phrase_at.setdefault(node, k)
        n = len(children)
        self.num_phrases = sum(is_end)
        self.children = children
        self.is_end = np.array(is_end)
        # node score: what the match so far has earned (provisional); BFS order makes every
        # parent's and failure target's values ready before the node's own
        node_score = np.zeros(n)
        output_score = np.zeros(n)
        fail = np.zeros(n, np.int64)
        order = []
        queue = deque(children[0].values())
        while queue:
            node = queue.popleft()
            order.append(node)
            queue.extend(children[node].values())
        for node in order:
            node_score[node] = node_score[parent[node]] + token_score[node]
        for node in order:
            for tok, child in children[node].items():
                if node == 0:
                    fail[child] = 0
                    continue
                f = fail[node]
                while tok not in children[f] and f != 0:
                    f = fail[f]
                fail[child] = children[f].get(tok, 0)
        # provisional: what the match has earned since the last phrase it completed
        locked = np.zeros(n)
        for node in order:
            # completing a phrase pays its whole bonus for good, for every phrase that ends here
            own = bonus[node] if is_end[node] else 0.0
            output_score[node] = own + output_score[fail[node]]
            locked[node] = node_score[node] if is_end[node] else locked[parent[node]]
        # the next phrase end along the failure links (-1: none): the shorter phrases a match
        # also completes
        dict_link = np.full(n, -1, np.int64)
        for node in order:
            f = int(fail[node])
            dict_link[node] = f if is_end[f] and f != 0 else dict_link[f]
        self.dict_link = dict_link
        self.node_score = node_score
        self.provisional = node_score - locked
        self.output_score = output_score
        self.fail = fail
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._next: dict[int, np.ndarray] = {}

    @property
    def num_states(self) -> int:
        return len(self.children)

    def _next_states(self, state: int) -> np.ndarray:
        row = self._next.get(state)
        if row is None:
            row = np.zeros(self.vocab, np.int64) if state == 0 else self._next_states(int(self.fail[state])).copy()
            for tok, child in self.children[state].items():
                row[tok] = child
            self._next[state] = row
        return row

    def transitions(self, state: int) -> tuple[np.ndarray, np.ndarray]:
        """``(next_state, score_change)`` for every token from ``state``, two ``[vocab]``
        vectors (kept: the arrays must not be modified)."""
        got = self._rows.get(state)
        if got is None:
            nxt = self._next_states(state)
            delta = self.provisional[nxt] - self.provisional[state] + self.output_score[nxt]
            got = (nxt, delta)
            self._rows[state] = got
        return got

    def step(self, state: int, token: int) -> tuple[int, float]:
        """The state after ``token`` and the score it changes by."""
        nxt, delta = self.transitions(state)
        return int(nxt[token]), float(delta[token])

    def walk(self, tokens: Iterable[int], state: int = 0) -> tuple[int, float]:
        """The state after ``tokens`` from ``state`` and the score they changed it by."""
        total = 0.0
        for t in tokens:
            state, d = self.step(state, int(t))
            total += d
        return state, total

    def matches(self, tokens: Sequence[int]) -> list[tuple[int, int, int]]:
        """Every phrase occurrence in ``tokens``: ``(phrase index, first token, last token + 1)``,
        in the order they end (a longer phrase before the shorter ones it ends with)."""
        out = []
        state = 0
        for i, t in enumerate(tokens):
            state = int(self._next_states(state)[int(t)])
            node = state if self.is_end[state] else int(self.dict_link[state])
            while node > 0:
                k = self.phrase_at[node]
                out.append((k, i + 1 - len(self.phrases[k]), i + 1))
                node = int(self.dict_link[node])
        return out

    def end_score(self, state: int) -> float:
        """What a hypothesis that ends in ``state`` gives back: the unfinished match's
        provisional bonus."""
        return -float(self.provisional[state])

    @classmethod
    def from_texts(cls, phrases: Sequence[tuple[str, float | None]] | Sequence[str], sp,
                   score: float = HOTWORD_SCORE) -> ContextGraph:
        """The graph of text phrases (``str`` or ``(str, score or None)``) in a sentencepiece
        tokenizer's pieces, as the model's transcripts write them. A phrase with a piece the
        tokenizer does not know is a ValueError naming it."""
        unk = sp.unk_id()
        seqs, scores, texts = [], [], []
        for item in [phrases] if isinstance(phrases, str) else phrases:  # one phrase, not its letters
            if isinstance(item, str):
                text, s = item, None
            elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
                text, s = item
            else:
                raise ValueError(f"hotword {item!r}: a phrase (str), or (phrase, score)")
            ids = sp.encode(text.strip())
            if not ids:
                continue
            if unk in ids:
                bad = [c for c in dict.fromkeys(text) if not c.isspace() and unk in sp.encode(c)]
                raise ValueError(f"hotword {text!r} has characters the model's tokenizer does not know "
                                 f"({', '.join(map(repr, bad))}): write it as the model's transcripts are "
                                 "written (lower case, numbers in words, no punctuation)")
            seqs.append(ids)
            scores.append(score if s is None else s)
            texts.append(" ".join(text.split()))
        if not seqs:
            raise ValueError("no hotwords: the list is empty")
        return cls(seqs, scores, sp.get_piece_size(), texts)

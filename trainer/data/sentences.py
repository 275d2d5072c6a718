"""The text side of the corpus: real English sentences from text that Debian ships,
plus short utterances (single words, numbers, short commands), normalized,
deduplicated and split into train/dev/test *by text*.

Sources, in order of use:

* WordNet's example sentences: the double-quoted examples inside the glosses of
  ``/usr/share/wordnet/data.{noun,verb,adj,adv}`` (Debian ``wordnet-base``), about
  45 000 distinct everyday sentences and phrases written by lexicographers.
* WordNet's glosses (definitions), cut at ``;`` into clauses of 4 or more words, with
  their examples and parentheses removed: about 100 000 more distinct phrases with a
  far larger vocabulary, for the *train* split only (``TextPools.gloss``; dev and test
  stay everyday example sentences). ``nnasr synth --gloss-fraction F`` mixes them in.
* Fortune cookies, if Debian ``fortunes``/``fortunes-min`` is installed (one-line
  English fortunes only).
* Short utterances: the most frequent single words of WordNet's sense-tagged
  ``cntlist.rev``, numbers (cardinals, years, digit strings), and 2-3 word commands.
* Isolated words and spelling (``TextPools.words``, every split): wordfreq's most frequent
  words alone (WordNet's common words where PyPI ``wordfreq`` is not installed), and
  letters spelled one by one: common short words ("c a t") and letter codes ("j k").
  ``nnasr synth --words-fraction F`` draws that share of the utterances from them, and
  single letters (a closed set, the same in every split) among them.
* Everyday text (``TextPools.everyday``, every split): what people say to a voice
  assistant and dictate, from the project's own templates and vocabularies
  (:mod:`trainer.data.everyday`): about 50 000 distinct commands, questions, numbers,
  times, dates, money, names, places and dictation-like sentences. ``nnasr synth
  --everyday-fraction F`` draws that share of the utterances from them.

The split of a text is a hash of its normalized form, so it never depends on which
sources are installed or on the random seed: a test sentence is never a training
sentence, in this run or any later one.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import random
import re
import string
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from .everyday import everyday_texts, top_english_words
from .text import is_speakable, normalize_text

WORDNET_DIRS = ("/usr/share/wordnet", "/usr/share/wordnet/dict", "/usr/lib/wordnet")
FORTUNE_DIRS = ("/usr/share/games/fortunes", "/usr/share/fortune", "/usr/share/fortunes")
SPLITS = ("train", "dev", "test")

# Per-mille buckets of the text hash: dev and test each get 2 % of the distinct texts
# (about 900 sentences each from WordNet), train the rest.
DEV_PER_MILLE = 20
TEST_PER_MILLE = 20


def split_of(text: str) -> str:
    """The split a normalized text belongs to: stable, seed-independent."""
    h = int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:4], "big") % 1000
    if h < DEV_PER_MILLE:
        return "dev"
    if h < DEV_PER_MILLE + TEST_PER_MILLE:
        return "test"
    return "train"


def find_wordnet_dir() -> str | None:
    env = os.environ.get("WNSEARCHDIR")
    for d in ((env,) if env else ()) + WORDNET_DIRS:
        if d and os.path.exists(os.path.join(d, "data.noun")):
            return d
    return None


_QUOTED = re.compile(r'"([^"]{2,400})"')


def _glosses(wn_dir: str) -> Iterator[str]:
    """The gloss part ('definition; "example"; ...') of every synset line of WordNet's
    ``data.{noun,verb,adj,adv}``."""
    for pos in ("noun", "verb", "adj", "adv"):
        path = os.path.join(wn_dir, f"data.{pos}")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # license header
                    continue
                _, bar, gloss = line.partition("| ")
                if bar:
                    yield gloss


def wordnet_examples(wn_dir: str) -> list[str]:
    """The quoted example sentences of WordNet's glosses (raw, not normalized)."""
    out: list[str] = []
    for gloss in _glosses(wn_dir):
        for m in _QUOTED.finditer(gloss):
            ex = m.group(1).strip()
            # "...; -- Shakespeare" style attributions and ellipses are fine
            # after normalization; drop examples with a blank to fill in.
            if "___" in ex or "<" in ex:
                continue
            out.append(ex)
    return out


_PARENS = re.compile(r"\([^()]*\)")


def wordnet_glosses(wn_dir: str) -> list[str]:
    """WordNet's definitions, without their quoted examples and parenthetical remarks,
    cut at semicolons into clauses (raw, not normalized)."""
    out: list[str] = []
    for gloss in _glosses(wn_dir):
        gloss = _PARENS.sub(" ", _QUOTED.sub(" ", gloss))
        for clause in gloss.split(";"):
            clause = clause.strip(" \t\n:,-")
            if clause.count(" ") >= 3 and '"' not in clause and "`" not in clause:
                out.append(clause)
    return out


def wordnet_common_words(wn_dir: str, limit: int = 3000) -> list[str]:
    """The most frequent single-word lemmas by WordNet's sense-tagged counts
    (``cntlist.rev``: ``lemma%sense_key sense_number tag_count``)."""
    path = os.path.join(wn_dir, "cntlist.rev")
    if not os.path.exists(path):
        return []
    counts: Counter[str] = Counter()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            lemma = parts[0].split("%", 1)[0]
            if not lemma.isalpha() or len(lemma) < 2:
                continue
            try:
                counts[lemma.lower()] += int(parts[2])
            except ValueError:
                continue
    return [w for w, _ in counts.most_common(limit)]


def fortune_lines(dirs: tuple[str, ...] = FORTUNE_DIRS, max_chars: int = 160) -> list[str]:
    """One-line English fortunes (no offensive ones: those live in off/)."""
    out: list[str] = []
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*"))):
            if path.endswith(".dat") or os.path.isdir(path) or os.path.islink(path):
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    data = f.read()
            except OSError:
                continue
            for cookie in data.split("\n%\n"):
                cookie = cookie.strip()
                if not cookie or "\n" in cookie or len(cookie) > max_chars:
                    continue
                if "--" in cookie:  # attribution
                    cookie = cookie.split("--", 1)[0]
                out.append(cookie)
    return out


# Short utterances: what people say to a device. Written out by hand; numbers below.
_COMMAND_VERBS = [
    "turn on", "turn off", "open", "close", "play", "stop", "pause", "start", "cancel",
    "call", "show", "find", "check", "set", "lock", "unlock", "mute", "unmute", "skip",
    "repeat", "read", "save", "delete", "send", "dim", "raise", "lower",
]
_COMMAND_OBJECTS = [
    "the lights", "the music", "the door", "the alarm", "the timer", "the radio",
    "the window", "the heating", "the fan", "the news", "the weather", "my messages",
    "the volume", "the camera", "the oven", "the kettle", "the video", "the song",
    "the next track", "my calendar", "the garage", "the blinds", "the television",
    "mom", "home", "the office", "the recording",
]
_PHRASES = [
    "yes", "no", "okay", "hello", "hi there", "goodbye", "thank you", "thanks", "please",
    "sorry", "excuse me", "good morning", "good night", "good evening", "see you later",
    "what time is it", "how are you", "never mind", "go back", "go ahead", "help me",
    "louder", "quieter", "next", "previous", "faster", "slower", "again", "wait",
    "start over", "sounds good", "not now", "maybe later", "of course", "i don't know",
    "what's up", "tell me a joke", "what's the weather like", "wake me up at seven",
    "set a timer for five minutes", "remind me tomorrow", "call me back", "where am i",
    "turn it up", "turn it down", "that's right", "that's wrong", "all done",
]
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_MONTHS = (
    "january february march april may june july august september october november december"
).split()
_COLORS = "red green blue yellow orange purple black white brown pink gray".split()


def number_utterances() -> list[str]:
    """Numbers as digits (normalized to words later): 0..120, round numbers, years,
    prices, percentages, times and digit strings."""
    raw = [str(n) for n in range(121)]
    raw += [str(n) for n in range(150, 1001, 50)]
    raw += [str(n) for n in (1500, 2000, 2500, 5000, 10000, 20000, 50000, 100000, 1000000)]
    raw += [str(y) for y in range(1950, 2031)]
    raw += [f"${n}" for n in (1, 2, 5, 10, 20, 50, 99, 100)]
    raw += [f"{n}%" for n in (5, 10, 20, 25, 50, 75, 90, 100)]
    raw += [f"{h}:{m:02d}" for h in range(1, 13) for m in (0, 15, 30, 45)]
    raw += [f"{n}th" for n in range(4, 32)] + ["1st", "2nd", "3rd", "21st", "22nd", "23rd"]
    # digit strings, read digit by digit ("four one five")
    digits = "0123456789"
    raw += [" ".join(digits[(i * 7 + k * 3) % 10] for k in range(3 + i % 2)) for i in range(40)]
    return raw


def short_utterances(common_words: list[str]) -> list[str]:
    raw: list[str] = []
    raw += common_words
    raw += _PHRASES + _WEEKDAYS + _MONTHS + _COLORS
    raw += [f"{v} {o}" for v in _COMMAND_VERBS for o in _COMMAND_OBJECTS]
    raw += number_utterances()
    return raw


LONG_SOURCE = "wordnet_examples_fortunes"


def source_shares(pools: TextPools, split: str, texts: list[str]) -> dict[str, float]:
    """The share of ``texts`` (a split's manifest texts) from each pool: ``everyday``,
    ``short``, ``gloss``, ``words`` (said alone; a word that is also a short utterance
    counts as ``short``), ``spelled``, ``letters`` and the WordNet example and fortune sentences (``LONG_SOURCE``)."""
    sets = {"everyday": set(pools.everyday.get(split, [])), "short": set(pools.short.get(split, [])),
            "gloss": set(pools.gloss) if split == "train" else set(),
            "words": set(pools.words.get(split, [])), "spelled": set(pools.spelled.get(split, []))}
    c: Counter[str] = Counter()
    for t in texts:
        if len(t) == 1:  # a letter said by its name (``words_fraction``)
            c["letters"] += 1
            continue
        c[next((k for k, st in sets.items() if t in st), LONG_SOURCE)] += 1
    return {k: round(v / len(texts), 4) for k, v in sorted(c.items())} if texts else {}


def train_texts(pools: TextPools) -> list[str]:
    """Every text the training split can draw from."""
    return (list(pools.long.get("train", [])) + list(pools.short.get("train", []))
            + list(pools.everyday.get("train", [])) + list(pools.gloss))


@dataclass
class TextPools:
    """Normalized, deduplicated texts per split, in a stable order."""

    long: dict[str, list[str]] = field(default_factory=dict)
    short: dict[str, list[str]] = field(default_factory=dict)
    gloss: list[str] = field(default_factory=list)  # train only
    everyday: dict[str, list[str]] = field(default_factory=dict)  # every split, any length
    words: dict[str, list[str]] = field(default_factory=dict)  # isolated words, every split
    spelled: dict[str, list[str]] = field(default_factory=dict)  # "c a t": letters one by one
    sources: dict[str, int] = field(default_factory=dict)
    dropped_unspeakable: int = 0
    duplicates: int = 0

    def counts(self) -> dict[str, dict[str, int]]:
        out = {
            s: {"sentences": len(self.long.get(s, [])), "short": len(self.short.get(s, []))}
            for s in SPLITS
        }
        out["train"]["glosses"] = len(self.gloss)
        for s in SPLITS:
            out[s]["everyday"] = len(self.everyday.get(s, []))
            out[s]["words"] = len(self.words.get(s, []))
            out[s]["spelled"] = len(self.spelled.get(s, []))
        return out


def build_text_pools(max_sentences: int | None = None, max_words: int = 25) -> TextPools:
    """Collect, normalize, filter, deduplicate and split the texts.

    ``long`` holds sentences of 4 or more words, ``short`` single words, numbers and
    phrases of 1-3 words (WordNet's short examples included). ``max_sentences`` caps
    the number of distinct long sentences kept (all splits together), for small runs.
    Raises ``FileNotFoundError`` when no sentence source is installed. The result is
    cached per process: treat it as read-only.
    """
    return _build_text_pools(max_sentences, max_words)


@functools.lru_cache(maxsize=4)
def _build_text_pools(max_sentences: int | None, max_words: int) -> TextPools:
    pools = TextPools(long={s: [] for s in SPLITS}, short={s: [] for s in SPLITS},
                      everyday={s: [] for s in SPLITS})
    raw_long: list[str] = []
    raw_short: list[str] = []
    wn = find_wordnet_dir()
    common: list[str] = []
    if wn:
        ex = wordnet_examples(wn)
        pools.sources["wordnet_examples"] = len(ex)
        raw_long += ex
        common = wordnet_common_words(wn)
        pools.sources["wordnet_common_words"] = len(common)
    fl = fortune_lines()
    if fl:
        pools.sources["fortunes"] = len(fl)
        raw_long += fl
    if not raw_long:
        raise FileNotFoundError(
            "no English sentence source found: install Debian's wordnet-base "
            "(apt-get install wordnet-base)"
        )
    raw_short = short_utterances(common)
    pools.sources["short_utterances"] = len(raw_short)
    raw_gloss = wordnet_glosses(wn) if wn else []
    if raw_gloss:
        pools.sources["wordnet_glosses"] = len(raw_gloss)
    raw_everyday = [t for _, t in everyday_texts()]
    pools.sources["everyday"] = len(raw_everyday)

    seen: set[str] = set()
    # everyday text and glosses last, so an example sentence or short utterance keeps
    # its own pool (and older corpora their texts)
    for kind, raw in (("short", raw_short), ("long", raw_long), ("everyday", raw_everyday),
                      ("gloss", raw_gloss)):
        for r in raw:
            t = normalize_text(r)
            if not t:
                continue
            if t in seen:
                pools.duplicates += 1
                continue
            if not is_speakable(t, max_words=max_words):
                pools.dropped_unspeakable += 1
                continue
            n = t.count(" ") + 1
            split = split_of(t)
            if kind == "gloss":  # train only, 4+ words: one hashing to dev or test is never used
                if split == "train" and n > 3:
                    seen.add(t)
                    pools.gloss.append(t)
                continue
            seen.add(t)
            if kind == "everyday":
                pools.everyday[split].append(t)
                continue
            target = pools.short if (kind == "short" or n <= 3) else pools.long
            target[split].append(t)
    if max_sentences is not None:
        for s in SPLITS:
            # keep the split proportions: cap each split by its share
            share = {"train": 1.0, "dev": DEV_PER_MILLE / 1000, "test": TEST_PER_MILLE / 1000}[s]
            cap = max(1, int(round(max_sentences * share))) if s != "train" else max_sentences
            pools.long[s] = pools.long[s][:cap]
            pools.everyday[s] = pools.everyday[s][:cap]
        pools.gloss = pools.gloss[:max_sentences]
    _add_isolated_words(pools, common)
    return pools


ISOLATED_WORDS = 20000  # wordfreq's most frequent words said alone
SPELLED_WORD_LEN = (2, 7)  # common words spelled letter by letter: 2 to 7 letters
LETTER_CODES = 4000  # random 2-4 letter codes ("j k", "b b c") before the split


def isolated_word_list(vocabulary: set[str], n: int = ISOLATED_WORDS) -> list[str]:
    """The ``n`` most frequent English words (PyPI ``wordfreq``) of two or more letters
    that also occur in ``vocabulary`` (the words of the corpus's sentences: this leaves out
    acronyms a voice would spell, slang and web words); [] when wordfreq is not installed."""
    words = top_english_words(n) or []
    return [w for w in words if len(w) > 1 and w.isalpha() and w in vocabulary and is_speakable(w)]


def _add_isolated_words(pools: TextPools, common: list[str]) -> None:
    """Fill ``pools.words`` (words said alone) and ``pools.spelled`` (words and letter
    codes spelled letter by letter), each split by the hash of its text like every other
    text. Words said alone may also be short utterances in ``pools.short``; they are the
    same transcript, so sharing them across pools keeps every split text-disjoint."""
    vocabulary = {w for texts in (*pools.long.values(), *pools.everyday.values(), pools.gloss)
                  for t in texts for w in t.split()}
    words = isolated_word_list(vocabulary) or [w for w in common if " " not in w and len(w) > 1]
    pools.sources["isolated_words"] = len(words)
    pools.words = {s: [] for s in SPLITS}
    pools.spelled = {s: [] for s in SPLITS}
    seen: set[str] = set()
    for w in words:
        t = normalize_text(w)
        if t and t not in seen and " " not in t:
            seen.add(t)
            pools.words[split_of(t)].append(t)
    spell = [" ".join(w) for w in words[:5000] if SPELLED_WORD_LEN[0] <= len(w) <= SPELLED_WORD_LEN[1]]
    rng = random.Random(1234)
    letters = string.ascii_lowercase
    spell += [" ".join(rng.choice(letters) for _ in range(rng.randint(2, 4)))
              for _ in range(LETTER_CODES)]
    done: set[str] = set()
    for t in spell:
        if t not in done:
            done.add(t)
            pools.spelled[split_of(t)].append(t)
    pools.sources["spelled"] = len(done)

"""Text normalization for speech: the one definition used for training transcripts and
for WER scoring (the evaluator reuses :func:`normalize_text` on references and
hypotheses).

The normalized alphabet is ``a-z``, the apostrophe and single spaces. Numbers, money,
percentages, ordinals, times, fractions and common symbols are spelled out the way a
TTS voice reads them; punctuation is stripped. The function is idempotent:
``normalize_text(normalize_text(s)) == normalize_text(s)``.

Pure Python, no third-party imports.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "ALPHABET",
    "normalize_text",
    "number_to_words",
    "ordinal_to_words",
    "year_to_words",
    "is_speakable",
]

ALPHABET = "abcdefghijklmnopqrstuvwxyz' "

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = [
    (10**12, "trillion"),
    (10**9, "billion"),
    (10**6, "million"),
    (10**3, "thousand"),
]
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        if n % 10:
            words.append(_ONES[n % 10])
    elif n > 0 or not words:
        words.append(_ONES[n])
    return words


def number_to_words(n: int) -> str:
    """Cardinal number in words, US style without "and": 105 -> "one hundred five"."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= 10**15:
        return " ".join(_ONES[int(d)] for d in str(n))
    if n < 1000:
        return " ".join(_below_thousand(n))
    words: list[str] = []
    for scale, name in _SCALES:
        if n >= scale:
            words += _below_thousand(n // scale) + [name]
            n %= scale
    if n:
        words += _below_thousand(n)
    return " ".join(words)


def ordinal_to_words(n: int) -> str:
    """21 -> "twenty first"."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        words[-1] = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_to_words(n: int) -> str:
    """Four-digit years the way they are read: 1984 -> "nineteen eighty four",
    1905 -> "nineteen oh five", 1900 -> "nineteen hundred", 2005 -> "two thousand five"."""
    if 2000 <= n <= 2009 or n % 1000 == 0 or not 1000 <= n <= 2099:
        return number_to_words(n)
    hi, lo = divmod(n, 100)
    if lo == 0:
        return number_to_words(hi) + " hundred"
    if lo < 10:
        return number_to_words(hi) + " oh " + number_to_words(lo)
    return number_to_words(hi) + " " + number_to_words(lo)


def _plural(words: str) -> str:
    """'nineteen ninety' -> 'nineteen nineties' (for "1990s")."""
    head, _, last = words.rpartition(" ")
    if last.endswith("y"):
        last = last[:-1] + "ies"
    elif last.endswith(("x", "s")):
        last += "es"
    else:
        last += "s"
    return (head + " " + last).strip()


def _digits(s: str) -> str:
    return " ".join(_ONES[int(d)] for d in s)


def _int_words(s: str, year_style: bool = True) -> str:
    s = s.replace(",", "")
    if len(s) > 1 and s.startswith("0"):
        return _digits(s)  # "007", zip codes, phone numbers: digit by digit
    n = int(s)
    if year_style and len(s) == 4 and 1100 <= n <= 2099 and not 2000 <= n <= 2009:
        return year_to_words(n)
    return number_to_words(n)


def _decimal_words(intpart: str, frac: str) -> str:
    head = _int_words(intpart, year_style=False) if intpart else "zero"
    return head + " point " + _digits(frac)


_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents")}


def _money(sym: str, amount: str) -> str:
    one, many, sub1, subn = _CURRENCIES[sym]
    amount = amount.replace(",", "")
    whole, _, frac = amount.partition(".")
    w = int(whole) if whole else 0
    out = [number_to_words(w), one if w == 1 else many] if whole else []
    if frac and len(frac) == 2 and int(frac):
        c = int(frac)
        if out:
            out.append("and")
        out += [number_to_words(c), sub1 if c == 1 else subn]
    elif frac and len(frac) != 2:
        return _decimal_words(whole, frac) + " " + many
    return " ".join(out) or "zero " + many


_FRACTIONS = {(1, 2): "one half", (1, 4): "one quarter", (3, 4): "three quarters"}


def _fraction(a: str, b: str) -> str:
    na, nb = int(a), int(b)
    if (na, nb) in _FRACTIONS:
        return _FRACTIONS[(na, nb)]
    if 2 < nb <= 20 and na < 20:
        den = ordinal_to_words(nb)
        return number_to_words(na) + " " + (den if na == 1 else _plural(den))
    return number_to_words(na) + " over " + number_to_words(nb)


def _time(h: str, m: str) -> str:
    hh, mm = int(h), int(m)
    if mm == 0:
        return number_to_words(hh) + " o'clock"
    if mm < 10:
        return number_to_words(hh) + " oh " + number_to_words(mm)
    return number_to_words(hh) + " " + number_to_words(mm)


# Abbreviations expanded before punctuation is stripped (matched on lowercase text).
_ABBREVIATIONS = [
    (r"\bmr\.", "mister"),
    (r"\bmrs\.", "missus"),
    (r"\bms\.", "miz"),
    (r"\bdr\.", "doctor"),
    (r"\bprof\.", "professor"),
    (r"\bst\.(?=\s+[a-z])", "saint"),
    (r"\bjr\.", "junior"),
    (r"\bsr\.", "senior"),
    (r"\bvs\.?(?=\s)", "versus"),
    (r"\betc\.?", "et cetera"),
    (r"\be\.g\.", "for example"),
    (r"\bi\.e\.", "that is"),
    (r"\bno\.(?=\s*\d)", "number"),
    (r"\bapprox\.", "approximately"),
    (r"\bft\.(?=\s)", "feet"),
    (r"\bin\.(?=\s)(?<=\d\sin\.)", "inches"),
    (r"\blb\.|\blbs\.", "pounds"),
    (r"\boz\.", "ounces"),
    (r"\bmt\.", "mount"),
    (r"\bgen\.", "general"),
    (r"\bgov\.", "governor"),
    (r"\bsen\.", "senator"),
    (r"\bcapt\.", "captain"),
    (r"\blt\.", "lieutenant"),
    (r"\bcol\.", "colonel"),
    (r"\bsgt\.", "sergeant"),
    (r"\bjan\.", "january"),
    (r"\bfeb\.", "february"),
    (r"\baug\.", "august"),
    (r"\bsept?\.", "september"),
    (r"\boct\.", "october"),
    (r"\bnov\.", "november"),
    (r"\bdec\.", "december"),
    (r"\ba\.m\.", "a m"),
    (r"\bp\.m\.", "p m"),
    (r"\bb\.c\.", "b c"),
    (r"\ba\.d\.", "a d"),
]
_ABBREV_RE = [(re.compile(p), r) for p, r in _ABBREVIATIONS]

_SYMBOLS = {
    "&": " and ",
    "@": " at ",
    "+": " plus ",
    "=": " equals ",
    "%": " percent ",
    "°": " degrees ",
    "×": " times ",
    "½": " one half ",
    "¼": " one quarter ",
    "¾": " three quarters ",
    "#": " number ",
}

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
        "`": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": " ",
        "\u2014": " ",
        "\u2212": "-",
    }
)

_NUM = r"\d+(?:,\d{3})*"
_RE_MONEY = re.compile(r"([$£€])\s?(" + _NUM + r"(?:\.\d+)?|\.\d+)(?:\s*(million|billion|thousand|trillion))?")
_RE_PERCENT = re.compile(r"(" + _NUM + r"(?:\.\d+)?)\s*%")
_RE_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_RE_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_RE_FRACTION = re.compile(r"\b(\d+)/(\d+)\b")
_RE_DECADE = re.compile(r"\b(\d{2,4})'?s\b")
_RE_DECIMAL = re.compile(r"(?<![\d.])(\d*)\.(\d+)\b")
_RE_INT = re.compile(r"\b" + _NUM + r"\b|\d+")
_RE_ACRONYM = re.compile(r"\b((?:[a-z]\.){2,})")
_RE_NEG = re.compile(r"(?<![\w])-(?=\d)")
_RE_APOS = re.compile(r"(?<![a-z])'|'(?![a-z])")
_RE_NONALPHA = re.compile(r"[^a-z' ]+")
_RE_SPACES = re.compile(r" +")
_RE_ANYDIGIT = re.compile(r"\d")


def _decade(m: re.Match) -> str:
    s = m.group(1)
    if len(s) == 2:  # '60s / 60s
        return _plural(number_to_words(int(s)))
    return _plural(_int_words(s))


def _normalize_numbers(s: str) -> str:
    s = _RE_MONEY.sub(
        lambda m: " " + (
            _money(m.group(1), m.group(2)) if not m.group(3)
            else (_decimal_words(*m.group(2).split(".")) if "." in m.group(2)
                  else _int_words(m.group(2), False))
            + " " + m.group(3) + " " + _CURRENCIES[m.group(1)][1]
        ) + " ",
        s,
    )
    s = _RE_PERCENT.sub(lambda m: " " + m.group(1) + " percent ", s)
    s = _RE_ORDINAL.sub(lambda m: " " + ordinal_to_words(int(m.group(1))) + " ", s)
    s = _RE_TIME.sub(lambda m: " " + _time(m.group(1), m.group(2)) + " ", s)
    s = _RE_FRACTION.sub(lambda m: " " + _fraction(m.group(1), m.group(2)) + " ", s)
    s = _RE_DECADE.sub(lambda m: " " + _decade(m) + " ", s)
    s = _RE_NEG.sub(" minus ", s)
    s = _RE_DECIMAL.sub(lambda m: " " + _decimal_words(m.group(1).replace(",", ""), m.group(2)) + " ", s)
    s = _RE_INT.sub(lambda m: " " + _int_words(m.group(0)) + " ", s)
    return s


def normalize_text(s: str) -> str:
    """Normalize text for speech recognition: lowercase ``a-z``, apostrophes inside
    words, single spaces; numbers and symbols spelled out; punctuation removed.

    >>> normalize_text("Dr. Smith paid $3.50 for 2 apples at 10:30, didn't he?")
    "doctor smith paid three dollars and fifty cents for two apples at ten thirty didn't he"
    """
    if not s:
        return ""
    s = unicodedata.normalize("NFKC", s).translate(_QUOTES)
    # strip accents: café -> cafe
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = s.lower()
    if "." in s or "etc" in s or "vs" in s:
        for rx, rep in _ABBREV_RE:
            s = rx.sub(" " + rep + " ", s)
        s = _RE_ACRONYM.sub(lambda m: " " + " ".join(m.group(1).replace(".", "")) + " ", s)
    if _RE_ANYDIGIT.search(s):
        s = _normalize_numbers(s)
    for sym, rep in _SYMBOLS.items():
        if sym in s:
            s = s.replace(sym, rep)
    s = _RE_NONALPHA.sub(" ", s)
    s = _RE_APOS.sub(" ", s)
    return _RE_SPACES.sub(" ", s).strip()


_VOWELS = set("aeiouy")
_OK_NO_VOWEL = {"hmm", "shh", "psst", "tsk", "brr", "nth", "pst", "mm", "hm", "sh", "zzz", "b", "c",
                "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "q", "r", "s", "t", "v", "w",
                "x", "z"}


def is_speakable(text: str, max_words: int = 25, max_word_len: int = 18) -> bool:
    """Whether a normalized text is something a TTS voice reads as written: 1 to
    ``max_words`` words, no overlong tokens, no vowel-less tokens (abbreviations,
    acronyms the voice would spell out), no stray apostrophes."""
    words = text.split()
    if not 1 <= len(words) <= max_words:
        return False
    for w in words:
        if len(w) > max_word_len:
            return False
        letters = w.replace("'", "")
        if not letters:
            return False
        if not (_VOWELS & set(letters)) and letters not in _OK_NO_VOWEL:
            return False
        if w.count("'") > 1:
            return False
    return True


# How a voice is made to say a letter by its name: spelled as a word every engine's
# letter-to-sound rules read the same way ("b" alone is "bee" to espeak-ng but may be
# skipped or read as a sound by another engine; "a" alone is the article "uh").
LETTER_NAMES = {
    "a": "ay", "b": "bee", "c": "see", "d": "dee", "e": "ee", "f": "eff", "g": "gee",
    "h": "aitch", "i": "eye", "j": "jay", "k": "kay", "l": "ell", "m": "em", "n": "en",
    "o": "oh", "p": "pee", "q": "cue", "r": "are", "s": "ess", "t": "tee", "u": "you",
    "v": "vee", "w": "double you", "x": "ex", "y": "why", "z": "zee",
}


def spelled_speech(text: str, british_z: bool = False) -> str:
    """What a voice reads to spell ``text`` (normalized, letters separated by spaces)
    letter by letter: each letter's name (normalized text, as every engine takes it).

    >>> spelled_speech("c a t")
    'see ay tee'
    """
    names = [("zed" if (c == "z" and british_z) else LETTER_NAMES[c]) for c in text.split()]
    return " ".join(names)


# letter names as one word (``as_spelled`` turns "double you"/"double u" into "w" first), and
# the homophones a recognizer writes for them
_NAME_TO_LETTER = {**{n: c for c, n in LETTER_NAMES.items() if " " not in n},
                   "zed": "z", "eh": "a", "bea": "b", "be": "b", "sea": "c", "el": "l",
                   "pea": "p", "queue": "q", "ar": "r", "tea": "t"}


def as_spelled(heard: str) -> str:
    """A recognizer's normalized output for a spelled transcript, letter by letter: letter
    names become letters ("bee ay tee" -> "b a t") and any other word is split into its
    letters ("cat" -> "c a t"), so a spelling is scored letter by letter however it was
    written.

    >>> as_spelled("see ay tee")
    'c a t'
    >>> as_spelled("double you x")
    'w x'
    """
    out: list[str] = []
    words = heard.replace("double you", "w").replace("double u", "w").split()
    for w in words:
        out += [_NAME_TO_LETTER[w]] if w in _NAME_TO_LETTER else list(w.replace("'", ""))
    return " ".join(out)

"""A dataclass's fields as ``--set FIELD=VALUE`` takes them (``nnasr train``'s training config,
``nnasr cost``'s NNA spec): their defaults and the comments beside them in its source (the text
of ``--set help``), and a typed value from what was typed."""

from __future__ import annotations

import dataclasses
import inspect
import math
import re

# the words --set takes for true and false
BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
              "off": False}


def parse_value(name: str, value, current):
    """``value`` (typed on a command line, or already typed) for a field ``name`` whose value
    is now ``current``, of ``current``'s type; a ValueError that names the field and what it
    takes: true/false words for a switch, a number, a whole number for an int."""
    if isinstance(current, bool):
        word = value if isinstance(value, bool) else BOOL_WORDS.get(str(value).strip().lower())
        if word is None:
            raise ValueError(f"{name}={value!r}: not true or false (true/false, yes/no, on/off, 1/0)")
        return word
    if isinstance(current, (int, float)):
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r}: not a number") from None
        if isinstance(current, int):
            if not (math.isfinite(f) and f == int(f)):
                raise ValueError(f"{name}={value!r}: not a whole number")
            return int(f)
        return type(current)(f)
    return type(current)(value)


def field_docs(cls) -> list[tuple[str, object, str]]:
    """``(name, default, comment)`` of every field of the dataclass ``cls``, in order: the
    comment on its line, else the comment lines just above it."""
    defaults = {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}
    out, above = [], []
    for line in inspect.getsource(cls).splitlines()[1:]:
        s = line.strip()
        if s.startswith("#"):
            above.append(s.lstrip("# "))
            continue
        m = re.match(r"(\w+):[^=]+=[^#]*(?:#\s*(.*))?$", s)
        if m and m.group(1) in defaults:
            out.append((m.group(1), defaults[m.group(1)], m.group(2) or " ".join(above)))
        above = []
    return out

"""A dataclass's fields with their defaults and the comments beside them in its source: the
text of ``--set help`` (``nnasr train``'s training config, ``nnasr cost``'s NNA spec). The
values ``--set`` takes are typed by :func:`engine.nna.spec.parse_value`."""

from __future__ import annotations

import dataclasses
import inspect
import re


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

"""The project's dependency rules, read from the source: nothing under engine/nna/ imports
from the rest of engine/ (the NNA knows ops and shapes, never a speech model), and engine/
imports neither app/, trainer/ nor torch (at module level or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> list[str]:
    """Absolute module names imported anywhere in ``path``."""
    pkg = path.relative_to(ROOT).with_suffix("").parts[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(pkg[: len(pkg) - node.level + 1]) if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out += [mod] if node.module else [f"{mod}.{a.name}" for a in node.names]
    return out


def _offences(folder: str, allowed) -> list[str]:
    return [f"{p.relative_to(ROOT)} imports {m}" for p in sorted((ROOT / folder).rglob("*.py"))
            for m in _imports(p) if not allowed(m)]


def test_nna_imports_nothing_else_of_the_engine():
    assert _offences("engine/nna", lambda m: m == "engine.nna" or m.startswith("engine.nna.")
                     or not (m == "engine" or m.startswith("engine."))) == []


def test_engine_imports_neither_app_trainer_nor_torch():
    def allowed(m: str) -> bool:
        return m.split(".")[0] not in ("app", "trainer", "torch", "torchaudio")

    assert _offences("engine", allowed) == []


def test_the_check_sees_relative_imports():
    assert "engine.model" in _imports(ROOT / "engine" / "network.py")
    assert "engine.nna.spec" in _imports(ROOT / "engine" / "nna" / "cost.py")


def test_benchmarks_do_not_edit_sys_path():
    edits = [f"{p.relative_to(ROOT)}:{n.lineno}" for p in sorted((ROOT / "benchmarks").glob("*.py"))
             for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.Attribute)
             and n.attr == "path" and isinstance(n.value, ast.Name) and n.value.id == "sys"]
    assert edits == []

"""JSONL manifests: one JSON object per line with ``audio_filepath``, ``text``,
``duration`` (seconds) and ``voice`` (speaker or voice id).

``audio_filepath`` is relative to the manifest's directory (what ``nnasr synth``
writes) or absolute (what users may bring). :func:`read_manifest` is what the trainer
and the evaluator read data with: it resolves paths to absolute and validates keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

REQUIRED_KEYS = ("audio_filepath", "text", "duration")
KEYS = REQUIRED_KEYS + ("voice",)


class ManifestError(ValueError):
    pass


def read_manifest(path: str | os.PathLike, check_files: bool = True) -> list[dict]:
    """Read a JSONL manifest. Returns one dict per utterance with ``audio_filepath``
    made absolute, ``duration`` a float, ``text`` a str and ``voice`` a str ("unknown"
    when absent). Extra keys are kept. Raises :class:`ManifestError` (a ValueError)
    naming the file and line on a malformed entry, and on a missing audio file when
    ``check_files``."""
    path = os.fspath(path)
    try:
        return _read(path, check_files)
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    except IsADirectoryError:
        raise ManifestError(f"{path}: is a directory, not a manifest (a .jsonl file)") from None
    except OSError as e:
        raise ManifestError(f"{path}: cannot read the manifest ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a text file of JSON lines (a manifest is a .jsonl file, "
                            "one {\"audio_filepath\": ..., \"text\": ...} object a line)") from None


def _read(path: str, check_files: bool) -> list[dict]:
    base = os.path.dirname(os.path.abspath(path))
    out: list[dict] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            where = f"{path}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{where}: not JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise ManifestError(f"{where}: not a JSON object")
            # a user's manifest may leave the duration out: it is read from the audio's header
            fill = check_files and "duration" not in rec and "audio_filepath" in rec
            # without audio_filepath the duration's absence is not worth a word: it could be read
            missing = [k for k in REQUIRED_KEYS if k not in rec
                       and not (k == "duration" and (fill or (check_files and "audio_filepath" not in rec)))]
            if missing:
                raise ManifestError(f"{where}: missing key(s) {', '.join(missing)}")
            if not isinstance(rec["audio_filepath"], str) or not rec["audio_filepath"]:
                raise ManifestError(f"{where}: audio_filepath must be a non-empty string")
            if not isinstance(rec["text"], str):
                raise ManifestError(f"{where}: text must be a string")
            if not fill:
                _check_duration(rec, where)
            rec["voice"] = str(rec.get("voice") or "unknown")
            p = os.path.expanduser(rec["audio_filepath"])
            if not os.path.isabs(p):
                p = os.path.join(base, p)
            rec["audio_filepath"] = os.path.normpath(p)
            if check_files and not os.path.exists(rec["audio_filepath"]):
                raise ManifestError(f"{where}: audio file not found: {rec['audio_filepath']}")
            if fill:
                rec["duration"] = _duration(rec["audio_filepath"])
                if rec["duration"] is None:
                    raise ManifestError(f"{where}: no duration, and {rec['audio_filepath']} is not audio "
                                        "to read it from")
                _check_duration(rec, where)
            out.append(rec)
    return out


def _check_duration(rec: dict, where: str) -> None:
    try:
        rec["duration"] = float(rec["duration"])
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: duration must be a number") from None
    if not rec["duration"] > 0:
        raise ManifestError(f"{where}: duration must be positive")


def _duration(path: str) -> float | None:
    """An audio file's duration from its header (None when it is not audio)."""
    import soundfile as sf

    try:
        info = sf.info(path)
    except Exception:
        return None
    return info.frames / info.samplerate if info.samplerate else None


def write_manifest(path: str | os.PathLike, records: Iterable[dict]) -> int:
    """Write records atomically (temp file + rename). ``audio_filepath`` values under
    the manifest's directory are stored relative to it. Returns the line count."""
    path = os.fspath(path)
    base = os.path.dirname(os.path.abspath(path))
    os.makedirs(base, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                r = dict(r)
                p = r["audio_filepath"]
                if os.path.isabs(p):
                    rel = os.path.relpath(p, base)
                    if not rel.startswith(".."):
                        p = rel
                r["audio_filepath"] = p
                r["duration"] = round(float(r["duration"]), 4)
                ordered = {k: r[k] for k in KEYS if k in r}
                ordered.update({k: v for k, v in r.items() if k not in ordered})
                f.write(json.dumps(ordered, ensure_ascii=False) + "\n")
                n += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return n


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (temp file + rename)."""
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)

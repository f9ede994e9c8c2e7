"""Reading a JSON file that someone handed us, with its work bounded.

``json.loads`` reads anything: a file nested 100 000 deep raises
RecursionError, a 5 000-digit integer raises ValueError (Python's digit
limit), a 2 GB file is read whole into memory. Every engine reader of a
JSON file (model folders, motion files, vocabularies, checkpoints) goes
through :func:`read_json_file`, which checks the size before reading and
turns each of those into a MotionFileError naming the file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import MotionFileError

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""Largest JSON file read by default (a 60 s motion as JSON is a few MB)."""
MAX_DEPTH = 64
"""Deepest nesting accepted (the engine's own files are under 6 deep)."""


def _depth(value: Any) -> int:
    """How deep ``value`` nests, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def parse_json_text(text: str, where: str | Path) -> Any:
    """``json.loads`` with each failure as a MotionFileError on ``where``."""
    try:
        value = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        raise MotionFileError(where, f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise MotionFileError(where, "is nested too deeply to be a file this engine writes") from None
    except ValueError as exc:            # e.g. an integer longer than Python reads (4300 digits)
        raise MotionFileError(where, f"holds a value that cannot be read ({str(exc)[:80]})") from None
    if _depth(value) > MAX_DEPTH:
        raise MotionFileError(where, f"is nested more than {MAX_DEPTH} deep; not a file this engine writes")
    return value


def read_json_file(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, want: type | None = None) -> Any:
    """The JSON value in ``path``; MotionFileError when the file is missing,
    larger than ``max_bytes``, not UTF-8, not JSON, nested too deeply, or
    (with ``want``) not of that type."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise MotionFileError(path, "file not found") from None
    if size > max_bytes:
        raise MotionFileError(path, f"is {size / 1e6:.1f} MB, larger than the {max_bytes / 1e6:.0f} MB this "
                                    "file may be; it is not the file the engine expects")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MotionFileError(path, f"is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise MotionFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    value = parse_json_text(text, path)
    if want is not None and not isinstance(value, want):
        raise MotionFileError(path, f"must hold a JSON {'object' if want is dict else want.__name__}")
    return value

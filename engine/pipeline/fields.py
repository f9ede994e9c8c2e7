"""Checks every request field shares, and how input is quoted back in errors.

Why a module of its own: JSON brings values Python handles badly when they
are not what a form would send -- integers of any length (``float()`` of a
400-digit one raises OverflowError), strings that are not valid Unicode
(a lone UTF-16 surrogate), strings where numbers belong (numpy converts
``"0.12"`` silently), and lists nested hundreds of levels deep. Each check
here turns those into a :class:`ParamError` naming the field, and an error
message never quotes more than :data:`MAX_ECHO` characters of the input.
"""
from __future__ import annotations

import itertools
import reprlib
from typing import Any

import numpy as np

from .errors import MAX_ECHO, ParamError, clip  # MAX_ECHO and clip live in errors (ParamError clips its field)

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict = 3, 8, 8, 8
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = MAX_ECHO, MAX_ECHO, 40


def shown(value: Any) -> str:
    """A short repr of client input for an error message: nested lists cut
    at 3 levels, long numbers and strings shortened, never more than
    :data:`MAX_ECHO` characters."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a repr that fails is no reason to fail the answer
        text = f"<{type(value).__name__}>"
    return clip(text)


def kind(value: Any) -> str:
    """What a JSON value is, in words ("a string", "the number 3", ...)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return f"the number {shown(value)}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def as_float(value: Any, field: str, expected: str) -> float:
    """A JSON number as a float; ParamError when it is not a number or does
    not fit one (an integer of hundreds of digits). ``expected`` says what
    the field takes ("a number of seconds")."""
    if not is_number(value):
        raise ParamError(field, f"must be {expected}, got {kind(value)}")
    try:
        return float(value)
    except OverflowError:
        raise ParamError(field, f"must be {expected}; {shown(value)} is far too large") from None


def check_unicode(text: str, field: str) -> str:
    """``text`` unchanged, or ParamError when it holds a lone UTF-16
    surrogate (JSON allows ``"\\ud800"``; no tokenizer or file can take it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ParamError(field, f"contains an unpaired UTF-16 surrogate (\\u{ord(text[exc.start]):04x} at "
                                f"character {exc.start}); send valid Unicode text") from None
    return text


def numeric_array(value: Any, field: str, expected: str) -> np.ndarray:
    """A nested list of JSON numbers as a float64 array. Strings, booleans,
    nulls, ragged rows and numbers too large for a float are refused (numpy
    would turn ``"0.12"`` into 0.12 and a huge integer into an object)."""
    message = f"must be a nested list of numbers of shape {expected} (every frame and joint the same length, " \
              "no strings, booleans or nulls)"
    if not isinstance(value, (list, tuple, np.ndarray)):   # arrays: from .npz files
        raise ParamError(field, f"{message}; got {kind(value)}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise ParamError(field, message) from None
    if arr.dtype.kind not in "iuf" or (not isinstance(value, np.ndarray) and _holds_bool(value, arr.ndim)):
        raise ParamError(field, message)
    return arr.astype(np.float64, copy=False)


def _holds_bool(value: Any, depth: int) -> bool:
    """True when the ``depth``-level nested list holds a JSON true/false,
    which numpy reads as 1 or 0 among numbers. A check of the Python
    objects json.loads made (iterated in C: about 4 ms per 1000 frames of
    22 joints on the 2-core machine), not maths."""
    flat = value
    for _ in range(depth - 1):
        flat = itertools.chain.from_iterable(flat)
    return any(map(bool.__instancecheck__, flat))

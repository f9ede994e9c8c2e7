"""Errors of the task pipeline that callers (CLI, server) treat specially."""
from __future__ import annotations

from ..errors import MotionGPTError


PROMPT_REFUSED: str = "prompt_refused"
"""Error code of a prompt refused for having nothing the model can read."""
MAX_ECHO: int = 200
"""Most characters of a client's input quoted in an error message (or a
field name)."""


def clip(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` cut to ``limit`` characters (with '...' when cut)."""
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class ParamError(MotionGPTError, ValueError):
    """A job parameter is missing or wrong. ``field`` names it the way the
    request spells it (``"seconds"``, ``"motion.fps"``, ``"options.in_place"``)
    so a client can point at the widget to fix; the message says what to do.
    ``code`` is the server's error code: ``invalid_param``, or
    ``prompt_refused`` for a prompt with nothing the model can read."""

    def __init__(self, field: str, message: str, code: str = "invalid_param"):
        self.field = clip(field)            # a client's unknown key can be long
        self.message = str(message)
        self.code = str(code)
        super().__init__(f"{self.field}: {self.message}")


class JobCancelled(MotionGPTError):
    """The caller's ``cancelled()`` said stop; raised between stages and,
    through :func:`engine.lm.generate.cancel_check`, between generated tokens."""

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)

"""Errors the engine raises for bad input, worded for the person who fixes it.

Every message names the file or field and says what to do, because it may be
shown verbatim in Blender's status bar or the terminal.
"""
from __future__ import annotations

from pathlib import Path


class MotionGPTError(Exception):
    """Base class: anything the user can fix by changing their input."""


class MotionFileError(MotionGPTError, ValueError):
    """A file could not be read or has the wrong content."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class MotionShapeError(MotionGPTError, ValueError):
    """An array has the wrong shape or holds NaN/inf."""


class ModelOutputError(MotionGPTError):
    """The model produced numbers that are not finite (NaN or infinity):
    its weights are damaged. A job that meets it fails with this message
    rather than returning broken motion or text."""

"""Loading and saving .npy arrays with errors that name the file and the
problem (never unpickling: allow_pickle is always off)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import MotionFileError


def read_npy(path: str | Path, missing: str = "file not found") -> np.ndarray:
    """The array in ``path``; ``missing`` is the message when it is absent."""
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(path, missing)
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise MotionFileError(path, f"cannot be read as a .npy array ({exc})") from exc


def check_finite(path: str | Path, arr: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(arr)):
        raise MotionFileError(path, "contains NaN or infinite values")
    return arr


def load_npy(path: str | Path, trailing_shape: tuple[int, ...], what: str) -> np.ndarray:
    """Load a .npy whose shape ends in ``trailing_shape`` (frames first)."""
    arr = read_npy(path)
    if arr.ndim != 1 + len(trailing_shape) or tuple(arr.shape[1:]) != trailing_shape:
        expected = "(frames, " + ", ".join(map(str, trailing_shape)) + ")"
        raise MotionFileError(path, f"wrong array shape {arr.shape}; expected {what} of shape {expected}")
    return check_finite(path, arr).astype(np.float64)


def save_npy(path: str | Path, array: np.ndarray) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(array, dtype=np.float32))

"""Pick the torch device once, the same way for every command."""
from __future__ import annotations

import torch

from .errors import MotionGPTError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(choice: str = "auto") -> torch.device:
    """'auto' takes CUDA when present, else the CPU; asking for CUDA on a
    machine without it is an error rather than a silent fallback."""
    if choice not in DEVICE_CHOICES:
        raise MotionGPTError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {choice!r}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise MotionGPTError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)

"""Pick the torch device and the language model's number type once, the same
way for every command.

``auto`` takes a CUDA GPU, else Apple's MPS (a Mac's GPU), else the CPU.
Asking for a device that is not there is an error that says why, never a
silent fallback; when ``auto`` falls back to the CPU although this torch was
built for a GPU, :attr:`DeviceChoice.note` says so (the server logs it, the
CLI prints it).

Number types (:func:`pick_dtype`): the shipped weights are float16 on disk.
On CUDA the language model runs in float16 -- the stored weights exactly,
with T5's overflow guards (:mod:`engine.lm.runtime`); tests compare it to
float32 where a GPU exists. On MPS and the CPU it runs in float32: MPS's
float16 kernels are not exercised by any test here, and on the CPU float16
is slower than float32. The motion tokenizer (VQ-VAE) always runs in
float32: it is small, and its nearest-code search should not depend on
rounding.

This module imports torch only inside its functions, so the CLI can offer
``--device`` without loading torch for ``--help``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import MotionGPTError

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
DEVICE_HELP = "auto (a CUDA GPU, else a Mac's GPU via MPS, else the CPU), cpu, cuda or mps"


@dataclass(frozen=True)
class DeviceChoice:
    device: "torch.device"
    dtype: "torch.dtype"
    """What the language model computes in on this device."""
    note: str = ""
    """Why ``auto`` did not take a GPU this torch was built for ('' otherwise)."""

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


def _cuda_ok() -> bool:
    import torch
    return bool(torch.cuda.is_available())


def _mps_ok() -> bool:
    import torch
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _mps_built() -> bool:
    import torch
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_built())


def _cuda_built() -> bool:
    import torch
    return getattr(torch.version, "cuda", None) is not None


def resolve_device(choice: str = "auto") -> DeviceChoice:
    """The device, the language model's dtype and any fallback note for a
    ``--device`` value. Raises MotionGPTError for an unknown value or a
    device that is not available, saying what to do."""
    import torch
    if choice not in DEVICE_CHOICES:
        raise MotionGPTError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {choice!r}")
    if choice == "cuda" and not _cuda_ok():
        why = ("this torch is a CPU-only build" if not _cuda_built()
               else "this torch was built for CUDA but sees no GPU (is the NVIDIA driver installed?)")
        raise MotionGPTError(f"--device cuda was asked for but {why}; use --device auto or cpu")
    if choice == "mps" and not _mps_ok():
        why = ("this torch was built without MPS" if not _mps_built()
               else "MPS is not available here (it needs macOS 12.3 or newer on a Mac with Apple silicon "
                    "or an AMD GPU)")
        raise MotionGPTError(f"--device mps was asked for but {why}; use --device auto or cpu")
    note = ""
    if choice == "auto":
        if _cuda_ok():
            choice = "cuda"
        elif _mps_ok():
            choice = "mps"
        else:
            choice = "cpu"
            if _cuda_built():
                note = "this torch was built for CUDA but sees no GPU; running on the CPU"
            elif _mps_built():
                note = ("this torch has MPS but it is not available (macOS 12.3 or newer is needed); running on "
                        "the CPU")
    device = torch.device(choice)
    return DeviceChoice(device, pick_dtype(device), note)


def pick_device(choice: str = "auto") -> "torch.device":
    """:func:`resolve_device`'s device."""
    return resolve_device(choice).device


def device_note(model: object) -> str:
    """The :attr:`DeviceChoice.note` of a loaded model (``model.device_choice``),
    '' when it has none: what the server logs and the CLI prints after loading."""
    return getattr(getattr(model, "device_choice", None), "note", "")


def pick_dtype(device: "torch.device | str") -> "torch.dtype":
    """float16 on CUDA, float32 elsewhere (module docstring)."""
    import torch
    kind = torch.device(device).type
    return torch.float16 if kind == "cuda" else torch.float32

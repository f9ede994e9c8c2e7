"""Mixed precision for training on CUDA: ``--precision fp32|bf16|fp16``.

``bf16`` and ``fp16`` run the forward pass under ``torch.autocast`` (matrix
products and convolutions in the low type, reductions and losses in
float32); the weights, gradients and optimizer state stay float32. ``fp16``
also scales the loss (``torch.amp.GradScaler``) so small gradients do not
flush to zero; the scaler's state is checkpointed so a resumed run goes on
exactly. bf16 needs no scaler and is the one to use on GPUs that have it
(Ampere and later). The CPU trains in float32 only: CPU autocast is slower
than float32 on most processors.

torch is imported inside the functions: the CLI lists the choices without it.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import MotionGPTError

if TYPE_CHECKING:  # pragma: no cover
    import torch

PRECISIONS = ("fp32", "bf16", "fp16")
PRECISION_HELP = ("fp32 (default), bf16 or fp16: autocast on CUDA GPUs (weights and optimizer stay float32; "
                  "fp16 scales the loss). bf16 is the one to use on GPUs that support it")
_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


class Precision:
    """Autocast, loss scaling and the optimizer step for one precision."""

    def __init__(self, name: str, device: "torch.device"):
        import torch
        if name not in PRECISIONS:
            raise MotionGPTError(f"--precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
        if name != "fp32" and device.type != "cuda":
            raise MotionGPTError(f"--precision {name} needs a CUDA GPU; this run is on the {device.type} "
                                 "(use --precision fp32)")
        if name == "bf16" and not torch.cuda.is_bf16_supported():
            raise MotionGPTError("this GPU has no bfloat16; use --precision fp16 (or fp32)")
        self.name = name
        self.device = device
        self.scaler = torch.amp.GradScaler("cuda") if name == "fp16" else None

    def autocast(self):
        """The context the forward pass runs in."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        import torch
        return torch.autocast(device_type="cuda", dtype=getattr(torch, _DTYPES[self.name]))

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer, parameters: Iterable[torch.nn.Parameter],
             max_grad_norm: float | None = None) -> None:
        """Clip (on the unscaled gradients) and step; with fp16 a step whose
        gradients overflowed is skipped and the scale lowered."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        if max_grad_norm is not None:
            import torch
            torch.nn.utils.clip_grad_norm_(list(parameters), max_grad_norm)
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state for trainer_state.json (empty without a scaler)."""
        return {} if self.scaler is None else {k: (float(v) if isinstance(v, float) else v)
                                                for k, v in self.scaler.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)

"""Checkpoints as safetensors + JSON, never pickle.

A checkpoint folder holds:
    model.safetensors       the weights (the only file a shipped model needs)
    config.json             the config dataclass that rebuilds the module
    optimizer.safetensors   optimizer tensors, for resuming training
    trainer_state.json      step, best validation score, optimizer layout

Loading checks every key and shape and says which ones are wrong, so a
truncated or foreign file fails with a message a user can act on.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import MotionFileError

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"


def write_json(path: str | Path, data: dict) -> None:
    """JSON through a temp file, so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def save_weights(path: str | Path, state_dict: dict[str, torch.Tensor], metadata: dict[str, str] | None = None,
                 dtype: torch.dtype | None = None) -> None:
    """Write a state dict; shared storage (tied weights) is cloned so that
    safetensors accepts it. Written to a temp file first so a crash never
    leaves half a checkpoint behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for key, value in state_dict.items():
        value = value.detach().to("cpu")
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[key] = value.contiguous().clone()
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata or {})
    os.replace(tmp, path)


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(path, "weights file not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise MotionFileError(path, f"is not a readable safetensors file (truncated or corrupt?): {exc}") from exc


def load_into(module: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str | Path) -> None:
    """Strict load with a readable report of missing, unexpected and
    mis-shaped keys."""
    check_keys(module, state_dict, source)
    own = module.state_dict()
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state_dict.items()}, strict=True)


def check_keys(module: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str | Path) -> None:
    """Raise MotionFileError naming the missing, unexpected and mis-shaped
    keys of ``state_dict`` for ``module``."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = sorted(k for k in set(own) & set(state_dict) if tuple(own[k].shape) != tuple(state_dict[k].shape))
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected)):
            if keys:
                parts.append(f"{label} ({len(keys)}): {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}")
        if wrong:
            shown = ", ".join(f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}" for k in wrong[:5])
            parts.append(f"wrong shapes ({len(wrong)}): {shown}")
        raise MotionFileError(source, "does not match the model: " + "; ".join(parts))


def save_checkpoint(folder: str | Path, model: torch.nn.Module, config: dict[str, Any],
                    optimizer: torch.optim.Optimizer | None = None,
                    trainer_state: dict[str, Any] | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder / MODEL_FILE, model.state_dict(), {"format": "pt"})
    write_json(folder / CONFIG_FILE, config)
    state = dict(trainer_state or {})
    if optimizer is not None:
        tensors, layout = _flatten_optimizer(optimizer.state_dict())
        save_weights(folder / OPTIMIZER_FILE, tensors, {"format": "pt"})
        state["optimizer_layout"] = layout
    write_json(folder / STATE_FILE, state)
    return folder


def read_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise MotionFileError(path, "config.json not found; is this a model folder?")
    from .jsonfile import read_json_file
    return read_json_file(path, max_bytes=1024 * 1024, want=dict)


def read_trainer_state(folder: str | Path) -> dict[str, Any]:
    from .jsonfile import read_json_file
    path = Path(folder) / STATE_FILE
    return read_json_file(path, want=dict) if path.is_file() else {}


def load_optimizer(folder: str | Path, optimizer: torch.optim.Optimizer) -> None:
    folder = Path(folder)
    state = read_trainer_state(folder)
    if "optimizer_layout" not in state:
        raise MotionFileError(folder, "has no optimizer state to resume from")
    tensors = load_weights(folder / OPTIMIZER_FILE)
    optimizer.load_state_dict(_unflatten_optimizer(tensors, state["optimizer_layout"]))


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for param_id, entries in state_dict["state"].items():
        for key, value in entries.items():
            name = f"{param_id}.{key}"
            if torch.is_tensor(value):
                tensors[name] = value
            else:
                scalars[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], layout: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in list(tensors.items()) + list(layout.get("scalars", {}).items()):
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": layout["param_groups"]}

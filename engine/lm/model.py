"""The T5 encoder-decoder that reads and writes text and motion tokens.

Built from a config alone (never from the hub): ``build_model(LMConfig)``.
Presets (engine/lm/config.py): ``tiny()`` for tests, ``small()`` (about 10 M
parameters), ``flan_t5_base()`` (the official checkpoint's shape).

Folder layout (engine/lm/config.py): a Hugging Face T5 folder --
config.json, generation_config.json, model.safetensors (tied copies of the
embedding stored once), tokenizer.json / tokenizer_config.json -- plus
motion_tokenizer.json and motiongpt.json, the engine's own settings; while
training, the optimizer state and trainer_state.json too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .. import checkpoint as ckpt
from ..errors import MotionFileError, MotionGPTError
from .config import (EMBEDDING_COPIES, GENERATION_FILE, PRESETS, SETTINGS_FILE, LMConfig, flan_t5_base, read_config, small, tiny,  # noqa: F401
                     tokenizer_folder, write_config, write_generation_config)
from .tokenizer import EOS_ID, PAD_ID, MotionTextTokenizer

def build_model(config: LMConfig):
    """A randomly initialised ``T5ForConditionalGeneration`` for ``config``."""
    from transformers import T5ForConditionalGeneration
    model = T5ForConditionalGeneration(config.t5_config())
    if not config.tie_word_embeddings:
        _untie_lm_head(model, int(config.t5["d_model"]))
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.decoder_start_token_id = PAD_ID, EOS_ID, PAD_ID
    return model


def _untie_lm_head(model, d_model: int) -> None:
    # Recent transformers always tie lm_head to the shared embedding at
    # construction (and only untie when loading a checkpoint that differs),
    # so a separate head is made here; std d_model**-0.5 keeps the first
    # logits of an unscaled head near unit size.
    if model.lm_head.weight is model.shared.weight or \
            model.lm_head.weight.data_ptr() == model.shared.weight.data_ptr():
        weight = torch.empty_like(model.shared.weight).normal_(0.0, d_model ** -0.5)
        model.lm_head.weight = torch.nn.Parameter(weight)
    tied = getattr(model, "all_tied_weights_keys", None)
    if isinstance(tied, dict):
        tied.pop("lm_head.weight", None)


def count_parameters(model) -> int:
    """Distinct parameters (a tied embedding counted once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            total += p.numel()
    return total


def lm_state_dict(model) -> dict[str, torch.Tensor]:
    """State dict with tied copies of the shared embedding left out."""
    sd = model.state_dict()
    shared = sd["shared.weight"]
    out = {}
    for key, value in sd.items():
        if key in EMBEDDING_COPIES + ("lm_head.weight",) and value.data_ptr() == shared.data_ptr():
            continue
        out[key] = value
    return out


class _Weights(torch.nn.Module):
    """Lets engine.checkpoint save a deduplicated state dict."""

    def __init__(self, state: dict[str, torch.Tensor]):
        super().__init__()
        self._state = state

    def state_dict(self, *args, **kwargs):  # noqa: D401
        return self._state


def save_lm(folder: str | Path, model, config: LMConfig, tokenizer: MotionTextTokenizer | None = None,
            optimizer: torch.optim.Optimizer | None = None, trainer_state: dict[str, Any] | None = None,
            sampling: dict[str, Any] | None = None) -> Path:
    """Write the lm/ folder (engine/lm/config.py layout; + optimizer state).
    generation_config.json is written with ``sampling`` when given, else
    with the engine's defaults unless the folder already has one."""
    folder = Path(folder)
    if tokenizer is not None and (len(tokenizer) > config.vocab_size or
                                  tokenizer.motion_offset != config.motion_offset):
        raise MotionGPTError("the tokenizer does not belong to this model config")
    ckpt.save_checkpoint(folder, _Weights(lm_state_dict(model)), config.hf_config(), optimizer, trainer_state)
    ckpt.write_json(folder / SETTINGS_FILE, config.settings())       # config.json: written by save_checkpoint
    if sampling is not None or not (folder / GENERATION_FILE).is_file():
        write_generation_config(folder, sampling)
    if tokenizer is not None:
        tokenizer.save(folder)
    return folder


def load_config(folder: str | Path) -> LMConfig:
    """The LMConfig of an lm/ folder (either layout)."""
    return read_config(folder)


def load_tokenizer(folder: str | Path, config: LMConfig) -> MotionTextTokenizer | None:
    """The text tokenizer of an lm/ folder (either layout), checked against
    the model's vocabulary; None when the folder has none."""
    where = tokenizer_folder(folder)
    if where is None:
        return None
    tokenizer = MotionTextTokenizer.load(where)
    check_tokenizer(tokenizer, config, where)
    return tokenizer


def load_lm(folder: str | Path, device: str | torch.device = "cpu"):
    """(model, config, tokenizer or None) from a folder written by :func:`save_lm`."""
    folder = Path(folder)
    config = load_config(folder)
    model = build_model(config)
    state = ckpt.load_weights(folder / ckpt.MODEL_FILE)
    if "shared.weight" in state:
        for key in EMBEDDING_COPIES:
            state.setdefault(key, state["shared.weight"])
        if config.tie_word_embeddings:
            state.setdefault("lm_head.weight", state["shared.weight"])
    ckpt.load_into(model, state, folder / ckpt.MODEL_FILE)
    tokenizer = load_tokenizer(folder, config)
    model.to(device)
    model.eval()
    return model, config, tokenizer


def check_tokenizer(tokenizer: MotionTextTokenizer, config: LMConfig, source: str | Path) -> None:
    """Raise MotionFileError when the tokenizer's ids do not fit the model's vocabulary."""
    if len(tokenizer) > config.vocab_size or tokenizer.motion_offset != config.motion_offset:
        raise MotionFileError(source, "does not match the model's vocabulary "
                              f"({len(tokenizer)} tokens, motion at {tokenizer.motion_offset}; model has "
                              f"{config.vocab_size}, motion at {config.motion_offset})")

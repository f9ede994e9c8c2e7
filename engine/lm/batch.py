"""Examples -> padded tensors for teacher-forced training."""
from __future__ import annotations

from typing import Sequence

import torch

from ..errors import MotionGPTError
from .tasks import Example
from .tokenizer import PAD_ID, MotionTextTokenizer

IGNORE_INDEX = -100
"""Label value the loss skips (padding of the targets)."""


def encode_example(tokenizer: MotionTextTokenizer, example: Example) -> tuple[list[int], list[int]]:
    """(input ids, target ids), both ending with eos."""
    if example.target_text is None:
        raise MotionGPTError(f"a {example.task.value} example without a target cannot be trained on")
    return tokenizer.encode_prompt(example.input_text), tokenizer.encode_prompt(example.target_text)


def pad_batch(inputs: Sequence[Sequence[int]], targets: Sequence[Sequence[int]] | None = None,
              max_input_tokens: int | None = None) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask (right-padded with pad), and labels
    (padded with IGNORE_INDEX) when targets are given. Inputs longer than
    ``max_input_tokens`` are cut, keeping their final eos."""
    if not inputs:
        raise MotionGPTError("an empty batch")
    if max_input_tokens is not None:
        inputs = [list(s) if len(s) <= max_input_tokens else list(s[:max_input_tokens - 1]) + [s[-1]] for s in inputs]
    width = max(len(s) for s in inputs)
    ids = torch.full((len(inputs), width), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(inputs), width), dtype=torch.long)
    for row, seq in enumerate(inputs):
        ids[row, :len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, :len(seq)] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if targets is not None:
        if len(targets) != len(inputs):
            raise MotionGPTError(f"{len(targets)} targets for {len(inputs)} inputs")
        labels = torch.full((len(targets), max(len(t) for t in targets)), IGNORE_INDEX, dtype=torch.long)
        for row, seq in enumerate(targets):
            labels[row, :len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        out["labels"] = labels
    return out


def collate(tokenizer: MotionTextTokenizer, examples: Sequence[Example],
            max_input_tokens: int | None = None) -> dict[str, torch.Tensor]:
    """A training batch (input_ids, attention_mask, labels) for a T5 model."""
    pairs = [encode_example(tokenizer, ex) for ex in examples]
    return pad_batch([p[0] for p in pairs], [p[1] for p in pairs], max_input_tokens)

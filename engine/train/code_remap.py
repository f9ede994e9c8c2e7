"""Carry a trained language model over to a retrained motion tokenizer.

A tokenizer fine-tuned from another keeps most of what its codes mean but not
their numbers: v1.3's tokenizer refit on balanced data gave the same code to
only 47 % of the training windows. A language model fine-tuned on the new
codes from the old model's weights then starts at a token loss of 2.5-3 nats
(0.84 on its own codes) and spends thousands of steps relearning which
embedding is which code. Both tokenizers encode the same training clips, so
each new code's old counterparts are counted directly: the new code's
embedding row starts as the count-weighted mean of its old codes' rows (the
embedding is tied to the output layer, so its logit starts as the mean of
theirs). Nothing is learnt here; it is a better starting point.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import MotionGPTError


def code_counts(old: Sequence[np.ndarray], new: Sequence[np.ndarray], codebook_size: int) -> np.ndarray:
    """``[new code, old code]`` counts of windows the two tokenizers encode
    as those codes: ``old[i]`` and ``new[i]`` are the same clip's token
    sequences, window by window."""
    if len(old) != len(new):
        raise MotionGPTError(f"the two tokenizations hold {len(old)} and {len(new)} sequences; they must encode "
                             f"the same clips")
    counts = np.zeros((codebook_size, codebook_size), dtype=np.int64)
    lengths = [len(a) for a in old]
    if lengths != [len(b) for b in new]:
        raise MotionGPTError("the two tokenizers wrote sequences of different lengths for the same clips: they "
                             "must downsample alike (same frames per token)")
    if not lengths or sum(lengths) == 0:
        raise MotionGPTError("no tokens to count: the training split is empty")
    a = np.concatenate([np.asarray(x, dtype=np.int64) for x in old])
    b = np.concatenate([np.asarray(x, dtype=np.int64) for x in new])
    if a.min() < 0 or b.min() < 0 or a.max() >= codebook_size or b.max() >= codebook_size:
        raise MotionGPTError(f"a token outside the {codebook_size}-code codebook")
    np.add.at(counts, (b, a), 1)
    return counts


def remapped_rows(rows: torch.Tensor, counts: np.ndarray) -> torch.Tensor:
    """New code rows: each new code's count-weighted mean of the old codes'
    ``rows`` (``[codebook, dim]``); a new code never written keeps its own
    old row (it has no counterpart to borrow from)."""
    weights = torch.as_tensor(counts, dtype=torch.float64)
    total = weights.sum(dim=1, keepdim=True)
    old = rows.detach().double()
    mixed = (weights / total.clamp(min=1)) @ old
    unused = total.squeeze(1) == 0
    mixed[unused] = old[unused]
    return mixed.to(rows.dtype)


def remap_motion_embeddings(model: torch.nn.Module, counts: np.ndarray, motion_offset: int) -> float:
    """Rewrite the model's motion-code rows in place (input embedding and,
    where untied, output layer); returns the share of windows whose old code
    is their new code's most frequent counterpart (how much of the old model
    carries over unblurred)."""
    size = counts.shape[0]
    layers = [model.get_input_embeddings().weight]
    out = model.get_output_embeddings()
    if out is not None and out.weight.data_ptr() != layers[0].data_ptr():
        layers.append(out.weight)
    with torch.no_grad():
        for weight in layers:
            block = weight[motion_offset:motion_offset + size]
            block.copy_(remapped_rows(block, counts))
    return float(counts.max(axis=1).sum() / max(counts.sum(), 1))

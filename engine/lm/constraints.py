"""Constrained decoding: the model can only write valid motions (or text).

A motion answer is, in LM ids,

    BOM  code x n  EOM  eos  pad...      with min_tokens <= n <= max_tokens

and the state of every row is read off the tokens generated so far, so the
rule needs no memory between steps and works with sampling and
``num_return_sequences``. The processors are called like transformers'
logits processors, ``processor(input_ids, scores)``, by
:func:`engine.lm.generate.decode`. Everything else gets a score of -inf, so no
sampler or search can pick it: no text, pad, BOM or mask inside a motion,
EOM forced at ``max_tokens``, and only eos after EOM. (The official
MotionGPT decodes whatever comes out and maps invalid tokens to code 0.)

For captions, :class:`TextLogitsProcessor` bans every motion token.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..errors import MotionGPTError



def _as_row_tensor(value: int | Sequence[int] | torch.Tensor, rows: int, device) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.long, device=device).reshape(-1)
    if t.numel() == 1:
        return t.expand(rows)
    if t.numel() == rows:
        return t
    if rows % t.numel() == 0:  # num_return_sequences / beams expand each input in place
        return t.repeat_interleave(rows // t.numel())
    raise MotionGPTError(f"{t.numel()} length limits for {rows} rows")


def motion_allowed(generated: torch.Tensor, vocab_size: int, motion_offset: int, codebook_size: int,
                   eos_id: int, pad_id: int, min_tokens, max_tokens) -> torch.Tensor:
    """Bool (rows, vocab_size): which next tokens keep each row a valid motion.

    generated: (rows, steps) LM ids written so far, without the decoder
    start token. min_tokens / max_tokens: ints or one per row (or per input
    row before expansion)."""
    rows, device = generated.shape[0], generated.device
    lo = _as_row_tensor(min_tokens, rows, device)
    hi = _as_row_tensor(max_tokens, rows, device)
    bom, eom = motion_offset + codebook_size, motion_offset + codebook_size + 1
    if generated.shape[1]:
        started = (generated == bom).any(1)
        ended = (generated == eom).any(1)
        finished = (generated == eos_id).any(1)
        count = ((generated >= motion_offset) & (generated < bom)).sum(1)
    else:
        started = ended = finished = torch.zeros(rows, dtype=torch.bool, device=device)
        count = torch.zeros(rows, dtype=torch.long, device=device)
    inside = started & ~ended
    allowed = torch.zeros(rows, vocab_size, dtype=torch.bool, device=device)
    allowed[:, motion_offset:bom] = (inside & (count < hi)).unsqueeze(1)
    allowed[:, eom] = inside & (count >= lo)
    allowed[:, bom] = ~started & ~finished
    allowed[:, eos_id] = ended & ~finished
    allowed[:, pad_id] |= finished
    return allowed


def apply_allowed(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Scores with every disallowed entry at -inf. NaN becomes -inf and +inf
    a large finite number, and a row whose allowed scores are all -inf gets
    them at 0, so softmax and sampling stay defined and the argmax is always
    allowed."""
    big = torch.finfo(scores.dtype).max / 4
    scores = torch.nan_to_num(scores, nan=float("-inf"), posinf=big, neginf=float("-inf"))
    scores = scores.masked_fill(~allowed, float("-inf"))
    dead = torch.isneginf(scores).all(dim=-1)
    if dead.any():
        scores[dead] = torch.where(allowed[dead], torch.zeros((), dtype=scores.dtype, device=scores.device),
                                   torch.full((), float("-inf"), dtype=scores.dtype, device=scores.device))
    return scores


class MotionLogitsProcessor:
    """Only valid motions: ``BOM code{min..max} EOM eos``.

    prefix_length: tokens at the start of ``input_ids`` that were not
    generated (1 for T5: the decoder start token)."""

    def __init__(self, motion_offset: int, codebook_size: int, eos_id: int, pad_id: int,
                 min_tokens=1, max_tokens=50, prefix_length: int = 1):
        lo = torch.as_tensor(min_tokens, dtype=torch.long).reshape(-1)
        hi = torch.as_tensor(max_tokens, dtype=torch.long).reshape(-1)
        if lo.numel() != hi.numel() and 1 not in (lo.numel(), hi.numel()):
            raise MotionGPTError("min_tokens and max_tokens must have the same number of entries")
        if (lo < 1).any() or (hi < lo).any():
            raise MotionGPTError(f"motion length limits must satisfy 1 <= min <= max; got min={lo.tolist()}, "
                                 f"max={hi.tolist()}")
        self.motion_offset = int(motion_offset)
        self.codebook_size = int(codebook_size)
        self.eos_id, self.pad_id = int(eos_id), int(pad_id)
        self.min_tokens, self.max_tokens = lo, hi
        self.prefix_length = int(prefix_length)

    @classmethod
    def for_tokenizer(cls, tokenizer, min_tokens=1, max_tokens=50, prefix_length: int = 1) -> "MotionLogitsProcessor":
        return cls(tokenizer.motion_offset, tokenizer.codebook_size, tokenizer.eos_id, tokenizer.pad_id,
                   min_tokens, max_tokens, prefix_length)

    @property
    def longest(self) -> int:
        """Most tokens a row can generate: BOM, codes, EOM, eos."""
        return int(self.max_tokens.max()) + 3

    def allowed(self, input_ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
        return motion_allowed(input_ids[:, self.prefix_length:], vocab_size, self.motion_offset,
                              self.codebook_size, self.eos_id, self.pad_id,
                              self.min_tokens.to(input_ids.device), self.max_tokens.to(input_ids.device))

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if scores.shape[-1] < self.motion_offset + self.codebook_size + 3:
            raise MotionGPTError(f"the model scores {scores.shape[-1]} tokens, fewer than the tokenizer's "
                                 f"{self.motion_offset + self.codebook_size + 3}")
        return apply_allowed(scores, self.allowed(input_ids, scores.shape[-1]))


class TextLogitsProcessor:
    """Only text tokens (``allowed_ids``) until eos; eos not before
    ``min_tokens`` text tokens; pad once finished."""

    def __init__(self, allowed_ids: Sequence[int], eos_id: int, pad_id: int, min_tokens: int = 1,
                 prefix_length: int = 1):
        self.allowed_ids = torch.as_tensor(list(allowed_ids), dtype=torch.long)
        self.eos_id, self.pad_id = int(eos_id), int(pad_id)
        self.min_tokens = int(min_tokens)
        self.prefix_length = int(prefix_length)

    @classmethod
    def for_tokenizer(cls, tokenizer, min_tokens: int = 1, prefix_length: int = 1) -> "TextLogitsProcessor":
        return cls(tokenizer.text_token_ids(), tokenizer.eos_id, tokenizer.pad_id, min_tokens, prefix_length)

    def allowed(self, input_ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
        gen = input_ids[:, self.prefix_length:]
        rows = gen.shape[0]
        finished = (gen == self.eos_id).any(1) if gen.shape[1] else torch.zeros(rows, dtype=torch.bool,
                                                                                 device=gen.device)
        allowed = torch.zeros(rows, vocab_size, dtype=torch.bool, device=gen.device)
        allowed[:, self.allowed_ids.to(gen.device)] = (~finished).unsqueeze(1)
        allowed[:, self.eos_id] = ~finished & (gen.shape[1] >= self.min_tokens)
        allowed[:, self.pad_id] |= finished
        return allowed

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return apply_allowed(scores, self.allowed(input_ids, scores.shape[-1]))


def trailing_run(generated: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(last token, how many times it repeats at the end) of each row of
    ``generated`` (rows, steps); (-1, 0) for an empty row."""
    rows, steps = generated.shape
    if steps == 0:
        return (torch.full((rows,), -1, dtype=torch.long, device=generated.device),
                torch.zeros(rows, dtype=torch.long, device=generated.device))
    last = generated[:, -1]
    differs = generated != last.unsqueeze(1)
    # index of the last token that differs from the final one (or -1), so run = steps - 1 - index
    idx = torch.arange(steps, device=generated.device).expand(rows, steps)
    last_diff = torch.where(differs, idx, torch.full_like(idx, -1)).max(dim=1).values
    return last, steps - 1 - last_diff


class RepeatRunLimit:
    """No motion token more than ``max_run`` times in a row: once the last
    ``max_run`` generated motion codes are the same code, that code is
    banned for the next step. A long run of one token is a held pose (one
    token = 4 frames at 20 fps); real motion of the actions a model knows
    rarely holds one for long, and a sampler that falls into such a run
    seldom leaves it (the frozen 30 s wave of issue 12). Text tokens and the
    frame tokens (BOM, EOM) are never touched."""

    def __init__(self, motion_offset: int, codebook_size: int, max_run: int, prefix_length: int = 1):
        if int(max_run) < 1:
            raise MotionGPTError(f"max_run must be at least 1, got {max_run}")
        self.motion_offset, self.codebook_size = int(motion_offset), int(codebook_size)
        self.max_run, self.prefix_length = int(max_run), int(prefix_length)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        last, run = trailing_run(input_ids[:, self.prefix_length:])
        is_code = (last >= self.motion_offset) & (last < self.motion_offset + self.codebook_size)
        ban = is_code & (run >= self.max_run)
        if not ban.any():
            return scores
        allowed = torch.ones_like(scores, dtype=torch.bool)
        allowed[ban.nonzero(as_tuple=True)[0], last[ban]] = False
        return apply_allowed(scores, allowed)

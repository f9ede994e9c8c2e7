"""Generation with constraints: motions that always parse, captions without
motion tokens."""
from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import MotionGPTError
from .batch import pad_batch
from .constraints import MotionLogitsProcessor, RepeatRunLimit, TextLogitsProcessor
from .tokenizer import EOS_ID, PAD_ID, MotionTextTokenizer
from .vocab import DEFAULT_MAX_TOKENS


class GenerationCancelled(MotionGPTError):
    """Generation stopped because the active :func:`cancel_check` said so."""


_CANCEL_CHECK: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "motiongpt_cancel_check", default=None)


@contextlib.contextmanager
def cancel_check(check: Callable[[], bool] | None):
    """While active (in this thread / context), every generation call asks
    ``check()`` before it starts and after each new token, and raises
    :class:`GenerationCancelled` as soon as it returns True. Without it
    generation runs as before."""
    token = _CANCEL_CHECK.set(check)
    try:
        yield
    finally:
        _CANCEL_CHECK.reset(token)


def _cancel_criteria():
    """A StoppingCriteriaList that raises on cancel, or None when no check is active."""
    check = _CANCEL_CHECK.get()
    if check is None:
        return None
    if check():
        raise GenerationCancelled("generation cancelled")
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Cancel(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            if check():
                raise GenerationCancelled("generation cancelled")
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Cancel()])


def _as_list(texts: str | Sequence[str]) -> tuple[list[str], bool]:
    if isinstance(texts, str):
        return [texts], True
    texts = list(texts)
    if not texts:
        raise MotionGPTError("nothing to generate from: no input text")
    return texts, False


def encode_batch(tokenizer: MotionTextTokenizer, texts: Sequence[str], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids and attention mask."""
    batch = pad_batch(tokenizer.encode_prompts(texts))
    return batch["input_ids"].to(device), batch["attention_mask"].to(device)


def _length_limits(num_tokens, n_inputs: int) -> tuple[list[int], list[int]]:
    def one(spec) -> tuple[int, int]:
        if spec is None:
            return 1, DEFAULT_MAX_TOKENS
        if isinstance(spec, (int, np.integer)):
            return int(spec), int(spec)
        lo, hi = spec
        return int(lo), int(hi)

    if isinstance(num_tokens, list):  # one spec per prompt
        if len(num_tokens) != n_inputs:
            raise MotionGPTError(f"{len(num_tokens)} motion lengths for {n_inputs} prompts")
        pairs = [one(s) for s in num_tokens]
    else:
        pairs = [one(num_tokens)] * n_inputs
    for lo, hi in pairs:
        if not 1 <= lo <= hi:
            raise MotionGPTError(f"motion length must satisfy 1 <= min <= max tokens, got ({lo}, {hi})")
    return [p[0] for p in pairs], [p[1] for p in pairs]


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device):
    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


@contextlib.contextmanager
def _eval_mode(model):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def generate_motion_ids(model, tokenizer: MotionTextTokenizer, input_text: str | Sequence[str],
                        num_tokens: int | tuple[int, int] | list | None = None, seed: int | None = None,
                        top_k: int | None = 50, top_p: float | None = None, temperature: float = 1.0,
                        do_sample: bool = True, num_return_sequences: int = 1, num_beams: int = 1,
                        max_run: int | None = None) -> list[np.ndarray]:
    """Motion codes (int64, each in 0..K-1) for each prompt.

    num_tokens: None (1..DEFAULT_MAX_TOKENS), an exact count, a (min, max)
    pair, or a list of those, one per prompt. Results come prompt by prompt,
    ``num_return_sequences`` each. Sampling with a seed is reproducible and
    leaves the global RNG as it was. ``max_run``: no motion code more than
    that many times in a row (:class:`RepeatRunLimit`); None: no limit."""
    texts, _ = _as_list(input_text)
    device = next(model.parameters()).device
    lo, hi = _length_limits(num_tokens, len(texts))
    processor = MotionLogitsProcessor.for_tokenizer(tokenizer, lo, hi)
    processors = [processor]
    if max_run is not None:
        processors.append(RepeatRunLimit(tokenizer.motion_offset, tokenizer.codebook_size, max_run))
    ids, mask = encode_batch(tokenizer, texts, device)
    kwargs = dict(do_sample=bool(do_sample), num_beams=int(num_beams), num_return_sequences=int(num_return_sequences),
                  max_new_tokens=processor.longest, min_new_tokens=0)
    if do_sample:
        if temperature <= 0:
            raise MotionGPTError("temperature must be positive when sampling")
        kwargs.update(temperature=float(temperature), top_k=int(top_k) if top_k else 0,
                      top_p=float(top_p) if top_p is not None else 1.0)
    out = _generate(model, ids, mask, processors, seed, device, kwargs)
    return [tokenizer.motion_from_lm(row, strict=True) for row in out.cpu().numpy()]


def generate_text(model, tokenizer: MotionTextTokenizer, input_text: str | Sequence[str], max_new_tokens: int = 40,
                  num_beams: int = 1, min_tokens: int = 1) -> str | list[str]:
    """Greedy (or beam) caption for each prompt, motion tokens banned.
    A single string in gives a single string out."""
    texts, single = _as_list(input_text)
    device = next(model.parameters()).device
    processor = TextLogitsProcessor.for_tokenizer(tokenizer, min_tokens=min_tokens)
    ids, mask = encode_batch(tokenizer, texts, device)
    kwargs = dict(do_sample=False, num_beams=int(num_beams), max_new_tokens=int(max_new_tokens))
    out = _generate(model, ids, mask, [processor], None, device, kwargs)
    captions = [tokenizer.decode_text(row) for row in out.cpu().numpy()]
    return captions[0] if single else captions


def _generate(model, ids, mask, processors, seed, device, kwargs) -> torch.Tensor:
    from transformers import LogitsProcessorList
    stopping = _cancel_criteria()
    if stopping is not None:
        kwargs = dict(kwargs, stopping_criteria=stopping)
    with _eval_mode(model), _seeded(seed, device), torch.no_grad():
        return model.generate(input_ids=ids, attention_mask=mask, logits_processor=LogitsProcessorList(processors),
                              pad_token_id=PAD_ID, eos_token_id=EOS_ID, decoder_start_token_id=PAD_ID,
                              **kwargs)



def generate_task_motion(model, tokenizer: MotionTextTokenizer, input_text: str, num_tokens=None,
                         **kwargs) -> list[np.ndarray]:
    """Whole motions for a prompt written with the task templates: the
    prompt decides the length where it fixes one (one token per mask; the
    seconds of a text-to-motion prompt) unless ``num_tokens`` is given, and
    the answer is spliced into the given context (PREDICT keeps the
    beginning, the in-between tasks keep everything around the masks).
    Other keyword arguments go to :func:`generate_motion_ids`."""
    from .tasks import assemble_motion, expected_tokens, parse_input
    task, fields = parse_input(input_text, tokenizer.vocab)
    if not task.outputs_motion:
        raise MotionGPTError("this prompt asks for a caption; use generate_text")
    if num_tokens is None:
        num_tokens = expected_tokens(task, fields, tokenizer.vocab)
    generated = generate_motion_ids(model, tokenizer, input_text, num_tokens=num_tokens, **kwargs)
    return [assemble_motion(task, fields, g, tokenizer.vocab) for g in generated]

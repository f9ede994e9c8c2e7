"""Generation with constraints: motions that always parse, captions without
motion tokens.

The decoding loop is the engine's own (not transformers' ``generate``): one
encoder pass, then one batched decoder step per token on
:class:`engine.lm.runtime.T5Runtime` (a transformers T5, as training makes,
is run through the same runtime on its own weights). Why our own:

* **Row seeds.** Each output row samples with its own random stream: row r
  of a call with ``seed`` draws from ``torch.Generator().manual_seed(seed +
  r)``, one number per step. So variant i of a batched call is the motion a
  call with ``seed + i`` and one variant gives -- batching variants costs
  nothing in reproducibility. (The decoder computes every row of a batch
  with the same weights, but batched matrix products may round the last bit
  differently from a single row; a sampled token can only change where that
  bit decides between two tokens, which tests have not seen happen.)
* **Less per call.** No transformers import at inference and none of
  ``generate``'s per-call set-up (about 20 ms per request on 2 cores).
* **Checks per token.** The active :func:`cancel_check` is asked after
  every token, and scores that are not finite (damaged weights) stop the
  call with :class:`engine.errors.ModelOutputError` instead of decoding
  garbage.

Sampling is the usual: the constraint processor (-inf for every token that
would break the motion or the caption), then temperature, top-k, top-p
(nucleus, as transformers does it: keep the most likely tokens whose mass
reaches ``top_p``) and a draw by the inverse CDF.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import ModelOutputError, MotionGPTError
from .batch import pad_batch
from .constraints import MotionLogitsProcessor, RepeatRunLimit, TextLogitsProcessor
from .tokenizer import EOS_ID, PAD_ID, MotionTextTokenizer
from .vocab import DEFAULT_MAX_TOKENS

NON_FINITE_SCORES = ("the language model produced invalid numbers (NaN or infinity) instead of token scores; its "
                     "weights are probably damaged: reinstall the model folder (or export it again)")


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


def _check_cancel() -> None:
    check = _CANCEL_CHECK.get()
    if check is not None and check():
        raise GenerationCancelled("generation cancelled")


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


def row_seeds(seed: int | None, rows: int) -> list[int]:
    """The seed of each output row: ``seed + r``; without a seed, a base
    drawn from torch's global generator (so ``torch.manual_seed`` still
    makes unseeded calls repeatable)."""
    if seed is None:
        seed = int(torch.randint(0, 2 ** 62, (1,)).item())
    return [int(seed) + r for r in range(rows)]


def generate_motion_ids(model, tokenizer: MotionTextTokenizer, input_text: str | Sequence[str],
                        num_tokens: int | tuple[int, int] | list | None = None, seed: int | None = None,
                        top_k: int | None = 50, top_p: float | None = None, temperature: float = 1.0,
                        do_sample: bool = True, num_return_sequences: int = 1,
                        max_run: int | None = None, guidance_scale: float = 1.0,
                        unconditional_text: str | Sequence[str] | None = None) -> list[np.ndarray]:
    """Motion codes (int64, each in 0..K-1) for each prompt.

    num_tokens: None (1..DEFAULT_MAX_TOKENS), an exact count, a (min, max)
    pair, or a list of those, one per prompt. Results come prompt by prompt,
    ``num_return_sequences`` each, all decoded in one batch; row r samples
    with seed ``seed + r`` (module docstring), so a seeded call is
    reproducible row by row and leaves the global RNG as it was. ``max_run``:
    no motion code more than that many times in a row
    (:class:`RepeatRunLimit`); None: no limit. ``guidance_scale`` != 1 with
    ``unconditional_text`` (one per prompt, the prompt without its caption:
    :func:`engine.lm.tasks.drop_caption`) turns on classifier-free guidance
    (:func:`decode`)."""
    texts, _ = _as_list(input_text)
    guidance = None
    if guidance_scale != 1.0 and unconditional_text is not None:
        unconditional, _ = _as_list(unconditional_text)
        if len(unconditional) != len(texts):
            raise MotionGPTError(f"{len(unconditional)} unconditional prompts for {len(texts)} prompts")
        guidance = Guidance(unconditional, float(guidance_scale))
    lo, hi = _length_limits(num_tokens, len(texts))
    processor = MotionLogitsProcessor.for_tokenizer(tokenizer, lo, hi)
    processors = [processor]
    if max_run is not None:
        processors.append(RepeatRunLimit(tokenizer.motion_offset, tokenizer.codebook_size, max_run))
    if do_sample and temperature <= 0:
        raise MotionGPTError("temperature must be positive when sampling")
    sampler = _Sampler(row_seeds(seed, len(texts) * int(num_return_sequences)), float(temperature),
                       int(top_k) if top_k else 0, float(top_p) if top_p is not None else 1.0,
                       processor.longest) if do_sample else None
    out = decode(model, tokenizer, texts, processors, processor.longest, sampler, int(num_return_sequences),
                 guidance)
    return [tokenizer.motion_from_lm(row, strict=True) for row in out.cpu().numpy()]


def generate_text(model, tokenizer: MotionTextTokenizer, input_text: str | Sequence[str], max_new_tokens: int = 40,
                  min_tokens: int = 1, words: Sequence[str] | None = None) -> str | list[str]:
    """Greedy caption for each prompt, motion tokens banned. A single string
    in gives a single string out. With ``words`` (the model's caption
    words) only those words can be spelled and no three-piece sequence
    repeats (:class:`engine.lm.caption_words.CaptionWordProcessor`)."""
    texts, single = _as_list(input_text)
    processors = [TextLogitsProcessor.for_tokenizer(tokenizer, min_tokens=min_tokens)]
    if words:
        from .caption_words import CaptionWordProcessor
        processors.append(CaptionWordProcessor(tokenizer, words))
    out = decode(model, tokenizer, texts, processors, int(max_new_tokens), None, 1)
    rows = [[i for i in row if i != PAD_ID] for row in out.cpu().tolist()]
    if words:
        rows = [row if EOS_ID in row else processors[-1].whole_words(row) for row in rows]
    captions = [tokenizer.decode_text(row) for row in rows]
    return captions[0] if single else captions


class _Sampler:
    """Temperature, top-k, top-p and one draw per row and step from the row's
    own generator. The uniform numbers of every step are drawn up front, one
    ``torch.rand(steps)`` per row (the same numbers as one ``torch.rand(1)``
    per step), so a step costs no Python loop over rows and no copy to the
    device."""

    def __init__(self, seeds: list[int], temperature: float, top_k: int, top_p: float, steps: int):
        # CPU draws: the same seed gives the same numbers on every device
        self.uniform = torch.stack([torch.rand(int(steps), generator=torch.Generator().manual_seed(s))
                                    for s in seeds])                                 # (rows, steps)
        self.step = 0
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        scores = scores / self.temperature
        vocab = scores.shape[-1]
        if 0 < self.top_k < vocab:
            kth = torch.topk(scores, self.top_k, dim=-1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        if self.top_p < 1.0:
            ordered, order = torch.sort(scores, dim=-1)
            drop = torch.softmax(ordered, dim=-1).cumsum(-1) <= 1.0 - self.top_p
            drop[:, -1] = False
            scores = scores.masked_fill(drop.scatter(1, order, drop), float("-inf"))
        cdf = torch.softmax(scores, dim=-1).cumsum(-1)
        if self.uniform.device != cdf.device:
            self.uniform = self.uniform.to(cdf.device)
        u = self.uniform[:, self.step]
        self.step += 1
        picked = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1)
        return picked.clamp_(max=vocab - 1)


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance: the unconditional prompt of each text and
    the scale (scores = uncond + scale x (cond - uncond))."""
    unconditional: list[str]
    scale: float


def decode(model, tokenizer: MotionTextTokenizer, texts: list[str], processors: Sequence, max_steps: int,
           sampler: _Sampler | None, copies: int, guidance: Guidance | None = None) -> torch.Tensor:
    """LM ids (rows, 1 + steps), starting with the decoder start token, of
    ``copies`` answers per text: greedy without a sampler. ``processors``
    (called ``p(ids so far, scores)``, in order) shape each step's scores.
    Stops when every row has written eos (later tokens of a finished row are pad).

    With ``guidance`` every row gets an unconditional twin in the same
    batch (one extra decoder row each, no second pass): the twin reads the
    text's unconditional prompt and follows the tokens its row picks, and
    the row samples from the guided scores."""
    from .runtime import T5Runtime
    runtime = model if isinstance(model, T5Runtime) else T5Runtime.from_transformers(model)
    _check_cancel()
    device = runtime.device
    ids, mask = encode_batch(tokenizer, texts + (guidance.unconditional if guidance else []), device)
    encoded = runtime.encode(ids, mask)
    rows = len(texts) * copies
    state = runtime.start(encoded, mask, max_steps, copies)
    out = torch.full((encoded.shape[0] * copies, max_steps + 1), PAD_ID, dtype=torch.long, device=device)
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    for t in range(max_steps):
        logits = runtime.decoder_step(out[:, t], state)
        if guidance is not None:
            conditional, unconditional = logits[:rows], logits[rows:]
            logits = unconditional + guidance.scale * (conditional - unconditional)
        scores = logits
        for processor in processors:
            scores = processor(out[:rows, :t + 1], scores)
        picked = sampler(scores) if sampler is not None else scores.argmax(-1)
        picked = torch.where(finished, torch.full_like(picked, PAD_ID), picked)
        out[:, t + 1] = picked if guidance is None else picked.repeat(2)
        finished |= picked == EOS_ID
        broken, done = torch.stack([~torch.isfinite(logits).all(), finished.all()]).tolist()
        if broken:
            raise ModelOutputError(NON_FINITE_SCORES)
        _check_cancel()
        if done:
            return out[:rows, :t + 2]
    return out[:rows]


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

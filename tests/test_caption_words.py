"""Captions spelled only with the training captions' words, without loops
(engine/lm/caption_words.py), on a random tiny model that left to itself
writes piece salad."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.errors import MotionFileError
from engine.lm import model as M
from engine.lm.caption_words import (CaptionWordProcessor, load_words, outside_words, save_words, words_of)
from engine.lm.generate import generate_text
from engine.lm.tasks import Task, instruction

CAPTIONS = ["a person walks forward.", "someone waves the right hand.", "a man jumps high.",
            "a person dribbles a basketball."]


@pytest.fixture(scope="module")
def tiny_lm():
    from engine.lm.tokenizer import build_tokenizer
    tok = build_tokenizer(CAPTIONS * 5, 16, vocab_size=90)
    torch.manual_seed(3)
    return M.build_model(M.tiny().with_tokenizer(tok)).eval(), tok


def _prompts(tok, n=6):
    rng = np.random.default_rng(0)
    return [instruction(Task.MOTION_TO_TEXT, motion_ids=rng.integers(0, 16, 8), vocab=tok.vocab) for _ in range(n)]


def test_unconstrained_random_model_writes_non_words_and_the_constraint_stops_it(tiny_lm):
    model, tok = tiny_lm
    words = words_of(CAPTIONS, tok)
    assert "walks" in words and "." in words and "dribbles" in words
    free = generate_text(model, tok, _prompts(tok), max_new_tokens=30)
    kept = generate_text(model, tok, _prompts(tok), max_new_tokens=30, words=words)
    assert sum(len(outside_words(c, tok, words)) for c in free) > 0          # the failure being fixed
    for caption in kept:
        assert caption and outside_words(caption, tok, words) == []
        said = caption.replace(".", " .").split()
        assert all(a != b for a, b in zip(said, said[1:]))                   # no word twice in a row
        trigrams = [tuple(said[i:i + 3]) for i in range(len(said) - 2)]
        assert len(trigrams) == len(set(trigrams))                            # no loop


def test_the_word_list_travels_with_the_model_and_is_checked(tmp_path, tiny_lm):
    _, tok = tiny_lm
    save_words(tmp_path, words_of(CAPTIONS, tok))
    assert load_words(tmp_path) == sorted(set(words_of(CAPTIONS, tok)))
    assert load_words(tmp_path / "nowhere") is None
    for bad in ('{"words": 5}', '[' * 100_000, '{"words": ["ok", ""]}'):
        (tmp_path / "caption_words.json").write_text(bad)
        with pytest.raises(MotionFileError):
            load_words(tmp_path)


def test_eos_only_between_words(tiny_lm):
    _, tok = tiny_lm
    processor = CaptionWordProcessor(tok, words_of(CAPTIONS, tok))
    d = tok.hf.convert_tokens_to_ids("d")
    assert d in processor.inner                       # an inner piece: "d" begins "dribbles"
    scores = processor(torch.tensor([[0, d]]), torch.zeros(1, len(tok)))
    assert torch.isneginf(scores[0, tok.eos_id])
    assert not torch.isneginf(scores[0, tok.hf.convert_tokens_to_ids("r")])
    assert torch.isneginf(scores[0, tok.hf.convert_tokens_to_ids("z")])     # no caption word starts "dz"

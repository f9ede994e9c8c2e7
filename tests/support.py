"""Helpers shared by several test files (not tests themselves)."""
from __future__ import annotations

import json

import numpy as np


def tiny_t5_tokenizer_folder(path, texts):
    """A small tokenizer laid out like FLAN-T5's (Unigram, metaspace, <pad>
    </s> <unk> first, 100 sentinels last), built offline."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    t = Tokenizer(models.Unigram())
    t.normalizer = normalizers.NFKC()
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                               pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")])
    t.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    t.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"],
                                                         unk_token="<unk>", show_progress=False))
    t.add_special_tokens([AddedToken(f"<extra_id_{i}>", special=True, normalized=False) for i in range(99, -1, -1)])
    t.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                     special_tokens=[("</s>", 1)])
    path.mkdir()
    t.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "T5Tokenizer", "extra_ids": 100, "eos_token": "</s>", "pad_token": "<pad>",
        "unk_token": "<unk>", "additional_special_tokens": [f"<extra_id_{i}>" for i in range(100)]}))
    return t.get_vocab_size()


def motion_dict(joints: np.ndarray, frames: int = 40) -> dict:
    """The pipeline's input form for a small real clip (2 s at 20 fps)."""
    return {"fps": 20, "joint_positions": np.asarray(joints[:frames], dtype=float).round(5).tolist()}


TEST_CONCEPT_NAMES = ("walk", "run", "wave", "jump", "sit", "stand still")


def _test_concepts():
    from engine.prompts.phrasebook import CONCEPTS
    return tuple(c for c in CONCEPTS if c.name in TEST_CONCEPT_NAMES)


TEST_CONCEPTS = _test_concepts()
"""A few phrasebook concepts, so a test model's prompt vocabulary builds in seconds."""

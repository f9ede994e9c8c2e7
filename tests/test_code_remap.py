"""Carrying a trained language model over to a retrained tokenizer
(train-lm --init-from MODEL --remap-codes)."""
import json

import numpy as np
import pytest
import torch

from engine.errors import MotionGPTError
from engine.lm import model as lm_model
from engine.train.code_remap import code_counts, remapped_rows
from engine.train.lm_trainer import LMTrainSettings, train_lm

SETTINGS = dict(stage1_steps=15, stage2_steps=25, batch_size=8, lr=3e-3, warmup_steps=5, val_every=20,
                val_batches=2, max_tokens=20)


def test_counts_pair_the_same_windows():
    old = [np.array([0, 0, 1]), np.array([2])]
    new = [np.array([1, 1, 1]), np.array([0])]
    counts = code_counts(old, new, 3)
    assert counts.tolist() == [[0, 0, 1], [2, 1, 0], [0, 0, 0]]     # [new, old]


def test_counts_refuse_tokenizations_of_different_clips():
    with pytest.raises(MotionGPTError, match="same clips"):
        code_counts([np.array([0])], [], 2)
    with pytest.raises(MotionGPTError, match="different lengths"):
        code_counts([np.array([0, 1])], [np.array([0])], 2)
    with pytest.raises(MotionGPTError, match="outside"):
        code_counts([np.array([5])], [np.array([0])], 2)


def test_each_new_row_is_the_mean_of_its_old_codes_and_an_unwritten_code_keeps_its_row():
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    counts = np.array([[3, 1, 0], [0, 0, 2], [0, 0, 0]])
    out = remapped_rows(rows, counts)
    torch.testing.assert_close(out[0], torch.tensor([0.75, 0.25]))
    torch.testing.assert_close(out[1], rows[2])
    torch.testing.assert_close(out[2], rows[2])                     # never written: its own row


def test_remap_starts_the_fine_tune_from_the_old_codes_rows(tmp_path, built_sample, tiny_bundle):
    """lr 0: the only change to the model it started from is its motion-code
    rows, each the count-weighted mean of the rows of the codes the old
    tokenizer wrote for the same training windows."""
    from engine.models.motion_tokenizer import MotionTokenizer
    from engine.train.lm_data import tokenize_split
    from engine.train.vq_trainer import train_vq
    moved = train_vq(built_sample, tmp_path / "moved", steps=5, val_every=100, init_from=tiny_bundle / "vq",
                     batch_size=8, window=32, lr=1e-2, warmup=2, progress=False, device="cpu",
                     log=lambda msg: None)["out_dir"]
    settings = LMTrainSettings(**dict(SETTINGS, stage1_steps=0, stage2_steps=1, lr=0.0, val_every=1))
    train_lm(built_sample, moved, tmp_path / "ft", lm_model.tiny(), settings, device="cpu", progress=False,
             init_from=tiny_bundle, remap_codes=True)
    start, _, tokenizer = lm_model.load_lm(tiny_bundle / "lm")
    tuned, _, _ = lm_model.load_lm(tmp_path / "ft" / "lm")
    old = tokenize_split(built_sample, "train", MotionTokenizer.load(tiny_bundle / "vq"), progress=False)
    new = tokenize_split(built_sample, "train", MotionTokenizer.load(moved), progress=False)
    counts = code_counts([v for c in old for v in c.variants], [v for c in new for v in c.variants],
                         tokenizer.codebook_size)
    assert (counts.max(axis=1).sum() < counts.sum())                # the codes did move
    first, size = tokenizer.motion_offset, tokenizer.codebook_size
    before, after = start.get_input_embeddings().weight, tuned.get_input_embeddings().weight
    torch.testing.assert_close(after[first:first + size], remapped_rows(before[first:first + size], counts))
    torch.testing.assert_close(after[:first], before[:first])
    torch.testing.assert_close(after[first + size:], before[first + size:])
    assert json.loads((tmp_path / "ft" / "lm" / "trainer_state.json").read_text())["remap_codes"] is True


def test_remap_without_a_model_to_carry_over_is_explained(tmp_path, built_sample, tiny_vq_dir):
    settings = LMTrainSettings(**dict(SETTINGS, stage1_steps=0, stage2_steps=1))
    with pytest.raises(MotionGPTError, match="give --init-from"):
        train_lm(built_sample, tiny_vq_dir, tmp_path / "x", lm_model.tiny(), settings, device="cpu",
                 progress=False, remap_codes=True)

"""The retrieval evaluator: trains on the sample, saves, loads, fails clearly."""
import shutil

import numpy as np
import pytest
import torch

from engine.data.humanml3d import load_split
from engine.errors import MotionFileError, MotionShapeError
from engine.eval import metrics
from engine.eval.retrieval_model import EvaluatorConfig, EvaluatorModel
from engine.eval.train_evaluator import TrainConfig, eval_pairs, train_evaluator

TINY = dict(dim=64, embed_dim=64, motion_layers=1, text_layers=1, heads=2, ff_mult=2, dropout=0.0, max_frames=64)


@pytest.fixture(scope="module")
def trained(built_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluator")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # 2 threads on a busy 2-core machine is ~10x slower
    try:
        result = train_evaluator(built_sample, out, steps=250, batch_size=20, seed=0, device="cpu", progress=False,
                                 model_config=EvaluatorConfig(**TINY),
                                 train_config=TrainConfig(lr=2e-3, warmup=20, eval_every=1000))
    finally:
        torch.set_num_threads(threads)
    return out, result


def test_retrieval_on_training_set_beats_chance(trained, built_sample):
    out, result = trained
    assert result["best_step"] == 250 and "fid_train_val" not in result   # the sample has no val split
    sub = result["train_subset"]
    # 32 pairs: chance is 1/32, 2/32, 3/32
    assert sub["r_precision_top1"] > 0.3 and sub["r_precision_top3"] > 0.6
    evaluator = EvaluatorModel.load(out)
    feats, texts = eval_pairs(load_split(built_sample, "train"), seed=1)
    m, t = evaluator.embed_motions(feats), evaluator.embed_texts(texts)
    assert m.shape == (len(feats), 64) and t.shape == (len(texts), 64)
    assert np.allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-5)
    matched = np.mean(np.sum(m * t, axis=1))
    shuffled = np.mean(np.sum(m * np.roll(t, 7, axis=0), axis=1))
    assert matched > shuffled + 0.2
    assert metrics.r_precision(m, t, text_groups=np.array(texts))["top3"] > 0.6


def test_save_load_gives_identical_embeddings(trained, built_sample, tmp_path):
    out, _ = trained
    first = EvaluatorModel.load(out)
    first.save(tmp_path / "copy")
    second = EvaluatorModel.load(tmp_path / "copy")
    feats, texts = eval_pairs(load_split(built_sample, "train"), seed=0)
    assert np.array_equal(first.embed_motions(feats), second.embed_motions(feats))
    assert np.array_equal(first.embed_texts(texts), second.embed_texts(texts))
    # batching does not change a motion's embedding
    alone = first.embed_motions(feats[:1])
    assert np.allclose(alone[0], first.embed_motions(feats)[0], atol=1e-5)
    # unknown words map to <unk> instead of failing
    assert first.embed_texts(["a zorblax person flibbers"]).shape == (1, 64)
    size = sum(p.stat().st_size for p in out.iterdir())
    assert size < 10 * 2 ** 20


def test_corrupt_or_missing_files_fail_with_the_file_named(trained, tmp_path):
    out, _ = trained
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(MotionFileError, match="model.safetensors"):
        EvaluatorModel.load(bad)
    (bad / "vocab.json").unlink()
    with pytest.raises(MotionFileError, match="vocab.json"):
        EvaluatorModel.load(bad)
    with pytest.raises(MotionFileError):
        EvaluatorModel.load(tmp_path / "nowhere")


def test_embed_motions_rejects_wrong_shapes(trained):
    evaluator = EvaluatorModel.load(trained[0])
    with pytest.raises(MotionShapeError, match="263"):
        evaluator.embed_motions([np.zeros((30, 262), dtype=np.float32)])
    # very short motions still embed
    assert evaluator.embed_motions([np.zeros((1, 263), dtype=np.float32)]).shape == (1, 64)


def test_training_is_deterministic_for_a_seed(built_sample, tmp_path):
    from engine.checkpoint import load_weights
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = []
        for name in ("a", "b"):
            train_evaluator(built_sample, tmp_path / name, steps=5, batch_size=8, seed=3, progress=False,
                            model_config=EvaluatorConfig(**{**TINY, "dropout": 0.1}),
                            train_config=TrainConfig(warmup=2, eval_every=1000))
            runs.append(load_weights(tmp_path / name / "model.safetensors"))
    finally:
        torch.set_num_threads(threads)
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_contrastive_loss_ignores_false_negatives():
    from engine.eval.train_evaluator import contrastive_loss
    emb = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    emb = torch.cat([emb[:1], emb])                     # items 0 and 1 are the same caption
    same = torch.zeros(4, 4, dtype=torch.bool)
    same[0, 1] = same[1, 0] = True
    masked = contrastive_loss(emb, emb, 0.05, same)
    unmasked = contrastive_loss(emb, emb, 0.05)
    assert masked < 0.1 < unmasked

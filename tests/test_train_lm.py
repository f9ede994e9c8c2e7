"""train-lm end to end on the shared sample with a tiny model, and the loaded
bundle answering all four tasks."""
import numpy as np
import pytest
import torch

from engine.cli import main
from engine.errors import MotionGPTError
from engine.lm import model as lm_model
from engine.models.motiongpt import MotionGPT
from engine.train.lm_trainer import LMTrainSettings, train_lm

SETTINGS = dict(stage1_steps=15, stage2_steps=25, batch_size=8, lr=3e-3, warmup_steps=5, val_every=20,
                val_batches=2, max_tokens=20)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, built_sample, tiny_vq_dir):
    out = tmp_path_factory.mktemp("lm") / "bundle"
    result = train_lm(built_sample, tiny_vq_dir, out, lm_model.tiny(), LMTrainSettings(**SETTINGS), device="cpu",
                      progress=False)
    return out, result


def test_training_lowers_validation_loss_and_writes_a_bundle(trained):
    out, result = trained
    history = result["history"]
    assert [h["step"] for h in history] == [20, 40]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert (out / "model.json").is_file() and (out / "vq" / "model.safetensors").is_file()
    assert (out / "lm" / "tokenizer.json").is_file() and (out / "lm" / "generation_config.json").is_file()


def test_resume_continues_exactly(tmp_path, built_sample, tiny_vq_dir, trained):
    out, _ = trained
    train_lm(built_sample, tiny_vq_dir, tmp_path / "b", lm_model.tiny(), LMTrainSettings(**SETTINGS), device="cpu",
             progress=False, stop_after=20)  # stops at step 20 ...
    result = train_lm(built_sample, tiny_vq_dir, tmp_path / "b", lm_model.tiny(), LMTrainSettings(**SETTINGS),
                      device="cpu", resume=True, progress=False)  # ... and resumes to 40
    assert result["steps"] == 40
    straight, _, _ = lm_model.load_lm(out / "lm")
    resumed, _, _ = lm_model.load_lm(tmp_path / "b" / "lm")
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-5, atol=1e-6)


def test_resume_from_a_snapshot_without_optimizer_state(tmp_path, built_sample, tiny_vq_dir):
    """What a session commits (half-precision weights, no optimizer) carries on
    with a fresh AdamW and a short re-warm instead of failing."""
    from engine import checkpoint as ckpt
    from engine.train.lm_trainer import REWARM_STEPS, learning_rate
    settings = LMTrainSettings(**{**SETTINGS, "caption_dropout": 0.1})
    train_lm(built_sample, tiny_vq_dir, tmp_path / "s", lm_model.tiny(), settings, device="cpu", progress=False,
             stop_after=20)
    lm_dir = tmp_path / "s" / "lm"
    (lm_dir / ckpt.OPTIMIZER_FILE).unlink()
    weights = ckpt.load_weights(lm_dir / ckpt.MODEL_FILE)
    ckpt.save_weights(lm_dir / ckpt.MODEL_FILE, weights, {"format": "pt"}, dtype=torch.float16)
    result = train_lm(built_sample, tiny_vq_dir, tmp_path / "s", lm_model.tiny(), settings, device="cpu",
                      resume=True, progress=False)
    assert result["steps"] == 40 and np.isfinite(result["train_loss"])
    assert learning_rate(20, settings, rewarm_from=20) == pytest.approx(learning_rate(20, settings) / REWARM_STEPS)
    assert learning_rate(20 + REWARM_STEPS, settings, rewarm_from=20) == learning_rate(20 + REWARM_STEPS, settings)


def test_loaded_bundle_answers_every_task(trained):
    out, _ = trained
    model = MotionGPT.load(out, device="cpu")
    variants = model.text_to_motion("A tired person walks forward!", seconds=2.0, seed=3, variants=2)
    assert [v.shape for v in variants] == [(40, 263), (40, 263)]
    assert np.array_equal(model.text_to_motion("a tired person walks", seconds=2.0, seed=3)[0],
                          model.text_to_motion("a tired person walks", seconds=2.0, seed=3)[0])
    caption = model.caption(variants[0])
    assert isinstance(caption, str) and caption and "<motion" not in caption
    assert model.continue_motion(variants[0], seconds=1.0, seed=1).shape == (20, 263)
    assert model.inbetween(variants[0], 8, 24, text="jumps", seed=1).shape == (40, 263)
    with pytest.raises(MotionGPTError, match="prompt is empty"):
        model.text_to_motion("   ")


def test_cli_resume_without_checkpoint_is_explained(tmp_path, built_sample, tiny_vq_dir, capsys):
    code = main(["train-lm", "--data", str(built_sample), "--vq", str(tiny_vq_dir), "--out", str(tmp_path / "x"),
                 "--preset", "tiny", "--resume", "--quiet"])
    assert code == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_export_ships_half_precision_without_training_state(trained, tmp_path):
    out, _ = trained
    assert main(["export-model", str(out), "--out", str(tmp_path / "shipped"), "--name", "test model"]) == 0
    shipped = tmp_path / "shipped"
    assert not list(shipped.rglob("optimizer.safetensors")) and not (shipped / "cache").exists()
    from engine.checkpoint import load_weights
    assert all(t.dtype == torch.float16 for t in load_weights(shipped / "lm" / "model.safetensors").values())
    original, shipped_model = MotionGPT.load(out, device="cpu"), MotionGPT.load(shipped, device="cpu")
    for key, value in original.lm.state_dict().items():
        torch.testing.assert_close(shipped_model.lm.state_dict()[key], value, rtol=2e-3, atol=2e-3)
    assert shipped_model.text_to_motion("a person walks", seconds=2.0, seed=7)[0].shape == (40, 263)


def test_export_carries_the_sampling_the_model_was_tuned_with(trained, tmp_path, capsys):
    out, _ = trained
    shipped = tmp_path / "tuned"
    assert main(["export-model", str(out), "--out", str(shipped), "--top-p", "0.8", "--temperature", "0.9"]) == 0
    model = MotionGPT.load(shipped, device="cpu")
    assert (model.sampling.top_p, model.sampling.temperature, model.sampling.top_k) == (0.8, 0.9, 50)
    # the folder's default decides unless a caller passes its own, and it changes what is sampled
    a = model.text_to_motion("a person walks", seconds=2.0, seed=3)[0]
    plain = MotionGPT.load(out, device="cpu")
    assert plain.sampling.top_p is None
    b = plain.text_to_motion("a person walks", seconds=2.0, seed=3,
                             sampling=type(plain.sampling)(top_k=50, temperature=0.9, top_p=0.8))[0]
    np.testing.assert_allclose(a, b, atol=2e-2)
    assert main(["export-model", str(out), "--out", str(tmp_path / "bad"), "--top-p", "1.5"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_inbetween_keeps_the_candidate_that_meets_the_known_frames():
    from engine.models.motiongpt import BOUNDARY_FRAMES, boundary_error
    rng = np.random.default_rng(0)
    known = rng.normal(size=(40, 22, 3))
    inside, travelled, far = known.copy(), known.copy(), known.copy()
    inside[16:24] += 5.0                                   # differs only inside the gap: no penalty
    travelled[20:] += np.array([0.7, 0.0, -0.3])           # the same poses somewhere else: no penalty
    far[24:26, 1:] += 0.1                                  # the body misses the frames after the gap
    assert boundary_error(inside, known, 16, 24) == 0.0
    assert boundary_error(travelled, known, 16, 24) == pytest.approx(0.0, abs=1e-12)
    expected = 0.1 * np.sqrt(3) * (21 / 22) * 2 / (2 * BOUNDARY_FRAMES)
    assert boundary_error(far, known, 16, 24) == pytest.approx(expected)


def test_fine_tuning_starts_from_the_given_model(trained, tmp_path, built_sample, tiny_vq_dir):
    out, _ = trained
    settings = LMTrainSettings(**dict(SETTINGS, stage1_steps=0, stage2_steps=2, lr=0.0, val_every=2,
                                      balance_power=0.0))
    result = train_lm(built_sample, tiny_vq_dir, tmp_path / "ft", lm_model.tiny(), settings, device="cpu",
                      progress=False, init_from=out)
    assert result["steps"] == 2
    start, _, tok_start = lm_model.load_lm(out / "lm")
    tuned, _, tok_tuned = lm_model.load_lm(tmp_path / "ft" / "lm")
    assert tok_tuned.tokens("a tired person walks") == tok_start.tokens("a tired person walks")
    for key, value in start.state_dict().items():           # lr 0: the weights it started from, unchanged
        torch.testing.assert_close(tuned.state_dict()[key], value)
    # a fine-tune keeps captioning in real words: it carries the caption words (v1.1's run had none)
    from engine.lm.caption_words import load_words
    assert set(load_words(out / "lm")) <= set(load_words(tmp_path / "ft" / "lm") or [])


def test_inbetween_averages_the_candidates_that_meet_the_keys_best(trained):
    from engine.models.motiongpt import boundary_error
    from engine.motion.features import features_to_joints
    model = MotionGPT.load(trained[0], device="cpu")
    feats = model.text_to_motion("a person walks", seconds=3.0, seed=0)[0]
    decoded = []
    decode = model.vq.decode_batch
    model.vq.decode_batch = lambda tokens: decoded.append(decode(tokens)) or decoded[-1]
    result = model.inbetween(feats, 20, 40, seed=5, candidates=6, average=3)
    candidates = decoded[-1]
    assert len(candidates) == 6
    known = features_to_joints(feats)
    errors = [boundary_error(features_to_joints(c), known, 20, 40) for c in candidates]
    best = np.argsort(errors)[:3]
    np.testing.assert_allclose(result, np.mean([candidates[i] for i in best], axis=0), rtol=1e-5, atol=1e-6)
    alone = model.inbetween(feats, 20, 40, seed=5, candidates=6, average=1)
    np.testing.assert_allclose(alone, decoded[-1][int(np.argmin(errors))], rtol=1e-5, atol=1e-6)


def test_the_first_run_keeps_the_clips_it_cached_exactly_as_the_cache_gives_them_back(tmp_path, built_sample,
                                                                                       tiny_vq_dir):
    from engine.models.motion_tokenizer import MotionTokenizer
    from engine.train.lm_data import load_token_cache
    from engine.train.lm_trainer import _tokenized
    made = _tokenized(built_sample, "train", MotionTokenizer.load(tiny_vq_dir, device="cpu"), tmp_path, False)
    cached = load_token_cache(tmp_path / "tokens_train.npz")
    assert [(c.clip_id, c.captions) for c in made] == [(c.clip_id, c.captions) for c in cached]
    for a, b in zip(made, cached):
        assert len(a.variants) == len(b.variants)
        assert all(x.dtype == y.dtype == np.int64 and np.array_equal(x, y) for x, y in zip(a.variants, b.variants))


def test_sigterm_and_a_background_ctrl_c_save_a_checkpoint(tmp_path, built_sample, tiny_vq_dir):
    """A run stopped by SIGTERM (a scheduler), or by SIGINT when it was started
    in the background with SIGINT ignored, saves where it stopped."""
    import json
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    repo = Path(__file__).resolve().parents[1]
    for sig in (signal.SIGTERM, signal.SIGINT):
        out = tmp_path / f"run_{sig.name}"
        code = ("import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); sys.argv = ['motiongpt'] + "
                f"{['train-lm', '--data', str(built_sample), '--vq', str(tiny_vq_dir), '--out', str(out), '--preset', 'tiny', '--stage1-steps', '5', '--stage2-steps', '100000', '--batch-size', '4', '--val-every', '100000', '--device', 'cpu', '--quiet']!r}; "
                "from engine.cli import main; sys.exit(main())")
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=repo, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while not (out / "cache").is_dir() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3.0)                                   # a few steps past the tokenising
        proc.send_signal(sig)
        output = proc.communicate(timeout=120)[0]
        assert proc.returncode == 130, output[-2000:]
        state = json.loads((out / "lm" / "trainer_state.json").read_text())
        assert state["step"] > 0 and "interrupted at step" in output


def test_export_takes_a_fine_tuned_decoder_and_refuses_other_codes(tiny_bundle, built_sample, tmp_path, capsys):
    """export-model --vq swaps in a decoder fine-tuned with --decoder-only
    (the language model's tokens still mean what it learned); a tokenizer
    whose encoder or codebook moved would not, and is refused by name."""
    from engine.train.vq_trainer import train_vq
    fast = dict(batch_size=8, window=32, lr=1e-3, warmup=2, progress=False, device="cpu", log=lambda msg: None)
    decoder = train_vq(built_sample, tmp_path / "decoder", steps=5, val_every=100, init_from=tiny_bundle / "vq",
                       decoder_only=True, **fast)["out_dir"]
    assert main(["export-model", str(tiny_bundle), "--vq", decoder, "--out", str(tmp_path / "shipped")]) == 0
    shipped, source = MotionGPT.load(tmp_path / "shipped", device="cpu"), MotionGPT.load(tiny_bundle, device="cpu")
    clip = np.load(next((built_sample / "new_joint_vecs").glob("*.npy")))
    assert np.array_equal(shipped.vq.encode(clip), source.vq.encode(clip))
    assert not np.allclose(shipped.vq.decode(source.vq.encode(clip)), source.vq.decode(source.vq.encode(clip)))
    assert (tmp_path / "shipped" / "prompts").is_dir()
    moved = train_vq(built_sample, tmp_path / "moved", steps=5, val_every=100, init_from=tiny_bundle / "vq",
                     **fast)["out_dir"]
    assert main(["export-model", str(tiny_bundle), "--vq", moved, "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "differs from" in err and "--decoder-only" in err

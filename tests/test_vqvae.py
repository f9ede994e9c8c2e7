"""The motion tokenizer: official key layout, batched = unbatched, training,
determinism, resuming, file errors and the train-vq command."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import checkpoint as ckpt
from engine.cli import main as cli_main
from engine.data import humanml3d
from engine.errors import MotionFileError, MotionGPTError, MotionShapeError
from engine.models.motion_tokenizer import MotionTokenizer
from engine.models.vqvae import MotionVQVAE, VQConfig
from engine.motion.features import features_to_joints
from engine.train.vq_trainer import train_vq



pytestmark = pytest.mark.usefixtures("one_torch_thread")


# Short, fast settings for the tiny model on the 40-clip sample.
FAST = dict(batch_size=16, window=32, lr=1e-3, warmup=10, progress=False, device="cpu", log=lambda msg: None)


def _mpjpe_mm(tok: MotionTokenizer, features: np.ndarray) -> float:
    features = features[: len(features) // 4 * 4]
    recon = tok.decode(tok.encode(features))
    return 1000.0 * float(np.linalg.norm(features_to_joints(features) - features_to_joints(recon), axis=-1).mean())


# ----------------------------------------------------------------------------- architecture

def test_official_config_has_exactly_the_official_state_dict_keys():
    model = MotionVQVAE(VQConfig.official())
    sd = model.state_dict()
    # encoder: in-conv, 2 x (down-conv + 3 res blocks of 2 convs), out-conv; decoder: in-conv,
    # 2 x (3 res blocks + conv), 2 convs; quantizer: codebook.  Weight + bias per conv.
    assert len(sd) == 2 * (1 + 2 * (1 + 3 * 2) + 1) + 2 * (1 + 2 * (3 * 2 + 1) + 2) + 1 == 67
    for key, shape in {
        "encoder.model.0.weight": (512, 263, 3),
        "encoder.model.2.0.weight": (512, 512, 4),
        "encoder.model.2.1.model.0.conv1.weight": (512, 512, 3),
        "encoder.model.3.1.model.2.conv2.weight": (512, 512, 1),
        "encoder.model.4.weight": (512, 512, 3),
        "decoder.model.0.weight": (512, 512, 3),
        "decoder.model.2.0.model.0.conv1.weight": (512, 512, 3),
        "decoder.model.2.2.weight": (512, 512, 3),
        "decoder.model.3.2.bias": (512,),
        "decoder.model.4.weight": (512, 512, 3),
        "decoder.model.6.weight": (263, 512, 3),
        "quantizer.codebook": (512, 512),
    }.items():
        assert tuple(sd[key].shape) == shape, key
    pattern = __import__("re").compile(
        r"^(encoder\.model\.(0|4|2\.0|3\.0|[23]\.1\.model\.[012]\.conv[12])"
        r"|decoder\.model\.(0|4|6|[23]\.2|[23]\.0\.model\.[012]\.conv[12]))\.(weight|bias)$|^quantizer\.codebook$")
    assert [k for k in sd if not pattern.match(k)] == []
    # EMA statistics are buffers that move with .to() but are not saved
    assert {name for name, _ in model.quantizer.named_buffers()} == {"codebook", "code_sum", "code_count",
                                                                    "initialised"}
    # the dilations run 9, 3, 1 in both halves
    assert [b.conv1.dilation[0] for b in model.encoder.model[2][1].model] == [9, 3, 1]
    assert [b.conv1.dilation[0] for b in model.decoder.model[2][0].model] == [9, 3, 1]
    assert 19_000_000 < model.num_parameters() < 20_000_000


def test_an_official_style_vae_state_dict_loads_strictly():
    src = MotionVQVAE(VQConfig.official())
    with torch.no_grad():
        src.quantizer.codebook.normal_()
    official = {f"vae.{k}": v for k, v in src.state_dict().items()}  # as in the MotionGPT checkpoint
    dst = MotionVQVAE(VQConfig.official())
    dst.load_state_dict({k[len("vae."):]: v for k, v in official.items()}, strict=True)
    assert torch.equal(dst.quantizer.codebook, src.quantizer.codebook)
    assert bool(dst.quantizer.initialised)  # a loaded codebook is not re-initialised by fine-tuning


def test_config_round_trip_and_unknown_keys():
    cfg = VQConfig.tiny()
    assert VQConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert VQConfig.official().to_dict()["code_num"] == 512 and VQConfig.small().width == 256
    with pytest.raises(MotionGPTError, match="unknown keys.*nb_code"):
        VQConfig.from_dict({**cfg.to_dict(), "nb_code": 512})
    with pytest.raises(MotionGPTError, match="code_dim"):
        VQConfig(code_dim=64, output_emb_width=32)


def _trained_tiny(seed: int = 0) -> MotionVQVAE:
    torch.manual_seed(seed)
    model = MotionVQVAE(VQConfig.tiny())
    model.train()
    model(torch.randn(8, 64, 263))  # initialises the codebook from encoder outputs
    return model.eval()


def test_shapes_and_batched_encode_decode_equal_one_at_a_time():
    model = _trained_tiny()
    lengths = [64, 37, 20, 8, 3, 61]
    gen = torch.Generator().manual_seed(1)
    seqs = [torch.randn(n, 263, generator=gen) for n in lengths]
    batch = 5.0 * torch.randn(len(seqs), 64, 263, generator=gen)  # padding is garbage on purpose
    for i, s in enumerate(seqs):
        batch[i, : len(s)] = s
    batched = model.encode(batch, torch.tensor(lengths))
    assert [len(t) for t in batched] == [n // 4 for n in lengths]
    for s, tokens in zip(seqs, batched):
        assert tokens.dtype == torch.long
        assert torch.equal(tokens, model.encode(s[None])[0])
    assert len({int(t) for seq in batched for t in seq}) > 3  # not a degenerate codebook
    # without the lengths the padding leaks into the boundary tokens, so the mask is what makes this work
    unmasked = model.encode(batch)
    assert any(not torch.equal(unmasked[i][: len(batched[i])], batched[i]) for i in range(len(seqs)))

    nonempty = [t for t in batched if len(t)]
    frames, out_lengths = model.decode(nonempty)
    assert frames.shape == (len(nonempty), 4 * max(len(t) for t in nonempty), 263)
    assert out_lengths.tolist() == [4 * len(t) for t in nonempty]
    for i, tokens in enumerate(nonempty):
        alone, n = model.decode([tokens])
        assert alone.shape == (1, 4 * len(tokens), 263) and int(n[0]) == 4 * len(tokens)
        torch.testing.assert_close(frames[i, : 4 * len(tokens)], alone[0], atol=1e-5, rtol=1e-5)
        assert not frames[i, 4 * len(tokens):].any()
    # the masked training forward of a padded batch equals each sequence's own forward
    keep = [i for i, n in enumerate(lengths) if n >= 4]
    recon, _, _ = model(batch[keep], torch.tensor([lengths[i] for i in keep]))
    for row, i in enumerate(keep):
        n = lengths[i] // 4 * 4
        alone, _, _ = model(seqs[i][None, :n])
        torch.testing.assert_close(recon[row, :n], alone[0], atol=1e-5, rtol=1e-5)
    same_length = torch.stack([batched[0][:5], batched[5][:5]])
    assert model.decode(same_length)[0].shape == (2, 20, 263)
    with pytest.raises(MotionShapeError, match="0..63"):
        model.decode([torch.tensor([0, 64])])


def test_eval_never_changes_the_codebook_and_training_does():
    model = _trained_tiny()
    before = model.quantizer.codebook.clone()
    model(torch.randn(4, 32, 263))
    model.encode(torch.randn(2, 32, 263))
    assert torch.equal(model.quantizer.codebook, before)
    model.train()
    _, commit, perplexity = model(torch.randn(4, 32, 263))
    assert not torch.equal(model.quantizer.codebook, before)
    assert commit.item() >= 0 and 1.0 <= perplexity.item() <= 64


def test_tokenizer_round_trip_on_raw_features(built_sample, tmp_path):
    mean, std = humanml3d.load_stats(built_sample)
    tok = MotionTokenizer(_trained_tiny(), mean, std, device="cpu")
    clips = humanml3d.load_split(built_sample, "train")[:3]
    tokens = tok.encode_batch([c.features for c in clips])
    for clip, t in zip(clips, tokens):
        assert t.dtype == np.int64 and t.shape == (len(clip.features) // 4,)
        np.testing.assert_array_equal(t, tok.encode(clip.features))
    decoded = tok.decode_batch(tokens)
    for t, d in zip(tokens, decoded):
        assert d.shape == (4 * len(t), 263) and d.dtype == np.float32
        np.testing.assert_allclose(d, tok.decode(t), atol=1e-4)
    folder = tok.save(tmp_path / "tok")
    again = MotionTokenizer.load(folder, device="cpu")
    np.testing.assert_array_equal(again.encode(clips[0].features), tokens[0])
    with pytest.raises(MotionShapeError, match="at least 4"):
        tok.encode(np.zeros((3, 263), np.float32))


def test_without_the_codebook_the_round_trip_skips_only_the_nearest_code(built_sample):
    """The bound tokenizer_ceiling.py reports: the continuous latents decoded.
    With a codebook holding exactly this clip's latents, quantization loses
    nothing and the coded round trip equals it; with the trained codebook it
    differs."""
    mean, std = humanml3d.load_stats(built_sample)
    model = _trained_tiny()
    tok = MotionTokenizer(model, mean, std, device="cpu", edge_pad_tokens=0)
    clip = humanml3d.load_split(built_sample, "train")[0].features[:50]
    continuous = tok.reconstruct_without_codebook(clip)
    assert continuous.shape == (48, 263) and continuous.dtype == np.float32
    assert np.abs(continuous - tok.decode(tok.encode(clip))).max() > 1e-3
    with torch.no_grad():
        x = torch.from_numpy(((clip[:48] - mean) / std).astype(np.float32))[None]
        latents = model.encoder(x.permute(0, 2, 1))[0].T                      # (12, code_dim)
        model.quantizer.codebook[: len(latents)] = latents
    np.testing.assert_allclose(tok.decode(tok.encode(clip)), continuous, atol=1e-4)
    with pytest.raises(MotionShapeError, match="at least 4"):
        tok.reconstruct_without_codebook(np.zeros((3, 263), np.float32))


# ----------------------------------------------------------------------------- training

def test_decoding_eases_each_end_over_to_a_decode_with_the_end_held(built_sample):
    """The decoder saw zeros past a sequence's ends and its first and last
    frames popped: the first and last EDGE_FIX_FRAMES frames come from a
    decode with each end held for EDGE_PAD_TOKENS more tokens, eased back
    to the plain decode, which every other frame keeps."""
    from engine.models.motion_tokenizer import EDGE_FIX_FRAMES, EDGE_PAD_TOKENS
    mean, std = humanml3d.load_stats(built_sample)
    tok = MotionTokenizer(_trained_tiny(), mean, std, device="cpu")
    bare = MotionTokenizer(_trained_tiny(), mean, std, device="cpu", edge_pad_tokens=0)
    tokens = [np.array([3, 9, 9, 40, 7, 7, 21]), np.array([12, 5, 5])]
    decoded = tok.decode_batch(tokens)
    assert [d.shape for d in decoded] == [(28, 263), (12, 263)]
    k, m = EDGE_PAD_TOKENS, EDGE_FIX_FRAMES
    for t, d in zip(tokens, decoded):
        plain = bare.decode(t)
        held = bare.decode(np.concatenate([np.repeat(t[:1], k), t, np.repeat(t[-1:], k)]))[4 * k: 4 * (k + len(t))]
        np.testing.assert_allclose(d[m:-m], plain[m:-m], atol=1e-5)          # the inside is the plain decode
        np.testing.assert_allclose(d[[0, -1]], held[[0, -1]], atol=1e-5)     # the end frames are the held one's
        assert np.abs(d[0] - plain[0]).max() > 1e-3


def test_training_reduces_the_reconstruction_error(built_sample, tmp_path):
    clip = humanml3d.load_clip(built_sample, "dataset-1_walk_active_001").features
    mean, std = humanml3d.load_stats(built_sample)
    torch.manual_seed(0)  # train_vq initialises its model from the same seed
    before = _mpjpe_mm(MotionTokenizer(MotionVQVAE(VQConfig.tiny()), mean, std, "cpu"), clip)
    result = train_vq(built_sample, tmp_path / "vq", VQConfig.tiny(), steps=200, val_every=100, seed=0,
                      val_at_start=True, **{**FAST, "window": 64})
    after = _mpjpe_mm(MotionTokenizer.load(tmp_path / "vq", device="cpu"), clip)
    assert after < 0.5 * before, (before, after)
    assert result["val_split"] == "train"  # the sample has no val split
    history = result["val_history"]
    assert [h["step"] for h in history] == [0, 100, 200]
    assert history[-1]["val_mpjpe_mm"] < 0.7 * history[0]["val_mpjpe_mm"]
    assert history[-1]["val_root_rel_mpjpe_mm"] < history[0]["val_root_rel_mpjpe_mm"]
    assert np.mean(result["losses"][-20:]) < 0.85 * np.mean(result["losses"][:20])
    assert (tmp_path / "vq" / "best" / "model.safetensors").is_file()
    state = ckpt.read_trainer_state(tmp_path / "vq")
    assert state["step"] == 200 and state["seed"] == 0 and state["best_val_mpjpe_mm"] is not None


def test_training_is_deterministic(built_sample, tmp_path):
    a = train_vq(built_sample, tmp_path / "a", VQConfig.tiny(), steps=15, val_every=15, seed=3, **FAST)
    b = train_vq(built_sample, tmp_path / "b", VQConfig.tiny(), steps=15, val_every=15, seed=3, **FAST)
    c = train_vq(built_sample, tmp_path / "c", VQConfig.tiny(), steps=15, val_every=15, seed=4, **FAST)
    assert a["losses"] == b["losses"]
    assert a["losses"] != c["losses"]
    assert a["val_history"][-1]["val_mpjpe_mm"] == b["val_history"][-1]["val_mpjpe_mm"]
    with pytest.raises(MotionGPTError, match="multiple of 4"):
        train_vq(built_sample, tmp_path / "d", VQConfig.tiny(), steps=5, **{**FAST, "window": 30})


def test_resume_repeats_the_uninterrupted_run(built_sample, tmp_path):
    """Batches and the quantizer's random resets depend only on (seed, step),
    and model, optimizer and EMA statistics are checkpointed, so on the CPU the
    resumed run is bit-identical to the straight one."""
    straight = train_vq(built_sample, tmp_path / "straight", VQConfig.tiny(), steps=24, val_every=100, **FAST)
    first = train_vq(built_sample, tmp_path / "resumed", VQConfig.tiny(), steps=12, val_every=100, **FAST)
    with pytest.raises(MotionGPTError, match="--resume"):
        train_vq(built_sample, tmp_path / "resumed", VQConfig.tiny(), steps=24, **FAST)
    second = train_vq(built_sample, tmp_path / "resumed", None, steps=24, val_every=100, resume=True, **FAST)
    assert second["start_step"] == 12 and second["step"] == 24
    assert first["losses"] + second["losses"] == straight["losses"]
    a = ckpt.load_weights(tmp_path / "straight" / "model.safetensors")
    b = ckpt.load_weights(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(MotionGPTError, match="nothing to resume"):
        train_vq(built_sample, tmp_path / "fresh", None, steps=5, resume=True, **FAST)


def test_a_stop_request_ends_the_run_after_that_step_with_a_checkpoint(built_sample, tmp_path):
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) >= 3

    straight = train_vq(built_sample, tmp_path / "straight", VQConfig.tiny(), steps=6, val_every=100, **FAST)
    stopped = train_vq(built_sample, tmp_path / "stopped", VQConfig.tiny(), steps=6, val_every=100,
                       should_stop=should_stop, **FAST)
    assert stopped["interrupted"] and not straight["interrupted"]
    assert stopped["step"] == 3 and len(calls) == 3
    assert stopped["losses"] == straight["losses"][:3]
    assert ckpt.read_trainer_state(tmp_path / "stopped")["step"] == 3


# ----------------------------------------------------------------------------- files and CLI

def test_corrupt_or_missing_tokenizer_files(built_sample, tmp_path):
    mean, std = humanml3d.load_stats(built_sample)
    folder = MotionTokenizer(_trained_tiny(), mean, std, "cpu").save(tmp_path / "tok")
    with pytest.raises(MotionFileError, match="not found"):
        MotionTokenizer.load(tmp_path / "nowhere")

    broken = tmp_path / "truncated"
    shutil.copytree(folder, broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(MotionFileError, match="model.safetensors.*truncated or corrupt"):
        MotionTokenizer.load(broken)

    wrong = tmp_path / "wrong_config"
    shutil.copytree(folder, wrong)
    (wrong / "config.json").write_text(json.dumps({"model_type": "motion_vqvae",
                                                   "vqvae": VQConfig.small().to_dict()}))
    with pytest.raises(MotionFileError, match="does not match the model.*wrong shapes"):
        MotionTokenizer.load(wrong)

    (wrong / "config.json").write_text('{"model_type": "motion_vqvae", "vqvae": {"bogus": 1}}')
    with pytest.raises(MotionFileError, match="config.json.*unknown keys bogus"):
        MotionTokenizer.load(wrong)

    no_std = tmp_path / "no_std"
    shutil.copytree(folder, no_std)
    (no_std / "std.npy").unlink()
    with pytest.raises(MotionFileError, match="std.npy"):
        MotionTokenizer.load(no_std)
    (no_std / "mean.npy").write_bytes(b"garbage")
    (no_std / "std.npy").write_bytes(b"garbage")
    with pytest.raises(MotionFileError, match="mean.npy.*cannot be read"):
        MotionTokenizer.load(no_std)

    # without any statistics (a converted official checkpoint) it loads but will not encode until given them
    no_stats = MotionTokenizer(_trained_tiny(), None, None, "cpu").save(tmp_path / "no_stats")
    tok = MotionTokenizer.load(no_stats, device="cpu")
    assert not tok.has_stats
    with pytest.raises(MotionGPTError, match="no normalisation statistics"):
        tok.encode(np.zeros((8, 263), np.float32))
    tok.set_stats(mean, std)
    assert tok.encode(np.zeros((8, 263), np.float32)).shape == (2,)


def test_train_vq_command_writes_a_loadable_folder(built_sample, tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli_main(["train-vq", "--data", str(built_sample), "--out", str(out), "--preset", "tiny",
                     "--steps", "6", "--batch-size", "8", "--window", "32", "--val-every", "3", "--warmup", "2",
                     "--device", "cpu", "--quiet"])
    assert code == 0
    printed = capsys.readouterr()
    assert "finished at step 6" in printed.out and "validating on the training split" in printed.err
    tok = MotionTokenizer.load(out, device="cpu")
    clip = humanml3d.load_split(built_sample, "train")[0].features
    assert tok.decode(tok.encode(clip)).shape == (len(clip) // 4 * 4, 263)
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 2
    # the same folder again without --resume is refused, with --resume it goes on
    assert cli_main(["train-vq", "--data", str(built_sample), "--out", str(out), "--steps", "8",
                     "--device", "cpu", "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli_main(["train-vq", "--data", str(built_sample), "--out", str(out), "--steps", "8", "--batch-size",
                     "8", "--window", "32", "--warmup", "2", "--val-every", "3", "--device", "cpu", "--quiet",
                     "--resume"]) == 0
    assert ckpt.read_trainer_state(out)["step"] == 8


def test_init_from_starts_at_the_trained_tokenizer(built_sample, tmp_path):
    """Fine-tuning starts where the source tokenizer is: its first loss is
    the trained one's, not a random model's."""
    source = tmp_path / "source"
    trained = train_vq(built_sample, source, VQConfig.tiny(), steps=150, val_every=1000, **FAST)
    tuned = train_vq(built_sample, tmp_path / "tuned", VQConfig.small(), steps=2, val_every=100, init_from=source,
                     **{**FAST, "lr": 1e-9})
    fresh = train_vq(built_sample, tmp_path / "fresh", VQConfig.tiny(), steps=2, val_every=100, **FAST)
    assert tuned["config"] == trained["config"]                 # the source's config, not the preset given
    settled = float(np.mean(trained["losses"][-10:]))
    assert tuned["losses"][0] < 0.9 * fresh["losses"][0]
    assert abs(tuned["losses"][0] - settled) < 0.15 * settled, (tuned["losses"][0], settled)


def test_decoder_only_keeps_every_token_and_trains_the_decoder(built_sample, tmp_path):
    """--decoder-only changes what tokens decode to, never which tokens a clip
    gets: a language model trained on the source's tokens stays valid."""
    source = tmp_path / "source"
    train_vq(built_sample, source, VQConfig.tiny(), steps=60, val_every=1000, **FAST)
    with pytest.raises(MotionGPTError, match="--init-from"):
        train_vq(built_sample, tmp_path / "bare", VQConfig.tiny(), steps=2, val_every=100, decoder_only=True, **FAST)
    result = train_vq(built_sample, tmp_path / "tuned", VQConfig.tiny(), steps=40, val_every=20, init_from=source,
                      decoder_only=True, **{**FAST, "lr": 1e-3})
    assert ckpt.read_trainer_state(tmp_path / "tuned")["args"]["decoder_only"] is True
    before, after = (ckpt.load_weights(f / "model.safetensors") for f in (source, tmp_path / "tuned"))
    for name, value in before.items():
        changed = not torch.equal(value, after[name])
        assert changed == name.startswith("decoder."), name
    clip = humanml3d.load_clip(built_sample, "dataset-1_walk_active_001").features
    old, new = (MotionTokenizer.load(f, device="cpu") for f in (source, tmp_path / "tuned"))
    assert np.array_equal(old.encode(clip), new.encode(clip))
    assert not np.allclose(old.decode(old.encode(clip)), new.decode(new.encode(clip)))
    assert len(result["val_history"]) == 2
    notes: list[str] = []                     # resumed without the flag: still decoder-only, and told of the change
    train_vq(built_sample, tmp_path / "tuned", VQConfig.tiny(), steps=44, val_every=20, resume=True, root_weight=2.0,
             **{**FAST, "lr": 1e-3, "log": notes.append})
    resumed = ckpt.load_weights(tmp_path / "tuned" / "model.safetensors")
    assert all(torch.equal(v, resumed[k]) for k, v in before.items() if not k.startswith("decoder."))
    assert any("root_weight 1.0 -> 2.0" in n for n in notes), notes


def test_balanced_batches_draw_a_rare_action_far_more_often():
    """A pose only a one-clip action holds (lying, crawling) must reach the
    tokenizer often enough to get codes of its own: with balance power 0 the
    one 'crawl' clip among 99 walks fills about half the windows, with the
    default (no clip_p) the draw is the uniform one it always was."""
    from engine.train.lm_data import balanced_clip_p
    from engine.train.vq_trainer import make_batch
    clips = [np.full((40, 3), i, dtype=np.float32) for i in range(100)]
    actions = {f"c{i}": "walk" for i in range(99)} | {"c99": "crawl"}
    p = balanced_clip_p([f"c{i}" for i in range(100)], actions, 0.0)
    drawn = np.concatenate([make_batch(clips, 64, 16, seed=0, step=s, clip_p=p)[0][:, 0, 0].numpy()
                            for s in range(20)])
    assert 0.4 < float((drawn == 99).mean()) < 0.6
    uniform = np.concatenate([make_batch(clips, 64, 16, seed=0, step=s)[0][:, 0, 0].numpy() for s in range(20)])
    assert float((uniform == 99).mean()) < 0.05
    rng = np.random.default_rng([0, 3])
    assert (make_batch(clips, 64, 16, seed=0, step=3)[0][:, 0, 0].numpy() == rng.integers(0, 100, size=64)).all()

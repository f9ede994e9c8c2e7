"""Converting the official MotionGPT checkpoint, tested on a synthetic file
with the official key names and structure (the real one cannot be
downloaded here): FLAN-T5 layout (gated FFN, untied lm_head, T5 text vocab
plus K+3 motion tokens) and the VQ-VAE's ``vae.*`` names, tiny sizes."""
import json

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.errors import MotionFileError
from engine.lm import model as lm_model
from engine.lm.tokenizer import MotionTextTokenizer
from engine.models.bundle import read_bundle_manifest
from engine.models.motion_tokenizer import MotionTokenizer
from engine.models.official import convert_official
from engine.models.vqvae import MotionVQVAE, VQConfig
from support import tiny_t5_tokenizer_folder

K = 16
CORPUS = ["a person walks forward", "someone waves the left hand", "a man runs in a circle",
          "the person bows", "a woman raises both hands", "walk then turn left"] * 20


@pytest.fixture
def official_files(tmp_path):
    """(checkpoint.tar, t5 folder, the modules whose weights it holds)."""
    t5_dir = tmp_path / "flan-t5"
    tiny_t5_tokenizer_folder(t5_dir, CORPUS)
    tokenizer = MotionTextTokenizer.from_t5_folder(t5_dir, K)
    t5_config = {"d_model": 32, "d_ff": 48, "d_kv": 8, "num_heads": 4, "num_layers": 2, "num_decoder_layers": 2,
                 "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "dropout_rate": 0.1,
                 "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
                 "vocab_size": 32128, "model_type": "t5"}
    (t5_dir / "config.json").write_text(json.dumps(t5_config))
    torch.manual_seed(0)
    vq = MotionVQVAE(VQConfig(code_num=K, code_dim=24, output_emb_width=24, width=32))
    with torch.no_grad():
        vq.quantizer.codebook.normal_()
    cfg = lm_model.tiny(d_model=32, d_ff=48, d_kv=8, num_heads=4, num_layers=2, num_decoder_layers=2,
                        tie_word_embeddings=False).with_tokenizer(tokenizer)
    t5 = lm_model.build_model(cfg)
    state = {f"vae.{k}": v for k, v in vq.state_dict().items()}
    state.update({f"lm.language_model.{k}": v for k, v in t5.state_dict().items()})
    state["_losses.recons.weight"] = torch.zeros(1)
    state["metrics.TM2TMetrics.count"] = torch.tensor(3)
    path = tmp_path / "motiongpt_s3_h3d.tar"
    torch.save({"state_dict": state, "epoch": 99, "global_step": 12345}, path)
    return path, t5_dir, vq, t5, tokenizer


def test_strict_conversion_keeps_every_weight(official_files, tmp_path, built_sample):
    path, t5_dir, vq, t5, tokenizer = official_files
    out = convert_official(path, t5_dir, tmp_path / "official", stats_dir=built_sample)
    assert read_bundle_manifest(out)["codebook_size"] == K
    loaded_vq = MotionTokenizer.load(out / "vq", device="cpu")
    for key, value in vq.state_dict().items():
        torch.testing.assert_close(loaded_vq.model.state_dict()[key], value)
    model, config, tok = lm_model.load_lm(out / "lm")
    assert config.t5["feed_forward_proj"] == "gated-gelu" and not config.tie_word_embeddings
    for key, value in t5.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    assert model.lm_head.weight.data_ptr() != model.shared.weight.data_ptr()
    assert len(tok) == len(tokenizer) and tok.motion_offset == tokenizer.motion_offset
    text = "a person walks <motion_id_16><motion_id_3><motion_id_17>"
    assert tok.encode_prompt(text) == tokenizer.encode_prompt(text)


def test_cli_converts_and_warns_without_stats(official_files, tmp_path, capsys):
    path, t5_dir, *_ = official_files
    assert main(["convert-official", str(path), "--t5", str(t5_dir), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "Mean.npy" in out
    assert not read_bundle_manifest(tmp_path / "o")["has_stats"]


def test_truncated_checkpoint_is_named(official_files, tmp_path):
    path, t5_dir, *_ = official_files
    data = path.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(MotionFileError, match="cut.tar.*cannot be read as a PyTorch checkpoint"):
        convert_official(cut, t5_dir, tmp_path / "o")


def test_partial_checkpoint_lists_missing_keys(official_files, tmp_path):
    path, t5_dir, *_ = official_files
    state = torch.load(path, weights_only=True)["state_dict"]
    del state["vae.decoder.model.6.weight"]
    del state["lm.language_model.decoder.block.1.layer.2.DenseReluDense.wi_0.weight"]
    partial = tmp_path / "partial.tar"
    torch.save({"state_dict": state}, partial)
    with pytest.raises(MotionFileError, match=r"missing keys \(1\): decoder.model.6.weight"):
        convert_official(partial, t5_dir, tmp_path / "o")


def test_foreign_checkpoint_is_refused(tmp_path, official_files):
    _, t5_dir, *_ = official_files
    foreign = tmp_path / "resnet.pth"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(3), "fc.bias": torch.zeros(2)}}, foreign)
    with pytest.raises(MotionFileError, match="not a MotionGPT checkpoint.*no 'vae.\\*' keys.*unexpected keys"):
        convert_official(foreign, t5_dir, tmp_path / "o")


class _Payload:
    """An arbitrary Python object: loading it would need real unpickling."""


def test_pickled_objects_are_refused_not_executed(tmp_path, official_files):
    _, t5_dir, *_ = official_files
    evil = tmp_path / "evil.tar"
    torch.save({"state_dict": {"vae.x": torch.zeros(1)}, "hyper": _Payload()}, evil)
    with pytest.raises(MotionFileError, match="refusing to load it"):
        convert_official(evil, t5_dir, tmp_path / "o")


def test_wrong_t5_folder_is_named(official_files, tmp_path):
    path, _, *_ = official_files
    other = tmp_path / "other-t5"
    tiny_t5_tokenizer_folder(other, CORPUS[:6] + ["completely different words here"] * 5)
    (other / "config.json").write_text("{}")
    with pytest.raises(MotionFileError, match="other-t5"):
        convert_official(path, other, tmp_path / "o")

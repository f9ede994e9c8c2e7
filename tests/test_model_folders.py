"""Model folders fit the Hugging Face ecosystem (issue 14, part 1): lm/ loads
and generates with transformers' Auto classes alone, vq/ with a small
from_pretrained, the card has front matter; format-1 folders still load and
convert; the default model folder comes from --model, $MOTIONGPT_MODEL, the
checkout, or -- for an engine installed without the repository -- a per-user
folder that the error message names."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.models.bundle import DEFAULT_MODEL_DIR, file_sha256, read_bundle_manifest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LM = DEFAULT_MODEL_DIR / "lm"
PROMPT = "Generate a motion: a person waves with the right hand."


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_default_lm_loads_and_generates_with_transformers_alone():
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, GenerationConfig
    config = AutoConfig.from_pretrained(DEFAULT_LM)
    assert config.model_type == "t5" and config.architectures == ["T5ForConditionalGeneration"]
    generation = GenerationConfig.from_pretrained(DEFAULT_LM)
    assert generation.do_sample and (generation.top_k, generation.top_p, generation.temperature) == (50, 1.0, 1.0)
    assert generation.to_dict().get("motion_guidance_scale") == 3.0       # v1.0's guidance (the engine's key)
    assert (generation.decoder_start_token_id, generation.pad_token_id, generation.eos_token_id) == (0, 0, 1)
    tokenizer = AutoTokenizer.from_pretrained(DEFAULT_LM)
    model = AutoModelForSeq2SeqLM.from_pretrained(DEFAULT_LM)
    assert model.dtype == torch.float32            # float16 on disk, float32 to compute (config "dtype")
    inputs = tokenizer(PROMPT, return_tensors="pt")
    torch.manual_seed(0)
    out = model.generate(**inputs, num_return_sequences=4)   # every setting from generation_config.json
    texts = tokenizer.batch_decode(out, skip_special_tokens=True)

    # what came out is the engine's motion language: parse it strictly and decode it with vq/
    from engine.lm.vocab import MotionParseError, MotionVocab
    from engine.models.vqvae import MotionVQVAE
    vocab = MotionVocab(512)
    vq = MotionVQVAE.from_pretrained(DEFAULT_MODEL_DIR / "vq")
    valid = []
    for text in texts:
        assert text.startswith("<motion_id_512>"), text[:80]            # begins a motion, no text tokens
        try:
            valid.append(vocab.parse(text, strict=True))
        except MotionParseError:
            pass                                                         # ran past max_new_tokens unclosed
    assert len(valid) >= 3, texts
    features, lengths = vq.decode([torch.as_tensor(codes) for codes in valid])
    assert lengths.tolist() == [4 * len(codes) for codes in valid] and torch.isfinite(features).all()


def test_default_lm_is_the_same_model_to_transformers_and_to_the_engine():
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    from engine.lm.generate import encode_batch
    from engine.lm.runtime import load_runtime
    runtime, config, engine_tok = load_runtime(DEFAULT_LM)
    hf_tok = AutoTokenizer.from_pretrained(DEFAULT_LM)
    hf = AutoModelForSeq2SeqLM.from_pretrained(DEFAULT_LM).eval()
    prompts = [PROMPT, "Describe this motion: <motion_id_3><motion_id_7>", "A Person WALKS!! then jumps..."]
    for prompt in prompts:     # the same ids: the engine's normaliser and motion tokens travel in tokenizer.json
        assert hf_tok(prompt)["input_ids"] == engine_tok.encode_prompt(prompt)
    ids, mask = encode_batch(engine_tok, prompts[:1], "cpu")
    dec = torch.tensor([[0, engine_tok.bom_id, engine_tok.motion_offset + 41, engine_tok.motion_offset + 396]])
    with torch.no_grad():
        want = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
    assert (runtime.logits(ids, mask, dec) - want).abs().max() < 1e-4


def test_vq_folder_reads_with_its_own_from_pretrained(tmp_path):
    from engine.models.motion_tokenizer import MotionTokenizer
    from engine.models.vqvae import MotionVQVAE
    data = json.loads((DEFAULT_MODEL_DIR / "vq" / "config.json").read_text())
    assert data["model_type"] == "motion_vqvae" and data["architectures"] == ["MotionVQVAE"]
    vq = MotionVQVAE.from_pretrained(DEFAULT_MODEL_DIR / "vq")
    assert not vq.training and vq.config.code_num == 512
    full = MotionTokenizer.load(DEFAULT_MODEL_DIR / "vq", device="cpu")
    for key, value in full.model.state_dict().items():
        assert torch.equal(vq.state_dict()[key], value)
    vq.save_pretrained(tmp_path / "vq")
    again = MotionVQVAE.from_pretrained(tmp_path / "vq")
    assert again.config == vq.config and all(torch.equal(again.state_dict()[k], v) for k, v in vq.state_dict().items())
    # the earlier nested config ({"model_type", "vqvae": {...}}) still reads
    nested = {"model_type": "motion_vqvae", "vqvae": vq.config.to_dict()}
    (tmp_path / "vq" / "config.json").write_text(json.dumps(nested))
    assert MotionVQVAE.from_pretrained(tmp_path / "vq").config == vq.config
    (tmp_path / "vq" / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 3}))
    from engine.errors import MotionFileError
    with pytest.raises(MotionFileError, match="config.json.*'bert' model, not a motion tokenizer"):
        MotionVQVAE.from_pretrained(tmp_path / "vq")


def _front_matter(card: str) -> dict:
    import yaml
    assert card.startswith("---\n")
    return yaml.safe_load(card[4:card.index("\n---\n", 4)])


def test_model_card_has_hub_front_matter():
    meta = _front_matter((DEFAULT_MODEL_DIR / "MODEL_CARD.md").read_text(encoding="utf-8"))
    assert meta["license"] == "cc-by-nc-4.0" and meta["library_name"] == "transformers"
    assert {"text-to-motion", "motiongpt", "t5"} <= set(meta["tags"]) and meta["datasets"]
    assert meta["language"] == ["en"]


def test_default_folder_hashes_cover_the_new_files():
    manifest = read_bundle_manifest(DEFAULT_MODEL_DIR)
    assert manifest["format_version"] == 2 and "sampling" not in manifest
    for rel in ("lm/config.json", "lm/generation_config.json", "lm/motiongpt.json", "lm/tokenizer.json",
                "lm/tokenizer_config.json", "lm/motion_tokenizer.json", "vq/config.json", "vq/model.safetensors"):
        assert manifest["sha256"][rel] == file_sha256(DEFAULT_MODEL_DIR / rel), rel
    assert not (DEFAULT_LM / "tokenizer").exists()


# ----------------------------------------------------------------------------- format 1

def write_format1(dest: Path, source: Path = DEFAULT_MODEL_DIR) -> Path:
    """``source`` rewritten in the layout before this issue: LMConfig's flat
    fields in lm/config.json, the tokenizer in lm/tokenizer/, the sampling in
    model.json, format_version 1, the same weight files."""
    from engine.models.bundle import bundle_hashes
    shutil.copytree(source / "vq", dest / "vq")
    (dest / "lm" / "tokenizer").mkdir(parents=True)
    shutil.copy2(source / "lm" / "model.safetensors", dest / "lm" / "model.safetensors")
    for name in ("tokenizer.json", "tokenizer_config.json", "motion_tokenizer.json"):
        shutil.copy2(source / "lm" / name, dest / "lm" / "tokenizer" / name)
    t5 = json.loads((source / "lm" / "config.json").read_text())
    settings = json.loads((source / "lm" / "motiongpt.json").read_text())
    old = {k: t5[k] for k in ("d_model", "d_ff", "num_layers", "num_decoder_layers", "num_heads", "d_kv",
                              "feed_forward_proj", "dropout_rate", "tie_word_embeddings",
                              "relative_attention_num_buckets", "relative_attention_max_distance",
                              "layer_norm_epsilon", "vocab_size")}
    old.update(codebook_size=settings["codebook_size"], motion_offset=settings["motion_offset"], extra={},
               kind="motiongpt-t5")
    (dest / "lm" / "config.json").write_text(json.dumps(old, indent=2))
    vq = json.loads((source / "vq" / "config.json").read_text())
    (dest / "vq" / "config.json").write_text(json.dumps(
        {"model_type": "motion_vqvae", "vqvae": {k: v for k, v in vq.items() if k not in ("model_type", "architectures")}}))
    manifest = read_bundle_manifest(source)
    shipped = json.loads((source / "lm" / "generation_config.json").read_text())
    manifest.update(format_version=1, sampling={k: shipped[k] for k in ("top_k", "top_p", "temperature")},
                    sha256=bundle_hashes(dest))
    (dest / "model.json").write_text(json.dumps(manifest, indent=2))
    return dest


@pytest.fixture(scope="module")
def format1(tmp_path_factory):
    return write_format1(tmp_path_factory.mktemp("format1") / "old_model")


def test_format1_folder_loads_and_generates_the_same_motion(format1):
    from engine.models.motiongpt import MotionGPT
    old, new = MotionGPT.load(format1, device="cpu"), MotionGPT.load(DEFAULT_MODEL_DIR, device="cpu")
    # a format-1 folder has no guidance (it predates it); everything else of the sampling carries over
    a, b = new.sampling, old.sampling
    assert (a.top_k, a.top_p or 1.0, a.temperature) == (b.top_k, b.top_p or 1.0, b.temperature)
    assert b.guidance_scale == 1.0
    np.testing.assert_array_equal(old.text_to_motion("a person waves", seconds=2.0, seed=5)[0],
                                  new.text_to_motion("a person waves", seconds=2.0, seed=5, sampling=old.sampling)[0])


def test_export_model_converts_format1_keeping_the_weight_bytes(format1, tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    out = tmp_path / "converted"
    assert main(["export-model", str(format1), "--out", str(out)]) == 0
    for rel in ("lm/model.safetensors", "vq/model.safetensors", "lm/tokenizer.json"):
        assert file_sha256(out / rel) == file_sha256(DEFAULT_MODEL_DIR / rel), rel
    for rel in ("lm/config.json", "lm/generation_config.json", "lm/motiongpt.json", "vq/config.json",
                "lm/tokenizer_config.json"):
        converted, shipped = (json.loads((f / rel).read_text()) for f in (out, DEFAULT_MODEL_DIR))
        shipped.pop("motion_guidance_scale", None)                 # format 1 had no guidance
        assert converted == {k: shipped[k] for k in converted}, rel  # (train-lm also writes T5's defaults)
    assert AutoTokenizer.from_pretrained(out / "lm")(PROMPT)["input_ids"][-1] == 1
    vocab = json.loads((DEFAULT_LM / "config.json").read_text())["vocab_size"]
    assert AutoModelForSeq2SeqLM.from_pretrained(out / "lm").config.vocab_size == vocab
    # in place too, leaving files of the model folder it does not know alone
    (format1 / "prompts").mkdir()
    (format1 / "prompts" / "notes.txt").write_text("kept")
    assert main(["export-model", str(format1), "--out", str(format1), "--top-p", "0.8"]) == 0
    assert not (format1 / "lm" / "tokenizer").exists() and (format1 / "prompts" / "notes.txt").read_text() == "kept"
    assert json.loads((format1 / "lm" / "generation_config.json").read_text())["top_p"] == 0.8
    assert read_bundle_manifest(format1)["format_version"] == 2


def test_a_plain_t5_folder_is_refused_with_what_to_do(tmp_path):
    from engine.errors import MotionFileError
    from engine.lm.runtime import load_runtime
    folder = tmp_path / "plain_t5"
    folder.mkdir()
    shutil.copy2(DEFAULT_LM / "config.json", folder / "config.json")
    shutil.copy2(DEFAULT_LM / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(MotionFileError, match="motiongpt.json.*plain T5 model.*motiongpt export-model"):
        load_runtime(folder)


# ----------------------------------------------------------------------------- which folder is the default

def test_motiongpt_model_env_is_the_default(monkeypatch, tiny_bundle, tmp_path, capsys):
    monkeypatch.setenv("MOTIONGPT_MODEL", str(tiny_bundle))
    assert main(["generate", "a person walks", "--seconds", "1", "--seed", "1", "--out", str(tmp_path / "w.bvh"),
                 "--device", "cpu", "--quiet"]) == 0
    assert (tmp_path / "w.bvh").is_file()
    monkeypatch.setenv("MOTIONGPT_MODEL", str(tmp_path / "nowhere"))
    assert main(["generate", "a person walks", "--out", str(tmp_path / "x.bvh"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"no model at {tmp_path / 'nowhere'} (named by $MOTIONGPT_MODEL)" in err and "--model DIR" in err


def test_an_installed_engine_says_where_to_put_a_model(tmp_path):
    """The engine package alone (as a wheel installs it: no pyproject.toml,
    no models/ beside it) looks in the per-user folder and names it."""
    site = tmp_path / "site-packages"
    shutil.copytree(REPO / "engine", site / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("MOTIONGPT_MODEL", "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-m", "engine", "generate", "a person walks", "--out",
                           str(tmp_path / "w.bvh"), "--quiet"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    where = tmp_path / "data" / "motiongpt" / "models" / "default"
    assert "installed without the MotionGPT for Blender repository" in proc.stderr
    assert f"its default model folder is {where}: put a model folder there" in proc.stderr
    assert "$MOTIONGPT_MODEL" in proc.stderr and "--model DIR" in proc.stderr


@pytest.mark.parametrize("tied", [True, False])
def test_saved_models_load_in_transformers_tied_and_untied(tmp_path, tied):
    """save_lm writes a folder transformers reads back to the same function,
    also for an untied head (FLAN-T5's shape), which transformers 4 and 5
    keep in different config keys."""
    from transformers import AutoModelForSeq2SeqLM
    from engine.lm import model as M
    from engine.lm.tokenizer import build_tokenizer
    tok = build_tokenizer(["a person walks forward.", "someone waves the right hand."] * 5, 16, vocab_size=120)
    torch.manual_seed(0)
    config = M.tiny(tie_word_embeddings=tied).with_tokenizer(tok)
    model = M.build_model(config).eval()
    M.save_lm(tmp_path / "lm", model, config, tok)
    assert json.loads((tmp_path / "lm" / "config.json").read_text())["tie_word_embeddings"] is tied
    again = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "lm").eval()
    ids = torch.tensor([tok.encode_prompt("Generate a motion: a person walks forward.")])
    dec = torch.tensor([[0, tok.bom_id, tok.motion_offset + 3]])
    with torch.no_grad():
        torch.testing.assert_close(again(input_ids=ids, decoder_input_ids=dec).logits,
                                   model(input_ids=ids, decoder_input_ids=dec).logits)
    assert M.load_config(tmp_path / "lm") == config

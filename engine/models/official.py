"""Convert the official MotionGPT checkpoint (``motiongpt_s3_h3d.tar``) into
our model-folder layout.

The official file is a PyTorch Lightning checkpoint whose ``state_dict`` holds
``vae.*`` (the motion VQ-VAE), ``lm.language_model.*`` (FLAN-T5-base with 32100
text + 515 motion tokens, gated FFN, untied lm_head) and training leftovers
(``_losses.*``, ``metrics.*``) that are dropped. It is read with
``torch.load(weights_only=True)``: a file that needs real unpickling is
refused, never executed.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_into, save_checkpoint
from ..data.humanml3d import load_stats
from ..errors import MotionFileError, MotionGPTError
from ..lm.config import EMBEDDING_COPIES
from ..lm.model import LMConfig, build_model, save_lm
from ..lm.tokenizer import EOS_ID, PAD_ID, MotionTextTokenizer
from .bundle import bundle_hashes, write_bundle_manifest
from .motion_tokenizer import MotionTokenizer, tokenizer_config
from .vqvae import MotionVQVAE, VQConfig

VAE_PREFIX = "vae."
LM_PREFIX = "lm.language_model."
DROPPED_PREFIXES = ("_losses.", "metrics.")
def read_official_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, loaded without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(path, "checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError, RuntimeError (truncated zip), EOFError...
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise MotionFileError(path, "contains Python objects that would have to be unpickled; refusing to load it "
                                        f"(only plain tensors are accepted): {text}") from exc
        raise MotionFileError(path, f"cannot be read as a PyTorch checkpoint (truncated or not a checkpoint?): {text}") from exc
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise MotionFileError(path, "holds no 'state_dict' of tensors; is this a MotionGPT checkpoint?")
    return state


def split_official_state(state: dict[str, torch.Tensor], source: str | Path
                         ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    vae, lm, foreign = {}, {}, []
    for key, value in state.items():
        if key.startswith(VAE_PREFIX):
            vae[key[len(VAE_PREFIX):]] = value
        elif key.startswith(LM_PREFIX):
            lm[key[len(LM_PREFIX):]] = value
        elif not key.startswith(DROPPED_PREFIXES):
            foreign.append(key)
    problems = []
    if not vae:
        problems.append("no 'vae.*' keys (the motion tokenizer)")
    if not lm:
        problems.append("no 'lm.language_model.*' keys (the language model)")
    if foreign:
        problems.append(f"unexpected keys ({len(foreign)}): {', '.join(sorted(foreign)[:8])}")
    if problems:
        raise MotionFileError(source, "is not a MotionGPT checkpoint: " + "; ".join(problems))
    return vae, lm


def vq_config_from_state(vae: dict[str, torch.Tensor], source: str | Path) -> VQConfig:
    """Read the VQ-VAE sizes off the tensors, so a checkpoint trained with
    other sizes converts too (the structure must still match)."""
    try:
        code_num, code_dim = vae["quantizer.codebook"].shape
        width, nfeats, _ = vae["encoder.model.0.weight"].shape
        down_t = len({k.split(".")[2] for k in vae if k.startswith("encoder.model.") and ".1.model." in k})
        depth = len({k.split(".")[5] for k in vae if k.startswith("encoder.model.2.1.model.")})
        out_width = vae[f"encoder.model.{2 + down_t}.weight"].shape[0]
    except KeyError as exc:
        raise MotionFileError(source, f"the 'vae.*' weights lack {exc}; not the MotionGPT VQ-VAE layout") from exc
    return VQConfig(nfeats=int(nfeats), code_num=int(code_num), code_dim=int(code_dim),
                    output_emb_width=int(out_width), down_t=down_t, width=int(width), depth=depth)


def lm_config_from_t5_folder(t5_dir: str | Path, vocab_size: int) -> LMConfig:
    """The FLAN-T5 folder's own T5Config, sized for ``vocab_size`` tokens."""
    from transformers import T5Config
    path = Path(t5_dir) / "config.json"
    if not path.is_file():
        raise MotionFileError(path, "not found; --t5 must be a local FLAN-T5-base folder (config.json + tokenizer files)")
    try:
        t5 = T5Config.from_json_file(str(path)).to_dict()
    except (OSError, ValueError) as exc:
        raise MotionFileError(path, f"is not a readable T5 config ({exc})") from exc
    t5.update(vocab_size=int(vocab_size), pad_token_id=PAD_ID, eos_token_id=EOS_ID, decoder_start_token_id=PAD_ID)
    try:
        return LMConfig(t5=t5)
    except MotionGPTError as exc:
        raise MotionFileError(path, str(exc)) from exc


def convert_official(checkpoint: str | Path, t5_dir: str | Path, out_dir: str | Path,
                     stats_dir: str | Path | None = None) -> Path:
    """Load strictly, then write ``out_dir`` as a model folder the engine loads
    like the default one."""
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    vae_state, lm_state = split_official_state(read_official_state_dict(checkpoint), checkpoint)

    vq_config = vq_config_from_state(vae_state, checkpoint)
    vq = MotionVQVAE(vq_config)
    load_into(vq, vae_state, f"{checkpoint} (vae.*)")

    codebook_size = vq_config.code_num
    tokenizer = MotionTextTokenizer.from_t5_folder(t5_dir, codebook_size)
    vocab_size = lm_state["shared.weight"].shape[0] if "shared.weight" in lm_state else None
    if vocab_size is None:
        raise MotionFileError(checkpoint, "the language model lacks 'lm.language_model.shared.weight'")
    if len(tokenizer) != vocab_size:
        raise MotionFileError(t5_dir, f"tokenizer has {len(tokenizer)} tokens with the motion tokens added, but the "
                                      f"checkpoint's embeddings have {vocab_size}; use the FLAN-T5 folder it was trained with")
    lm_config = lm_config_from_t5_folder(t5_dir, vocab_size).with_tokenizer(tokenizer)
    model = build_model(lm_config)
    for key in EMBEDDING_COPIES:  # some savers drop the embeddings tied to 'shared'
        lm_state.setdefault(key, lm_state["shared.weight"])
    load_into(model, lm_state, f"{checkpoint} (lm.language_model.*)")

    if stats_dir is not None:
        mean, std = load_stats(stats_dir)
        MotionTokenizer(vq, mean, std, device="cpu").save(out_dir / "vq")
    else:  # weights only; generation asks for HumanML3D's Mean/Std until they are copied in
        save_checkpoint(out_dir / "vq", vq, tokenizer_config(vq_config))
    save_lm(out_dir / "lm", model, lm_config, tokenizer)
    write_bundle_manifest(out_dir, name="MotionGPT official (converted)", codebook_size=codebook_size,
                          source=str(checkpoint), has_stats=stats_dir is not None,
                          licence="see the MotionGPT repository; trained on HumanML3D (AMASS licences apply)",
                          sha256=bundle_hashes(out_dir))
    return out_dir

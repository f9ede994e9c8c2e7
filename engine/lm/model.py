"""The T5 encoder-decoder that reads and writes text and motion tokens.

Built from a config alone (never from the hub): ``build_model(LMConfig)``.
Presets:

    tiny()          d_model 64, 2 + 2 layers: for tests
    small()         d_model 256, 4 + 4 layers, d_ff 1024: about 10 M parameters
    flan_t5_base()  the FLAN-T5-base shape of MotionGPT's official checkpoint
                    (768 wide, 12 + 12 layers, gated-GELU, separate lm_head)

Checkpoint folder (engine/checkpoint.py layout):

    model.safetensors   weights; tied copies of the embedding stored once
    config.json         LMConfig
    tokenizer/          the MotionTextTokenizer, when saved with one
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import checkpoint as ckpt
from ..errors import MotionFileError, MotionGPTError
from .tokenizer import EOS_ID, PAD_ID, MotionTextTokenizer

MODEL_KIND = "motiongpt-t5"
TOKENIZER_DIR = "tokenizer"
_EMBED_COPIES = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")


@dataclass
class LMConfig:
    d_model: int = 256
    d_ff: int = 1024
    num_layers: int = 4
    num_decoder_layers: int = 4
    num_heads: int = 4
    d_kv: int = 64
    feed_forward_proj: str = "gated-gelu"
    dropout_rate: float = 0.1
    tie_word_embeddings: bool = True
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    layer_norm_epsilon: float = 1e-6
    vocab_size: int = 0
    """Filled from the tokenizer (:meth:`with_tokenizer`)."""
    codebook_size: int = 0
    motion_offset: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes kept with the config (e.g. where the weights came from)."""

    def __post_init__(self):
        if self.feed_forward_proj not in ("gated-gelu", "relu", "gated-relu", "gelu"):
            raise MotionGPTError(f"feed_forward_proj must be 'gated-gelu' or 'relu', got {self.feed_forward_proj!r}")
        for name in ("d_model", "d_ff", "num_layers", "num_decoder_layers", "num_heads", "d_kv"):
            if int(getattr(self, name)) < 1:
                raise MotionGPTError(f"LMConfig.{name} must be at least 1")
        if not 0.0 <= float(self.dropout_rate) < 1.0:
            raise MotionGPTError("LMConfig.dropout_rate must be in [0, 1)")

    def with_tokenizer(self, tokenizer: MotionTextTokenizer) -> "LMConfig":
        """This config sized for ``tokenizer``."""
        return dataclasses.replace(self, vocab_size=len(tokenizer), codebook_size=tokenizer.codebook_size,
                                   motion_offset=tokenizer.motion_offset)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["kind"] = MODEL_KIND
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LMConfig":
        data = dict(data)
        kind = data.pop("kind", MODEL_KIND)
        if kind != MODEL_KIND:
            raise MotionGPTError(f"this is a {kind!r} config, not a MotionGPT language model")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise MotionGPTError(f"unknown language-model config keys: {', '.join(unknown)}")
        return cls(**data)

    def t5_config(self):
        from transformers import T5Config
        if self.vocab_size < 1:
            raise MotionGPTError("LMConfig.vocab_size is not set; use config.with_tokenizer(tokenizer)")
        return T5Config(
            vocab_size=self.vocab_size, d_model=self.d_model, d_kv=self.d_kv, d_ff=self.d_ff,
            num_layers=self.num_layers, num_decoder_layers=self.num_decoder_layers, num_heads=self.num_heads,
            relative_attention_num_buckets=self.relative_attention_num_buckets,
            relative_attention_max_distance=self.relative_attention_max_distance,
            dropout_rate=self.dropout_rate, layer_norm_epsilon=self.layer_norm_epsilon,
            feed_forward_proj=self.feed_forward_proj, tie_word_embeddings=self.tie_word_embeddings,
            is_encoder_decoder=True, use_cache=True,
            pad_token_id=PAD_ID, eos_token_id=EOS_ID, decoder_start_token_id=PAD_ID,
        )


def tiny(**overrides) -> LMConfig:
    base = dict(d_model=64, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4, d_kv=16,
                feed_forward_proj="gated-gelu", dropout_rate=0.0, tie_word_embeddings=True)
    return LMConfig(**{**base, **overrides})


def small(**overrides) -> LMConfig:
    base = dict(d_model=256, d_ff=1024, num_layers=4, num_decoder_layers=4, num_heads=4, d_kv=64,
                feed_forward_proj="gated-gelu", dropout_rate=0.1, tie_word_embeddings=True)
    return LMConfig(**{**base, **overrides})


def flan_t5_base(**overrides) -> LMConfig:
    base = dict(d_model=768, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12, d_kv=64,
                feed_forward_proj="gated-gelu", dropout_rate=0.1, tie_word_embeddings=False)
    return LMConfig(**{**base, **overrides})


PRESETS = {"tiny": tiny, "small": small, "flan_t5_base": flan_t5_base}


def build_model(config: LMConfig):
    """A randomly initialised ``T5ForConditionalGeneration`` for ``config``."""
    from transformers import T5ForConditionalGeneration
    model = T5ForConditionalGeneration(config.t5_config())
    if not config.tie_word_embeddings:
        _untie_lm_head(model, config.d_model)
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.decoder_start_token_id = PAD_ID, EOS_ID, PAD_ID
    return model


def _untie_lm_head(model, d_model: int) -> None:
    # Recent transformers always tie lm_head to the shared embedding at
    # construction (and only untie when loading a checkpoint that differs),
    # so a separate head is made here; std d_model**-0.5 keeps the first
    # logits of an unscaled head near unit size.
    if model.lm_head.weight is model.shared.weight or \
            model.lm_head.weight.data_ptr() == model.shared.weight.data_ptr():
        weight = torch.empty_like(model.shared.weight).normal_(0.0, d_model ** -0.5)
        model.lm_head.weight = torch.nn.Parameter(weight)
    tied = getattr(model, "all_tied_weights_keys", None)
    if isinstance(tied, dict):
        tied.pop("lm_head.weight", None)


def count_parameters(model) -> int:
    """Distinct parameters (a tied embedding counted once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            total += p.numel()
    return total


def lm_state_dict(model) -> dict[str, torch.Tensor]:
    """State dict with tied copies of the shared embedding left out."""
    sd = model.state_dict()
    shared = sd["shared.weight"]
    out = {}
    for key, value in sd.items():
        if key in _EMBED_COPIES + ("lm_head.weight",) and value.data_ptr() == shared.data_ptr():
            continue
        out[key] = value
    return out


class _Weights(torch.nn.Module):
    """Lets engine.checkpoint save a deduplicated state dict."""

    def __init__(self, state: dict[str, torch.Tensor]):
        super().__init__()
        self._state = state

    def state_dict(self, *args, **kwargs):  # noqa: D401
        return self._state


def save_lm(folder: str | Path, model, config: LMConfig, tokenizer: MotionTextTokenizer | None = None,
            optimizer: torch.optim.Optimizer | None = None, trainer_state: dict[str, Any] | None = None) -> Path:
    """Write model.safetensors + config.json (+ tokenizer/, optimizer state)."""
    folder = Path(folder)
    if tokenizer is not None and (len(tokenizer) > config.vocab_size or
                                  tokenizer.motion_offset != config.motion_offset):
        raise MotionGPTError("the tokenizer does not belong to this model config")
    ckpt.save_checkpoint(folder, _Weights(lm_state_dict(model)), config.to_dict(), optimizer, trainer_state)
    if tokenizer is not None:
        tokenizer.save(folder / TOKENIZER_DIR)
    return folder


def load_config(folder: str | Path) -> LMConfig:
    data = ckpt.read_config(folder)
    try:
        return LMConfig.from_dict(data)
    except (MotionGPTError, TypeError) as exc:
        raise MotionFileError(Path(folder) / ckpt.CONFIG_FILE, str(exc)) from exc


def load_lm(folder: str | Path, device: str | torch.device = "cpu"):
    """(model, config, tokenizer or None) from a folder written by :func:`save_lm`."""
    folder = Path(folder)
    config = load_config(folder)
    model = build_model(config)
    state = ckpt.load_weights(folder / ckpt.MODEL_FILE)
    if "shared.weight" in state:
        for key in _EMBED_COPIES:
            state.setdefault(key, state["shared.weight"])
        if config.tie_word_embeddings:
            state.setdefault("lm_head.weight", state["shared.weight"])
    ckpt.load_into(model, state, folder / ckpt.MODEL_FILE)
    tokenizer = None
    if (folder / TOKENIZER_DIR).is_dir():
        tokenizer = MotionTextTokenizer.load(folder / TOKENIZER_DIR)
        check_tokenizer(tokenizer, config, folder / TOKENIZER_DIR)
    model.to(device)
    model.eval()
    return model, config, tokenizer


def check_tokenizer(tokenizer: MotionTextTokenizer, config: LMConfig, source: str | Path) -> None:
    """Raise MotionFileError when the tokenizer's ids do not fit the model's vocabulary."""
    if len(tokenizer) > config.vocab_size or tokenizer.motion_offset != config.motion_offset:
        raise MotionFileError(source, "does not match the model's vocabulary "
                              f"({len(tokenizer)} tokens, motion at {tokenizer.motion_offset}; model has "
                              f"{config.vocab_size}, motion at {config.motion_offset})")

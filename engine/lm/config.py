"""The language model's configuration and the files that hold it.

An ``lm/`` folder is a Hugging Face T5 folder: transformers' Auto classes
load it and ``generate()`` samples with its defaults, with no code of ours.
What the engine adds lives in one file of its own beside them:

    config.json             transformers' T5Config (``model_type`` "t5")
    generation_config.json  decoding defaults: decoder start, pad and eos ids,
                            sampling (top-k, top-p, temperature), length
    model.safetensors       weights (engine/checkpoint.py)
    tokenizer.json          the text tokenizer with the motion tokens added,
    tokenizer_config.json   read by ``AutoTokenizer`` (and by the engine with
                            the ``tokenizers`` library alone)
    motion_tokenizer.json   where the motion tokens start (MotionTextTokenizer)
    motiongpt.json          the engine's settings: codebook size, motion
                            offset, notes (:data:`SETTINGS_FILE`)

The older layout (format 1) kept LMConfig's own fields in config.json
(``"kind": "motiongpt-t5"``, no ``model_type``), the tokenizer in
``tokenizer/`` and the sampling defaults in model.json. It still loads;
``motiongpt export-model OLD --out NEW`` rewrites it in this layout.

:class:`LMConfig` does not re-declare T5's fields: it holds transformers'
T5Config in its dict form (what config.json holds) and makes the T5Config
for training (:meth:`LMConfig.t5_config`). Inference reads the numbers from
the dict, because importing transformers' T5Config costs about 2 s on a
loaded 2-core machine (as much as torch) and the engine runs the model
without transformers (engine/lm/runtime.py).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checkpoint import write_json
from ..errors import MotionFileError, MotionGPTError
from .tokenizer import EOS_ID, META_FILE, PAD_ID
from .vocab import DEFAULT_MAX_TOKENS

MODEL_KIND = "motiongpt-t5"
LAYOUT_VERSION = 2
CONFIG_FILE = "config.json"
SETTINGS_FILE = "motiongpt.json"
GENERATION_FILE = "generation_config.json"
LEGACY_TOKENIZER_DIR = "tokenizer"
ARCHITECTURE = "T5ForConditionalGeneration"
EMBEDDING_COPIES = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")
"""State-dict names of the copies of the shared token embedding that T5
checkpoints may carry (transformers ties them to ``shared.weight``)."""

FEED_FORWARD_KINDS = ("gated-gelu", "gated-relu", "gelu", "relu")
"""The feed-forward kinds the engine's runtime implements."""

RUNTIME_KEYS = ("vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
                "relative_attention_num_buckets", "relative_attention_max_distance", "layer_norm_epsilon",
                "feed_forward_proj", "tie_word_embeddings")
"""T5Config keys the inference runtime reads; config.json must hold them."""

FILE_KEYS = ("architectures", "dtype", "torch_dtype", "_name_or_path", "id2label", "label2id",
             "transformers_version")
"""Keys of a saved config.json that say how the file was written or what a
classification head would be called, not what the T5 is: not kept in
:attr:`LMConfig.t5` (so a config equals itself after a JSON round trip);
:meth:`LMConfig.hf_config` writes the ones loading needs."""

MAX_NEW_TOKENS = DEFAULT_MAX_TOKENS + 3
"""generation_config.json's length limit: begin-of-motion, the longest motion
the engine asks for, end-of-motion and eos."""

DEFAULT_SAMPLING = {"top_k": 50, "temperature": 1.0, "top_p": None, "guidance_scale": 1.0}
GUIDANCE_KEY = "motion_guidance_scale"
"""generation_config.json's key for the engine's classifier-free guidance of
text-to-motion (1.0: off). Not transformers' own "guidance_scale": its
processor expects a doubled batch that plain ``generate()`` does not make."""


@dataclass
class LMConfig:
    """A T5Config plus the engine's settings (module docstring)."""
    t5: dict[str, Any]
    """transformers' ``T5Config.to_dict()``: config.json's content."""
    codebook_size: int = 0
    motion_offset: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes kept with the config (e.g. where the weights came from)."""

    def __post_init__(self):
        if not isinstance(self.t5, dict):
            raise MotionGPTError("LMConfig.t5 must be a T5Config's dict (T5Config.to_dict())")
        t5 = {k: v for k, v in self.t5.items() if k not in FILE_KEYS}
        # transformers 5 keeps T5's tie flag as "scale_decoder_outputs" and
        # always says "tie_word_embeddings": true; 4 only knows the tie flag.
        # Held here (and written) the way both read: the tie flag alone.
        t5["tie_word_embeddings"] = (t5.get("tie_word_embeddings", True) is not False
                                     and t5.pop("scale_decoder_outputs", True) is not False)
        self.t5 = t5
        missing = [k for k in RUNTIME_KEYS if k not in self.t5]
        if missing:
            raise MotionGPTError(f"the T5 config lacks {', '.join(missing)}")
        if self.t5["feed_forward_proj"] not in FEED_FORWARD_KINDS:
            raise MotionGPTError(f"feed_forward_proj must be one of {', '.join(FEED_FORWARD_KINDS)}, "
                                 f"got {self.t5['feed_forward_proj']!r}")
        for name in ("d_model", "d_ff", "num_layers", "num_decoder_layers", "num_heads", "d_kv"):
            value = self.t5[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise MotionGPTError(f"the T5 config's {name} must be a positive integer, got {value!r}")
        if not 0.0 <= float(self.t5.get("dropout_rate", 0.0)) < 1.0:
            raise MotionGPTError("the T5 config's dropout_rate must be in [0, 1)")

    # the numbers several places read
    @property
    def vocab_size(self) -> int:
        return int(self.t5["vocab_size"])

    @property
    def tie_word_embeddings(self) -> bool:
        return bool(self.t5["tie_word_embeddings"])

    def with_tokenizer(self, tokenizer) -> "LMConfig":
        """This config sized for ``tokenizer`` (a MotionTextTokenizer)."""
        return dataclasses.replace(self, t5={**self.t5, "vocab_size": len(tokenizer)},
                                   codebook_size=tokenizer.codebook_size, motion_offset=tokenizer.motion_offset)

    def t5_config(self):
        """transformers' T5Config (imports transformers: training only)."""
        from transformers import T5Config
        if self.vocab_size < 1:
            raise MotionGPTError("the config's vocab_size is not set; use config.with_tokenizer(tokenizer)")
        return T5Config.from_dict(dict(self.t5))

    # the engine's own file
    def settings(self) -> dict[str, Any]:
        """motiongpt.json's content."""
        return {"kind": MODEL_KIND, "format_version": LAYOUT_VERSION, "codebook_size": int(self.codebook_size),
                "motion_offset": int(self.motion_offset), "extra": dict(self.extra)}

    def hf_config(self) -> dict[str, Any]:
        """config.json's content: the T5Config, named for the Auto classes,
        computing in float32 whatever the stored weights' type (T5 overflows
        in float16; the engine's runtime picks its own types)."""
        return {**self.t5, "architectures": [ARCHITECTURE], "model_type": "t5", "dtype": "float32"}

    def to_dict(self) -> dict[str, Any]:
        """Everything in one JSON-ready dict (:meth:`from_dict` reads it back)."""
        return {"t5": dict(self.t5), **self.settings()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LMConfig":
        data = dict(data)
        if data.pop("kind", MODEL_KIND) != MODEL_KIND:
            raise MotionGPTError("this is not a MotionGPT language-model config")
        data.pop("format_version", None)
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise MotionGPTError(f"unknown language-model config keys: {', '.join(unknown)}")
        return cls(**data)


def _t5_dict(sizes: dict[str, Any]) -> dict[str, Any]:
    """A T5Config's dict for ``sizes``: T5's own defaults for everything else,
    T5's ids for pad, eos and the decoder start, vocabulary not yet set."""
    from transformers import T5Config
    t5 = T5Config(**{"vocab_size": 32128, **sizes, "pad_token_id": PAD_ID, "eos_token_id": EOS_ID,
                     "decoder_start_token_id": PAD_ID, "is_encoder_decoder": True}).to_dict()
    t5.setdefault("decoder_start_token_id", PAD_ID)
    if "vocab_size" not in sizes:
        t5["vocab_size"] = 0     # set by with_tokenizer
    return t5


def _preset(base: dict[str, Any], overrides: dict[str, Any]) -> LMConfig:
    sizes = {**base, **overrides}
    settings = {k: sizes.pop(k) for k in ("codebook_size", "motion_offset", "extra") if k in sizes}
    return LMConfig(t5=_t5_dict(sizes), **settings)


def tiny(**overrides) -> LMConfig:
    """d_model 64, 2 + 2 layers: for tests. ``overrides`` are T5Config fields."""
    return _preset(dict(d_model=64, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4, d_kv=16,
                        feed_forward_proj="gated-gelu", dropout_rate=0.0, tie_word_embeddings=True), overrides)


def small(**overrides) -> LMConfig:
    """d_model 256, 4 + 4 layers, d_ff 1024: about 10 M parameters."""
    return _preset(dict(d_model=256, d_ff=1024, num_layers=4, num_decoder_layers=4, num_heads=4, d_kv=64,
                        feed_forward_proj="gated-gelu", dropout_rate=0.1, tie_word_embeddings=True), overrides)


def flan_t5_base(**overrides) -> LMConfig:
    """The FLAN-T5-base shape of MotionGPT's official checkpoint (768 wide,
    12 + 12 layers, gated-GELU, separate lm_head)."""
    return _preset(dict(d_model=768, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12, d_kv=64,
                        feed_forward_proj="gated-gelu", dropout_rate=0.1, tie_word_embeddings=False), overrides)


PRESETS = {"tiny": tiny, "small": small, "flan_t5_base": flan_t5_base}


# ----------------------------------------------------------------------------- files

def _read_json(path: Path) -> dict[str, Any]:
    from ..jsonfile import read_json_file
    return read_json_file(path, max_bytes=1024 * 1024, want=dict)


_LEGACY_T5_KEYS = ("d_model", "d_ff", "num_layers", "num_decoder_layers", "num_heads", "d_kv", "feed_forward_proj",
                   "dropout_rate", "tie_word_embeddings", "relative_attention_num_buckets",
                   "relative_attention_max_distance", "layer_norm_epsilon", "vocab_size")


def _legacy_config(data: dict[str, Any], path: Path) -> LMConfig:
    """A format-1 config.json (LMConfig's former flat fields) as an LMConfig."""
    missing = [k for k in _LEGACY_T5_KEYS if k not in data]
    if missing:
        raise MotionFileError(path, f"lacks {', '.join(missing)}; re-export the model with "
                                    "'motiongpt export-model'")
    t5 = {k: data[k] for k in _LEGACY_T5_KEYS}
    t5.update(model_type="t5", is_encoder_decoder=True, pad_token_id=PAD_ID, eos_token_id=EOS_ID,
              decoder_start_token_id=PAD_ID)
    return LMConfig(t5=t5, codebook_size=int(data.get("codebook_size", 0)),
                    motion_offset=int(data.get("motion_offset", 0)), extra=dict(data.get("extra") or {}))


def read_config(folder: str | Path) -> LMConfig:
    """The LMConfig of an lm/ folder in either layout, with errors that name
    the file and say what to do."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise MotionFileError(path, "not found; is this a language-model folder (lm/ of a model)?")
    data = _read_json(path)
    try:
        if data.get("kind") == MODEL_KIND:
            return _legacy_config(data, path)
        settings_path = folder / SETTINGS_FILE
        if not settings_path.is_file():
            raise MotionFileError(settings_path, "not found: this folder is a plain T5 model, not a MotionGPT "
                                                 "language model (which keeps its codebook size and motion "
                                                 "tokens there); export a MotionGPT model with "
                                                 "'motiongpt export-model'")
        if data.get("model_type") != "t5":
            raise MotionFileError(path, f"describes a {data.get('model_type')!r} model; a MotionGPT language "
                                        "model is a T5 (model_type \"t5\")")
        settings = _read_json(settings_path)
        if settings.get("kind") != MODEL_KIND:
            raise MotionFileError(settings_path, f"is not a MotionGPT language-model settings file "
                                                 f"(\"kind\": \"{MODEL_KIND}\")")
        if int(settings.get("format_version", 0)) > LAYOUT_VERSION:
            raise MotionFileError(settings_path, f"was written by a newer engine (format "
                                                 f"{settings['format_version']}); update the engine")
        return LMConfig(t5=data, codebook_size=int(settings.get("codebook_size", 0)),
                        motion_offset=int(settings.get("motion_offset", 0)), extra=dict(settings.get("extra") or {}))
    except MotionFileError:
        raise
    except (MotionGPTError, TypeError, ValueError) as exc:
        raise MotionFileError(path, str(exc)) from exc


def write_config(folder: str | Path, config: LMConfig) -> None:
    """config.json and motiongpt.json (generation_config.json is separate:
    :func:`write_generation_config`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / CONFIG_FILE, config.hf_config())
    write_json(folder / SETTINGS_FILE, config.settings())


def generation_config(sampling: dict[str, Any] | None = None) -> dict[str, Any]:
    """generation_config.json's content: T5's ids, sampling on, the engine's
    sampling defaults (``sampling`` overrides top_k / top_p / temperature).
    A top_p of None is written as 1.0, transformers' "no nucleus"."""
    s = {**DEFAULT_SAMPLING, **(sampling or {})}
    out = {"decoder_start_token_id": PAD_ID, "pad_token_id": PAD_ID, "eos_token_id": EOS_ID, "do_sample": True,
           "top_k": int(s["top_k"]), "top_p": 1.0 if s["top_p"] is None else float(s["top_p"]),
           "temperature": float(s["temperature"]), "max_new_tokens": MAX_NEW_TOKENS}
    guidance = float(1.0 if s.get("guidance_scale") is None else s["guidance_scale"])
    if guidance != 1.0:                  # written only when on, so older folders stay byte-identical
        out[GUIDANCE_KEY] = guidance
    return out


def write_generation_config(folder: str | Path, sampling: dict[str, Any] | None = None) -> None:
    write_json(Path(folder) / GENERATION_FILE, generation_config(sampling))


def read_sampling(folder: str | Path) -> dict[str, Any] | None:
    """top_k / top_p / temperature of generation_config.json as the engine
    uses them (top_p 1.0 -> None), or None when the folder has none (the
    format-1 layout kept them in model.json)."""
    path = Path(folder) / GENERATION_FILE
    if not path.is_file():
        return None
    data = _read_json(path)
    if data.get("do_sample") is False:
        raise MotionFileError(path, "turns sampling off (\"do_sample\": false); the engine samples motion "
                                    "tokens, set it to true")
    top_p = data.get("top_p", 1.0)
    return {"top_k": data.get("top_k", DEFAULT_SAMPLING["top_k"]),
            "temperature": data.get("temperature", DEFAULT_SAMPLING["temperature"]),
            "top_p": None if top_p is None or top_p == 1.0 else top_p,
            "guidance_scale": data.get(GUIDANCE_KEY, DEFAULT_SAMPLING["guidance_scale"])}


def tokenizer_folder(folder: str | Path) -> Path | None:
    """Where an lm/ folder keeps its tokenizer (itself, or tokenizer/ in the
    format-1 layout); None when it has none."""
    folder = Path(folder)
    if (folder / META_FILE).is_file():
        return folder
    if (folder / LEGACY_TOKENIZER_DIR).is_dir():
        return folder / LEGACY_TOKENIZER_DIR
    return None

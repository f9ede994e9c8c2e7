"""The text-motion retrieval evaluator: two encoders into one embedding space.

Like the evaluators of Guo et al. 2022 and TMR (Petrovich et al. 2023) it is
trained contrastively on (motion, caption) pairs and then frozen; every
text-to-motion metric (R-precision, FID, MM-Dist, Diversity,
MultiModality in :mod:`engine.eval.metrics`) is computed on its embeddings.
It is our own, small model trained on our own training split only, so its
numbers are comparable between our models but not with published tables.

Motion encoder: raw 263-d HumanML3D features -> normalised with the
training set's Mean/Std (stored in the weights) -> linear -> two strided
1D convolutions (each halves the frame rate: 4 frames per token) -> a small
transformer with padding masks -> masked mean -> linear -> L2-normalised
embedding. Only the first ``max_frames`` (200 = 10 s) frames are read.
Padded frames are zeroed after every layer, so a motion's embedding does
not depend on what it is batched with (beyond float rounding).

Text encoder: lowercase words (:func:`engine.eval.caption_metrics.tokenize`)
-> its own word vocabulary built from the training captions, with <unk>
-> embeddings + learned positions -> small transformer -> masked mean ->
linear -> L2-normalised embedding.

A saved evaluator is a folder: model.safetensors (weights, plus the
feature Mean/Std as buffers), config.json and vocab.json.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .. import checkpoint
from ..errors import MotionFileError, MotionShapeError
from ..motion.features import FEATURE_DIM
from .caption_metrics import tokenize

VOCAB_FILE = "vocab.json"
PAD, UNK = "<pad>", "<unk>"
MODEL_KIND = "motiongpt-retrieval-evaluator"


@dataclass
class EvaluatorConfig:
    dim: int = 192              # width of both encoders
    embed_dim: int = 256        # output embedding size
    motion_layers: int = 2
    text_layers: int = 2
    heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.1
    max_frames: int = 200       # motion frames read (10 s at 20 fps)
    max_words: int = 40
    vocab_size: int = 0         # set from the vocabulary

    @classmethod
    def from_dict(cls, d: dict) -> "EvaluatorConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# --------------------------------------------------------------------------
# vocabulary

class WordVocab:
    """Lowercase word vocabulary; index 0 is padding, 1 is <unk>."""

    def __init__(self, words: Sequence[str]):
        self.words = [PAD, UNK] + [w for w in words if w not in (PAD, UNK)]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Sequence[str], min_count: int = 1) -> "WordVocab":
        counts: dict[str, int] = {}
        for t in texts:
            for w in tokenize(t):
                counts[w] = counts.get(w, 0) + 1
        words = sorted(w for w, c in counts.items() if c >= min_count)
        return cls(words)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str, max_words: int) -> list[int]:
        ids = [self.index.get(w, 1) for w in tokenize(text)][:max_words]
        return ids or [1]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"words": self.words}, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "WordVocab":
        if not path.is_file():
            raise MotionFileError(path, "vocabulary file not found; an evaluator folder needs vocab.json")
        try:
            words = json.loads(path.read_text(encoding="utf-8"))["words"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise MotionFileError(path, f"is not an evaluator vocabulary ({exc})") from exc
        if words[:2] != [PAD, UNK]:
            raise MotionFileError(path, "vocabulary must start with <pad>, <unk>")
        return cls(words[2:])


# --------------------------------------------------------------------------
# encoders

def _transformer(cfg: EvaluatorConfig, layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, cfg.dim * cfg.ff_mult, cfg.dropout,
                                       activation="gelu", batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def _masked_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    w = valid.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


class MotionEncoder(nn.Module):
    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.register_buffer("mean", torch.zeros(FEATURE_DIM))
        self.register_buffer("std", torch.ones(FEATURE_DIM))
        self.inp = nn.Linear(FEATURE_DIM, cfg.dim)
        self.conv1 = nn.Conv1d(cfg.dim, cfg.dim, 4, stride=2, padding=1)
        self.conv2 = nn.Conv1d(cfg.dim, cfg.dim, 4, stride=2, padding=1)
        self.act = nn.GELU()
        self.pos = nn.Parameter(torch.zeros(1, (cfg.max_frames + 3) // 4, cfg.dim))
        nn.init.normal_(self.pos, std=0.02)
        self.encoder = _transformer(cfg, cfg.motion_layers)
        self.norm = nn.LayerNorm(cfg.dim)
        self.out = nn.Linear(cfg.dim, cfg.embed_dim)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """feats (B, T, 263) raw features, T a multiple of 4; lengths (B,)."""
        b, t, _ = feats.shape
        frame_valid = torch.arange(t, device=feats.device)[None] < lengths[:, None]
        x = (feats - self.mean) / self.std
        x = self.inp(x) * frame_valid.unsqueeze(-1)
        x = x.transpose(1, 2)                                           # (B, C, T)
        half = (lengths + 1) // 2
        x = self.act(self.conv1(x)) * (torch.arange(t // 2, device=x.device)[None] < half[:, None]).unsqueeze(1)
        quarter = (half + 1) // 2
        valid = torch.arange(t // 4, device=x.device)[None] < quarter[:, None]
        x = self.act(self.conv2(x)) * valid.unsqueeze(1)
        x = x.transpose(1, 2) + self.pos[:, : t // 4]
        x = self.encoder(x, src_key_padding_mask=~valid)
        return self.out(self.norm(_masked_mean(x, valid)))


class TextEncoder(nn.Module):
    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.dim, padding_idx=0)
        self.pos = nn.Parameter(torch.zeros(1, cfg.max_words, cfg.dim))
        nn.init.normal_(self.pos, std=0.02)
        self.encoder = _transformer(cfg, cfg.text_layers)
        self.norm = nn.LayerNorm(cfg.dim)
        self.out = nn.Linear(cfg.dim, cfg.embed_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        valid = ids != 0
        x = self.tok(ids) + self.pos[:, : ids.shape[1]]
        x = self.encoder(x, src_key_padding_mask=~valid)
        return self.out(self.norm(_masked_mean(x, valid)))


class RetrievalModel(nn.Module):
    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.cfg = cfg
        self.motion = MotionEncoder(cfg)
        self.text = TextEncoder(cfg)

    def encode_motion(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.motion(feats, lengths), dim=-1)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.text(ids), dim=-1)


# --------------------------------------------------------------------------
# batching helpers (shared with training)

def pad_motions(features: Sequence[np.ndarray], max_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (T_i, 263) arrays, each cut to ``max_frames``, zero-padded to a
    common length that is a multiple of 4: (B, T, 263) float32 and lengths."""
    lengths = [min(len(f), max_frames) for f in features]
    t = max(4, -(-max(lengths) // 4) * 4)
    out = np.zeros((len(features), t, FEATURE_DIM), dtype=np.float32)
    for i, (f, n) in enumerate(zip(features, lengths)):
        out[i, :n] = f[:n]
    return torch.from_numpy(out), torch.tensor(lengths, dtype=torch.long)


def pad_texts(ids: Sequence[Sequence[int]]) -> torch.Tensor:
    t = max(len(x) for x in ids)
    out = torch.zeros((len(ids), t), dtype=torch.long)
    for i, x in enumerate(ids):
        out[i, : len(x)] = torch.tensor(x, dtype=torch.long)
    return out


def _check_motion(f: np.ndarray, i: int) -> np.ndarray:
    f = np.asarray(f)
    if f.ndim != 2 or f.shape[1] != FEATURE_DIM:
        raise MotionShapeError(f"motion {i} must have shape (frames, {FEATURE_DIM}), got {f.shape}")
    if len(f) < 1 or not np.all(np.isfinite(f)):
        raise MotionShapeError(f"motion {i} is empty or contains NaN/inf")
    return f.astype(np.float32)


# --------------------------------------------------------------------------
# the frozen evaluator

class EvaluatorModel:
    """A trained evaluator ready to embed motions and texts (eval mode, no
    gradients). Build with :meth:`load`; training code uses the constructor."""

    def __init__(self, model: RetrievalModel, vocab: WordVocab, device: str | torch.device = "cpu"):
        self.model = model.to(device).eval()
        self.vocab = vocab
        self.device = torch.device(device)
        self.config = model.cfg

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> "EvaluatorModel":
        folder = Path(folder)
        if not folder.is_dir():
            raise MotionFileError(folder, "evaluator folder not found")
        raw = checkpoint.read_config(folder)
        if raw.get("kind") != MODEL_KIND:
            raise MotionFileError(folder / checkpoint.CONFIG_FILE,
                                  f"is not a retrieval evaluator config (kind={raw.get('kind')!r})")
        cfg = EvaluatorConfig.from_dict(raw.get("model", {}))
        vocab = WordVocab.load(folder / VOCAB_FILE)
        if len(vocab) != cfg.vocab_size:
            raise MotionFileError(folder / VOCAB_FILE,
                                  f"has {len(vocab)} words but the config expects {cfg.vocab_size}")
        model = RetrievalModel(cfg)
        weights = folder / checkpoint.MODEL_FILE
        checkpoint.load_into(model, checkpoint.load_weights(weights), weights)
        return cls(model, vocab, device)

    def save(self, folder: str | Path, extra: dict | None = None) -> Path:
        return save_evaluator(folder, self.model, self.vocab, extra)

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @torch.no_grad()
    def embed_motions(self, features: Sequence[np.ndarray], batch_size: int = 128) -> np.ndarray:
        """(N, D) float32 L2-normalised embeddings of raw (T, 263) HumanML3D
        features (the first ``max_frames`` frames of each). Motions are
        batched by length for speed; the result is in input order."""
        feats = [_check_motion(f, i) for i, f in enumerate(features)]
        out = np.zeros((len(feats), self.embed_dim), dtype=np.float32)
        order = np.argsort([len(f) for f in feats], kind="stable")
        for s in range(0, len(order), batch_size):
            idx = order[s: s + batch_size]
            x, lengths = pad_motions([feats[i] for i in idx], self.config.max_frames)
            emb = self.model.encode_motion(x.to(self.device), lengths.to(self.device))
            out[idx] = emb.float().cpu().numpy()
        return out

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """(N, D) float32 L2-normalised embeddings of captions."""
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of strings")
        ids = [self.vocab.encode(t, self.config.max_words) for t in texts]
        out = np.zeros((len(ids), self.embed_dim), dtype=np.float32)
        for s in range(0, len(ids), batch_size):
            x = pad_texts(ids[s: s + batch_size]).to(self.device)
            out[s: s + len(x)] = self.model.encode_text(x).float().cpu().numpy()
        return out


def save_evaluator(folder: str | Path, model: RetrievalModel, vocab: WordVocab, extra: dict | None = None) -> Path:
    """Write model.safetensors, config.json and vocab.json (no optimizer)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"kind": MODEL_KIND, "model": asdict(model.cfg), **(extra or {})}
    checkpoint.save_weights(folder / checkpoint.MODEL_FILE, model.state_dict(), {"format": "pt"})
    (folder / checkpoint.CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    vocab.save(folder / VOCAB_FILE)
    return folder

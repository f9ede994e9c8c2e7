"""Raw HumanML3D features <-> motion tokens, ready for inference.

``MotionTokenizer`` bundles a trained ``MotionVQVAE`` with the dataset's
Mean/Std and a device. It takes and returns *raw* (un-normalised) (T, 263)
feature arrays as numpy, runs in eval mode under ``torch.no_grad`` and never
changes the codebook.

A tokenizer folder (written by ``save`` and by ``motiongpt train-vq``):

    model.safetensors   MotionVQVAE weights (official ``vae.*`` names, no prefix)
    config.json         {"model_type": "motion_vqvae", "architectures": ["MotionVQVAE"],
                         VQConfig fields}: ``MotionVQVAE.from_pretrained`` reads
                        these two (the older {"model_type", "vqvae": {fields}} too)
    mean.npy, std.npy   (263,) normalisation statistics of the training data

The statistics may be absent (a converted official checkpoint ships none; its
are HumanML3D's Mean.npy/Std.npy): such a tokenizer loads, reports
``has_stats`` False and refuses to encode or decode until ``set_stats``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .. import checkpoint as ckpt
from ..device import pick_device
from ..errors import MotionFileError, MotionGPTError, MotionShapeError
from .vqvae import MotionVQVAE, VQConfig, read_vq_config  # noqa: F401  (read_vq_config: its old home)

MEAN_FILE = "mean.npy"
STD_FILE = "std.npy"
EDGE_PAD_TOKENS = 4
"""The decoder's convolutions see zeros past the ends of a sequence, and its
first and last frames popped: over the 159 val captions (2 seeds), the first
frame moved over twice as far as the next ones in 20 % of generated clips,
the last in 23 % (17x at worst; 30 cm in one frame at the start of a crawl;
real clips: 0.6 % and 0 %). The sequence is decoded a second time with each
end held for this many more tokens, and its first and last
:data:`EDGE_FIX_FRAMES` frames are eased over to that decode.
``benchmarks/edge_pops.py`` measures it."""
EDGE_FIX_FRAMES = 4
"""Frames at each end taken from the held decode (eased back to the plain
one). Only the ends: using the held decode throughout (its ends ease in
from a standstill) cost R-precision top-3 0.042 [0.015, 0.073] on val."""


def tokenizer_config(config: VQConfig) -> dict[str, Any]:
    """The config.json content of a tokenizer folder."""
    return config.to_json_dict()


def save_stats(folder: str | Path, mean: np.ndarray, std: np.ndarray) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in ((MEAN_FILE, mean), (STD_FILE, std)):
        tmp = folder / (name + ".tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(arr, dtype=np.float32))
        os.replace(tmp, folder / name)


def load_stats(folder: str | Path, nfeats: int, required: bool = True
               ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """mean.npy/std.npy (or Mean.npy/Std.npy) of a folder; (None, None) when
    both are absent and ``required`` is False."""
    folder = Path(folder)
    if not required and not any((folder / n).is_file() for n in (MEAN_FILE, STD_FILE, "Mean.npy", "Std.npy")):
        return None, None
    out = []
    for names in ((MEAN_FILE, "Mean.npy"), (STD_FILE, "Std.npy")):
        path = next((folder / n for n in names if (folder / n).is_file()), folder / names[0])
        if not path.is_file():
            raise MotionFileError(path, "normalisation statistics not found; a tokenizer folder needs mean.npy and std.npy")
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise MotionFileError(path, f"cannot be read as a .npy array ({exc})") from exc
        if arr.shape != (nfeats,) or not np.all(np.isfinite(arr)):
            raise MotionFileError(path, f"expected {nfeats} finite values, got shape {arr.shape}")
        out.append(arr.astype(np.float32))
    if np.any(out[1] <= 0):
        raise MotionFileError(folder / STD_FILE, "has zero or negative entries")
    return out[0], out[1]


class MotionTokenizer:
    """Encode raw (T, 263) features to int64 tokens and decode them back."""

    def __init__(self, model: MotionVQVAE, mean: np.ndarray | None, std: np.ndarray | None,
                 device: str | torch.device = "auto", batch_size: int = 64, edge_pad_tokens: int = EDGE_PAD_TOKENS):
        self.device = pick_device(device) if isinstance(device, str) else torch.device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.edge_pad_tokens = int(edge_pad_tokens)
        self.mean = self.std = None
        if mean is not None or std is not None:
            self.set_stats(mean, std)

    def set_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        """The Mean/Std of the dataset the model was trained on."""
        nfeats = self.model.config.nfeats
        if mean is None or std is None:
            raise MotionGPTError("give both mean and std, or neither")
        mean = np.asarray(mean, dtype=np.float32)
        std = np.asarray(std, dtype=np.float32)
        if mean.shape != (nfeats,) or std.shape != (nfeats,):
            raise MotionShapeError(f"mean and std must have shape ({nfeats},), got {mean.shape} and {std.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
            raise MotionShapeError("mean must be finite and std finite and positive")
        self.mean, self.std = mean, std
        self._mean_t = torch.from_numpy(mean).to(self.device)
        self._std_t = torch.from_numpy(std).to(self.device)

    @property
    def has_stats(self) -> bool:
        return self.mean is not None

    def _require_stats(self) -> None:
        if not self.has_stats:
            raise MotionGPTError("this motion tokenizer has no normalisation statistics; put the Mean.npy/Std.npy of "
                                 "the dataset it was trained on into its folder as mean.npy/std.npy")

    @property
    def config(self) -> VQConfig:
        return self.model.config

    @property
    def code_num(self) -> int:
        return self.model.config.code_num

    @property
    def frames_per_token(self) -> int:
        return self.model.downsample

    # -- files ---------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        self.model.save_pretrained(folder)
        if self.has_stats:
            save_stats(folder, self.mean, self.std)
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "auto") -> "MotionTokenizer":
        folder = Path(folder)
        if not folder.is_dir():
            raise MotionFileError(folder, "tokenizer folder not found (expected model.safetensors, config.json, "
                                          "mean.npy and std.npy; train one with 'motiongpt train-vq')")
        model = MotionVQVAE.from_pretrained(folder)
        mean, std = load_stats(folder, model.config.nfeats, required=False)
        return cls(model, mean, std, device)

    # -- features <-> tokens --------------------------------------------------
    def _check_features(self, features: np.ndarray, index: int | None = None) -> np.ndarray:
        arr = np.asarray(features, dtype=np.float32)
        what = "features" if index is None else f"features[{index}]"
        if arr.ndim != 2 or arr.shape[1] != self.config.nfeats:
            raise MotionShapeError(f"{what} must have shape (frames, {self.config.nfeats}), got {arr.shape}")
        if arr.shape[0] < self.frames_per_token:
            raise MotionShapeError(f"{what} has {arr.shape[0]} frames; at least {self.frames_per_token} are needed")
        if not np.all(np.isfinite(arr)):
            raise MotionShapeError(f"{what} contains NaN or infinite values")
        return arr

    @torch.no_grad()
    def encode_batch(self, features: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Raw (T_i, 263) arrays -> int64 token arrays of T_i // 4 tokens each
        (trailing frames that do not fill a token are dropped)."""
        self._require_stats()
        arrays = [self._check_features(f, i) for i, f in enumerate(features)]
        out: list[np.ndarray] = []
        for start in range(0, len(arrays), self.batch_size):
            chunk = arrays[start:start + self.batch_size]
            lengths = torch.tensor([len(a) for a in chunk], dtype=torch.long)
            batch = torch.zeros(len(chunk), int(lengths.max()), self.config.nfeats)
            for i, a in enumerate(chunk):
                batch[i, : len(a)] = torch.from_numpy(a)
            batch = batch.to(self.device)
            batch = (batch - self._mean_t) / self._std_t
            tokens = self.model.encode(batch, lengths)
            out.extend(t.cpu().numpy().astype(np.int64) for t in tokens)
        return out

    def encode(self, features: np.ndarray) -> np.ndarray:
        return self.encode_batch([features])[0]

    @torch.no_grad()
    def decode_batch(self, tokens: Sequence[Any]) -> list[np.ndarray]:
        """Token sequences -> raw feature arrays of 4 * N_i frames each, their
        first and last frames eased over to a decode with each end held
        (:data:`EDGE_PAD_TOKENS`: no pop on the first and last frame)."""
        self._require_stats()
        seqs = []
        for i, t in enumerate(tokens):
            arr = np.asarray(t.cpu() if torch.is_tensor(t) else t)
            if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
                raise MotionShapeError(f"tokens[{i}] must be a non-empty 1-D array of integers, "
                                       f"got {arr.dtype} {arr.shape}")
            seqs.append(arr.astype(np.int64))
        pad = max(0, self.edge_pad_tokens)
        if pad == 0:
            return self._decode_raw(seqs)
        # both decodes in one batch: on the CPU a second decoder call costs as much as the first
        both = self._decode_raw(seqs + [np.pad(s, pad, mode="edge") for s in seqs])
        plain, cut = both[:len(seqs)], pad * self.model.downsample
        return [_ease_ends(p, h[cut: len(h) - cut], EDGE_FIX_FRAMES) for p, h in zip(plain, both[len(seqs):])]

    def _decode_raw(self, seqs: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for start in range(0, len(seqs), self.batch_size):
            feats, lengths = self.model.decode([torch.from_numpy(s) for s in seqs[start:start + self.batch_size]])
            feats = (feats * self._std_t + self._mean_t).cpu().numpy().astype(np.float32)
            out.extend(feats[i, : int(n)] for i, n in enumerate(lengths))
        return out

    def decode(self, tokens: Any) -> np.ndarray:
        return self.decode_batch([tokens])[0]

    @torch.no_grad()
    def reconstruct_without_codebook(self, features: np.ndarray) -> np.ndarray:
        """Raw (T, 263) -> raw (T // 4 * 4, 263) through the encoder and
        decoder with no code chosen (the round trip's bound without
        quantization; see ``MotionVQVAE.reconstruct_without_codebook``)."""
        self._require_stats()
        x = torch.from_numpy(self._check_features(features)).to(self.device)
        out = self.model.reconstruct_without_codebook(((x - self._mean_t) / self._std_t)[None])[0]
        return (out * self._std_t + self._mean_t).cpu().numpy().astype(np.float32)


def _ease_ends(plain: np.ndarray, held: np.ndarray, frames: int) -> np.ndarray:
    """``plain`` with its first and last ``frames`` frames weighted over to
    ``held`` (all of it at the end frame, none ``frames`` frames in; smoothstep)."""
    k = min(frames, len(plain) // 2)
    if k == 0:
        return plain
    s = 1.0 - np.arange(k, dtype=np.float32) / k
    w = (s * s * (3 - 2 * s))[:, None]
    out = plain.copy()
    out[:k] = w * held[:k] + (1 - w) * plain[:k]
    out[len(out) - k:] = w[::-1] * held[len(out) - k:] + (1 - w[::-1]) * plain[len(out) - k:]
    return out

"""The loaded model: motion tokenizer + language model, behind four calls.

Everything here speaks raw 263-dim features at 20 fps; turning them into
joints, rotations, other frame rates and exact keys is the pipeline's job.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..device import DeviceChoice, resolve_device
from ..errors import ModelOutputError, MotionGPTError
from ..lm.generate import generate_motion_ids, generate_text
from ..lm.runtime import load_runtime
from ..lm.tasks import Task, instruction
from ..lm.vocab import DEFAULT_MAX_TOKENS, FRAMES_PER_TOKEN, seconds_to_tokens
from ..motion.features import features_to_joints
from .bundle import default_model_dir, read_bundle_manifest, verify_bundle
from .motion_tokenizer import MotionTokenizer

INBETWEEN_CANDIDATES: int = 32
"""In-betweens sampled per request (one batch); the ones that meet the known
frames around the gap best are kept (see :meth:`MotionGPT.inbetween`)."""

INBETWEEN_AVERAGE: int = 4
"""How many of the best candidates are averaged (feature by feature) into
the answer; 1 keeps the best alone. On val (v0.2 weights, 1 s gap, 117
clips) the mean of the best 4 of 32 has 26 % lower L2P than SLERP
interpolation, the best 1 of 32 17 %, the best 1 of 8 9 % (CI spanning 0):
benchmarks/inbetween_ci.py. The mean is smoother than any one sample."""

BOUNDARY_FRAMES: int = 2 * FRAMES_PER_TOKEN
"""Known frames on each side of a gap that score an in-between candidate."""

MAX_PROMPT_CHARS: int = 1000
"""Longest prompt (after collapsing whitespace) any task accepts; the CLI and
the server's job validation use this same constant."""


@dataclass
class SamplingOptions:
    """How motion tokens are sampled. A model folder may carry its own
    defaults (lm/generation_config.json, chosen on val when it was
    exported), so a model and the decoding it was tuned with travel together."""
    top_k: int = 50
    temperature: float = 1.0
    top_p: float | None = None

    def kwargs(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "temperature": self.temperature, "top_p": self.top_p}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, where: str = "sampling") -> "SamplingOptions":
        """Checked options from {"top_k", "temperature", "top_p"} (missing keys
        keep the defaults); ``where`` names the source in errors."""
        raw = raw or {}
        try:
            out = cls(top_k=int(raw.get("top_k", cls.top_k)), temperature=float(raw.get("temperature", cls.temperature)),
                      top_p=None if raw.get("top_p") is None else float(raw["top_p"]))
        except (TypeError, ValueError, AttributeError):
            raise MotionGPTError(f"{where} is unreadable: {raw!r}; expected "
                                 "{\"top_k\": int, \"temperature\": float, \"top_p\": float or null}") from None
        if out.temperature <= 0 or out.top_k < 0 or (out.top_p is not None and not 0 < out.top_p <= 1):
            raise MotionGPTError(f"{where} is out of range: {raw!r}")
        return out

    @classmethod
    def of_folder(cls, folder: Path, manifest: dict[str, Any]) -> "SamplingOptions":
        """The model folder's defaults: lm/generation_config.json, or in a
        format-1 folder model.json's "sampling"."""
        from ..lm.config import GENERATION_FILE, read_sampling
        lm_dir = folder / manifest.get("lm", "lm")
        found = read_sampling(lm_dir)
        if found is not None:
            return cls.from_dict(found, f"{lm_dir / GENERATION_FILE}")
        return cls.from_dict(manifest.get("sampling"), f'{folder}: model.json "sampling"')


class MotionGPT:
    """A model folder loaded once, then used for every request."""

    def __init__(self, vq: MotionTokenizer, lm, text_tokenizer, manifest: dict[str, Any], folder: Path,
                 device_choice: DeviceChoice | None = None):
        if vq.code_num != text_tokenizer.codebook_size:
            raise MotionGPTError(f"{folder}: the motion tokenizer has {vq.code_num} codes but the language model "
                                 f"expects {text_tokenizer.codebook_size}; the folder mixes two models")
        self.vq = vq
        self.lm = lm
        self.tokenizer = text_tokenizer
        self.manifest = manifest
        self.folder = folder
        self.sampling = SamplingOptions.of_folder(Path(folder), manifest)
        self.device_choice = device_choice

    @classmethod
    def load(cls, folder: str | Path | None = None, device: str = "auto") -> "MotionGPT":
        """The model folder on ``device`` (engine.device: auto, cpu, cuda,
        mps), its weights checked against the SHA-256 sums in model.json.
        The language model runs on :class:`engine.lm.runtime.T5Runtime`
        (no transformers import) in the device's dtype."""
        folder = Path(folder) if folder else default_model_dir()[0]
        manifest = read_bundle_manifest(folder)
        verify_bundle(folder, manifest)
        choice = resolve_device(device)
        vq = MotionTokenizer.load(folder / manifest.get("vq", "vq"), device=choice.device)
        lm, _config, tokenizer = load_runtime(folder / manifest.get("lm", "lm"), choice.device, choice.dtype)
        if tokenizer is None:
            raise MotionGPTError(f"{folder / 'lm'}: no text tokenizer (tokenizer.json, motion_tokenizer.json) "
                                 "next to the language model; export a complete model folder")
        return cls(vq, lm, tokenizer, manifest, folder, choice)

    @property
    def device(self) -> torch.device:
        return next(self.lm.parameters()).device

    @property
    def dtype(self) -> str:
        """What the language model computes in ("float32", "float16")."""
        return str(getattr(self.lm, "compute_dtype", torch.float32)).removeprefix("torch.")

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.folder.name))

    # -- tasks ------------------------------------------------------------------
    def text_to_motion(self, text: str, seconds: float | None = None, seed: int | None = None, variants: int = 1,
                       sampling: SamplingOptions | None = None) -> list[np.ndarray]:
        """``variants`` raw feature arrays for a prompt, sampled in one batch
        and decoded in one VQ call. Variant i uses seed ``seed + i``: the
        same motion as a call with that seed and one variant. With
        ``seconds`` the length is exact (to the 0.2 s token grid); without,
        the model decides (up to 10 s)."""
        text = _check_text(text)
        s = sampling or self.sampling
        num = seconds_to_tokens(seconds) if seconds else (1, DEFAULT_MAX_TOKENS)
        prompt = instruction(Task.TEXT_TO_MOTION, caption=text, seconds=seconds)
        ids = generate_motion_ids(self.lm, self.tokenizer, prompt, num_tokens=num, seed=seed, **s.kwargs(),
                                  num_return_sequences=int(variants))
        return _finite(self.vq.decode_batch(ids))

    def caption(self, features: np.ndarray) -> str:
        tokens = self.vq.encode(features)
        prompt = instruction(Task.MOTION_TO_TEXT, motion_ids=tokens[:DEFAULT_MAX_TOKENS], vocab=self.tokenizer.vocab)
        return generate_text(self.lm, self.tokenizer, prompt)

    def continue_motion(self, features: np.ndarray, seconds: float, text: str | None = None,
                        seed: int | None = None, sampling: SamplingOptions | None = None) -> np.ndarray:
        """Features of ``seconds`` of new motion that follow ``features``
        (the new part only). The last 8 s of context are given to the model."""
        s = sampling or self.sampling
        context = self.vq.encode(features)[-(DEFAULT_MAX_TOKENS - 10):]
        n_new = seconds_to_tokens(seconds)
        if text:
            # text-conditioned continuation: mask the future and describe it
            masked = np.concatenate([context, np.full(n_new, self.tokenizer.vocab.mask)])
            prompt = instruction(Task.INBETWEEN_TEXT, caption=_check_text(text), motion_ids=masked,
                                 vocab=self.tokenizer.vocab)
        else:
            prompt = instruction(Task.PREDICT, motion_ids=context, vocab=self.tokenizer.vocab)
        new = generate_motion_ids(self.lm, self.tokenizer, prompt, num_tokens=n_new, seed=seed, **s.kwargs())[0]
        whole = _finite([self.vq.decode(np.concatenate([context, new]))])[0]
        return whole[len(context) * FRAMES_PER_TOKEN:]

    def inbetween(self, features: np.ndarray, start_frame: int, end_frame: int, text: str | None = None,
                  seed: int | None = None, sampling: SamplingOptions | None = None,
                  candidates: int = INBETWEEN_CANDIDATES, average: int = INBETWEEN_AVERAGE) -> np.ndarray:
        """Features of the whole clip with frames [start_frame, end_frame)
        regenerated from their surroundings (on the 4-frame token grid).

        ``candidates`` spans are sampled in one batch; the ``average`` whose
        decoded motion best meets the known frames around the gap
        (:func:`boundary_error`: body pose relative to the hips, so where the
        root ends up does not count -- the pipeline pins the root to the keys
        anyway) are averaged feature by feature. An in-between is judged by
        how well it joins its keys, and picking by the known frames uses
        nothing the user did not give; averaging the best few keeps what they
        agree on (lower error, a smoother motion than any one sample). On val
        this is what puts the 1 s in-between clearly below SLERP
        interpolation (models/default/MODEL_CARD.md)."""
        s = sampling or self.sampling
        tokens = self.vq.encode(features)
        lo = max(0, start_frame // FRAMES_PER_TOKEN)
        hi = min(len(tokens), -(-end_frame // FRAMES_PER_TOKEN))
        if hi <= lo:
            raise MotionGPTError(f"the gap {start_frame}..{end_frame} covers no whole 4-frame token")
        masked = tokens.copy()
        masked[lo:hi] = self.tokenizer.vocab.mask
        task = Task.INBETWEEN_TEXT if text else Task.INBETWEEN_SPAN
        prompt = instruction(task, caption=_check_text(text) if text else None, motion_ids=masked,
                             vocab=self.tokenizer.vocab)
        spans = generate_motion_ids(self.lm, self.tokenizer, prompt, num_tokens=hi - lo, seed=seed, **s.kwargs(),
                                    num_return_sequences=max(1, int(candidates)))
        options = []
        for span in spans:
            filled = tokens.copy()
            filled[lo:hi] = span
            options.append(filled)
        decoded = _finite(self.vq.decode_batch(options))
        if len(decoded) == 1:
            return decoded[0]
        known = features_to_joints(np.asarray(features, dtype=np.float64))
        errors = [boundary_error(features_to_joints(d), known, lo * FRAMES_PER_TOKEN, hi * FRAMES_PER_TOKEN)
                  for d in decoded]
        best = np.argsort(errors, kind="stable")[:max(1, int(average))]
        return np.mean([decoded[int(i)] for i in best], axis=0).astype(decoded[0].dtype)


def boundary_error(candidate: np.ndarray, known: np.ndarray, start: int, end: int) -> float:
    """Mean joint position error (m) of ``candidate`` against the ``known``
    joints (both (T, 22, 3) on the same frame grid), each frame taken
    relative to its own hips' horizontal position, on the
    :data:`BOUNDARY_FRAMES` frames before ``start`` and from ``end`` on."""
    n = min(len(candidate), len(known))
    frames = np.r_[max(0, start - BOUNDARY_FRAMES):min(n, start), min(n, end):min(n, end + BOUNDARY_FRAMES)]
    if frames.size == 0:
        return 0.0
    ground = np.array([1.0, 0.0, 1.0])
    a = candidate[frames] - candidate[frames, :1] * ground
    b = known[frames] - known[frames, :1] * ground
    return float(np.linalg.norm(a - b, axis=-1).mean())


def _finite(features: list[np.ndarray]) -> list[np.ndarray]:
    """``features`` unchanged, or ModelOutputError when any value is NaN or
    infinite (damaged weights): a job fails rather than return broken motion."""
    if not all(np.isfinite(f).all() for f in features):
        raise ModelOutputError("the motion tokenizer produced invalid numbers (NaN or infinity) instead of a "
                               "motion; its weights are probably damaged: reinstall the model folder (or export "
                               "it again)")
    return features


def _check_text(text: str | None) -> str:
    if text is None or not str(text).strip():
        raise MotionGPTError("the prompt is empty; describe the motion, e.g. 'a person walks forward'")
    text = " ".join(str(text).split())
    if len(text) > MAX_PROMPT_CHARS:
        raise MotionGPTError(f"the prompt is {len(text)} characters long; keep it to {MAX_PROMPT_CHARS}")
    return text

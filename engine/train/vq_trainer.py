"""Training the motion tokenizer (VQ-VAE) on a HumanML3D-layout folder.

Recipe (T2M-GPT / MotionGPT): random ``window``-frame crops of normalised
features (clips shorter than the window are taken whole, zero-padded and
masked, instead of being dropped as T2M-GPT does: 39 % of the Bandai Namco
clips are shorter than 64 frames), loss = smooth-L1(reconstruction) + 0.5 * smooth-L1(frame-to-frame
velocity of the features) + 0.02 * commitment, AdamW (betas 0.9/0.99, no
weight decay), linear warm-up then a constant (default) or cosine rate.

Determinism and resuming: every step draws its batch from
``numpy.random.default_rng([seed, step])`` and re-seeds torch from
``(seed, step)`` before the forward pass (the quantizer's dead-code reset is
the only other randomness). The model, optimizer, the quantizer's EMA
statistics and the step are checkpointed, so a resumed run repeats the
uninterrupted one bit for bit on the CPU (on CUDA up to non-deterministic
kernels). The rate schedule depends only on the step (and, for cosine, on
``steps``), so resume with the same settings.

The output folder is a tokenizer folder (``MotionTokenizer.load`` reads it)
plus what resuming needs:

    model.safetensors, config.json, mean.npy, std.npy   the tokenizer (latest step)
    optimizer.safetensors, trainer_state.json           for --resume
    quantizer_ema.safetensors                           EMA code sums/counts, for --resume
    train_log.jsonl                                     one line per validation
    best/                                               tokenizer with the best validation MPJPE
"""
from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import checkpoint as ckpt
from ..data import humanml3d
from ..errors import MotionFileError, MotionGPTError
from ..models.motion_tokenizer import MotionTokenizer, load_stats, read_vq_config, save_stats, tokenizer_config
from ..models.vqvae import MotionVQVAE, VQConfig
from ..motion.features import features_to_joints
from .path_loss import path_error_sum
from ..data.labels import read_actions
from .distributed import setup
from .lm_data import balanced_clip_p
from .precision import Precision

EMA_FILE = "quantizer_ema.safetensors"
LOG_FILE = "train_log.jsonl"
BEST_DIR = "best"
VEL_WEIGHT = 0.5
COMMIT_WEIGHT = 0.02
ROOT_FEATURES = 4
"""The first features of a HumanML3D vector: root yaw velocity, ground velocity (2) and height."""
SCHEDULES = ("constant", "cosine")


# ----------------------------------------------------------------------------- data

def _step_seed(seed: int, step: int) -> int:
    return (int(seed) * 1_000_003 + int(step)) % (2 ** 63)


def make_batch(clips: list[np.ndarray], batch_size: int, window: int, seed: int, step: int,
               multiple: int = 4, clip_p: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The crops of step ``step``, a function of (seed, step) only: (batch,
    (batch_size, window, nfeats) float32; lengths (batch_size,)). Clips are
    drawn uniformly (or by ``clip_p``, :func:`engine.train.lm_data.balanced_clip_p`,
    so that a pose only a one-clip action holds -- lying, crawling -- is seen
    often enough to get codes of its own) and cropped at a uniform start; a
    clip shorter than the window is taken whole (rounded down to ``multiple``
    frames) and zero-padded, its length telling the model and the loss where
    it ends."""
    rng = np.random.default_rng([int(seed), int(step)])
    which = (rng.integers(0, len(clips), size=batch_size) if clip_p is None
             else rng.choice(len(clips), size=batch_size, p=clip_p))
    out = np.zeros((batch_size, window, clips[0].shape[1]), dtype=np.float32)
    lengths = np.empty(batch_size, dtype=np.int64)
    for b, c in enumerate(which):
        clip = clips[c]
        n = min(window, len(clip) // multiple * multiple)
        start = int(rng.integers(0, len(clip) - n + 1))
        out[b, :n] = clip[start:start + n]
        lengths[b] = n
    return torch.from_numpy(out), torch.from_numpy(lengths)


class _StepBatches(torch.utils.data.Dataset):
    """Batch i is the batch of step ``first + i``; lets DataLoader workers
    prepare batches without changing what each step sees."""

    def __init__(self, clips: list[np.ndarray], batch_size: int, window: int, seed: int, first: int, last: int,
                 multiple: int, clip_p: np.ndarray | None = None):
        self.clips, self.batch_size, self.window, self.seed = clips, batch_size, window, seed
        self.first, self.last, self.multiple, self.clip_p = first, last, multiple, clip_p

    def __len__(self) -> int:
        return max(0, self.last - self.first)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return make_batch(self.clips, self.batch_size, self.window, self.seed, self.first + i, self.multiple,
                          self.clip_p)


def _batches(clips, batch_size, window, seed, first, last, workers, pin, multiple, clip_p=None):
    if workers <= 0:
        for step in range(first, last):
            yield make_batch(clips, batch_size, window, seed, step, multiple, clip_p)
        return
    loader = torch.utils.data.DataLoader(_StepBatches(clips, batch_size, window, seed, first, last, multiple,
                                                      clip_p),
                                         batch_size=None, shuffle=False, num_workers=workers, pin_memory=pin,
                                         prefetch_factor=4, persistent_workers=False)
    yield from loader


def lr_at(step: int, base_lr: float, warmup: int, schedule: str, total_steps: int) -> float:
    """Rate for the update that takes the model from ``step`` to ``step + 1``."""
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "cosine":
        span = max(1, total_steps - warmup)
        progress = min(1.0, (step - warmup) / span)
        return base_lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress)))
    return base_lr


# ----------------------------------------------------------------------------- evaluation

@torch.no_grad()
def reconstruction_mpjpe(model: MotionVQVAE, clips_norm: list[np.ndarray], mean: np.ndarray, std: np.ndarray,
                         device: torch.device, batch_size: int = 32) -> dict[str, float]:
    """Encode and decode every clip (cropped to a multiple of 4 frames) and
    compare joint positions: mean per-joint position error in mm over all
    frames, globally (root trajectory integrated from the features) and
    root-relative. The model, and each of its parts, is left in the mode it
    was in (a decoder-only run keeps its encoder and codebook in eval mode)."""
    modes = [(module, module.training) for module in model.modules()]   # parents first: children win
    model.eval()
    f = model.downsample
    clips = [c[: len(c) // f * f] for c in clips_norm if len(c) >= f]
    if not clips:
        raise MotionGPTError(f"no validation clip has at least {f} frames")
    order = sorted(range(len(clips)), key=lambda i: len(clips[i]))
    err_sum = rel_sum = 0.0
    count = 0
    for start in range(0, len(order), batch_size):
        chunk = [clips[i] for i in order[start:start + batch_size]]
        lengths = torch.tensor([len(c) for c in chunk])
        x = torch.zeros(len(chunk), int(lengths.max()), chunk[0].shape[1])
        for i, c in enumerate(chunk):
            x[i, : len(c)] = torch.from_numpy(c)
        tokens = model.encode(x.to(device), lengths)
        recon, _ = model.decode(tokens)
        recon = recon.float().cpu().numpy()
        for i, c in enumerate(chunk):
            gt = features_to_joints(c * std + mean)
            pr = features_to_joints(recon[i, : len(c)] * std + mean)
            err_sum += float(np.linalg.norm(gt - pr, axis=-1).sum())
            rel_sum += float(np.linalg.norm((gt - gt[:, :1]) - (pr - pr[:, :1]), axis=-1).sum())
            count += gt.shape[0] * gt.shape[1]
    for module, training in modes:
        module.train(training)
    return {"mpjpe_mm": 1000.0 * err_sum / count, "root_rel_mpjpe_mm": 1000.0 * rel_sum / count,
            "clips": len(clips)}


# ----------------------------------------------------------------------------- training

def set_training(model: MotionVQVAE, training: bool, decoder_only: bool = False) -> None:
    """Training mode for the parts being trained. Decoder-only: the encoder
    and codebook get no gradient and the codebook no EMA update or reset (its
    training mode is what updates it), so no clip's tokens change."""
    model.train(training)
    if decoder_only:
        model.encoder.eval()
        model.quantizer.eval()
        for part in (model.encoder, model.quantizer):
            for p in part.parameters():
                p.requires_grad_(False)


def reconstruction_sums(recon: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth-L1 of the features and of their frame-to-frame velocity, each
    summed over the valid frames only (all frames when ``lengths`` is None).
    Sums, not means, so that a batch split over processes adds up to the
    whole batch's loss (:func:`loss_counts` gives the divisors)."""
    if lengths is None:
        return (F.smooth_l1_loss(recon, target, reduction="sum"),
                F.smooth_l1_loss(recon[:, 1:] - recon[:, :-1], target[:, 1:] - target[:, :-1], reduction="sum"))
    mask = (torch.arange(target.shape[1], device=target.device)[None, :] < lengths[:, None]).to(target.dtype)
    mask = mask[..., None]
    per_frame = F.smooth_l1_loss(recon, target, reduction="none")
    vel_mask = mask[:, 1:] * mask[:, :-1]
    per_step = F.smooth_l1_loss(recon[:, 1:] - recon[:, :-1], target[:, 1:] - target[:, :-1], reduction="none")
    return (per_frame * mask).sum(), (per_step * vel_mask).sum()


def loss_counts(lengths: torch.Tensor, frames: int, nfeats: int, code_dim: int, downsample: int,
                masked: bool) -> tuple[float, float, float]:
    """What the reconstruction, velocity and commitment losses of a batch
    average over (feature values, frame-to-frame differences, code-vector
    values), for rows of ``lengths`` valid frames out of ``frames``."""
    valid = lengths.to(torch.float64) if masked else torch.full_like(lengths, frames, dtype=torch.float64)
    rec = float(valid.sum()) * nfeats
    vel = float((valid - 1).clamp_min(0).sum()) * nfeats
    commit = float(torch.div(valid, downsample, rounding_mode="floor").sum()) * code_dim
    return rec, max(vel, 1.0), commit


def _load_clips(root: Path, split: str, mean: np.ndarray, std: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
    """(ids, normalised features) of the split's clips."""
    clips = humanml3d.load_split(root, split)
    return [c.clip_id for c in clips], [((c.features - mean) / std).astype(np.float32) for c in clips]


def _evenly(items: list, limit: int) -> list:
    if limit <= 0 or len(items) <= limit:
        return items
    picks = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in picks]


def train_vq(data_dir: str | Path, out_dir: str | Path, config: VQConfig | None = None, steps: int = 10000,
             batch_size: int = 64, window: int = 64, lr: float = 2e-4, warmup: int = 500,
             schedule: str = "constant", val_every: int = 1000, val_split: str = "val", resume: bool = False,
             device: str = "auto", seed: int = 0, workers: int = 0, progress: bool = True,
             val_at_start: bool = False, val_max_clips: int = 512, min_frames: int | None = None,
             log: Callable[[str], None] | None = None,
             should_stop: Callable[[], bool] | None = None, grad_accum: int = 1,
             precision: str = "fp32", init_from: str | Path | None = None,
             balance_power: float = 1.0, decoder_only: bool = False, root_weight: float = 1.0,
             path_weight: float = 0.0) -> dict[str, Any]:
    """Train (or resume training) a motion tokenizer; returns a summary dict:
    (``decoder_only``: with ``init_from`` (or resuming such a run), train the
    decoder alone -- encoder, codebook and statistics stay the source's, so
    every clip keeps its tokens and a language model trained on them stays
    valid, while the motion those tokens decode to gets better)
    (``root_weight``: weight of the :data:`ROOT_FEATURES` in the reconstruction
    loss; a small bias there is integrated into the whole trajectory)
    (``path_weight``: weight of the floor-path distance in metres,
    :func:`engine.train.path_loss.path_error_sum`, averaged over frames; 0:
    off. It charges that integrated bias directly)
    (``balance_power``: draw each action's clips in proportion to its clip
    count to this power, as train-lm does; 1 = every clip equally)
    (``init_from``: start from a trained tokenizer folder's weights and
    codebook instead of random ones, with its config; the statistics are
    this dataset's)

    ``losses`` (total loss of every step run in this call), ``val_history``
    (list of {step, mpjpe_mm, root_rel_mpjpe_mm, ...}), ``best_val_mpjpe_mm``,
    ``final_val_mpjpe_mm``, ``step`` (steps done in all), ``start_step``,
    ``val_split`` (the split validated on), ``interrupted``, ``device``,
    ``num_parameters``, ``sec_per_step``, ``out_dir``.
    ``config`` defaults to ``VQConfig.small()`` (ignored when resuming: the
    saved config is used). Training clips shorter than ``window`` are padded
    (masked out of the model and the loss); clips shorter than
    ``min_frames`` (default window // 4) are skipped.

    Under torchrun this is one of several processes (engine/train/distributed.py):
    ``batch_size`` is the global batch, each process runs its share in
    ``grad_accum`` micro-batches, the losses are normalised over the whole
    batch, and every process's codebook is updated from the whole batch's
    encoder outputs (``QuantizeEMAReset.gather``), so the run follows the
    one-process run. With ``grad_accum`` above 1 the codebook is updated
    after each micro-batch (as a smaller batch would). Only rank 0
    validates, logs and writes. ``precision`` bf16/fp16 autocasts on CUDA
    (the quantizer stays float32)."""
    precision_name = precision
    with setup(device) as dist:
        data_dir, out_dir = Path(data_dir), Path(out_dir)
        say = log or (lambda msg: tqdm.write(msg, file=sys.stderr))
        if not dist.is_main:
            say = lambda msg: None  # noqa: E731  (rank 0 speaks for the run)
            progress = False
        if schedule not in SCHEDULES:
            raise MotionGPTError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
        for name, value in (("steps", steps), ("batch_size", batch_size), ("window", window), ("val_every", val_every)):
            if int(value) < 1:
                raise MotionGPTError(f"{name} must be at least 1, got {value}")
        if not lr > 0:
            raise MotionGPTError(f"learning rate must be positive, got {lr}")
        if not root_weight > 0:
            raise MotionGPTError(f"--root-weight must be positive, got {root_weight}")
        if not (math.isfinite(path_weight) and path_weight >= 0):
            raise MotionGPTError(f"--path-weight must be 0 or more, got {path_weight}")
        dist.check_batch(batch_size, grad_accum)
        dev = dist.device
        precision = Precision(precision_name, dev)

        mean, std = humanml3d.load_stats(data_dir)
        state_path = out_dir / ckpt.STATE_FILE
        saved_state = ckpt.read_trainer_state(out_dir) if state_path.is_file() else {}
        decoder_only = bool(decoder_only or (resume and saved_state.get("args", {}).get("decoder_only")))
        if decoder_only:
            if init_from is None and not resume:
                raise MotionGPTError("--decoder-only fine-tunes a trained tokenizer's decoder: give --init-from "
                                     "(e.g. models/default/vq)")
            if not resume:
                mean, std = load_stats(init_from, read_vq_config(init_from).nfeats)   # the codes' own normalisation
        if resume:
            if "step" not in saved_state:
                raise MotionGPTError(f"{out_dir}: nothing to resume (no {ckpt.STATE_FILE} with a step); "
                                     f"start without --resume")
            saved_cfg = read_vq_config(out_dir)
            if config is not None and config != saved_cfg:
                say(f"note: resuming with the saved model config, not the one given ({out_dir / ckpt.CONFIG_FILE})")
            config = saved_cfg
            saved_mean, saved_std = load_stats(out_dir, config.nfeats)
            if decoder_only:
                mean, std = saved_mean, saved_std
            if not (np.allclose(saved_mean, mean, atol=1e-5) and np.allclose(saved_std, std, atol=1e-5)):
                raise MotionGPTError(f"{data_dir}: Mean/Std differ from the ones the checkpoint in {out_dir} was "
                                     f"trained with; resume on the same dataset")
            if int(saved_state.get("seed", seed)) != seed:
                say(f"note: resuming with the saved seed {saved_state['seed']} (not {seed}) to keep the run "
                    "reproducible")
                seed = int(saved_state["seed"])
            old = saved_state.get("args", {})
            changed = [f"{k} {old[k]} -> {v}" for k, v in (("batch_size", batch_size), ("window", window), ("lr", lr),
                                                              ("warmup", warmup), ("schedule", schedule),
                                                              ("balance_power", balance_power),
                                                              ("root_weight", root_weight),
                                                              ("path_weight", path_weight))
                       if k in old and old[k] != v]
            if changed:
                say("note: resuming with changed settings (" + ", ".join(changed) + "); the run will differ from an "
                    "uninterrupted one")
        else:
            if "step" in saved_state:
                raise MotionGPTError(f"{out_dir} already holds a checkpoint at step {saved_state['step']}; "
                                     f"pass --resume to continue it or choose another --out folder")
            if init_from is not None:
                given, config = config, read_vq_config(init_from)
                if given is not None and given != config:
                    say(f"note: --init-from {init_from} sets the model config; the preset given is not used")
            config = config or VQConfig.small()

        if window % config.downsample:
            raise MotionGPTError(f"--window must be a multiple of {config.downsample} frames (one token each), "
                                 f"got {window}")

        # data
        train_ids_all, train_clips_all = _load_clips(data_dir, "train", mean, std)
        min_frames = max(config.downsample, window // 4 if min_frames is None else int(min_frames))
        kept = [i for i, c in enumerate(train_clips_all) if len(c) >= min_frames]
        train_clips = [train_clips_all[i] for i in kept]
        if not train_clips:
            longest = max((len(c) for c in train_clips_all), default=0)
            raise MotionGPTError(f"{data_dir}: no training clip has {min_frames} frames (longest {longest})")
        clip_p = (None if balance_power == 1.0 else
                  balanced_clip_p([train_ids_all[i] for i in kept], read_actions(data_dir), balance_power))
        padded = sum(len(c) < window for c in train_clips)
        skipped = len(train_clips_all) - len(train_clips)
        if padded or skipped:
            say(f"training clips: {len(train_clips)} of {len(train_clips_all)} used; {padded} shorter than the "
                f"{window}-frame window are padded (masked in the loss)"
                + (f", {skipped} shorter than {min_frames} frames are skipped" if skipped else ""))
        used_val_split = val_split
        try:
            _, val_clips = _load_clips(data_dir, val_split, mean, std)
        except MotionFileError:
            if val_split == "train":
                raise
            say(f"note: {data_dir} has no '{val_split}' split; validating on the training split instead")
            used_val_split = "train"
            val_clips = train_clips_all
        val_clips = _evenly([c for c in val_clips if len(c) >= config.downsample], val_max_clips)
        if not val_clips:
            raise MotionGPTError(f"{data_dir}: the '{used_val_split}' split has no clip of {config.downsample} frames")

        # model and optimizer
        torch.manual_seed(seed)
        model = MotionVQVAE(config)
        if init_from is not None and not resume:
            source = Path(init_from) / ckpt.MODEL_FILE
            ckpt.load_into(model, ckpt.load_weights(source), source)      # the codebook counts as initialised
            say(f"starting from {init_from}'s weights and codebook")
        if resume:
            ckpt.load_into(model, ckpt.load_weights(out_dir / ckpt.MODEL_FILE), out_dir / ckpt.MODEL_FILE)
            if (out_dir / EMA_FILE).is_file():
                model.quantizer.load_ema_state(ckpt.load_weights(out_dir / EMA_FILE))
            else:
                say(f"note: {out_dir / EMA_FILE} is missing; the codebook statistics restart from the saved codebook")
        model.to(dev)
        set_training(model, True, decoder_only)
        if dist.enabled:
            model.quantizer.gather = dist.gather_rows
        # the codebook copies stay equal by construction (gather), so DDP need not broadcast buffers
        wrapped = dist.wrap(model, broadcast_buffers=False)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, betas=(0.9, 0.99),
                                      weight_decay=0.0)
        if resume:
            ckpt.load_optimizer(out_dir, optimizer)
            precision.load_state_dict(saved_state.get("grad_scaler"))
        start_step = int(saved_state.get("step", 0)) if resume else 0
        best = saved_state.get("best_val_mpjpe_mm") if resume else None
        best_step = saved_state.get("best_step") if resume else None
        history: list[dict] = list(saved_state.get("val_history", [])) if resume else []
        elapsed_before = float(saved_state.get("train_seconds", 0.0)) if resume else 0.0
        if dist.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            save_stats(out_dir, mean, std)
        args = {"data": str(data_dir), "init_from": str(init_from) if init_from else saved_state.get("args", {}).get(
                    "init_from"), "batch_size": batch_size, "window": window, "lr": lr, "warmup": warmup,
                "schedule": schedule, "steps": steps, "val_every": val_every, "val_split": used_val_split,
                "min_frames": min_frames, "grad_accum": grad_accum, "precision": precision_name,
                "balance_power": balance_power, "decoder_only": decoder_only, "root_weight": root_weight,
                "path_weight": path_weight,
                "processes": dist.world}

        results: dict[str, Any] = {
            "out_dir": str(out_dir), "start_step": start_step, "step": start_step, "losses": [],
            "val_history": history, "val_split": used_val_split, "interrupted": False, "device": str(dev),
            "num_parameters": model.num_parameters(), "config": config.to_dict(), "rank": dist.rank,
            "processes": dist.world,
        }
        step = start_step
        train_seconds = 0.0

        def trainer_state() -> dict[str, Any]:
            return {"step": step, "seed": seed, "best_val_mpjpe_mm": best, "best_step": best_step,
                    "val_history": history, "args": args, "train_seconds": elapsed_before + train_seconds,
                    "grad_scaler": precision.state_dict()}

        def save_all() -> None:
            if not dist.is_main:
                return
            ckpt.save_weights(out_dir / EMA_FILE, model.quantizer.ema_state())
            ckpt.save_checkpoint(out_dir, model, tokenizer_config(config), optimizer, trainer_state())

        def validate(window_stats: dict[str, float]) -> dict[str, Any]:
            nonlocal best, best_step
            t0 = time.perf_counter()
            metrics = reconstruction_mpjpe(model, val_clips, mean, std, dev)
            entry = {"step": step, **{k: round(v, 6) for k, v in window_stats.items()},
                     "val_mpjpe_mm": round(metrics["mpjpe_mm"], 3),
                     "val_root_rel_mpjpe_mm": round(metrics["root_rel_mpjpe_mm"], 3),
                     "val_clips": metrics["clips"], "val_seconds": round(time.perf_counter() - t0, 2),
                     "lr": lr_at(max(step - 1, 0), lr, warmup, schedule, steps),
                     "train_seconds": round(elapsed_before + train_seconds, 1)}
            history.append(entry)
            improved = step > 0 and (best is None or metrics["mpjpe_mm"] < best)
            if improved:
                best, best_step = metrics["mpjpe_mm"], step
            with open(out_dir / LOG_FILE, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
            say(f"step {step}: loss {window_stats.get('loss', float('nan')):.4f} "
                f"(recon {window_stats.get('recon', float('nan')):.4f}, "
                f"vel {window_stats.get('vel', float('nan')):.4f}, "
                f"commit {window_stats.get('commit', float('nan')):.4f}), perplexity "
                f"{window_stats.get('perplexity', float('nan')):.1f} | {used_val_split} MPJPE "
                f"{metrics['mpjpe_mm']:.1f} mm (root-relative {metrics['root_rel_mpjpe_mm']:.1f} mm, "
                f"{metrics['clips']} clips){' best' if improved else ''}")
            if improved:
                MotionTokenizer(model, mean, std, dev).save(out_dir / BEST_DIR)
                set_training(model, True, decoder_only)
            return entry

        if val_at_start and start_step == 0 and dist.is_main:
            validate({})

        stop_requested = {"flag": False}

        def on_sigint(signum, frame):  # noqa: ANN001
            if stop_requested["flag"]:
                raise KeyboardInterrupt
            stop_requested["flag"] = True
            say("Ctrl-C: stopping after this step and saving a checkpoint (press again to abort without saving)")

        previous_handler = None
        if threading.current_thread() is threading.main_thread():
            previous_handler = signal.signal(signal.SIGINT, on_sigint)

        weights = torch.ones(config.nfeats, device=dev)
        weights[:ROOT_FEATURES] = float(root_weight)
        mean_t = torch.as_tensor(np.asarray(mean), dtype=torch.float32, device=dev)
        std_t = torch.as_tensor(np.asarray(std), dtype=torch.float32, device=dev)
        bar = tqdm(total=steps, initial=start_step, disable=not progress, desc="train-vq", unit="step",
                   dynamic_ncols=True, mininterval=1.0 if sys.stderr.isatty() else 30.0)
        sums = {"loss": 0.0, "recon": 0.0, "vel": 0.0, "commit": 0.0, "perplexity": 0.0}
        n_sum = 0
        pin = dev.type == "cuda"
        try:
            if start_step >= steps:
                say(f"{out_dir} is already at step {start_step} (>= {steps}); nothing to train")
            batches = _batches(train_clips, batch_size, window, seed, start_step, steps, workers, pin,
                               config.downsample, clip_p)
            for batch, lengths in batches:
                t0 = time.perf_counter()
                # the same seed in every process: the codebook's resets must draw alike
                torch.manual_seed(_step_seed(seed, step))
                rate = lr_at(step, lr, warmup, schedule, steps)
                for group in optimizer.param_groups:
                    group["lr"] = rate
                padded_batch = bool((lengths < window).any())
                n_rec, n_vel, n_commit = loss_counts(lengths, window, config.nfeats, config.code_dim, config.downsample,
                                                     padded_batch)
                parts = dist.micro_batches(batch_size, grad_accum)
                optimizer.zero_grad(set_to_none=True)
                part_sums = torch.zeros(3, device=dev, dtype=torch.float64)
                for i, part in enumerate(parts):
                    x = batch[part].to(dev, non_blocking=pin)
                    rows = lengths[part].to(dev) if padded_batch else None
                    with dist.no_sync(wrapped, last=i == len(parts) - 1):
                        with precision.autocast():
                            recon, commit, perplexity = wrapped(x, rows)
                        rec_sum, vel_sum = reconstruction_sums(recon.float() * weights, x * weights, rows)
                        commit_sum = commit * loss_counts(lengths[part], window, config.nfeats, config.code_dim,
                                                          config.downsample, padded_batch)[2]
                        loss = (rec_sum / n_rec + VEL_WEIGHT * vel_sum / n_vel + COMMIT_WEIGHT * commit_sum / n_commit)
                        if path_weight:
                            loss = loss + path_weight * path_error_sum(recon.float(), x, mean_t, std_t, rows) \
                                / (n_rec / config.nfeats)
                        precision.backward(loss * dist.world)
                    part_sums += torch.stack([rec_sum.detach(), vel_sum.detach(), commit_sum.detach()]).double()
                precision.step(optimizer, model.parameters())
                step += 1
                rec_g, vel_g, commit_g = (dist.all_sum(part_sums).cpu() / torch.tensor([n_rec, n_vel, n_commit],
                                                                                      dtype=torch.float64)).tolist()
                values = [rec_g + VEL_WEIGHT * vel_g + COMMIT_WEIGHT * commit_g, rec_g, vel_g, commit_g,
                          float(perplexity.detach())]
                train_seconds += time.perf_counter() - t0
                results["losses"].append(values[0])
                for key, v in zip(sums, values):
                    sums[key] += v
                n_sum += 1
                bar.update(1)
                if step % 10 == 0 or step == steps:
                    bar.set_postfix(loss=f"{values[0]:.4f}", ppl=f"{values[4]:.0f}", lr=f"{rate:.1e}", refresh=False)
                if not math.isfinite(values[0]):
                    save_all()
                    raise MotionGPTError(f"the loss became {values[0]} at step {step}; lower --lr "
                                         f"(checkpoint of that step saved in {out_dir})")
                if step % val_every == 0 or step == steps:
                    if dist.is_main:
                        validate({k: v / max(n_sum, 1) for k, v in sums.items()})
                    sums = dict.fromkeys(sums, 0.0)
                    n_sum = 0
                    save_all()
                if dist.any(stop_requested["flag"] or (should_stop is not None and should_stop())):
                    results["interrupted"] = True
                    break
        finally:
            bar.close()
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
        if results["interrupted"]:
            save_all()
            say(f"stopped at step {step}; checkpoint saved in {out_dir}; continue with --resume")
        elif start_step >= steps:
            pass
        results.update(step=step, best_val_mpjpe_mm=best, best_step=best_step,
                       final_val_mpjpe_mm=history[-1]["val_mpjpe_mm"] if history else None,
                       sec_per_step=train_seconds / max(step - start_step, 1))
        return results

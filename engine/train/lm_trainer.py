"""``motiongpt train-lm``: the two training stages of the motion-language model.

Stage 1 (pre-training) teaches the T5 both "languages" with bare pairs and
motion span corruption; stage 2 (instruction tuning) renders every task with
its paraphrased templates. The output folder is a complete model bundle (the
VQ tokenizer is copied in), loadable by the engine with ``--model``.

Under torchrun every process runs :func:`train_lm` (engine/train/distributed.py):
the model is wrapped in DistributedDataParallel, each process takes its
share of every step's global batch (``batch_size``), split again into
``grad_accum`` micro-batches, and the loss is the mean over the global
batch's label tokens, so the run follows the one-process run with the same
settings. Only rank 0 validates, writes checkpoints and shows progress.
"""
from __future__ import annotations

import math
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import checkpoint as ckpt
from ..data import humanml3d
from ..errors import MotionGPTError
from ..lm import model as lm_model
from ..lm.batch import IGNORE_INDEX, collate
from ..lm.caption_words import load_words, save_words, words_of
from ..lm.tokenizer import MotionTextTokenizer, build_tokenizer
from ..lm.vocab import DEFAULT_MAX_TOKENS
from ..models.bundle import write_bundle_manifest
from ..models.motion_tokenizer import MotionTokenizer
from ..data.build import read_actions
from .code_remap import code_counts, remap_motion_embeddings
from .distributed import Distributed, setup
from .lm_data import (CaptionFn, ExampleSampler, balanced_clip_p, load_token_cache, save_token_cache,
                      tokenize_split)
from .precision import Precision

VAL_SEED = 1234


@dataclass
class LMTrainSettings:
    stage1_steps: int = 2000
    stage2_steps: int = 4000
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200
    val_every: int = 500
    val_batches: int = 4
    max_tokens: int = DEFAULT_MAX_TOKENS
    max_input_tokens: int = 128
    text_vocab_size: int = 3000
    seed: int = 0
    balance_power: float = 1.0
    """Actions are drawn in proportion to (clips per action) ** this: 1 is the
    data's own mix, 0 every action equally (see lm_data.balanced_clip_p)."""
    grad_accum: int = 1
    """Micro-batches per optimizer step in each process (``batch_size`` is the
    global batch: processes x grad_accum x micro-batch)."""
    precision: str = "fp32"
    """fp32, or bf16 / fp16 autocast on CUDA (engine/train/precision.py)."""
    caption_dropout: float = 0.0
    """Share of text-to-motion samples trained without their caption, which
    classifier-free guidance needs (lm_data.ExampleSampler)."""

    @property
    def total_steps(self) -> int:
        return self.stage1_steps + self.stage2_steps


REWARM_STEPS = 50
"""Warm-up after resuming from weights alone (a snapshot committed without
its optimizer state): AdamW's moments start again from zero."""


def learning_rate(step: int, s: LMTrainSettings, rewarm_from: int | None = None) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak; after a
    resume without optimizer state, a short linear re-warm from ``rewarm_from``."""
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    progress = min(1.0, (step - s.warmup_steps) / max(1, s.total_steps - s.warmup_steps))
    rate = s.lr * (0.1 + 0.45 * (1.0 + math.cos(math.pi * progress)))
    if rewarm_from is not None and step - rewarm_from < REWARM_STEPS:
        rate *= (step - rewarm_from + 1) / REWARM_STEPS
    return rate


def _interrupts_save():
    """Make Ctrl-C and SIGTERM end the run through the KeyboardInterrupt path
    that saves a checkpoint, also in a process started in the background
    (which inherits SIGINT ignored) or stopped by a scheduler (SIGTERM).
    Returns what puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum, frame):  # noqa: ANN001
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return restore


def _step_rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, step])


def _tokenized(root: Path, split: str, vq: MotionTokenizer, cache_dir: Path, progress: bool,
               dist: Distributed | None = None):
    """The split's clips as tokens, from the cache in ``cache_dir`` or made
    and cached. With several processes rank 0 makes the cache while the
    others wait, then they read it (or, on a machine that does not see rank
    0's files, tokenise for themselves); rank 0 keeps the clips it made
    rather than reading them back."""
    cache = cache_dir / f"tokens_{split}.npz"
    main = dist is None or dist.is_main
    made = None
    if main and not cache.is_file():
        made = tokenize_split(root, split, vq, progress)
        save_token_cache(cache, made)
        for clip in made:  # int64 like load_token_cache's (encode_batch's already are: no copy)
            clip.variants = [np.asarray(v, dtype=np.int64) for v in clip.variants]
    if dist is not None:
        dist.barrier()
    if made is not None:
        return made
    if cache.is_file():
        return load_token_cache(cache)
    return tokenize_split(root, split, vq, progress=False)


def _validation_examples(sampler: ExampleSampler, s: LMTrainSettings) -> list[list]:
    rng = np.random.default_rng(VAL_SEED)
    return [sampler.batch(rng, 2, s.batch_size) for _ in range(s.val_batches)]


@torch.no_grad()
def _validate(model, tokenizer, batches, device, max_input_tokens: int) -> float:
    was_training = model.training
    model.eval()
    losses = []
    for examples in batches:
        batch = {k: v.to(device) for k, v in collate(tokenizer, examples, max_input_tokens).items()}
        losses.append(float(model(**batch).loss))
    model.train(was_training)
    return float(np.mean(losses))


def _lm_folder(folder: Path) -> Path:
    return folder / "lm" if (folder / "lm").is_dir() else folder


def _training_texts(train_clips, caption_fn: CaptionFn | None, seed: int) -> list[str]:
    """The captions the text tokenizer and the caption words are made from
    (with two paraphrases of each when training paraphrases)."""
    texts = [c for clip in train_clips for c in clip.captions]
    if caption_fn is not None:
        rng = np.random.default_rng(seed)
        texts += [caption_fn(c, rng) for c in texts for _ in range(2)]
    return texts


def _init_from(folder: Path, vq: MotionTokenizer, dev):
    """(model, config, tokenizer) of a trained model folder to fine-tune."""
    lm_folder = _lm_folder(folder)
    model, config, tokenizer = lm_model.load_lm(lm_folder, dev)
    if tokenizer is None:
        raise MotionGPTError(f"{lm_folder} has no text tokenizer (tokenizer.json); --init-from needs a complete model folder")
    if config.codebook_size != vq.code_num:
        raise MotionGPTError(f"{folder} was trained on a {config.codebook_size}-code motion tokenizer but --vq has "
                             f"{vq.code_num} codes; fine-tune with the VQ it was trained with")
    return model, config, tokenizer


def _remap_codes(folder: Path, model, tokenizer, train_clips, data_dir: Path, dev, progress: bool) -> None:
    """Start the motion-code rows of ``model`` (trained on ``folder``'s own
    tokenizer) from the codes that tokenizer wrote for the same training
    windows (engine/train/code_remap.py)."""
    old_dir = folder / "vq"
    if not (old_dir / "config.json").is_file():
        raise MotionGPTError(f"--remap-codes needs the tokenizer {folder} was trained on, in {old_dir}; it is not "
                             f"there (give a complete model folder or run to --init-from)")
    # read once, at the start: not cached
    old_clips = tokenize_split(data_dir, "train", MotionTokenizer.load(old_dir, device=dev), progress)
    if [c.clip_id for c in old_clips] != [c.clip_id for c in train_clips]:
        raise MotionGPTError(f"{old_dir} and --vq tokenised different training clips; --remap-codes needs both "
                             f"to read the same data")
    counts = code_counts([v for c in old_clips for v in c.variants], [v for c in train_clips for v in c.variants],
                         tokenizer.codebook_size)
    kept = remap_motion_embeddings(model, counts, tokenizer.motion_offset)
    if progress:
        print(f"motion codes remapped from {old_dir}: {kept:.0%} of training windows get the old code their new "
              f"code mostly stands for")


def _step_loss(wrapped, model, batch: dict[str, torch.Tensor], scale: float, precision: Precision) -> torch.Tensor:
    """Backward of one micro-batch's summed token loss times ``scale``; returns
    the sum (detached). ``scale`` is processes / global label tokens, so the
    gradient DDP averages is that of the global batch's mean token loss."""
    labels = batch["labels"]
    with precision.autocast():
        logits = wrapped(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         decoder_input_ids=model.prepare_decoder_input_ids_from_labels(labels=labels)).logits
    total = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                            ignore_index=IGNORE_INDEX, reduction="sum")
    precision.backward(total * scale)
    return total.detach()


def train_lm(data_dir: str | Path, vq_dir: str | Path, out_dir: str | Path, config: lm_model.LMConfig,
             settings: LMTrainSettings, device: str = "auto", resume: bool = False, progress: bool = True,
             caption_fn: CaptionFn | None = None, val_split: str = "val", stop_after: int | None = None,
             init_from: str | Path | None = None, remap_codes: bool = False) -> dict:
    """Train (or with ``resume`` continue) and return the run's numbers.
    ``stop_after`` ends this run after that many steps with a checkpoint;
    the schedule still spans all steps, so a later ``resume`` carries on
    exactly where an uninterrupted run would be. ``init_from`` fine-tunes a
    trained model (its weights and text tokenizer) instead of starting from
    random weights: far cheaper when the motion tokenizer stays the same;
    ``remap_codes`` carries it over to another tokenizer (``code_remap``).
    Started by torchrun, this is one of several processes (module docstring)."""
    data_dir, vq_dir, out_dir = Path(data_dir), Path(vq_dir), Path(out_dir)
    with setup(device) as dist:
        progress = progress and dist.is_main
        dev = dist.device
        dist.check_batch(settings.batch_size, settings.grad_accum)
        precision = Precision(settings.precision, dev)
        lm_dir = out_dir / "lm"
        vq = MotionTokenizer.load(vq_dir, device=dev)
        if dist.is_main and (out_dir / "vq").resolve() != vq_dir.resolve():
            # only what inference needs: weights, config, mean/std (no optimizer state)
            if (out_dir / "vq").exists():
                shutil.rmtree(out_dir / "vq")
            vq.save(out_dir / "vq")
        train_clips = _tokenized(data_dir, "train", vq, out_dir / "cache", progress, dist)
        has_val = (data_dir / f"{val_split}.txt").is_file()
        val_clips = _tokenized(data_dir, val_split, vq, out_dir / "cache", progress, dist) if has_val else train_clips

        state: dict = {}
        if resume:
            if not (lm_dir / ckpt.MODEL_FILE).is_file():
                raise MotionGPTError(f"nothing to resume in {lm_dir}; run without --resume to start")
            model, config, tokenizer = lm_model.load_lm(lm_dir, dev)
            state = ckpt.read_trainer_state(lm_dir)
        elif remap_codes and init_from is None:
            raise MotionGPTError("--remap-codes carries a trained model over to a new tokenizer: give --init-from")
        elif init_from is not None:
            model, config, tokenizer = _init_from(Path(init_from), vq, dev)
            if remap_codes:
                _remap_codes(Path(init_from), model, tokenizer, train_clips, data_dir, dev, progress)
            if dist.is_main:       # its caption words and this data's: a fine-tune captions in real words too
                source = load_words(_lm_folder(Path(init_from))) or []
                lm_dir.mkdir(parents=True, exist_ok=True)
                save_words(lm_dir, set(source) | set(words_of(_training_texts(train_clips, caption_fn, settings.seed),
                                                              tokenizer)))
        else:
            # every process builds the same tokenizer: the BPE is deterministic
            texts = _training_texts(train_clips, caption_fn, settings.seed)
            tokenizer = build_tokenizer(texts, vq.code_num, vocab_size=settings.text_vocab_size)
            if dist.is_main:       # the words captions may be spelled with (engine/lm/caption_words.py)
                lm_dir.mkdir(parents=True, exist_ok=True)
                save_words(lm_dir, words_of(texts, tokenizer))
            config = config.with_tokenizer(tokenizer)
            torch.manual_seed(settings.seed)
            model = lm_model.build_model(config).to(dev)
        model.train()
        wrapped = dist.wrap(model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay,
                                      betas=(0.9, 0.99))
        rewarm_from = None
        if resume and "optimizer_layout" in state and (lm_dir / ckpt.OPTIMIZER_FILE).is_file():
            ckpt.load_optimizer(lm_dir, optimizer)
        elif resume:
            rewarm_from = int(state.get("step", 0))
            if progress:
                print(f"{lm_dir} holds weights without optimizer state (a committed snapshot): AdamW starts "
                      f"again, with a {REWARM_STEPS}-step warm-up")
        precision.load_state_dict(state.get("grad_scaler"))
        step = int(state.get("step", 0))
        best_val = float(state.get("best_val_loss", float("inf")))
        history = list(state.get("history", []))

        clip_p = None
        if settings.balance_power != 1.0:
            clip_p = balanced_clip_p([c.clip_id for c in train_clips], read_actions(data_dir), settings.balance_power)
        train_sampler = ExampleSampler(train_clips, tokenizer.vocab, settings.max_tokens, caption_fn, clip_p=clip_p,
                                       caption_dropout=settings.caption_dropout)
        val_batches = _validation_examples(ExampleSampler(val_clips, tokenizer.vocab, settings.max_tokens), settings)

        def save(val_loss: float | None) -> None:
            if not dist.is_main:
                return
            trainer_state = {"step": step, "best_val_loss": best_val, "history": history,
                             "settings": settings.__dict__, "val_split": val_split if has_val else "train",
                             "init_from": str(init_from) if init_from else state.get("init_from"),
                             "remap_codes": bool(remap_codes or state.get("remap_codes")),
                             "processes": dist.world, "grad_scaler": precision.state_dict()}
            lm_model.save_lm(lm_dir, model, config, tokenizer, optimizer, trainer_state)
            write_bundle_manifest(out_dir, name=out_dir.name, codebook_size=vq.code_num,
                                  trained_steps=step, val_loss=val_loss)

        start = time.perf_counter()
        bar = tqdm(total=settings.total_steps, initial=step, desc="train-lm", unit="step", disable=not progress)
        last_loss = float("nan")
        losses: list[float] = []
        val_loss = None
        end = settings.total_steps if stop_after is None else min(settings.total_steps, step + stop_after)
        restore_signals = _interrupts_save()
        try:
            while step < end:
                stage = 1 if step < settings.stage1_steps else 2
                rng = _step_rng(settings.seed, step)
                # dropout: its own stream per process (rank 0's is the one-process stream)
                torch.manual_seed(settings.seed * 1_000_003 + step + (dist.rank << 40))
                examples = train_sampler.batch(rng, stage, settings.batch_size)   # the global batch
                micro = [collate(tokenizer, examples[part], settings.max_input_tokens)
                         for part in dist.micro_batches(len(examples), settings.grad_accum)]
                # label tokens counted on the CPU tensors: no device sync; summed over processes only if several
                count = sum(int((b["labels"] != IGNORE_INDEX).sum()) for b in micro)
                tokens = float(dist.all_sum([count])[0]) if dist.enabled else float(count)
                micro = [{k: v.to(dev) for k, v in b.items()} for b in micro]
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(step, settings, rewarm_from)
                optimizer.zero_grad(set_to_none=True)
                loss_sum = torch.zeros((), device=dev)
                for i, batch in enumerate(micro):
                    with dist.no_sync(wrapped, last=i == len(micro) - 1):
                        loss_sum += _step_loss(wrapped, model, batch, dist.world / tokens, precision)
                precision.step(optimizer, model.parameters(), max_grad_norm=1.0)
                # one transfer; float64 division as before (float32 sum -> float64 is exact)
                last_loss = float(dist.all_sum(loss_sum)[0] if dist.enabled else loss_sum) / tokens
                losses.append(last_loss)
                step += 1
                bar.update(1)
                bar.set_postfix(stage=stage, loss=f"{last_loss:.3f}")
                if dist.is_main and (step % settings.val_every == 0 or step == end):
                    val_loss = _validate(model, tokenizer, val_batches, dev, settings.max_input_tokens)
                    best_val = min(best_val, val_loss)
                    history.append({"step": step, "train_loss": last_loss, "val_loss": val_loss})
                    bar.write(f"step {step}: train loss {last_loss:.3f}, val loss {val_loss:.3f}")
                    save(val_loss)
        except KeyboardInterrupt:
            bar.write(f"interrupted at step {step}; saving a checkpoint to resume from")
            save(val_loss)
            raise
        finally:
            restore_signals()
            bar.close()
        if dist.is_main and not (lm_dir / ckpt.MODEL_FILE).is_file():
            save(val_loss)
        return {"steps": step, "train_loss": last_loss, "val_loss": val_loss, "best_val_loss": best_val,
                "seconds": time.perf_counter() - start, "history": history, "losses": losses,
                "parameters": lm_model.count_parameters(model), "out_dir": str(out_dir), "rank": dist.rank,
                "processes": dist.world}

"""Contrastive training of the retrieval evaluator (TMR / Guo et al. style).

Trains :class:`engine.eval.retrieval_model.RetrievalModel` on the TRAIN split
only, selects the checkpoint by R-precision on the VAL split, and writes an
evaluator folder that :meth:`EvaluatorModel.load` reads.

Each step draws ``batch_size`` clips (an epoch-wise shuffle of the training
clips, bucketed by length: see ``TrainConfig.bucket_pool``), one random caption of each, and a random window of each motion:
length uniform in [ceil(crop_min * L), L] with L = min(clip length,
max_frames), start uniform. The loss is the symmetric InfoNCE over the
batch's motion-text cosine similarities divided by a fixed ``temperature``.
False negatives are ignored: another item of the batch is not a negative
when its caption string is the same, or when its clip has the same set of
captions (same action/style template, e.g. a take and its mirror).

Run in the background:

    python -m engine.eval.train_evaluator --data /tmp/ds_full --out /tmp/evaluator \
        --steps 6000 --threads 1
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..data.humanml3d import MotionClip, load_split, load_stats
from ..device import pick_device
from ..errors import MotionGPTError
from . import metrics
from .report import write_json
from .retrieval_model import EvaluatorConfig, EvaluatorModel, RetrievalModel, WordVocab, pad_motions, pad_texts, \
    save_evaluator


@dataclass
class TrainConfig:
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: int = 200
    temperature: float = 0.1
    crop_min: float = 0.6
    min_frames: int = 8
    word_dropout: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_repeats: int = 10
    bucket_pool: int = 4
    """Draw this many batches' worth of clips at once, sort them by length and
    cut them into batches (served in random order): much less padding, and
    negatives of similar length, so length alone does not identify a motion.
    1 disables bucketing."""


@dataclass
class Pair:
    """One (motion window, caption) candidate: a clip's features restricted
    to the frames a caption covers."""
    clip: int
    caption: str
    start: int
    stop: int


def clip_pairs(clips: Sequence[MotionClip]) -> list[list[Pair]]:
    """Per clip, its usable (frames, caption) pairs (HumanML3D sub-clip
    captions cover only their time range; ranges under 4 frames are dropped)."""
    out = []
    for i, c in enumerate(clips):
        ps = []
        for cap in c.captions:
            a, b = cap.frame_range(len(c.features))
            if b - a >= 4 and cap.text.strip():
                ps.append(Pair(i, cap.text, a, b))
        out.append(ps)
    return out


def caption_set_groups(clips: Sequence[MotionClip]) -> np.ndarray:
    """Group id per clip: clips with the same set of caption strings share one."""
    keys: dict[frozenset, int] = {}
    return np.array([keys.setdefault(frozenset(c.text for c in clip.captions), len(keys)) for clip in clips])


def eval_pairs(clips: Sequence[MotionClip], seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """One (motion, caption) pair per clip with a caption chosen by ``seed``
    (HumanML3D evaluates each motion against one random caption of it)."""
    rng = np.random.default_rng(seed)
    feats, texts = [], []
    for ps in clip_pairs(clips):
        if not ps:
            continue
        p = ps[int(rng.integers(len(ps)))]
        feats.append(clips[p.clip].features[p.start:p.stop])
        texts.append(p.caption)
    return feats, texts


def evaluate_retrieval(evaluator: EvaluatorModel, clips: Sequence[MotionClip], seed: int = 0,
                       repeats: int = 10) -> dict[str, float]:
    """Real motions against their own captions: R-precision (HumanML3D
    protocol, and with identical captions not competing: ``*_dedup``),
    MM-Dist and Diversity."""
    feats, texts = eval_pairs(clips, seed)
    m = evaluator.embed_motions(feats)
    t = evaluator.embed_texts(texts)
    out = {f"r_precision_{k}": v for k, v in metrics.r_precision(m, t, seed=seed, repeats=repeats).items()}
    out.update({f"r_precision_{k}_dedup": v for k, v in
                metrics.r_precision(m, t, seed=seed, repeats=repeats, text_groups=np.array(texts)).items()})
    out["mm_dist"] = metrics.matching_score(m, t)
    out["diversity"] = metrics.diversity(m, seed=seed)
    out["num_pairs"] = len(feats)
    return out


class _Sampler:
    def __init__(self, clips: Sequence[MotionClip], vocab: WordVocab, cfg: EvaluatorConfig,
                 tcfg: TrainConfig, batch_size: int, rng: np.random.Generator):
        self.clips, self.vocab, self.cfg, self.tcfg = clips, vocab, cfg, tcfg
        self.pairs = clip_pairs(clips)
        self.usable = np.array([i for i, ps in enumerate(self.pairs) if ps])
        if len(self.usable) < 2:
            raise MotionGPTError("the training split needs at least 2 clips with captions to train an evaluator")
        self.groups = caption_set_groups(clips)
        self.batch_size = min(batch_size, len(self.usable))
        self.rng = rng
        self.queue: list[int] = []
        self.ready: list[list[int]] = []
        self.lengths = np.array([min(len(c.features), cfg.max_frames) for c in clips])

    def _next_clips(self) -> list[int]:
        if not self.ready:
            pool_size = self.batch_size * max(1, self.tcfg.bucket_pool)
            while len(self.queue) < pool_size:
                self.queue.extend(self.rng.permutation(self.usable).tolist())
            pool, self.queue = self.queue[:pool_size], self.queue[pool_size:]
            if self.tcfg.bucket_pool > 1:
                pool = [pool[i] for i in np.argsort(self.lengths[pool], kind="stable")]
            batches = [pool[i:i + self.batch_size] for i in range(0, pool_size, self.batch_size)]
            self.ready = [batches[i] for i in self.rng.permutation(len(batches))]
        return self.ready.pop()

    def batch(self):
        rng, cfg, tcfg = self.rng, self.cfg, self.tcfg
        feats, ids, texts, groups = [], [], [], []
        for ci in self._next_clips():
            ps = self.pairs[ci]
            p = ps[int(rng.integers(len(ps)))]
            span = p.stop - p.start
            full = min(span, cfg.max_frames)
            lo = min(full, max(tcfg.min_frames, math.ceil(tcfg.crop_min * full)))
            n = int(rng.integers(lo, full + 1))
            s = p.start + int(rng.integers(0, span - n + 1))
            feats.append(self.clips[ci].features[s: s + n])
            tok = self.vocab.encode(p.caption, cfg.max_words)
            if tcfg.word_dropout > 0:
                drop = rng.random(len(tok)) < tcfg.word_dropout
                tok = [1 if d else t for t, d in zip(tok, drop)]
            ids.append(tok)
            texts.append(p.caption)
            groups.append(self.groups[ci])
        x, lengths = pad_motions(feats, cfg.max_frames)
        texts_arr = np.array(texts, dtype=object)
        groups_arr = np.array(groups)
        same = (texts_arr[:, None] == texts_arr[None, :]) | (groups_arr[:, None] == groups_arr[None, :])
        np.fill_diagonal(same, False)
        return x, lengths, pad_texts(ids), torch.from_numpy(same)


def contrastive_loss(m: torch.Tensor, t: torch.Tensor, temperature: float,
                     false_negatives: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE on L2-normalised embeddings; ``false_negatives``
    (B, B) bool marks off-diagonal pairs to leave out of the softmax."""
    logits = m @ t.T / temperature
    if false_negatives is not None:
        logits = logits.masked_fill(false_negatives, float("-inf"))
    target = torch.arange(len(m), device=m.device)
    return 0.5 * (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target))


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def train_evaluator(data_dir: str | Path, out_dir: str | Path, steps: int = 6000, batch_size: int = 128,
                    seed: int = 0, device: str = "cpu", progress: bool = True,
                    model_config: EvaluatorConfig | None = None, train_config: TrainConfig | None = None,
                    val_split: str | None = "val", max_seconds: float | None = None,
                    log: Callable[[str], None] | None = None) -> dict:
    """Train an evaluator on ``data_dir``'s train split and write it to
    ``out_dir`` (the checkpoint with the best validation R-precision, or the
    last one when there is no validation split).

    Returns the metrics: validation R-precision / MM-Dist / Diversity of the
    kept checkpoint ("val"), FID between the train and val real motions
    ("fid_train_val"), the best step and the training time. Deterministic on
    the CPU for a given seed and thread count. ``max_seconds`` stops early
    (the learning-rate schedule is still planned over ``steps``).
    """
    t_start = time.time()
    log = log or (lambda s: None)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = pick_device(device)
    cfg = model_config or EvaluatorConfig()
    tcfg = train_config or TrainConfig()

    train = load_split(data_dir, "train")
    val = None
    if val_split and (Path(data_dir) / f"{val_split}.txt").is_file():
        val = load_split(data_dir, val_split)
    mean, std = load_stats(data_dir)
    vocab = WordVocab.build([c.text for clip in train for c in clip.captions])
    cfg.vocab_size = len(vocab)
    model = RetrievalModel(cfg)
    model.motion.mean.copy_(torch.from_numpy(mean))
    model.motion.std.copy_(torch.from_numpy(std))
    model.to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"evaluator: {len(train)} train clips, {len(val) if val else 0} val clips, vocab {len(vocab)}, "
        f"{n_params / 1e6:.2f}M parameters")

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "pos" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tcfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tcfg.lr)
    sampler = _Sampler(train, vocab, cfg, tcfg, batch_size, rng)
    evaluator = EvaluatorModel(model, vocab, dev)
    out_dir = Path(out_dir)
    extra = {"training": {"data": str(data_dir), "steps": steps, "batch_size": batch_size, "seed": seed,
                          "train": asdict(tcfg)}}

    def validate() -> dict:
        if not val:
            return {}
        result = evaluate_retrieval(evaluator, val, seed=seed, repeats=tcfg.eval_repeats)
        model.train()
        return result

    best, best_score, best_step, history = {}, -1.0, 0, []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc="evaluator", unit="step", dynamic_ncols=True, file=sys.stderr)
    model.train()
    step = 0
    loss_avg = None
    for step in range(1, steps + 1):
        for g in opt.param_groups:
            g["lr"] = tcfg.lr * _lr_factor(step - 1, steps, tcfg.warmup)
        x, lengths, ids, same = sampler.batch()
        m = model.encode_motion(x.to(dev), lengths.to(dev))
        t = model.encode_text(ids.to(dev))
        loss = contrastive_loss(m, t, tcfg.temperature, same.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tcfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        opt.step()
        loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_avg:.3f}")
        timed_out = max_seconds is not None and time.time() - t_start > max_seconds
        if step % tcfg.eval_every == 0 or step == steps or timed_out:
            model.eval()
            res = validate()
            model.train()
            score = float(np.mean([res[f"r_precision_top{k}_dedup"] for k in (1, 2, 3)])) if res else float(step)
            history.append({"step": step, "loss": loss_avg, **res})
            line = f"step {step}/{steps} loss {loss_avg:.4f} lr {opt.param_groups[0]['lr']:.2e} " \
                   f"elapsed {time.time() - t_start:.0f}s"
            if res:
                line += " val R@1/2/3 {:.3f}/{:.3f}/{:.3f} (dedup {:.3f}/{:.3f}/{:.3f}) mm_dist {:.3f}".format(
                    res["r_precision_top1"], res["r_precision_top2"], res["r_precision_top3"],
                    res["r_precision_top1_dedup"], res["r_precision_top2_dedup"],
                    res["r_precision_top3_dedup"], res["mm_dist"])
            if score > best_score:
                best_score, best, best_step = score, res, step
                model.eval()
                save_evaluator(out_dir, model, vocab, {**extra, "best_step": step, "val": res})
                model.train()
                line += " (saved)"
            log(line)
            if bar is not None:
                bar.write(line)
        if timed_out:
            log(f"time budget of {max_seconds:.0f}s reached at step {step}")
            break
    if bar is not None:
        bar.close()

    final = EvaluatorModel.load(out_dir, dev)
    result: dict = {"best_step": best_step, "steps_run": step, "train_seconds": round(time.time() - t_start, 1),
                    "parameters": n_params, "val": best, "history": history}
    if val:
        tr_feats, _ = eval_pairs(train, seed)
        va_feats, _ = eval_pairs(val, seed)
        result["fid_train_val"] = metrics.fid(final.embed_motions(tr_feats), final.embed_motions(va_feats))
    train_sub = [train[i] for i in np.random.default_rng(seed).permutation(len(train))[: max(len(val or []), 32)]]
    result["train_subset"] = evaluate_retrieval(final, train_sub, seed=seed, repeats=tcfg.eval_repeats)
    write_json(result, out_dir / "metrics.json")
    log(f"done: best step {best_step}, val {best}, fid_train_val {result.get('fid_train_val')}")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Train the text-motion retrieval evaluator.")
    p.add_argument("--data", required=True, help="built HumanML3D-layout dataset folder")
    p.add_argument("--out", required=True, help="output evaluator folder")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    tcfg = TrainConfig(eval_every=a.eval_every)
    res = train_evaluator(a.data, a.out, steps=a.steps, batch_size=a.batch_size, seed=a.seed, device=a.device,
                          progress=not a.no_progress, train_config=tcfg,
                          max_seconds=a.max_minutes * 60 if a.max_minutes else None,
                          log=lambda s: print(s, flush=True))
    print({k: v for k, v in res.items() if k != "history"}, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

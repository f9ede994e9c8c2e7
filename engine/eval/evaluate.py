"""The evaluation harness behind ``motiongpt evaluate``.

One call, :func:`run_evaluation`, scores a model folder on one split of a
HumanML3D-layout dataset and returns a JSON-ready dict; :func:`format_results`
turns it into the text tables the command prints. Every model number sits
beside a reference computed in the same run on the same clips:

- **text_to_motion**: one motion per clip generated from one of its captions
  (chosen with ``seed``) at the clip's length (rounded to the 4-frame token
  grid), scored as a user gets it (rotations solved, default foot cleanup,
  re-encoded to features), beside the same joints re-encoded without the
  cleanup and beside the decoder's raw features (re-encoding alone moves
  the evaluator's scores, so only same-path rows compare). R-precision top-1/2/3 (batches of 32, averaged over 20 shuffles,
  plus a ``_dedup`` variant where identical caption strings do not compete),
  FID, MM-Dist, Diversity and MultiModality on the retrieval evaluator's
  embeddings (:mod:`engine.eval.retrieval_model`), beside the same metrics of
  the real motions against their captions. The real row's FID is the floor:
  real training clips vs the split's real clips, sets of equal size.
- **captioning**: the model's caption of each clip against its reference
  captions (BLEU-1/4, ROUGE-L, CIDEr-D), beside the constant-caption
  baseline (the most common reference caption for every clip).
- **prediction**: the first 20 % of the clip (whole tokens: 4k + 1 frames)
  is given, the rest is predicted with :func:`engine.pipeline.tasks.continue_motion`
  (which keeps the input's world frame); ADE / FDE / L2P on the predicted
  frames, beside constant-pose and constant-velocity extrapolation.
- **inbetween**: gaps of 3, 10 and 20 frames at 20 fps (LaFAN1's 5, 15, 30
  frames at 30 fps: same durations) in the middle of each clip long enough
  (gap + 20 frames), filled with :func:`engine.pipeline.tasks.inbetween`;
  L2P and ADE on the gap frames, beside linear position and SLERP rotation
  interpolation between the two keys (each difference with a paired
  bootstrap 95 % confidence interval over the clips,
  :func:`metrics.paired_bootstrap`), and beside the tokenizer's ceiling:
  the same pipeline fed the VQ reconstruction of the true motion instead of
  generated tokens ("vq_oracle"), so the share of the error that no language
  model on this tokenizer can remove is visible.
- **plausibility**: foot skating, ground penetration and jerk of every
  generated set, beside the real frames it stands for (the real clips, the
  real future, the real gaps).

Only the original clips of a split are used (a mirrored copy "M<id>" of a
clip in the same split is skipped) and only their first 10 s (200 frames).
Everything random takes a seed derived from ``seed``, so a run is
repeatable. With ``real_only=True`` no model is loaded and only the real and
baseline numbers are computed (``benchmarks/eval_real_data.py``).
"""
from __future__ import annotations

import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..data import humanml3d
from ..data.humanml3d import MotionClip
from ..errors import MotionFileError, MotionGPTError
from ..motion import skeleton as sk
from ..motion.features import features_to_joints, joints_to_features
from . import caption_metrics, metrics
from . import motion_metrics as mm
from .report import format_table

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EVALUATOR_DIR = REPO_ROOT / "models" / "evaluator"
CACHE_DIR = REPO_ROOT / ".cache" / "data"
"""Where the default dataset is built from the shared data (git-ignored)."""

MAX_FRAMES: int = 200
"""Frames of each clip evaluated (10 s at 20 fps, HumanML3D's cap)."""
FRAMES_PER_TOKEN: int = 4
R_PRECISION_REPEATS: int = 20
PREDICTION_CONTEXT: float = 0.2
"""Share of a clip given as context for prediction (rounded to whole tokens)."""
MIN_PREDICTED_FRAMES: int = 4
INBETWEEN_MARGIN: int = 20
"""A clip takes part in the in-betweening of a gap when it has at least
gap + this many frames; the gap is centred in the clip."""
POSE_STD_CLIPS: int = 256
"""Training clips whose joint positions give L2P's per-coordinate std."""
MM_SEED_OFFSET: int = 100_000
GAP_NOTE = ("in-betweening gaps are 3, 10 and 20 frames at 20 fps: the durations of LaFAN1's 5, 15 and 30 "
            "frames at 30 fps (1/6 s, 0.5 s, 1 s; 5 frames at 30 fps is 3.3 frames, rounded down)")

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------
# data

def shared_data_dir() -> Path:
    """The shared mocap folder: $MOTIONGPT_DATA, else ../shared/data next to the repo."""
    env = os.environ.get("MOTIONGPT_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def source_splits(source: str | Path) -> list[str]:
    """Split names present in a shared-data folder (motions_<name>.npz and the
    "split" field of its caption records)."""
    import json
    source = Path(source)
    found: list[str] = []
    for npz in sorted(source.glob("motions_*.npz")):
        name = npz.stem[len("motions_"):]
        captions = source / f"captions_{name}.jsonl"
        names = {name}
        if captions.is_file():
            names = set()
            for line in captions.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    names.add(str(json.loads(line).get("split", name)))
        found.extend(n for n in sorted(names) if n not in found)
    return found


def folder_splits(root: str | Path) -> list[str]:
    return sorted(p.stem for p in Path(root).glob("*.txt"))


def resolve_data_dir(data_dir: str | Path | None, split: str, log: Log = _stderr, progress: bool = True,
                     cache_dir: str | Path | None = None, source: str | Path | None = None) -> Path:
    """The dataset folder to evaluate on, checked to hold ``split`` and train.

    Given ``data_dir``: that HumanML3D-layout folder. Without: the shared data
    ($MOTIONGPT_DATA or ../shared/data) is built once (no mirrored copies:
    evaluation never reads them) into ``.cache/data`` in the repository and
    reused while it holds the needed splits of the same source."""
    if data_dir is not None:
        root = Path(data_dir)
        if not humanml3d.is_humanml3d_folder(root):
            raise MotionFileError(root, "is not a dataset folder (expected new_joint_vecs/ and texts/); build one "
                                        "with 'motiongpt build-data --source ../shared/data --out DIR', or leave "
                                        "--data out to build it automatically")
        _check_split(root, split)
        return root
    src = Path(source) if source is not None else shared_data_dir()
    if humanml3d.is_humanml3d_folder(src):
        _check_split(src, split)
        return src
    if not src.is_dir():
        raise MotionFileError(src, "shared data folder not found; pass --data DIR (a built dataset) or set "
                                   "MOTIONGPT_DATA to the shared data folder")
    available = source_splits(src)
    if split not in available:
        raise MotionGPTError(f"the shared data at {src} has no '{split}' split (it has: {', '.join(available)}); "
                             f"use --split {' or '.join(available)}")
    needed = [split] + ([] if split == "train" or "train" not in available else ["train"])
    cache = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    manifest = humanml3d.read_manifest(cache) if cache.is_dir() else {}
    same_source = manifest.get("source") == str(src.resolve())
    if same_source and all((cache / f"{s}.txt").is_file() for s in needed):
        log(f"evaluate: using the dataset cache {cache} (built from {src})")
        return cache
    from ..data.build import build_from_bandai
    log(f"evaluate: building the evaluation dataset from {src} into {cache} (splits {', '.join(needed)}, no "
        "mirrored copies; done once, takes about a minute)")
    tmp = cache.with_name(cache.name + ".building")
    if tmp.exists():
        shutil.rmtree(tmp)
    report = build_from_bandai(src, tmp, splits=tuple(needed), mirror=False, workers=min(2, os.cpu_count() or 1),
                               progress=progress)
    if cache.exists():
        shutil.rmtree(cache)
    os.replace(tmp, cache)
    log(f"evaluate: {report.summary().replace(str(tmp), str(cache))}")
    return cache


def _check_split(root: Path, split: str) -> None:
    if not (root / f"{split}.txt").is_file():
        have = folder_splits(root)
        raise MotionFileError(root, f"has no '{split}' split ({split}.txt not found; it has: "
                                    f"{', '.join(have) or 'no split lists'})")


def original_ids(ids: Sequence[str], mirror_prefix: str = "M") -> list[str]:
    """The ids that are not a mirrored copy of another id of the same list."""
    present = set(ids)
    return [i for i in ids if not (i.startswith(mirror_prefix) and i[len(mirror_prefix):] in present)]


def load_eval_clips(root: str | Path, split: str, max_clips: int | None = None, seed: int = 0,
                    exclude: Sequence[str] = (), max_frames: int = MAX_FRAMES) -> list[MotionClip]:
    """The original clips of a split (mirrors skipped), each cut to its first
    ``max_frames`` frames. ``max_clips`` keeps a seeded random subset (in
    split order); ``exclude`` drops ids (used to keep a reference set apart)."""
    ids = original_ids(humanml3d.read_split_ids(root, split))
    if exclude:
        dropped = set(exclude)
        ids = [i for i in ids if i not in dropped] or ids
    if max_clips is not None and max_clips < len(ids):
        keep = np.sort(np.random.default_rng(seed).permutation(len(ids))[:max(0, max_clips)])
        ids = [ids[i] for i in keep]
    clips = []
    for cid in ids:
        c = humanml3d.load_clip(root, cid)
        if len(c.features) >= FRAMES_PER_TOKEN:
            clips.append(MotionClip(c.clip_id, c.features[:max_frames], c.captions))
    return clips


@dataclass
class EvalPair:
    """One clip with the caption chosen for it and the frames that caption covers."""
    index: int
    caption: str
    start: int
    stop: int

    @property
    def frames(self) -> int:
        return self.stop - self.start


def choose_pairs(clips: Sequence[MotionClip], seed: int = 0) -> list[EvalPair]:
    """One (caption, frames) pair per clip, caption drawn with ``seed``:
    the same choice as :func:`engine.eval.train_evaluator.eval_pairs`."""
    from .train_evaluator import clip_pairs
    rng = np.random.default_rng(seed)
    out = []
    for ps in clip_pairs(clips):
        if ps:
            p = ps[int(rng.integers(len(ps)))]
            out.append(EvalPair(p.clip, p.caption, p.start, p.stop))
    return out


@dataclass
class RetrievalSet:
    """The pairs ``evaluate`` scores text-to-motion retrieval on, with their
    caption embeddings and real features: what a benchmark that scores other
    motions on the same clips needs (:func:`retrieval_set`)."""
    pairs: list[EvalPair]
    evaluator: object                  # EvaluatorModel
    text_emb: np.ndarray
    real: list[np.ndarray]
    seed: int

    def r_precision(self, features: Sequence[np.ndarray]) -> dict[str, float]:
        """R-precision of motions standing for the pairs, in order, as ``evaluate`` computes it."""
        return metrics.r_precision(self.evaluator.embed_motions(list(features)), self.text_emb, seed=self.seed,
                                   repeats=R_PRECISION_REPEATS)


def retrieval_set(data_dir: str | Path, split: str = "val", seed: int = 0,
                  evaluator_dir: str | Path | None = None, max_clips: int | None = None) -> RetrievalSet:
    """``evaluate``'s text-to-motion pairs of ``split`` with the retrieval evaluator loaded."""
    from .retrieval_model import EvaluatorModel
    clips = load_eval_clips(data_dir, split, max_clips=max_clips, seed=seed)
    pairs = choose_pairs(clips, seed)
    evaluator = EvaluatorModel.load(evaluator_dir if evaluator_dir is not None else DEFAULT_EVALUATOR_DIR)
    return RetrievalSet(pairs, evaluator, evaluator.embed_texts([p.caption for p in pairs]),
                        [clips[p.index].features[p.start:p.stop] for p in pairs], seed)


def _mean_dicts(dicts: Sequence[dict]) -> dict[str, float]:
    if not dicts:
        return {}
    return {k: float(np.mean([d[k] for d in dicts])) for k in dicts[0]}


def _bar(total: int, desc: str, progress: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="clip", disable=not progress, leave=False, dynamic_ncols=True,
                file=sys.stderr)


# ------------------------------------------------------------------------------
# sections

def text_to_motion_section(model, evaluator, clips: Sequence[MotionClip], pairs: Sequence[EvalPair],
                           reference: Sequence[np.ndarray], seed: int = 0, mm_texts: int = 20, mm_repeats: int = 5,
                           progress: bool = True
                           ) -> tuple[dict, list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Retrieval metrics of generated motions and of the real ones. Returns
    the section, the generated joints as delivered, the real joints and the
    generated joints as decoded (for plausibility)."""
    real_feats = [clips[p.index].features[p.start:p.stop] for p in pairs]
    texts = [p.caption for p in pairs]
    groups = np.array(texts)
    t_emb = evaluator.embed_texts(texts)
    r_emb = evaluator.embed_motions(real_feats)

    def retrieval(m_emb: np.ndarray) -> dict:
        out = {f"r_precision_{k}": v for k, v in
               metrics.r_precision(m_emb, t_emb, seed=seed, repeats=R_PRECISION_REPEATS).items()}
        out.update({f"r_precision_{k}_dedup": v for k, v in
                    metrics.r_precision(m_emb, t_emb, seed=seed, repeats=R_PRECISION_REPEATS,
                                        text_groups=groups).items()})
        return out

    def scored(m_emb: np.ndarray) -> dict:
        row = retrieval(m_emb)
        row["fid"] = metrics.fid(m_emb, r_emb)
        row["mm_dist"] = metrics.matching_score(m_emb, t_emb)
        row["diversity"] = metrics.diversity(m_emb, seed=seed)
        return row

    real = retrieval(r_emb)
    ref = [np.asarray(f) for f in reference][:len(pairs)]
    real["fid"] = metrics.fid(evaluator.embed_motions(ref), r_emb) if len(ref) >= 2 else None
    real["mm_dist"] = metrics.matching_score(r_emb, t_emb)
    real["diversity"] = metrics.diversity(r_emb, seed=seed)
    real["multimodality"] = None
    section: dict = {"generated": None, "real": real, "pairs": len(pairs), "fid_reference_clips": len(ref)}
    real_joints = [features_to_joints(f) for f in real_feats]
    if model is None:
        return section, [], real_joints, []

    gen_feats = generated_features(model, pairs, seed, progress)
    raw_joints = [features_to_joints(f) for f in gen_feats]
    delivered = [as_delivered(f, joints) for f, joints in zip(gen_feats, raw_joints)]
    raw_emb = evaluator.embed_motions(gen_feats)
    g_emb = evaluator.embed_motions([joints_to_features(j) for j in delivered])
    gen = scored(g_emb)
    gen["multimodality"] = None
    section["generated_raw"] = scored(raw_emb)
    section["generated_reencoded"] = scored(evaluator.embed_motions([joints_to_features(j) for j in raw_joints]))
    n_mm = min(int(mm_texts), len(pairs))
    if n_mm >= 1 and mm_repeats >= 2:
        chosen = np.random.default_rng(seed).permutation(len(pairs))[:n_mm]
        bar = _bar(n_mm, "multimodality", progress)
        mm_emb = []
        for j, idx in enumerate(chosen):
            p = pairs[int(idx)]
            tokens = max(1, int(round(p.frames / FRAMES_PER_TOKEN)))
            out = model.text_to_motion(p.caption, seconds=tokens * FRAMES_PER_TOKEN / sk.FPS,
                                       seed=seed + MM_SEED_OFFSET + j, variants=int(mm_repeats))
            mm_emb.append(evaluator.embed_motions(out))
            bar.update(1)
        bar.close()
        gen["multimodality"] = metrics.multimodality(np.stack(mm_emb))
        section["mm_texts"], section["mm_repeats"] = n_mm, int(mm_repeats)
    section["generated"] = gen
    return section, delivered, real_joints, raw_joints


def generated_features(model, pairs: Sequence[EvalPair], seed: int = 0, progress: bool = True) -> list[np.ndarray]:
    """One raw motion per pair from its caption at its length (rounded to the
    token grid), seed ``seed + i`` for pair i: what ``evaluate`` scores."""
    out = []
    bar = _bar(len(pairs), "text-to-motion", progress)
    for i, p in enumerate(pairs):
        tokens = max(1, int(round(p.frames / FRAMES_PER_TOKEN)))
        out.append(model.text_to_motion(p.caption, seconds=tokens * FRAMES_PER_TOKEN / sk.FPS, seed=seed + i)[0])
        bar.update(1)
    bar.close()
    return out


def as_delivered(features: np.ndarray, joints: np.ndarray | None = None) -> np.ndarray:
    """Joint positions of generated features as a user gets them: rotations
    solved and the pipeline's default post-processing (foot cleanup) applied.
    ``joints``: ``features_to_joints(features)`` when the caller has it."""
    from ..pipeline import tasks
    from ..pipeline.motion_io import Motion
    motion = Motion.from_positions(features_to_joints(features) if joints is None else joints, sk.FPS)
    return tasks.post_process(motion, tasks.PostOptions(), (0, motion.num_frames)).positions()


def captioning_section(model, clips: Sequence[MotionClip], progress: bool = True, examples: int = 5) -> dict:
    """The model's captions of the clips against their reference captions,
    beside the constant-caption baseline."""
    refs = [[c.text for c in clip.captions if c.text.strip()] or [""] for clip in clips]
    const = caption_metrics.constant_caption_baseline(refs)
    section: dict = {"model": None, "constant_baseline": const, "clips": len(clips)}
    if model is None:
        return section
    hyps = []
    bar = _bar(len(clips), "captioning", progress)
    for clip in clips:
        hyps.append(" ".join(str(model.caption(clip.features)).split()))
        bar.update(1)
    bar.close()
    section["model"] = caption_metrics.caption_scores(hyps, refs)
    section["examples"] = [{"clip": c.clip_id, "caption": h, "references": r}
                           for c, h, r in list(zip(clips, hyps, refs))[:examples]]
    return section


def prediction_context_frames(num_frames: int, fraction: float = PREDICTION_CONTEXT) -> int:
    """Context frames for a clip of ``num_frames``: 4k + 1 frames (k whole
    tokens, at least 1) for the given share of the clip."""
    k = max(1, int(round(fraction * num_frames / FRAMES_PER_TOKEN)))
    return k * FRAMES_PER_TOKEN + 1


def prediction_section(model, joints: Sequence[np.ndarray], std: np.ndarray, seed: int = 0,
                       progress: bool = True) -> tuple[dict, list, list]:
    """Motion prediction from the first 20 % of each clip. Returns the
    section and (generated, real) windows for plausibility: the last context
    frame followed by the predicted frames."""
    from ..pipeline import tasks
    from ..pipeline.motion_io import Motion
    baselines = {"constant_pose": mm.constant_pose, "constant_velocity": mm.constant_velocity}
    scores: dict[str, list[dict]] = {"model": [], **{k: [] for k in baselines}}
    gen_windows, real_windows = [], []
    usable = [j for j in joints if len(j) >= prediction_context_frames(len(j)) + MIN_PREDICTED_FRAMES]
    bar = _bar(len(usable) if model is not None else 0, "prediction", progress)
    contexts, horizons = [], []
    for i, j in enumerate(usable):
        n_ctx = prediction_context_frames(len(j))
        horizon = len(j) - n_ctx
        contexts.append(n_ctx)
        horizons.append(horizon)
        truth = j[n_ctx:]
        for name, fn in baselines.items():
            scores[name].append(_errors(fn(j[:n_ctx], horizon), truth, std, final=True))
        if model is not None:
            out = tasks.continue_motion(model, Motion.from_positions(j[:n_ctx], sk.FPS), horizon / sk.FPS,
                                        seed=seed + i)
            pred = out.positions()[n_ctx:n_ctx + horizon]
            scores["model"].append(_errors(pred, truth, std, final=True))
            gen_windows.append(out.positions()[n_ctx - 1:n_ctx + horizon])
            bar.update(1)
        real_windows.append(j[n_ctx - 1:])
    bar.close()
    section = {k: (_mean_dicts(v) if v else None) for k, v in scores.items()}
    section.update(clips=len(usable), context_frames_mean=float(np.mean(contexts)) if contexts else None,
                   predicted_frames_mean=float(np.mean(horizons)) if horizons else None)
    return section, gen_windows, real_windows


def inbetween_window(num_frames: int, gap: int) -> tuple[int, int]:
    """(from_frame, to_frame) keys of a gap centred in a clip: the ``gap``
    frames strictly between them are generated."""
    f0 = (num_frames - gap - 2) // 2
    return f0, f0 + gap + 1


class _TokenizerOracle:
    """Stands in for the model in :func:`engine.pipeline.tasks.inbetween`:
    its "in-between" is the VQ-VAE's reconstruction of the true motion, i.e.
    what a language model that predicted every masked token right would get."""

    def __init__(self, model):
        self.vq = model.vq

    def inbetween(self, features: np.ndarray, start_frame: int, end_frame: int, text=None, seed=None,
                  sampling=None) -> np.ndarray:
        return self.vq.decode(self.vq.encode(features))

    def sampling_for(self, reading=None) -> None:
        return None


def inbetween_section(model, joints: Sequence[np.ndarray], std: np.ndarray, seed: int = 0,
                      progress: bool = True) -> tuple[dict, list, list]:
    """In-betweening at each gap of :data:`motion_metrics.INBETWEEN_GAPS`.
    Returns the section (keyed by the 20 fps gap) and (generated, real)
    windows for plausibility: the gap with two frames on each side."""
    from ..pipeline import tasks
    from ..pipeline.motion_io import Motion
    section: dict = {}
    gen_windows, real_windows = [], []
    motions: dict[int, Motion] = {}
    for lafan, gap in mm.INBETWEEN_GAPS.items():
        usable = [i for i, j in enumerate(joints) if len(j) >= gap + INBETWEEN_MARGIN]
        scores: dict[str, list[dict]] = {"model": [], "linear": [], "slerp": [], "vq_oracle": []}
        oracle = _TokenizerOracle(model) if getattr(model, "vq", None) is not None else None
        bar = _bar(len(usable) if model is not None else 0, f"in-between gap {gap}", progress)
        for n, i in enumerate(usable):
            j = joints[i]
            f0, f1 = inbetween_window(len(j), gap)
            truth = j[f0 + 1:f1]
            scores["linear"].append(_errors(mm.inbetween_linear(j[f0], j[f1], gap), truth, std))
            scores["slerp"].append(_errors(mm.inbetween_slerp_joints(j[f0], j[f1], gap), truth, std))
            if model is not None:
                if i not in motions:
                    motions[i] = Motion.from_positions(j, sk.FPS)
                out = tasks.inbetween(model, motions[i], f0, f1, seed=seed + n).positions()
                scores["model"].append(_errors(out[f0 + 1:f1], truth, std))
                if oracle is not None:
                    ceiling = tasks.inbetween(oracle, motions[i], f0, f1).positions()
                    scores["vq_oracle"].append(_errors(ceiling[f0 + 1:f1], truth, std))
                gen_windows.append(out[f0 - 1:f1 + 2])
                bar.update(1)
            real_windows.append(j[f0 - 1:f1 + 2])
        bar.close()
        section[str(gap)] = {"gap_frames_20fps": gap, "gap_frames_30fps": lafan, "clips": len(usable),
                             **{k: (_mean_dicts(v) if v else None) for k, v in scores.items()},
                             "paired": _paired(scores, seed)}
    return section, gen_windows, real_windows


def _paired(scores: dict[str, list[dict]], seed: int) -> dict | None:
    """Model minus each baseline per metric, with paired bootstrap 95 % CIs
    over the clips (every list holds the same clips in the same order)."""
    model = scores["model"]
    if len(model) < 2:
        return None
    out = {}
    for base in ("linear", "slerp", "vq_oracle"):
        if len(scores.get(base) or []) == len(model):
            out[base] = {k: metrics.paired_bootstrap([m[k] for m in model], [b[k] for b in scores[base]], seed=seed)
                         for k in ("l2p", "ade_m")}
    return out


def _errors(pred: np.ndarray, truth: np.ndarray, std: np.ndarray, final: bool = False) -> dict[str, float]:
    out = {"ade_m": mm.ade(pred, truth)}
    if final:
        out["fde_m"] = mm.fde(pred, truth)
    out["l2p"] = mm.l2p(pred, truth, std)
    return out


def plausibility_of(joint_sets: Sequence[np.ndarray]) -> dict[str, float] | None:
    """Mean over clips of :func:`motion_metrics.plausibility`."""
    sets = [j for j in joint_sets if len(j) >= 2]
    return _mean_dicts([mm.plausibility(j) for j in sets]) if sets else None


# ------------------------------------------------------------------------------
# the whole run

def run_evaluation(model_dir: str | Path | None = None, data_dir: str | Path | None = None, split: str = "val",
                   evaluator_dir: str | Path | None = None, device: str = "cpu", seed: int = 0,
                   max_clips: int | None = None, mm_texts: int = 20, mm_repeats: int = 5, progress: bool = True,
                   *, model=None, real_only: bool = False, log: Log | None = None) -> dict:
    """Evaluate a model folder (default models/default) on ``split`` of
    ``data_dir`` (default: built from the shared data, see
    :func:`resolve_data_dir`) with the retrieval evaluator in
    ``evaluator_dir`` (default models/evaluator). ``model`` passes an
    already loaded :class:`MotionGPT` instead of ``model_dir``;
    ``real_only`` skips the model and computes the real and baseline numbers
    only. Returns the sections described in the module docstring plus
    "meta"."""
    from ..device import pick_device
    from .retrieval_model import EvaluatorModel
    log = log or (_stderr if progress else (lambda s: None))
    t_start = time.time()
    if max_clips is not None and max_clips < 2:
        raise MotionGPTError(f"--max-clips must be at least 2 (retrieval metrics compare clips), got {max_clips}")
    dev = pick_device(device)
    ev_dir = Path(evaluator_dir) if evaluator_dir is not None else DEFAULT_EVALUATOR_DIR
    evaluator = EvaluatorModel.load(ev_dir, dev)
    if real_only:
        model = None
    elif model is None:   # before the data: a missing model fails fast, not after building the cache
        from ..pipeline.jobs import load_model
        model = load_model(model_dir, str(dev))
    root = resolve_data_dir(data_dir, split, log=log, progress=progress)

    clips = load_eval_clips(root, split, max_clips=max_clips, seed=seed)
    pairs = choose_pairs(clips, seed)
    if len(pairs) < 2:
        raise MotionGPTError(f"{root}: the '{split}' split has {len(pairs)} usable clip(s) with captions; "
                             "the evaluation needs at least 2")
    has_train = (root / "train.txt").is_file()
    ref_split = "train" if has_train else split
    reference = load_eval_clips(root, ref_split, max_clips=max(len(pairs), POSE_STD_CLIPS), seed=seed + 1,
                                exclude=[c.clip_id for c in clips] if ref_split == split else ())
    ref_pairs = choose_pairs(reference, seed + 1)
    ref_feats = [reference[p.index].features[p.start:p.stop] for p in ref_pairs]
    std = mm.pose_std([features_to_joints(c.features) for c in reference[:POSE_STD_CLIPS]])
    log(f"evaluate: {len(clips)} original clips of '{split}' from {root} (first {MAX_FRAMES} frames each), "
        f"model {'(none: real data only)' if model is None else model.name}, evaluator {ev_dir}")

    timings: dict[str, float] = {}
    results: dict = {}
    t = time.time()
    results["text_to_motion"], t2m_gen, t2m_real, raw_joints = text_to_motion_section(
        model, evaluator, clips, pairs, ref_feats, seed=seed, mm_texts=mm_texts, mm_repeats=mm_repeats,
        progress=progress)
    timings["text_to_motion"], t = time.time() - t, time.time()
    results["captioning"] = captioning_section(model, clips, progress=progress)
    timings["captioning"], t = time.time() - t, time.time()
    joints = [features_to_joints(c.features) for c in clips]
    results["prediction"], pred_gen, pred_real = prediction_section(model, joints, std, seed=seed, progress=progress)
    timings["prediction"], t = time.time() - t, time.time()
    results["inbetween"], inb_gen, inb_real = inbetween_section(model, joints, std, seed=seed, progress=progress)
    timings["inbetween"] = time.time() - t
    t2m_real_plausibility = plausibility_of(t2m_real)
    results["plausibility"] = {
        "text_to_motion": {"generated": plausibility_of(t2m_gen), "real": t2m_real_plausibility},
        "text_to_motion_raw": {"generated": plausibility_of(raw_joints), "real": t2m_real_plausibility},
        "prediction": {"generated": plausibility_of(pred_gen), "real": plausibility_of(pred_real)},
        "inbetween": {"generated": plausibility_of(inb_gen), "real": plausibility_of(inb_real)},
    }
    results["meta"] = {
        "model": None if model is None else model.name,
        "model_dir": None if model is None else str(model.folder),
        "data_dir": str(root), "split": split, "clips": len(clips), "seed": seed, "device": str(dev),
        "evaluator": str(ev_dir), "max_frames": MAX_FRAMES, "fps": sk.FPS,
        "reference_split": ref_split, "reference_clips": len(reference),
        "gap_note": GAP_NOTE,
        "protocol": {
            "text_to_motion": f"one generation per clip from one seeded caption at the clip's length (token grid); "
                              f"R-precision in batches of {metrics.R_PRECISION_BATCH}, {R_PRECISION_REPEATS} "
                              "shuffles; real FID = real train clips vs real split clips (equal-size sets)",
            "prediction": f"context = first {PREDICTION_CONTEXT:.0%} of the clip as whole tokens (4k+1 frames), "
                          "the rest predicted with pipeline continue",
            "inbetween": f"gap centred in clips of at least gap + {INBETWEEN_MARGIN} frames, pipeline inbetween",
            "l2p": f"L2P normalised by the per-coordinate std of up to {POSE_STD_CLIPS} {ref_split} clips",
            "plausibility": "mean over clips; real = the same frames of the real motions",
        },
        "seconds": round(time.time() - t_start, 1),
        "section_seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    return results


# ------------------------------------------------------------------------------
# text tables

_T2M_ROWS = ("r_precision_top1", "r_precision_top2", "r_precision_top3", "r_precision_top1_dedup",
             "r_precision_top2_dedup", "r_precision_top3_dedup", "fid", "mm_dist", "diversity", "multimodality")
_PLAUS_ROWS = (("foot_skate_ms", "foot skating m/s"), ("foot_contact_fraction", "foot contact fraction"),
               ("penetration_depth_m", "penetration depth m"), ("penetration_fraction", "penetration fraction"),
               ("jerk_ms3", "jerk m/s^3"))


def _get(d: dict | None, key: str):
    return None if d is None else d.get(key)


def result_tables(results: dict) -> list[tuple[str, dict]]:
    """(title, rows) for :func:`report.format_table`, one per section."""
    meta = results.get("meta", {})
    tables = []
    t2m = results["text_to_motion"]
    rows = {k: {"generated": _get(t2m["generated"], k), "real": _get(t2m["real"], k)} for k in _T2M_ROWS}
    for key, title in (("generated_reencoded", "decoded joints re-encoded, no foot cleanup"),
                       ("generated_raw", "raw decoded features (as v0.2's card)")):
        if t2m.get(key):
            rows[title] = {k: {"generated": t2m[key].get(k), "real": _get(t2m["real"], k)}
                           for k in _T2M_ROWS if k != "multimodality"}
    tables.append((f"Text-to-motion ({t2m['pairs']} clips; evaluator embeddings, L2-normalised; real FID = "
                   f"train vs {meta.get('split')} floor; generated = as delivered, with the default foot "
                   "cleanup)", rows))
    cap = results["captioning"]
    const = cap["constant_baseline"]
    tables.append((f"Captioning ({cap['clips']} clips; baseline = the constant caption \"{const['caption']}\")",
                   {k: {"generated": _get(cap["model"], k), "baseline": const[k]}
                    for k in ("bleu1", "bleu4", "rouge_l", "cider_d")}))
    pred = results["prediction"]
    rows = {}
    for key, label in (("ade_m", "ADE m"), ("fde_m", "FDE m"), ("l2p", "L2P")):
        for base, bname in (("constant_pose", "constant pose"), ("constant_velocity", "constant velocity")):
            rows[f"{label} vs {bname}"] = {"generated": _get(pred["model"], key), "baseline": _get(pred[base], key)}
    tables.append((f"Prediction ({pred['clips']} clips; first {PREDICTION_CONTEXT:.0%} given, about "
                   f"{_fmt_num(pred['context_frames_mean'])} frames; about {_fmt_num(pred['predicted_frames_mean'])}"
                   " frames predicted)", rows))
    rows = {}
    for gap, sec in results["inbetween"].items():
        sub = {}
        for key, label in (("l2p", "L2P"), ("ade_m", "ADE m")):
            for base, bname in (("linear", "linear"), ("slerp", "SLERP"), ("vq_oracle", "VQ oracle")):
                if sec.get(base) is not None:
                    sub[f"{label} vs {bname}"] = {"generated": _get(sec["model"], key),
                                                  "baseline": _get(sec[base], key)}
                paired = (sec.get("paired") or {}).get(base, {}).get(key)
                if paired is not None:
                    sub[f"  {label} model - {bname}, 95% CI"] = {"note": _paired_note(paired)}
        rows[f"gap {gap} frames @20fps (= {sec['gap_frames_30fps']} @30fps), {sec['clips']} clips"] = sub
    tables.append(("In-betweening (gaps in frames at 20 fps: the durations of LaFAN1's 5 / 15 / 30 frames at 30 fps; "
                   "VQ oracle = the true motion's own tokens, the tokenizer's ceiling)", rows))
    rows = {}
    for name, sec in results["plausibility"].items():
        if sec.get("generated") is None and name.endswith("_raw"):
            continue
        rows[name.replace("_raw", " (raw decoded)").replace("_", "-")] = {label: {"generated": _get(sec["generated"], k), "real": _get(sec["real"], k)}
                                        for k, label in _PLAUS_ROWS}
    tables.append(("Physical plausibility (mean over clips; real = the same frames of the real motions)", rows))
    return tables


def _paired_note(p: dict) -> str:
    """"-0.412 [-0.560, -0.270] = -11.2 % [-15.0, -7.4]"."""
    lo, hi = p["diff_ci"]
    rlo, rhi = p["relative_ci"]
    return (f"{p['diff']:+.4f} [{lo:+.4f}, {hi:+.4f}] = {100 * p['relative']:+.1f} % "
            f"[{100 * rlo:+.1f}, {100 * rhi:+.1f}]")


def _fmt_num(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0f}"


def format_results(results: dict) -> str:
    """All tables, headed by what was evaluated."""
    meta = results.get("meta", {})
    head = (f"motiongpt evaluate: model {meta.get('model') or '(none: real data and baselines only)'}, split "
            f"'{meta.get('split')}' ({meta.get('clips')} original clips, first {meta.get('max_frames')} frames at "
            f"{meta.get('fps', sk.FPS):g} fps), seed {meta.get('seed')}, {meta.get('seconds')} s")
    parts = [head, f"data {meta.get('data_dir')}; evaluator {meta.get('evaluator')}"]
    for title, rows in result_tables(results):
        parts.append("")
        parts.append(format_table(rows, title=title))
    return "\n".join(parts)

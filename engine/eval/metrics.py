"""Text-to-motion metrics on evaluator embeddings (pure numpy).

These follow the protocol of Guo et al. 2022 (HumanML3D, "T2M") as used by
MotionGPT, T2M-GPT and TMR, with the differences stated per function:

- embeddings come from :class:`engine.eval.retrieval_model.EvaluatorModel`,
  which L2-normalises them, so every distance below lies in [0, 2] and FID,
  MM-Dist and Diversity are on a different scale from the numbers printed in
  papers (those use Guo's un-normalised 512-d embeddings). Compare a model
  with the real-data row computed by the same evaluator, never with
  published values.
- all distances are Euclidean.
- every random choice takes an explicit ``seed`` and uses its own
  ``numpy.random.Generator``, so a metric is a pure function of its inputs.
"""
from __future__ import annotations

import numpy as np

from ..errors import MotionShapeError

R_PRECISION_BATCH: int = 32
"""HumanML3D ranks each motion against its caption and 31 other captions."""
DIVERSITY_PAIRS: int = 300
"""HumanML3D's ``diversity_times``."""
MULTIMODALITY_PAIRS: int = 10
"""HumanML3D's ``mm_num_times`` (pairs drawn per text when sampling)."""


def _as_2d(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise MotionShapeError(f"{what} must be a (N, D) array of embeddings, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise MotionShapeError(f"{what} contains NaN or infinite values")
    return x


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of a (..., N, D) and b (..., M, D):
    (..., N, M). Computed from the expanded square with a clamp at 0, which
    is exact enough for ranking and far cheaper than broadcasting."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    sq = (a * a).sum(-1)[..., :, None] + (b * b).sum(-1)[..., None, :] - 2.0 * a @ np.swapaxes(b, -1, -2)
    return np.sqrt(np.maximum(sq, 0.0))


def r_precision(motion_emb: np.ndarray, text_emb: np.ndarray, top_k: int = 3,
                batch_size: int = R_PRECISION_BATCH, seed: int = 0, repeats: int = 1,
                text_groups: np.ndarray | None = None) -> dict[str, float]:
    """R-precision top-1..top_k as in HumanML3D.

    Row i of ``motion_emb`` and ``text_emb`` is a matched (motion, caption)
    pair. The pairs are shuffled with ``seed`` and cut into batches of
    ``batch_size``; inside a batch each motion ranks all the batch's
    captions by distance (stable sort, so an exact tie goes to the lower
    index, like HumanML3D's ``argsort``) and scores a hit at k when its own
    caption is among the k nearest. The last incomplete batch is dropped
    (HumanML3D drops it too); a set smaller than one batch is ranked as a
    single batch of all its items, so chance level is then k / N instead of
    k / 32. ``repeats`` > 1 averages over that many shuffles (seeds
    ``seed``, ``seed + 1``, ...), as HumanML3D averages 20 runs.

    ``text_groups`` (optional, (N,) ints or strings): items whose captions
    are interchangeable (e.g. the same caption string, or the same
    action/style label) share a group; a caption of the same group as the
    true one is then not counted as a competitor. Without it identical
    captions of different motions compete, which caps the score below 1.0
    on template captions. Default off, as in HumanML3D.

    Returns {"top1": ..., "top2": ..., ...} as fractions in [0, 1].
    """
    motion_emb = _as_2d(motion_emb, "motion_emb")
    text_emb = _as_2d(text_emb, "text_emb")
    if motion_emb.shape != text_emb.shape:
        raise MotionShapeError(f"motion_emb {motion_emb.shape} and text_emb {text_emb.shape} must match row for row")
    n = len(motion_emb)
    if n < 2:
        raise MotionShapeError(f"R-precision needs at least 2 pairs, got {n}")
    size = min(batch_size, n)
    if text_groups is not None:
        _, groups = np.unique(np.asarray(text_groups), return_inverse=True)
        if groups.shape != (n,):
            raise MotionShapeError(f"text_groups must have one entry per pair ({n}), got shape {np.shape(text_groups)}")
    hits = np.zeros(top_k)
    for r in range(repeats):
        order = np.random.default_rng(seed + r).permutation(n)
        nb = n // size
        idx = order[: nb * size].reshape(nb, size)
        dist = pairwise_distances(motion_emb[idx], text_emb[idx])           # (nb, size, size)
        if text_groups is not None:
            g = groups[idx]
            same = (g[:, :, None] == g[:, None, :]) & ~np.eye(size, dtype=bool)
            dist = np.where(same, np.inf, dist)
        ranking = np.argsort(dist, axis=-1, kind="stable")
        rank = np.argmax(ranking == np.arange(size)[None, :, None], axis=-1)  # position of the true caption
        hits += np.array([(rank < k).mean() for k in range(1, top_k + 1)])
    hits /= repeats
    return {f"top{k}": float(hits[k - 1]) for k in range(1, top_k + 1)}


def matching_score(motion_emb: np.ndarray, text_emb: np.ndarray) -> float:
    """MM-Dist: mean distance between each motion and its own caption."""
    motion_emb = _as_2d(motion_emb, "motion_emb")
    text_emb = _as_2d(text_emb, "text_emb")
    if motion_emb.shape != text_emb.shape:
        raise MotionShapeError(f"motion_emb {motion_emb.shape} and text_emb {text_emb.shape} must match row for row")
    return float(np.linalg.norm(motion_emb - text_emb, axis=-1).mean())


mm_dist = matching_score


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) * 0.5)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)).

    Tr((C1 C2)^(1/2)) equals Tr((S C2 S)^(1/2)) with S = C1^(1/2); S C2 S is
    symmetric positive semi-definite, so its square-root trace is the sum of
    the square roots of its (clipped) eigenvalues. Two symmetric eigen-
    decompositions replace scipy's ``sqrtm`` and never produce complex parts.
    """
    s1 = _sqrtm_psd(np.asarray(cov1, dtype=np.float64))
    m = s1 @ np.asarray(cov2, dtype=np.float64) @ s1
    eig = np.linalg.eigvalsh((m + m.T) * 0.5)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64)
    value = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_covmean
    return float(max(value, 0.0))


def embedding_stats(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased, ddof=1) covariance of a set of embeddings."""
    emb = _as_2d(emb, "embeddings")
    if len(emb) < 2:
        raise MotionShapeError(f"FID needs at least 2 embeddings per set, got {len(emb)}")
    return emb.mean(0), np.cov(emb, rowvar=False)


def fid(emb_a: np.ndarray, emb_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets.

    Works for any set size >= 2, but with fewer samples than dimensions the
    covariances are rank deficient and the estimate is biased upwards (two
    disjoint samples of one distribution give FID > 0); compare sets of
    similar size, and read real-vs-real (e.g. train vs val) as the floor.
    """
    mu1, c1 = embedding_stats(emb_a)
    mu2, c2 = embedding_stats(emb_b)
    if mu1.shape != mu2.shape:
        raise MotionShapeError(f"embedding sets have different widths: {mu1.shape[0]} vs {mu2.shape[0]}")
    return frechet_distance(mu1, c1, mu2, c2)


def diversity(emb: np.ndarray, pairs: int = DIVERSITY_PAIRS, seed: int = 0) -> float:
    """Mean distance between randomly drawn pairs of motions (HumanML3D).

    As in HumanML3D, two index lists of length ``pairs`` are drawn without
    replacement (independently of each other, so a pair may rarely be one
    motion with itself) and the distances of the zipped pairs are averaged.
    A set smaller than ``pairs`` uses ``pairs = N`` (each list is then a
    permutation of the set); the value is comparable between sets, only
    noisier.
    """
    emb = _as_2d(emb, "embeddings")
    n = len(emb)
    if n < 2:
        raise MotionShapeError(f"diversity needs at least 2 embeddings, got {n}")
    t = min(pairs, n)
    rng = np.random.default_rng(seed)
    first = rng.choice(n, t, replace=False)
    second = rng.choice(n, t, replace=False)
    return float(np.linalg.norm(emb[first] - emb[second], axis=-1).mean())


def multimodality(emb: np.ndarray, pairs: int | None = None, seed: int = 0) -> float:
    """MultiModality: how much the generations for one text differ.

    ``emb`` is (num_texts, num_generations, D): several motions generated
    for each text. ``pairs=None`` (default) averages the distance over every
    distinct pair of generations of each text, then over texts: the exact
    expectation that HumanML3D estimates. ``pairs=k`` reproduces
    HumanML3D's sampling instead (two lists of k generation indices drawn
    without replacement per text, zipped; k = 10 with 30 generations there).
    """
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 3:
        raise MotionShapeError(f"multimodality needs (texts, generations, D) embeddings, got shape {emb.shape}")
    n_text, n_gen, _ = emb.shape
    if n_gen < 2:
        raise MotionShapeError(f"multimodality needs at least 2 generations per text, got {n_gen}")
    if pairs is None:
        dist = pairwise_distances(emb, emb)                       # (texts, gen, gen)
        iu = np.triu_indices(n_gen, k=1)
        return float(dist[:, iu[0], iu[1]].mean())
    t = min(pairs, n_gen)
    rng = np.random.default_rng(seed)
    first = np.argsort(rng.random((n_text, n_gen)), axis=1)[:, :t]
    second = np.argsort(rng.random((n_text, n_gen)), axis=1)[:, :t]
    rows = np.arange(n_text)[:, None]
    return float(np.linalg.norm(emb[rows, first] - emb[rows, second], axis=-1).mean())


def t2m_metrics(motion_emb: np.ndarray, text_emb: np.ndarray, real_motion_emb: np.ndarray | None = None,
                seed: int = 0, repeats: int = 1, text_groups: np.ndarray | None = None) -> dict[str, float]:
    """R-precision top-1/2/3, MM-Dist, Diversity and (given the real motions'
    embeddings) FID of one set of motions against their captions."""
    out = {f"r_precision_{k}": v for k, v in
           r_precision(motion_emb, text_emb, seed=seed, repeats=repeats, text_groups=text_groups).items()}
    out["mm_dist"] = matching_score(motion_emb, text_emb)
    out["diversity"] = diversity(motion_emb, seed=seed)
    if real_motion_emb is not None:
        out["fid"] = fid(motion_emb, real_motion_emb)
    return out


BOOTSTRAP_SAMPLES = 10_000
"""Resamples of the paired bootstrap (enough for stable 95 % bounds)."""


def paired_bootstrap(model_scores: np.ndarray, baseline_scores: np.ndarray, samples: int = BOOTSTRAP_SAMPLES,
                     seed: int = 0, level: float = 0.95) -> dict[str, float | list[float] | int]:
    """How much lower (negative) or higher the model's mean per-clip score is
    than a baseline's on the same clips, with percentile-bootstrap
    confidence intervals over clips.

    Clips are resampled with replacement and the model and baseline keep
    their pairing, so what varies from clip to clip (hard clips are hard
    for both) cancels. Returns ``diff`` (mean model - mean baseline) and
    ``diff_ci``, ``relative`` (mean model / mean baseline - 1) and
    ``relative_ci``, and ``clips``. A CI that excludes 0 means the
    difference is significant at that level."""
    a = np.asarray(model_scores, dtype=np.float64).reshape(-1)
    b = np.asarray(baseline_scores, dtype=np.float64).reshape(-1)
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"paired scores need the same number (>= 2) of clips, got {a.size} and {b.size}")
    idx = np.random.default_rng(seed).integers(0, a.size, size=(int(samples), a.size))
    ma, mb = a[idx].mean(axis=1), b[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    diff = ma - mb
    rel = ma / np.where(mb == 0, np.nan, mb) - 1.0
    return {"diff": float(a.mean() - b.mean()),
            "diff_ci": [float(np.percentile(diff, tail)), float(np.percentile(diff, 100 - tail))],
            "relative": float(a.mean() / b.mean() - 1.0) if b.mean() != 0 else float("nan"),
            "relative_ci": [float(np.nanpercentile(rel, tail)), float(np.nanpercentile(rel, 100 - tail))],
            "clips": int(a.size)}

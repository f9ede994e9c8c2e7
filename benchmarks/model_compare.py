"""Two models on the same val clips, with paired-bootstrap 95 % CIs over clips.

    python benchmarks/model_compare.py --a CANDIDATE --b models/default [--data .cache/data18]
        [--evaluator models/evaluator] [--split val] [--seeds 3] [--json OUT] [--b-edge-pad 0]

For every original clip of the split (first 10 s), each model makes a motion
from the clip's first caption at the clip's length (seed = clip number, the
model's own sampling settings), delivered as a user gets it (rotations
solved, default foot cleanup), exactly as ``motiongpt evaluate`` does. With
``--seeds S`` each clip is made S times (seeds i, i + 1000, ...): the
per-clip numbers are means over its seeds and FID pools every motion, so
the bootstrap over clips sees less of the sampling noise. The
retrieval evaluator then scores, per clip:

- R-precision: the motion ranks its own caption among the captions of 31
  other clips (a fixed random pool per clip, the same for both models and
  for the real motion; captions of the same action/style label are not
  competitors). A hit at k is 1/0 per clip, so models compare clip by clip
  and each model's rate is also given as a share of the real motions';
- FID against the real clips: the clips are resampled together for both
  models (the paired bootstrap of a set-level score);
- foot skating (m/s of a planted foot) per clip, and beside the real clips;
- the floor: the share of whole seconds whose lowest foot point is more
  than 3 cm off the floor (the clip's first frame's floor; and, for the
  generated clips, the engine's floor y = 0, where every clip is stood).

Every row prints A, B, A - B with its CI; a CI that excludes 0 is a
difference that holds beyond the clips drawn. ``--b-edge-pad N`` eases B's
ends over to a decode with N held tokens instead of the engine's
(:data:`engine.models.motion_tokenizer.EDGE_PAD_TOKENS`; 0: the plain
decode): ``--a X --b X --b-edge-pad 0`` measures what the edge fix does to
the same samples.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)

POOL = 32
SAMPLES = 1000
FLOOR_TOLERANCE_M = 0.03


def pools(groups: list[str], seed: int = 0) -> np.ndarray:
    """(N, POOL) clip indices: each row its own clip first, then POOL - 1
    others of different label groups (fewer when the split is small)."""
    rng = np.random.default_rng(seed)
    n = len(groups)
    size = min(POOL, n)
    rows = []
    for i in range(n):
        others = [j for j in rng.permutation(n) if groups[j] != groups[i]][:size - 1]
        others += [i] * (size - 1 - len(others))            # a tiny split: pad with the clip itself (no competitor)
        rows.append([i] + others)
    return np.array(rows)


def hits_at(m_emb: np.ndarray, t_emb: np.ndarray, pool: np.ndarray, k: int) -> np.ndarray:
    """1/0 per clip: its own caption among the k nearest of its pool (Euclidean, as HumanML3D)."""
    d = np.linalg.norm(m_emb[:, None, :] - t_emb[pool], axis=-1)          # (N, POOL)
    rank = (d < d[:, :1]).sum(axis=1)                                    # captions strictly nearer than its own
    return (rank < k).astype(np.float64)


def floor_off_share(joints: np.ndarray, fps: float = 20.0, floor: float | None = None) -> float:
    """Share of whole seconds whose lowest foot point is over 3 cm off the
    floor: ``floor`` (y = 0 is the engine's, where every generated clip is
    stood), else the first frame's lowest foot (a clip whose first frame
    has both feet up counts every second it stands on the real floor)."""
    from engine.motion import skeleton as sk
    feet = list(sk.FOOT_JOINTS)
    y = joints[:, feet, 1].min(axis=1) - (joints[0, feet, 1].min() if floor is None else floor)
    per = int(round(fps))
    whole = len(y) // per
    if whole == 0:
        return 0.0
    lows = y[:whole * per].reshape(whole, per).min(axis=1)
    return float((np.abs(lows) > FLOOR_TOLERANCE_M).mean())


def generate_all(folder: str, captions: list[str], frames: list[int], seed_offset: int = 0,
                 edge_pad: int | None = None) -> list[np.ndarray]:
    from engine.eval.evaluate import as_delivered
    from engine.models.motiongpt import MotionGPT
    from engine.motion import skeleton as sk
    from engine.motion.features import features_to_joints
    model = MotionGPT.load(folder, "cpu")
    if edge_pad is not None:
        model.vq.edge_pad_tokens = edge_pad
    out = []
    t0 = time.perf_counter()
    for i, (caption, n) in enumerate(zip(captions, frames)):
        tokens = max(1, int(round(n / 4)))
        feats = model.text_to_motion(caption, seconds=tokens * 4 / sk.FPS, seed=i + seed_offset)[0]
        out.append(as_delivered(feats, features_to_joints(feats)))
    print(f"  {folder}: {len(out)} motions in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def bootstrap_fid(a: np.ndarray, b: np.ndarray, real: np.ndarray, seed: int = 0, samples: int = 200) -> dict:
    from engine.eval.metrics import fid
    rng = np.random.default_rng(seed)
    diffs = []
    def pooled(x: np.ndarray, idx) -> np.ndarray:          # (seeds, clips, dim) -> every motion of those clips
        return x[:, idx].reshape(-1, x.shape[-1])

    a, b = (x if x.ndim == 3 else x[None] for x in (a, b))
    every = np.arange(real.shape[0])
    for _ in range(samples):
        idx = rng.integers(0, len(real), len(real))
        diffs.append(fid(pooled(a, idx), real[idx]) - fid(pooled(b, idx), real[idx]))
    fa, fb = fid(pooled(a, every), real), fid(pooled(b, every), real)
    return {"a": fa, "b": fb, "diff": fa - fb,
            "diff_ci": [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]}


def share_of_real(a: np.ndarray, real: np.ndarray, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(SAMPLES, len(a)))
    ratio = a[idx].mean(axis=1) / np.maximum(real[idx].mean(axis=1), 1e-9)
    return [float(np.percentile(ratio, 2.5)), float(np.percentile(ratio, 97.5))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="model folder (the candidate)")
    parser.add_argument("--b", required=True, help="model folder (the one to beat)")
    parser.add_argument("--data", default=str(ROOT / ".cache" / "data18"))
    parser.add_argument("--evaluator", default=str(ROOT / "models" / "evaluator"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--seeds", type=int, default=1, help="motions per clip and model (default 1)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--b-edge-pad", type=int, help="ease B's ends over to a decode with this many "
                                                       "held tokens (0: the plain decode)")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    from engine.data import humanml3d
    from engine.data.labels import labelled_originals
    from engine.eval.action_judge import action_of
    from engine.eval.metrics import paired_bootstrap
    from engine.eval.motion_metrics import foot_skating
    from engine.eval.retrieval_model import EvaluatorModel
    from engine.motion.features import features_to_joints, joints_to_features

    rows = labelled_originals(args.data, args.split)
    clips = [humanml3d.load_clip(args.data, clip_id) for clip_id, _ in rows]
    real_feats = [c.features[:200] for c in clips]
    captions = [c.captions[0].text for c in clips]
    groups = [f"{action_of(r)}|{r.get('labels', {}).get('style', '')}" for _, r in rows]
    frames = [len(f) for f in real_feats]
    print(f"{len(clips)} original {args.split} clips of {args.data}", flush=True)
    evaluator = EvaluatorModel.load(args.evaluator)
    t_emb = evaluator.embed_texts(captions)
    real_joints = [features_to_joints(f) for f in real_feats]
    r_emb = evaluator.embed_motions(real_feats)
    offsets = [1000 * s for s in range(args.seeds)]
    runs = {m: [generate_all(folder, captions, frames, o, pad) for o in offsets]
            for m, folder, pad in (("a", args.a, None), ("b", args.b, args.b_edge_pad))}
    emb = {m: np.stack([evaluator.embed_motions([joints_to_features(j) for j in run]) for run in v])
           for m, v in runs.items()}                                                   # (seeds, clips, dim)
    pool = pools(groups)
    results: dict = {"a": args.a, "b": args.b, "clips": len(clips), "split": args.split, "data": args.data,
                     "evaluator": args.evaluator, "seeds": args.seeds, "b_edge_pad": args.b_edge_pad}

    def per_clip(measure) -> dict[str, np.ndarray]:
        """(clips,) mean over seeds of ``measure(joints)`` for each model."""
        return {m: np.mean([[measure(j) for j in run] for run in v], axis=0) for m, v in runs.items()}

    print(f"\n{'measure':28s} {'A':>8s} {'B':>8s} {'real':>8s} {'A - B [95% CI]':>26s}  A / real [95% CI]")
    for k in (1, 3):
        h = {m: np.mean([hits_at(e, t_emb, pool, k) for e in emb[m]], axis=0) for m in ("a", "b")}
        real = hits_at(r_emb, t_emb, pool, k)
        pb = paired_bootstrap(h["a"], h["b"], samples=SAMPLES)
        share = share_of_real(h["a"], real)
        results[f"r_precision_top{k}"] = {"a": h["a"].mean(), "b": h["b"].mean(), "real": real.mean(), **pb,
                                          "a_of_real": h["a"].mean() / max(real.mean(), 1e-9),
                                          "a_of_real_ci": share,
                                          "b_of_real": h["b"].mean() / max(real.mean(), 1e-9)}
        print(f"{'R-precision top-' + str(k):28s} {h['a'].mean():8.3f} {h['b'].mean():8.3f} {real.mean():8.3f} "
              f"{pb['diff']:+8.3f} [{pb['diff_ci'][0]:+.3f}, {pb['diff_ci'][1]:+.3f}]  "
              f"{h['a'].mean() / max(real.mean(), 1e-9):.3f} [{share[0]:.3f}, {share[1]:.3f}] "
              f"(B: {h['b'].mean() / max(real.mean(), 1e-9):.3f})")
    f = bootstrap_fid(emb["a"], emb["b"], r_emb)
    results["fid"] = f
    print(f"{'FID (vs the real clips)':28s} {f['a']:8.3f} {f['b']:8.3f} {'':>8s} "
          f"{f['diff']:+8.3f} [{f['diff_ci'][0]:+.3f}, {f['diff_ci'][1]:+.3f}]")
    skate = per_clip(lambda j: foot_skating(j)["skate_speed"])
    skate_real = np.array([foot_skating(j)["skate_speed"] for j in real_joints])
    pb = paired_bootstrap(skate["a"], skate["b"], samples=SAMPLES)
    results["foot_skating"] = {"a": skate["a"].mean(), "b": skate["b"].mean(), "real": skate_real.mean(), **pb,
                               "a_of_real_ci": share_of_real(skate["a"], skate_real)}
    print(f"{'foot skating m/s':28s} {skate['a'].mean():8.4f} {skate['b'].mean():8.4f} {skate_real.mean():8.4f} "
          f"{pb['diff']:+8.4f} [{pb['diff_ci'][0]:+.4f}, {pb['diff_ci'][1]:+.4f}]  "
          f"{skate['a'].mean() / skate_real.mean():.2f}x real [{results['foot_skating']['a_of_real_ci'][0]:.2f}, "
          f"{results['foot_skating']['a_of_real_ci'][1]:.2f}] (B: {skate['b'].mean() / skate_real.mean():.2f}x)")
    floor = per_clip(floor_off_share)
    floor_real = np.array([floor_off_share(j) for j in real_joints])
    pb = paired_bootstrap(floor["a"], floor["b"], samples=SAMPLES)
    results["floor_off_seconds_share"] = {"a": floor["a"].mean(), "b": floor["b"].mean(), "real": floor_real.mean(),
                                          **pb}
    print(f"{'seconds off the floor':28s} {floor['a'].mean():8.3f} {floor['b'].mean():8.3f} {floor_real.mean():8.3f} "
          f"{pb['diff']:+8.3f} [{pb['diff_ci'][0]:+.3f}, {pb['diff_ci'][1]:+.3f}]")
    zero = per_clip(lambda j: floor_off_share(j, floor=0.0))
    pb = paired_bootstrap(zero["a"], zero["b"], samples=SAMPLES)
    results["floor_zero_off_seconds_share"] = {"a": zero["a"].mean(), "b": zero["b"].mean(), **pb}
    print(f"{'  ... off y = 0 (generated)':28s} {zero['a'].mean():8.3f} {zero['b'].mean():8.3f} {'':>8s} "
          f"{pb['diff']:+8.3f} [{pb['diff_ci'][0]:+.3f}, {pb['diff_ci'][1]:+.3f}]")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

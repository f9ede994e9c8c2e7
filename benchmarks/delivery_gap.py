"""Where does text-to-motion retrieval go between the decoder and the user? (issue 18)

    python benchmarks/delivery_gap.py [--model models/default] [--data .cache/data18] [--seed 0]

``motiongpt evaluate`` scores generated motion as delivered (joints,
rotations solved, foot cleanup, re-encoded to features) and beside it the
decoder's raw features; for v1.5 the two differ by 0.04 in R-precision top-3
(0.861 vs 0.900), more than the language model gained in three versions.
This script generates one motion per val pair (the same clips, captions and
seeds as ``evaluate``) and scores the steps between, all with the same text
embeddings and shuffles:

* real / real re-encoded: the real clips' features and the same clips sent
  through joints and back (the round trip is exact for real data);
* raw: the decoder's features as they come;
* re-encoded: their joints sent back to features (no rotation solve, no cleanup),
  with and without the retarget onto the canonical body;
* re-encoded, raw heights: the same, with the decoder's own joint heights
  (root height and the y of every root-relative joint) put back;
* rotations from the decoder's own 6D rotations (forward kinematics on the
  canonical body) instead of its joint positions, re-encoded;
* delivered, and delivered with the raw heights put back.

Which rows recover the raw score says where the gap is: a delivery that keeps
what the decoder meant there would lift the delivered score without any
training. It is a measurement, not a target: the raw features are not what a
user gets.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)


def heights_from(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``target`` features with the root height and every root-relative
    joint's height taken from ``source`` (over their common frames)."""
    from engine.motion.features import RIC, ROOT_HEIGHT
    n = min(len(target), len(source))
    out = target[:n].copy()
    ric_y = np.arange(RIC.start, RIC.stop)[1::3]
    out[:, ROOT_HEIGHT] = source[:n, ROOT_HEIGHT]
    out[:, ric_y] = source[:n, ric_y]
    return out


def joints_from_rotations(features: np.ndarray) -> np.ndarray:
    """Joints by forward kinematics of the features' own 6D rotations on the
    canonical body (exact for real features)."""
    from engine.motion.features import ROT6D, humanml3d_fk, root_rotation_and_position
    from engine.motion.quaternion import cont6d_to_matrix, matrix_to_quat
    yaw, root = root_rotation_and_position(features)
    local = matrix_to_quat(cont6d_to_matrix(features[:, ROT6D].reshape(len(features), -1, 6)))
    return humanml3d_fk(np.concatenate([yaw[:, None], local], axis=1), root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder (default: models/default)")
    parser.add_argument("--data", default=str(ROOT / ".cache" / "data18"))
    parser.add_argument("--evaluator", default=str(ROOT / "models" / "evaluator"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    from engine.eval import evaluate as ev
    from engine.motion.features import features_to_joints, joints_to_features
    from engine.pipeline.jobs import load_model

    scored = ev.retrieval_set(args.data, args.split, args.seed, args.evaluator)
    pairs, real = scored.pairs, scored.real
    model = load_model(args.model, "cpu")
    raw = ev.generated_features(model, pairs, args.seed)
    joints = [features_to_joints(f) for f in raw]
    reencoded = [joints_to_features(j) for j in joints]
    delivered = [joints_to_features(ev.as_delivered(f, j)) for f, j in zip(raw, joints)]
    rows = {
        "real": real,
        "real re-encoded": [joints_to_features(features_to_joints(f)) for f in real],
        "raw (decoder features)": raw,
        "re-encoded": reencoded,
        "re-encoded, no retarget": [joints_to_features(j, retarget=False) for j in joints],
        "re-encoded, raw heights": [heights_from(r, f) for r, f in zip(reencoded, raw)],
        "from decoded rotations, re-encoded": [joints_to_features(joints_from_rotations(f)) for f in raw],
        "delivered": delivered,
        "delivered, raw heights": [heights_from(d, f) for d, f in zip(delivered, raw)],
    }
    print(f"{model.name}: {len(pairs)} {args.split} pairs, seed {args.seed}")
    print(f"{'':38s} {'top-1':>6s} {'top-3':>6s}")
    for name, feats in rows.items():
        r = scored.r_precision(feats)
        print(f"{name:38s} {r['top1']:6.3f} {r['top3']:6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

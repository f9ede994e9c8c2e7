"""Motion -> tokens -> motion on real clips: MPJPE of the motion tokenizer.

    python benchmarks/vq_round_trip.py --vq models/default/vq --data DATA_DIR [--split val] [--id-prefix cmu_]

Prints per-clip and median errors in mm, both global (root path included)
and root-relative, on the clips' first 10 s (HumanML3D's evaluation cap),
over all clips and per source (Bandai Namco, cmu, and each extra/ library).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import engine  # noqa: F401  (first: the engine's process policy must precede torch)
from engine.data import humanml3d  # noqa: E402
from engine.models.motion_tokenizer import MotionTokenizer  # noqa: E402
from engine.motion.features import features_to_joints  # noqa: E402

MAX_FRAMES = 200


def round_trip_errors(vq: MotionTokenizer, features: np.ndarray) -> tuple[float, float]:
    feats = features[: min(len(features), MAX_FRAMES) // 4 * 4]
    recon = vq.decode(vq.encode(feats))
    a, b = features_to_joints(feats), features_to_joints(recon)
    glob = np.linalg.norm(a - b, axis=-1).mean() * 1000
    rel = np.linalg.norm((a - a[:, :1]) - (b - b[:, :1]), axis=-1).mean() * 1000
    return float(glob), float(rel)


SOURCES = ("cmu_salsa", "cmu_dynamics", "cmu_content", "cmu", "deepmimic", "sie")


def source_of(clip_id: str) -> str:
    """Which shared source a clip id comes from (Bandai ids have no prefix)."""
    return next((s for s in SOURCES if clip_id.startswith(s + "_")), "bandai")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vq", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--clips", type=int, default=0, help="only the first N clips (0: all)")
    parser.add_argument("--id-prefix", default="", help="only clips whose id starts with this (e.g. cmu_)")
    args = parser.parse_args()
    vq = MotionTokenizer.load(args.vq, device="cpu")
    clips = [c for c in humanml3d.load_split(args.data, args.split) if len(c.features) >= 8]
    clips = [c for c in clips if not c.clip_id.startswith("M") and c.clip_id.startswith(args.id_prefix)]
    clips = clips[: args.clips or None]
    start = time.perf_counter()
    errors = np.array([round_trip_errors(vq, c.features) for c in clips])
    for clip, (g, r) in list(zip(clips, errors))[:5]:
        print(f"{clip.clip_id:45s} {len(clip.features):5d} frames  MPJPE {g:7.1f} mm  root-relative {r:6.1f} mm")
    by_source: dict[str, list[int]] = {}
    for i, clip in enumerate(clips):
        by_source.setdefault(source_of(clip.clip_id), []).append(i)
    for source, rows in sorted(by_source.items()):
        e = errors[rows]
        print(f"  {source:14s} {len(rows):4d} clips: median MPJPE {np.median(e[:, 0]):7.1f} mm, "
              f"root-relative {np.median(e[:, 1]):6.1f} mm")
    print(f"{len(clips)} {args.split} clips: median MPJPE {np.median(errors[:, 0]):.1f} mm, "
          f"median root-relative {np.median(errors[:, 1]):.1f} mm, mean {errors[:, 0].mean():.1f} / "
          f"{errors[:, 1].mean():.1f} mm ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()

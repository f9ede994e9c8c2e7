"""In-betweening on val at one gap: the model beside SLERP and linear
interpolation, with paired bootstrap 95 % confidence intervals over clips.

    python benchmarks/inbetween_ci.py [--model models/default] [--gap 20] [--candidates 8 32] [--average 1 4] [--clips N]

For each ``--candidates`` value the same clips, keys and seeds as ``motiongpt
evaluate`` are in-betweened through the pipeline (``engine.pipeline.tasks.
inbetween``, default post-processing) and L2P / ADE on the gap frames are
compared with SLERP (engine.eval.metrics.paired_bootstrap).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from engine.eval import evaluate as ev
from engine.eval import metrics
from engine.eval import motion_metrics as mm
from engine.models import motiongpt
from engine.motion import skeleton as sk
from engine.motion.features import features_to_joints
from engine.pipeline import tasks
from engine.pipeline.jobs import load_model
from engine.pipeline.motion_io import Motion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default models/default)")
    parser.add_argument("--data", help="dataset folder (default: built from the shared data)")
    parser.add_argument("--gap", type=int, default=20, help="gap in frames at 20 fps (default 20 = 1 s)")
    parser.add_argument("--candidates", type=int, nargs="+", default=[motiongpt.INBETWEEN_CANDIDATES])
    parser.add_argument("--average", type=int, nargs="+", default=[motiongpt.INBETWEEN_AVERAGE],
                        help="how many of the best candidates are averaged into the answer")
    parser.add_argument("--clips", type=int, default=None, help="only N val clips (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = load_model(args.model, "cpu")
    root = ev.resolve_data_dir(args.data, "val")
    clips = ev.load_eval_clips(root, "val", max_clips=args.clips, seed=args.seed)
    reference = ev.load_eval_clips(root, "train", max_clips=ev.POSE_STD_CLIPS, seed=args.seed + 1)
    std = mm.pose_std([features_to_joints(c.features) for c in reference[:ev.POSE_STD_CLIPS]])
    joints = [features_to_joints(c.features) for c in clips]
    usable = [i for i, j in enumerate(joints) if len(j) >= args.gap + ev.INBETWEEN_MARGIN]
    motions = {i: Motion.from_positions(joints[i], sk.FPS) for i in usable}
    slerp, linear = [], []
    for i in usable:
        j = joints[i]
        f0, f1 = ev.inbetween_window(len(j), args.gap)
        slerp.append(mm.l2p(mm.inbetween_slerp_joints(j[f0], j[f1], args.gap), j[f0 + 1:f1], std))
        linear.append(mm.l2p(mm.inbetween_linear(j[f0], j[f1], args.gap), j[f0 + 1:f1], std))
    print(f"{len(usable)} val clips, gap {args.gap} frames at 20 fps; SLERP L2P {np.mean(slerp):.4f}, "
          f"linear {np.mean(linear):.4f}")
    for k, avg in [(k, a) for k in args.candidates for a in args.average]:
        start = time.perf_counter()
        l2p, ade = [], []
        for n, i in enumerate(usable):
            j = joints[i]
            f0, f1 = ev.inbetween_window(len(j), args.gap)
            with_k = _Candidates(model, k, avg)
            out = tasks.inbetween(with_k, motions[i], f0, f1, seed=args.seed + n).positions()
            l2p.append(mm.l2p(out[f0 + 1:f1], j[f0 + 1:f1], std))
            ade.append(mm.ade(out[f0 + 1:f1], j[f0 + 1:f1]))
        p = metrics.paired_bootstrap(l2p, slerp, seed=args.seed)
        print(f"candidates {k:3d}, average of best {avg}: L2P {np.mean(l2p):.4f} (ADE {np.mean(ade):.4f} m) vs SLERP "
              f"{p['diff']:+.4f} [{p['diff_ci'][0]:+.4f}, {p['diff_ci'][1]:+.4f}] = {100 * p['relative']:+.1f} % "
              f"[{100 * p['relative_ci'][0]:+.1f}, {100 * p['relative_ci'][1]:+.1f}]  "
              f"({time.perf_counter() - start:.0f} s)")


class _Candidates:
    """The model with other in-between settings."""

    def __init__(self, model, candidates: int, average: int):
        self.model, self.candidates, self.average = model, candidates, average

    def __getattr__(self, name):                  # everything else (sampling_for, ...) is the model's
        return getattr(self.model, name)

    def inbetween(self, features, start_frame, end_frame, text=None, seed=None, sampling=None):
        return self.model.inbetween(features, start_frame, end_frame, text=text, seed=seed, sampling=sampling,
                                    candidates=self.candidates, average=self.average)


if __name__ == "__main__":
    main()

"""Walks and runs along drawn paths (issue 20): how close, facing which way,
with what foot skating.

    python benchmarks/path_follow.py [--model models/default] [--data .cache/data18] [--seeds 0 1 2]
        [--actions walk run] [--paths "2 m circle" ...]

For a 5 m line, a 90-degree corner (3 + 3 m), an S curve and a 2 m circle
(and a 4 m one: how wide a circle a run needs to read as a run),
a walk and a run (seeds as given), through ``tasks.generate(..., path=...)``:
the horizontal root distance to the path (median and max over frames; target
<= 5 cm / 15 cm), the angle between the body's facing and the path's
direction (median; target <= 15 degrees), foot skating against real val
clips of the same action (target <= 1.5x), the fastest the body turns over
2 s (what ``understood_as`` flags as a spin above
:data:`engine.pipeline.path_follow.SPIN_TURN_DEG_S`), and what the
evaluator's action judge (majority of its nearest real clips) calls the result,
and the gait by the feet alone: the share of frames with both feet off the floor
(:func:`engine.pipeline.post.flight_share`; real runs 0.23-0.39, walks 0), which
tells a run from a walk where the judge calls a slowed running turn a turning walk.
Paths go without seconds, so the engine picks the pace: the action's own, or
slower where the turns are tight (a run round a circle is then made as a
running turn: :func:`engine.pipeline.tasks.plan_path`).

Side by side, the baseline an animator has today: Blender's Follow Path
constraint driving the same action generated straight (same seed, same
seconds), played in place. The constraint moves the object along the curve
at constant speed over the frames given and turns it to the curve's tangent
(Follow Curve); :func:`follow_path_constraint` does exactly that in numpy
(the walk's own sway kept, its travel replaced), so both are measured with
the same skating metric.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)

ARC = np.linspace(0, 2 * np.pi, 60)
PATHS = {
    "5 m line": [[0, 0], [0, 5]],
    "90-degree corner": [[0, 0], [0, 3], [3, 3]],
    "S curve": [[float(np.sin(a)), float(a / (2 * np.pi) * 6)] for a in np.linspace(0, 2 * np.pi, 40)],
    "2 m circle": [[float(1 - np.cos(a)), float(np.sin(a))] for a in ARC],
    "4 m circle": [[float(2 - 2 * np.cos(a)), float(2 * np.sin(a))] for a in ARC],
}
ACTIONS = {"walk": "a person walks forward", "run": "a person runs forward"}


def follow_path_constraint(motion, path):
    """``motion`` (generated straight) slid along ``path`` the way Blender's
    Follow Path constraint slides an in-place cycle: uniform speed over the
    frames, the body turned to the path's tangent at each frame."""
    from engine.motion.quaternion import axis_angle_to_quat, qmul
    from engine.pipeline.path_follow import _arc, _at, travel_frame
    gen_angle, _, lateral = travel_frame(motion)
    arc = _arc(path.points)
    pos, tangent = _at(path.points, arc, np.linspace(0.0, arc[-1], motion.num_frames))
    angle = np.unwrap(np.arctan2(tangent[:, 0], tangent[:, 1]))
    normal = np.stack([np.cos(angle), -np.sin(angle)], axis=-1)
    root = motion.root_pos.copy()
    root[:, [0, 2]] = pos + lateral[:, None] * normal
    quats = motion.local_quats.copy()
    quats[:, 0] = qmul(axis_angle_to_quat(np.array([0.0, 1.0, 0.0]), angle - gen_angle), quats[:, 0])
    return motion.replace(quats, root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--data", default=str(ROOT / ".cache" / "data18"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--actions", nargs="+", choices=list(ACTIONS), default=list(ACTIONS))
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS))
    parser.add_argument("--evaluator", default=str(ROOT / "models" / "evaluator"),
                        help="evaluator folder for the action judge")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    from engine.data.labels import labelled_originals
    from engine.data import humanml3d
    from engine.eval.motion_metrics import foot_skating
    from engine.motion.features import features_to_joints
    from engine.pipeline import tasks
    from engine.pipeline.jobs import load_model
    from engine.eval.action_judge import ActionJudge
    from engine.eval.retrieval_model import EvaluatorModel
    from engine.motion.features import joints_to_features
    from engine.pipeline.path_follow import distance_to_path, heading_errors_deg, parse_path, peak_turn_deg_s
    from engine.pipeline.post import flight_share
    model = load_model(args.model, "cpu")
    judge = ActionJudge.build(EvaluatorModel.load(args.evaluator), args.data)
    real = {}
    for clip_id, record in labelled_originals(args.data, "val"):
        action = (record["labels"].get("content") or record["labels"].get("action") or "")
        if action in ACTIONS:
            joints = features_to_joints(humanml3d.load_clip(args.data, clip_id).features)
            real.setdefault(action, []).append(foot_skating(joints)["skate_speed"])
    print(f"{'action':5s} {'path':17s} {'seconds':>7s} {'dist med cm':>11s} {'dist max cm':>11s} "
          f"{'heading med':>11s} {'skating x real':>14s} {'constraint x real':>17s} {'turn deg/s':>10s} "
          f"{'in flight':>9s}  judged as")
    for action in args.actions:
        prompt = ACTIONS[action]
        reference = float(np.mean(real.get(action, [np.nan])))
        for name in args.paths:
            points = PATHS[name]
            path = parse_path({"points": points})
            rows, verdicts = [], []
            for seed in args.seeds:
                motion = tasks.generate(model, prompt, seed=seed, path=path)[0]
                straight = tasks.generate(model, prompt, seconds=motion.duration, seed=seed)[0]
                slid = follow_path_constraint(straight, path)
                d = distance_to_path(motion, path)
                rows.append((motion.duration, np.median(d) * 100, d.max() * 100,
                             np.median(heading_errors_deg(motion, path)),
                             foot_skating(motion.positions(), motion.fps)["skate_speed"] / reference,
                             foot_skating(slid.positions(), slid.fps)["skate_speed"] / reference,
                             peak_turn_deg_s(motion),
                             flight_share(motion.positions())))
                verdicts.append(judge.judge([joints_to_features(motion.positions())])[0])
            r = np.array(rows)
            print(f"{action:5s} {name:17s} {r[:, 0].mean():7.1f} {np.median(r[:, 1]):11.1f} {r[:, 2].max():11.1f} "
                  f"{np.median(r[:, 3]):11.1f} {np.median(r[:, 4]):14.2f} {np.median(r[:, 5]):17.2f} "
                  f"{np.median(r[:, 6]):10.0f} {r[:, 7].min():4.2f}-{r[:, 7].max():4.2f}  "
                  + ", ".join(verdicts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

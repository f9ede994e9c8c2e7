"""Do the new actions come out as themselves, judged by their kinematics,
and does generated motion stay on the floor in every second?

    python benchmarks/action_kinematics.py --model models/default [--model runs/v10] [--seeds 0 1 2]
    python benchmarks/action_kinematics.py --real DATA_DIR          # the judges on real clips

Judges (positions on the 22 joints, Y up, metres, floor at the lowest foot
point of the first frame as the pipeline delivers it, or with ``--floor zero``
at y = 0, where the engine stands generated motion):

* jump: both feet leave the floor (lowest foot point > 8 cm) while the hips
  rise more than 8 cm above their median.
* kick: an ankle rises above the hips.
* cartwheel: the head goes below the hips.
* crawl: the head stays below 0.9 m for most (60 %) of the motion and the body travels 0.3 m or more.
* get up: the head starts below 0.7 m and ends above 1.2 m.
* salsa: dancing in place over 6 s: both feet step (each travels 1 m or
  more), the hips stay within 2 m of their start, the head stays up.

Floor: for every prompt and seed, the lowest foot point of each whole
second; a second whose lowest point is more than 3 cm above or below the
floor fails (jumps, flips and cartwheels are left out: they leave it). Of
the failed seconds, those where another joint (a knee, a hand) is on the
floor are counted apart as "carried": the body rests on it, as in the real
crawl and get-up clips, whose feet stay 5-9 cm up in every second (``--real``
prints theirs); the rest float.
Prints one line per prompt and seed, then hit rates per action and model.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

import engine  # noqa: F401  (first: the engine's process policy must precede torch)
from engine.motion import skeleton as sk  # noqa: E402

J = sk.JOINT_INDEX
FEET = [J["left_ankle"], J["right_ankle"], J["left_foot"], J["right_foot"]]
FLOOR_TOLERANCE_M = 0.03
AIRBORNE = {"jump", "cartwheel", "backflip", "kick"}
PROMPTS = {
    "jump": ["a person jumps.", "someone jumps up high"],
    "kick": ["a person kicks.", "someone kicks a ball"],
    "cartwheel": ["a person does a cartwheel."],
    "crawl": ["a person crawls.", "someone crawls on hands and knees"],
    "get up": ["a person gets up from lying face down.", "someone gets up off the floor"],
    "salsa": ["a person dances salsa.", "someone dances the salsa"],
    "walk": ["a person walks forward."],
    "bow": ["a person bows."],
}
SECONDS = {"jump": 3.0, "kick": 3.0, "cartwheel": 3.0, "crawl": 4.0, "get up": 4.0, "salsa": 6.0, "walk": 4.0,
           "bow": 4.0}


FLOOR = {"mode": "first-frame"}
"""Where the floor is: "first-frame" (the lowest foot point of the first frame)
or "zero" (y = 0, where the engine stands every generated clip)."""


def floor_height(joints: np.ndarray) -> float:
    return 0.0 if FLOOR["mode"] == "zero" else float(joints[0, FEET, 1].min())


def judge(action: str, joints: np.ndarray) -> bool | None:
    """Whether ``joints`` (T, 22, 3) shows ``action``; None when no judge exists."""
    y = joints[..., 1] - floor_height(joints)
    hips, head = y[:, J["pelvis"]], y[:, J["head"]]
    lowest = y[:, FEET].min(axis=1)
    travel = np.linalg.norm(joints[-1, J["pelvis"], [0, 2]] - joints[0, J["pelvis"], [0, 2]])
    if action == "jump":
        return bool(((lowest > 0.08) & (hips > np.median(hips) + 0.08)).any())
    if action == "kick":
        return bool((y[:, [J["left_ankle"], J["right_ankle"]]].max(axis=1) > hips).any())
    if action == "cartwheel":
        return bool((head < hips).any())
    if action == "crawl":
        return bool((head < 0.9).mean() > 0.6 and travel > 0.3)
    if action == "get up":
        k = max(1, len(y) // 10)
        return bool(head[:k].mean() < 0.7 and head[-k:].mean() > 1.2)
    if action == "salsa":
        frames = int(6 * sk.FPS)                      # judged over 6 s, as generated
        joints, head = joints[:frames], head[:frames]
        steps = [np.linalg.norm(np.diff(joints[:, f, [0, 2]], axis=0), axis=-1).sum()
                 for f in (J["left_ankle"], J["right_ankle"])]
        away = np.linalg.norm(joints[:, J["pelvis"], [0, 2]] - joints[0, J["pelvis"], [0, 2]], axis=-1).max()
        return bool(min(steps) > 1.0 and away < 2.0 and (head > 1.2).mean() > 0.9)
    return None


def floor_seconds(joints: np.ndarray, fps: float, floor: float | None = None) -> tuple[int, int, int]:
    """(seconds whose lowest foot point is off the floor by more than the
    tolerance, how many of those another joint touches the floor in, whole seconds)."""
    floor = floor_height(joints) if floor is None else floor
    per = int(round(fps))
    whole = len(joints) // per

    def lows(y: np.ndarray) -> np.ndarray:
        return y[:whole * per].reshape(whole, per).min(axis=1) - floor

    feet, body = lows(joints[:, FEET, 1].min(axis=1)), lows(joints[..., 1].min(axis=1))
    off = np.abs(feet) > FLOOR_TOLERANCE_M
    carried = off & (np.abs(body) <= FLOOR_TOLERANCE_M)
    return int(off.sum()), int(carried.sum()), whole


def run_model(folder: str | None, seeds: list[int]) -> dict:
    from engine.pipeline import tasks
    from engine.pipeline.jobs import load_model
    model = load_model(folder, "cpu")
    hits: dict[str, list[bool]] = defaultdict(list)
    off, carried, total = 0, 0, 0
    for action, prompts in PROMPTS.items():
        for prompt in prompts:
            for seed in seeds:
                reading = tasks.read_prompt(model, prompt)
                motion = tasks.generate(model, reading, seconds=SECONDS[action], seed=seed)[0]
                joints = motion.positions()
                verdict = judge(action, joints)
                if verdict is not None:
                    hits[action].append(verdict)
                bad, held, whole = floor_seconds(joints, motion.fps)
                if action not in AIRBORNE:
                    off, carried, total = off + bad, carried + held, total + whole
                print(f"  {action:10s} seed {seed} {'HIT ' if verdict else 'miss' if verdict is not None else '    '} "
                      f"floor off in {bad}/{whole} s ({held} carried)  {prompt!r} -> "
                      f"{reading.message if reading else ''}")
    return {"hits": {a: sum(v) / len(v) for a, v in hits.items()}, "floor_off_seconds": off,
            "floor_carried_seconds": carried, "floor_seconds": total}


def run_real(data: str) -> None:
    from engine.data import humanml3d
    from engine.data.labels import labelled_originals
    from engine.motion.features import features_to_joints
    names = {"jump": "jump", "kick": "kick", "cartwheel": "cartwheel", "crawl": "crawl",
             "get up": "get up from lying face down", "salsa": "salsa dance"}
    for split in ("train", "val"):
        for clip_id, record in labelled_originals(data, split):
            action = (record["labels"].get("action") or "").lower()
            for name, description in names.items():
                if action == description:
                    joints = features_to_joints(humanml3d.load_clip(data, clip_id).features)
                    bad, held, whole = floor_seconds(joints, sk.FPS, float(joints[..., 1].min()))
                    print(f"  {split:5s} {clip_id:32s} {name:10s} {'HIT ' if judge(name, joints) else 'miss'} "
                          f"feet off the floor (its lowest point) in {bad}/{whole} s ({held} carried)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model folder (repeatable; default models/default)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--real", help="judge the real clips of a built dataset instead")
    parser.add_argument("--json", help="write the summary here")
    parser.add_argument("--floor", choices=["first-frame", "zero"], default="first-frame",
                        help="the floor: the first frame's lowest foot point (default) or y = 0, the engine's "
                             "floor for generated motion")
    args = parser.parse_args()
    FLOOR["mode"] = args.floor
    if args.real:
        run_real(args.real)
        return
    summary = {}
    for folder in args.model or [None]:
        print(f"model {folder or 'models/default'}")
        summary[folder or "models/default"] = run_model(folder, args.seeds)
    for name, result in summary.items():
        rates = ", ".join(f"{a} {r:.2f}" for a, r in result["hits"].items())
        print(f"{name}: {rates}; floor off in {result['floor_off_seconds']}/{result['floor_seconds']} s, "
              f"{result['floor_carried_seconds']} of them carried by a knee or hand on the floor")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()

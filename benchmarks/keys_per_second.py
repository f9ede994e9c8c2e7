"""Keys written per second by the add-on's retargeting (needs bpy).

Retargets 10 s of motion at 30 fps onto a 22-bone rig (4 quaternion curves
per bone + 3 location curves on the hips: 91 curves, 27,300 keys) and reports
the median over several runs of:

- ``fresh``: retarget_motion into a new action (read rig + solve + write);
- ``overwrite``: the same into an action that already has those keys
  (every old key in the range is replaced);
- ``write only``: just the bulk F-curve writing of the fresh case.

Run: .venv/bin/python benchmarks/keys_per_second.py [--runs 7] [--seconds 10] [--fps 30] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synthetic_motion(frames: int, fps: float) -> dict:
    """A smooth motion on the engine's skeleton (no engine import needed)."""
    from motiongpt_blender import retarget_math as rm
    t = np.arange(frames) / fps
    rng = np.random.default_rng(0)
    axes = rm.normalize(rng.normal(size=(22, 3)))
    amp = rng.uniform(0.1, 0.6, size=22)
    freq = rng.uniform(0.5, 2.0, size=22)
    angle = amp[None] * np.sin(2 * np.pi * freq[None] * t[:, None])          # (T, 22)
    quats = np.concatenate([np.cos(angle / 2)[..., None], axes[None] * np.sin(angle / 2)[..., None]], -1)
    root = np.stack([0.1 * np.sin(t), 0.95 + 0.02 * np.sin(4 * t), 1.2 * t], -1)
    return {"fps": fps, "num_frames": frames, "joint_names": list(rm.JOINT_NAMES), "parents": list(rm.PARENTS),
            "rest_offsets": rm.T_POSE_OFFSETS_M.tolist(), "local_quats": quats.tolist(),
            "root_translation": root.tolist()}


def build_rig(name: str):
    import bpy
    from motiongpt_blender import retarget_math as rm
    pos = rm.yup_to_zup(rm.rest_positions(rm.T_POSE_OFFSETS_M, rm.PARENTS)) + [0, 0, 0.95]
    main = rm.main_children(rm.PARENTS, rm.T_POSE_OFFSETS_M)
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode='EDIT')
    bones = []
    for j, joint in enumerate(rm.JOINT_NAMES):
        eb = arm.edit_bones.new(joint)
        eb.head = pos[j].tolist()
        tail = pos[main[j]] if main[j] >= 0 else pos[j] + 0.08 * rm.normalize(pos[j] - pos[rm.PARENTS[j]])
        eb.tail = tail.tolist()
        bones.append(eb)
        if rm.PARENTS[j] >= 0:
            eb.parent = bones[rm.PARENTS[j]]
    bpy.ops.object.mode_set(mode='OBJECT')
    return obj


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import bpy
    from motiongpt_blender import retarget
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = int(args.fps)
    frames = int(round(args.seconds * args.fps))
    motion = synthetic_motion(frames, args.fps)
    from motiongpt_blender import retarget_math as rm
    em = rm.EngineMotion.from_dict(motion)        # parse once, as the add-on does when a job returns
    obj = build_rig("Bench")
    mapping = {j: j for j in rm.JOINT_NAMES}

    fresh, overwrite, write_only, keys = [], [], [], 0
    for _ in range(args.runs):
        action = bpy.data.actions.new("bench")
        t = time.perf_counter()
        rep = retarget.retarget_motion(obj, em, mapping, action=action, frame_start=1)
        fresh.append(time.perf_counter() - t)
        write_only.append(rep.seconds["write"])
        keys = rep.keys_written
        t = time.perf_counter()
        retarget.retarget_motion(obj, em, mapping, action=action, frame_start=1)
        overwrite.append(time.perf_counter() - t)
        obj.animation_data.action = None
        bpy.data.actions.remove(action)

    result = {
        "blender": bpy.app.version_string, "frames": frames, "curves": 22 * 4 + 3, "keys_per_run": keys,
        "runs": args.runs,
        "fresh_keys_per_s": keys / statistics.median(fresh),
        "overwrite_keys_per_s": keys / statistics.median(overwrite),
        "write_only_keys_per_s": keys / statistics.median(write_only),
        "fresh_ms": 1000 * statistics.median(fresh), "overwrite_ms": 1000 * statistics.median(overwrite),
        "write_only_ms": 1000 * statistics.median(write_only),
        "cpu_count": os.cpu_count(),
    }
    print(f"Blender {result['blender']}: {keys} keys ({frames} frames x {result['curves']} curves), "
          f"median of {args.runs} runs")
    print(f"  fresh action:  {result['fresh_keys_per_s']:,.0f} keys/s ({result['fresh_ms']:.1f} ms, "
          f"of which writing {result['write_only_ms']:.1f} ms = {result['write_only_keys_per_s']:,.0f} keys/s)")
    print(f"  overwriting:   {result['overwrite_keys_per_s']:,.0f} keys/s ({result['overwrite_ms']:.1f} ms)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    sys.stdout.flush()
    os._exit(0)   # skip bpy teardown


if __name__ == "__main__":
    raise SystemExit(main())

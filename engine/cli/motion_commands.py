"""``motiongpt features``, ``joints`` and ``bvh ...``: the motion core on files."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import MotionFileError
from ..motion import bvh
from ..motion import features as F
from ..motion import skeleton as sk
from ..motion.kinematics import forward_kinematics
from ..motion.resample import resample_linear
from ..motion.rotations import reconstruction_error_mm, solve_rotations
from ..npy import load_npy, save_npy


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="22-joint positions (.npy, T x 22 x 3, metres, Y up) -> 263-dim features")
    p.add_argument("joints")
    p.add_argument("out")
    p.add_argument("--fps", type=float, default=sk.FPS, help=f"frame rate of the input (resampled to {sk.FPS:g})")
    p.add_argument("--keep-body", action="store_true",
                   help="keep the input's bone lengths instead of re-posing on the canonical body")
    p.set_defaults(handler=run_features)

    p = sub.add_parser("joints", help="263-dim features (.npy) -> 22-joint positions (.npy)")
    p.add_argument("features")
    p.add_argument("out")
    p.set_defaults(handler=run_joints)

    p = sub.add_parser("bvh", help="convert between joints/features and BVH")
    bsub = p.add_subparsers(dest="bvh_command", metavar="CONVERSION")
    bsub.required = True
    q = bsub.add_parser("from-joints", help="22-joint positions (.npy) -> 22-joint BVH")
    q.add_argument("joints")
    q.add_argument("out")
    q.add_argument("--fps", type=float, default=sk.FPS)
    _units_arg(q)
    q.set_defaults(handler=run_bvh_from_joints)
    q = bsub.add_parser("from-features", help="263-dim features (.npy) -> 22-joint BVH")
    q.add_argument("features")
    q.add_argument("out")
    _units_arg(q)
    q.set_defaults(handler=run_bvh_from_features)
    q = bsub.add_parser("to-joints", help="any BVH -> joint positions (.npy, frames x joints x 3, metres)")
    q.add_argument("bvh")
    q.add_argument("out")
    q.add_argument("--scale", type=float, help="file units to metres (default: guessed from the skeleton's height)")
    q.add_argument("--fps", type=float, help="resample to this frame rate (default: keep the file's)")
    q.set_defaults(handler=run_bvh_to_joints)
    q = bsub.add_parser("to-features", help="22-joint BVH (as we write it) -> 263-dim features at 20 fps")
    q.add_argument("bvh")
    q.add_argument("out")
    q.set_defaults(handler=run_bvh_to_features)
    q = bsub.add_parser("info", help="print a BVH's skeleton, frame rate and length")
    q.add_argument("bvh")
    q.set_defaults(handler=run_bvh_info)


def _units_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--units", choices=("cm", "m"), default=bvh.T2M_BVH_UNITS,
                   help=f"length unit written to the file (default {bvh.T2M_BVH_UNITS}; "
                        "import into Blender with scale 0.01 for cm)")


def run_features(args: argparse.Namespace) -> int:
    joints = load_npy(args.joints, (sk.NUM_JOINTS, 3), "22-joint positions")
    if args.fps != sk.FPS:
        joints = resample_linear(joints, args.fps, sk.FPS)
    feats = F.joints_to_features(joints, retarget=not args.keep_body)
    save_npy(args.out, feats)
    print(f"wrote {args.out}: {feats.shape[0]} frames x {feats.shape[1]} features at {sk.FPS:g} fps")
    return 0


def run_joints(args: argparse.Namespace) -> int:
    feats = load_npy(args.features, (F.FEATURE_DIM,), "HumanML3D features")
    joints = F.features_to_joints(feats)
    save_npy(args.out, joints)
    print(f"wrote {args.out}: {joints.shape[0]} frames x 22 joints at {sk.FPS:g} fps")
    return 0


def _write_joints_bvh(joints: np.ndarray, out: str, fps: float, units: str) -> None:
    rotations = solve_rotations(joints, fps=fps)
    bvh.write_t2m_bvh(out, rotations.local_quats, rotations.root_pos, rotations.offsets, fps, units=units)
    mean_mm, max_mm = reconstruction_error_mm(joints, rotations)
    print(f"wrote {out}: {len(joints)} frames at {fps:g} fps "
          f"(joint rotations reproduce the positions to {mean_mm:.2f} mm mean, {max_mm:.2f} mm max)")


def run_bvh_from_joints(args: argparse.Namespace) -> int:
    joints = load_npy(args.joints, (sk.NUM_JOINTS, 3), "22-joint positions")
    _write_joints_bvh(joints, args.out, args.fps, args.units)
    return 0


def run_bvh_from_features(args: argparse.Namespace) -> int:
    feats = load_npy(args.features, (F.FEATURE_DIM,), "HumanML3D features")
    _write_joints_bvh(F.features_to_joints(feats), args.out, sk.FPS, args.units)
    return 0


def run_bvh_to_joints(args: argparse.Namespace) -> int:
    motion = bvh.read_bvh(args.bvh)
    scale = args.scale if args.scale else bvh.guess_scale_to_metres(motion)
    positions = bvh.bvh_joint_positions(motion, scale=scale)
    if args.fps:
        positions = resample_linear(positions, motion.fps, args.fps)
    save_npy(args.out, positions)
    print(f"wrote {args.out}: {positions.shape[0]} frames x {positions.shape[1]} joints "
          f"(scale {scale:g} to metres, {args.fps or motion.fps:g} fps)")
    return 0


def run_bvh_to_features(args: argparse.Namespace) -> int:
    local_quats, root_pos, offsets, fps = bvh.read_t2m_bvh(args.bvh)
    joints, _ = forward_kinematics(local_quats, root_pos, offsets, sk.PARENTS)
    if fps != sk.FPS:
        joints = resample_linear(joints, fps, sk.FPS)
    if len(joints) < 2:
        raise MotionFileError(args.bvh, "needs at least 2 frames at 20 fps")
    feats = F.joints_to_features(joints)
    save_npy(args.out, feats)
    print(f"wrote {args.out}: {feats.shape[0]} frames x {feats.shape[1]} features at {sk.FPS:g} fps")
    return 0


def run_bvh_info(args: argparse.Namespace) -> int:
    motion = bvh.read_bvh(args.bvh)
    print(f"{Path(args.bvh).name}: {motion.num_joints} joints, {motion.num_frames} frames at {motion.fps:g} fps "
          f"({motion.num_frames / motion.fps:.2f} s), unit guess: x{bvh.guess_scale_to_metres(motion):g} to metres")
    for i, name in enumerate(motion.names):
        parent = motion.names[motion.parents[i]] if motion.parents[i] >= 0 else "-"
        print(f"  {i:3d} {name:24s} parent {parent:24s} channels {' '.join(motion.channels[i])}")
    if set(motion.names) == set(sk.JOINT_NAMES):           # the engine's skeleton: say how it moves
        from ..eval.motion_metrics import gait
        quats, root, offsets, fps = bvh.t2m_arrays(motion, args.bvh)
        g = gait(forward_kinematics(quats, root, offsets, sk.PARENTS)[0], fps)
        print(f"root travels {g['travel_m']:.2f} m (path {g['path_m']:.2f} m, {g['speed_ms']:.2f} m/s); "
              f"the leading foot changes {g['steps']} times ({g['step_rate_hz']:.1f} per second)")
    return 0

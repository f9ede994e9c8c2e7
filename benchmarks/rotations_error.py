"""How faithfully solved joint rotations reproduce real mocap positions.

Loads a shared motions npz (the sample split by default), maps every clip to
the 22-joint skeleton, solves local rotations with
:func:`engine.motion.rotations.solve_rotations` and prints the FK position
error over all frames, the time taken, and the largest frame-to-frame change
of any local rotation (a twist flip would show up there as ~180 degrees).

    python benchmarks/rotations_error.py                      # ../shared/data/sample
    python benchmarks/rotations_error.py ../shared/data       # motions_val.npz
    python benchmarks/rotations_error.py ../shared/data --split train
    python benchmarks/rotations_error.py --features           # via 263-dim features first
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.data.bandai import bandai_joint_positions, load_bandai_npz, to_t2m_joints  # noqa: E402
from engine.motion import skeleton as sk  # noqa: E402
from engine.motion.features import features_to_joints, joints_to_features  # noqa: E402
from engine.motion.quaternion import qinv, qmul, quat_angle  # noqa: E402
from engine.motion.rotations import solve_rotations  # noqa: E402


def find_npz(folder: Path, split: str | None) -> Path:
    if folder.is_file():
        return folder
    names = [f"motions_{split}.npz"] if split else ["motions_sample.npz", "motions_val.npz"]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise SystemExit(f"no {' or '.join(names)} in {folder}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data" / "sample"),
                        help="folder holding motions_<split>.npz, or the npz itself")
    parser.add_argument("--split", default=None, help="sample, train or val (default: whichever is there)")
    parser.add_argument("--features", action="store_true",
                        help="round-trip every clip through the 263-dim features before solving")
    parser.add_argument("--noise-mm", type=float, default=0.0,
                        help="add Gaussian jitter (std, mm) to every joint, as a stand-in for generated, "
                             "not quite rigid motion")
    args = parser.parse_args(argv)

    path = find_npz(Path(args.data), args.split)
    motions = load_bandai_npz(path)
    joints = to_t2m_joints(bandai_joint_positions(motions), motions.joint_names)

    err_sum, err_max, n_err, n_frames = 0.0, 0.0, 0, 0
    max_step = np.zeros(sk.NUM_JOINTS)
    solve_time = 0.0
    rng = np.random.default_rng(0)
    for i in range(len(motions.clip_ids)):
        clip = joints[motions.clip_slice(i)]
        if args.features:
            clip = features_to_joints(joints_to_features(clip))
        if args.noise_mm > 0:
            clip = clip + rng.normal(scale=args.noise_mm / 1000.0, size=clip.shape)
        start = time.perf_counter()
        rot = solve_rotations(clip, fps=motions.fps)
        solve_time += time.perf_counter() - start
        err = np.linalg.norm(rot.positions() - clip, axis=-1) * 1000.0
        err_sum += float(err.sum())
        n_err += err.size
        err_max = max(err_max, float(err.max()))
        n_frames += len(clip)
        if len(clip) > 1:
            q = rot.local_quats
            step = np.degrees(quat_angle(qmul(qinv(q[:-1]), q[1:])))
            max_step = np.maximum(max_step, step.max(axis=0))

    source = "features round trip" if args.features else "mocap positions"
    if args.noise_mm > 0:
        source += f" + {args.noise_mm:g} mm jitter"
    print(f"{path} ({source})")
    print(f"clips {len(motions.clip_ids)}, frames {n_frames}")
    print(f"FK error: mean {err_sum / n_err:.3g} mm, max {err_max:.3g} mm")
    print(f"solve time: {solve_time:.2f} s total, {1000.0 * solve_time / max(n_frames, 1):.3f} ms per frame")
    worst = int(max_step.argmax())
    print(f"largest frame-to-frame local rotation change: {max_step[worst]:.1f} deg ({sk.JOINT_NAMES[worst]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Joint rotations from positions (engine/motion/rotations.py).

The rotations are what the Blender add-on puts on a user's rig, so besides
reproducing the positions they must be stable (no twist flips from frame to
frame), turn elbows and knees as hinges, and rest in a T-pose.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.errors import MotionShapeError
from engine.motion import skeleton as sk
from engine.motion.features import features_to_joints, joints_to_features
from engine.motion.kinematics import forward_kinematics
from engine.motion.quaternion import (axis_angle_to_quat, qinv, qmul, qnormalize, qrot,
                                      quat_angle)
from engine.motion.rotations import (MAIN_CHILD, JointRotations, reconstruction_error_mm,
                                     rotations_to_joints, solve_rotations)

J = sk.JOINT_INDEX
DATA_DIR = Path(os.environ.get("MOTIONGPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SAMPLE_NPZ = DATA_DIR / "sample" / "motions_sample.npz"

# our joint -> the mocap joint whose local rotation turns the same bone
# relative to the same parent bone (used to check we add no twist jumps)
BANDAI_JOINT = {
    "pelvis": "Hips", "left_hip": "UpperLeg_L", "right_hip": "UpperLeg_R",
    "left_knee": "LowerLeg_L", "right_knee": "LowerLeg_R", "left_ankle": "Foot_L",
    "right_ankle": "Foot_R", "neck": "Neck", "left_collar": "Shoulder_L",
    "right_collar": "Shoulder_R", "left_shoulder": "UpperArm_L", "right_shoulder": "UpperArm_R",
    "left_elbow": "LowerArm_L", "right_elbow": "LowerArm_R", "spine1": "Spine",
}
MAX_STEP_DEG = 90.0
"""Largest allowed frame-to-frame change of any local rotation at 20 fps. A
twist flip is about 180 degrees; the fastest genuine motion in the mocap (a
punch's elbow, a dance's upper arm) reaches about 70-90 degrees per frame, so
a flat 60 would fail on real data."""
MAX_EXCESS_DEG = 25.0
"""Largest allowed excess of our per-frame change over the mocap's own change
of the same joint (measured: at most 13.5 degrees over the whole train split)."""


def _tpose(n: int = 1) -> np.ndarray:
    return np.broadcast_to(sk.rest_joint_positions(sk.T_POSE_OFFSETS_M), (n, sk.NUM_JOINTS, 3)).copy()


def _random_quats(rng: np.random.Generator, shape: tuple[int, ...], max_deg: float) -> np.ndarray:
    axis = rng.normal(size=shape + (3,))
    angle = np.radians(rng.uniform(0.0, max_deg, size=shape))
    return axis_angle_to_quat(axis, angle)


def _steps_deg(quats: np.ndarray) -> np.ndarray:
    """(T-1, J) angle between consecutive rotations."""
    return np.degrees(quat_angle(qmul(qinv(quats[:-1]), quats[1:])))


def _twist_deg(quats: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Twist angle about ``axis`` of a swing-twist decomposition."""
    axis = axis / np.linalg.norm(axis)
    return np.degrees(2.0 * np.arctan2((quats[..., 1:] * axis).sum(-1), quats[..., 0]))


@pytest.fixture(scope="module")
def sample_clips():
    """(clip id, 22-joint positions, mocap local quats) for every sample clip."""
    if not SAMPLE_NPZ.is_file():
        pytest.skip(f"shared sample data not found at {SAMPLE_NPZ}")
    from engine.data.bandai import bandai_joint_positions, load_bandai_npz, to_t2m_joints
    motions = load_bandai_npz(SAMPLE_NPZ)
    joints = to_t2m_joints(bandai_joint_positions(motions), motions.joint_names)
    index = {name: i for i, name in enumerate(motions.joint_names)}
    source = np.stack([motions.rot[:, index[BANDAI_JOINT.get(n, "Hips")]] for n in sk.JOINT_NAMES], axis=1)
    return [(cid, joints[motions.clip_slice(i)], source[motions.clip_slice(i)])
            for i, cid in enumerate(motions.clip_ids)]


@pytest.fixture(scope="module")
def sample_solved(sample_clips):
    """Solved rotations of the mocap clips and of their features round trip."""
    out = []
    for cid, joints, source in sample_clips:
        out.append((cid, "mocap", joints, solve_rotations(joints), source))
        via_features = features_to_joints(joints_to_features(joints))
        out.append((cid, "features", via_features, solve_rotations(via_features), None))
    return out


# --------------------------------------------------------------------------- synthetic

def test_tpose_input_gives_identity_rotations():
    joints = _tpose(4) + np.array([0.3, 0.9, -1.2])
    rot = solve_rotations(joints)
    assert rot.local_quats.shape == (4, 22, 4)
    np.testing.assert_allclose(np.degrees(quat_angle(rot.local_quats)), 0.0, atol=1e-6)
    np.testing.assert_allclose(rot.offsets, sk.T_POSE_OFFSETS_M, atol=1e-9)
    np.testing.assert_allclose(rot.root_pos, joints[:, 0])
    np.testing.assert_allclose(rot.positions(), joints, atol=1e-9)


def test_random_rotations_are_reproduced():
    rng = np.random.default_rng(7)
    n = 200
    local = _random_quats(rng, (n, sk.NUM_JOINTS), 70.0)
    local[:, 0] = _random_quats(rng, (n,), 180.0)            # any facing for the root
    root = rng.normal(size=(n, 3))
    joints, _ = forward_kinematics(local, root, sk.T_POSE_OFFSETS_M, sk.PARENTS)

    rot = solve_rotations(joints)
    np.testing.assert_allclose(rot.offsets, sk.T_POSE_OFFSETS_M, atol=1e-9)
    err = np.linalg.norm(rot.positions() - joints, axis=-1)
    assert err.max() < 1e-6, f"max FK error {err.max():.3g} m"
    # the aimed bone of every joint matches in the joint's own frame, i.e. only
    # twist (invisible in positions) may differ from the generating rotations
    ours = rot.world_quats()
    _, truth = forward_kinematics(local, root, sk.T_POSE_OFFSETS_M, sk.PARENTS)
    for j, c in MAIN_CHILD.items():
        if c >= 0:
            np.testing.assert_allclose(qrot(ours[:, j], sk.T_POSE_DIRECTIONS[c]),
                                       qrot(truth[:, j], sk.T_POSE_DIRECTIONS[c]), atol=1e-7)


def test_result_type_and_helpers():
    joints = _tpose(3)
    rot = solve_rotations(joints, fps=30.0)
    assert isinstance(rot, JointRotations)
    assert rot.fps == 30.0 and rot.joint_names == sk.JOINT_NAMES and rot.num_frames == 3
    np.testing.assert_array_equal(rot.parents, sk.PARENTS)
    np.testing.assert_allclose(rotations_to_joints(rot), rot.positions())
    mean_mm, max_mm = reconstruction_error_mm(joints, rot)
    assert isinstance(mean_mm, float) and isinstance(max_mm, float)
    assert max_mm < 1e-6
    single = solve_rotations(joints[:1])                  # one frame is a valid pose
    assert single.local_quats.shape == (1, 22, 4)


def _arm_clip(bend_deg: np.ndarray, upper_world: np.ndarray, side: str = "left") -> np.ndarray:
    """T-pose body with the upper arm turned by ``upper_world`` (world quats)
    and the elbow bent about the arm's rest hinge axis by ``bend_deg``."""
    n = len(bend_deg)
    local = np.zeros((n, sk.NUM_JOINTS, 4))
    local[..., 0] = 1.0
    shoulder = J[f"{side}_shoulder"]
    local[:, shoulder] = upper_world                       # parents are identity
    hinge = np.array([0.0, -1.0, 0.0]) if side == "left" else np.array([0.0, 1.0, 0.0])
    local[:, J[f"{side}_elbow"]] = axis_angle_to_quat(np.broadcast_to(hinge, (n, 3)), np.radians(bend_deg))
    joints, _ = forward_kinematics(local, np.zeros((n, 3)), sk.T_POSE_OFFSETS_M, sk.PARENTS)
    return joints


@pytest.mark.parametrize("side", ["left", "right"])
def test_elbow_is_a_hinge_about_the_bend_normal(side):
    rng = np.random.default_rng(3)
    n = 60
    bend = np.linspace(5.0, 140.0, n)
    upper = np.broadcast_to(_random_quats(rng, (), 80.0), (n, 4))
    joints = _arm_clip(bend, upper, side)
    rot = solve_rotations(joints)
    np.testing.assert_allclose(rot.positions(), joints, atol=1e-9)

    elbow = rot.local_quats[:, J[f"{side}_elbow"]]
    axis = qnormalize(elbow[:, 1:])
    rest_hinge = np.array([0.0, -1.0, 0.0]) if side == "left" else np.array([0.0, 1.0, 0.0])
    bent = bend > 15.0
    # local axis is the rest hinge axis: a pure hinge, no swing off-axis
    assert np.all(np.abs(axis[bent] @ rest_hinge) > 0.999)
    np.testing.assert_allclose(np.degrees(quat_angle(elbow[bent])), bend[bent], atol=1e-6)
    # and in the world it is the normal of the shoulder-elbow-wrist plane
    s, e, w = (J[f"{side}_{k}"] for k in ("shoulder", "elbow", "wrist"))
    normal = np.cross(joints[:, e] - joints[:, s], joints[:, w] - joints[:, e])
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    world_axis = qrot(rot.world_quats()[:, s], axis)
    assert np.all(np.abs((world_axis * normal).sum(-1))[bent] > 0.999)


def test_knee_is_a_hinge():
    n = 40
    bend = np.linspace(12.0, 150.0, n)
    local = np.zeros((n, sk.NUM_JOINTS, 4))
    local[..., 0] = 1.0
    local[:, J["right_hip"]] = axis_angle_to_quat(np.array([1.0, 0.3, 0.2]), np.radians(-50.0))
    local[:, J["right_knee"]] = axis_angle_to_quat(np.broadcast_to([1.0, 0.0, 0.0], (n, 3)), np.radians(bend))
    joints, _ = forward_kinematics(local, np.zeros((n, 3)), sk.T_POSE_OFFSETS_M, sk.PARENTS)
    knee = solve_rotations(joints).local_quats[:, J["right_knee"]]
    axis = qnormalize(knee[:, 1:])
    assert np.all(np.abs(axis[:, 0]) > 0.999), "knee should turn about its rest hinge axis (X)"


def test_straightening_arm_keeps_its_twist():
    """An arm raised overhead is half a turn twisted against the T-pose swing.
    Straightening and re-bending it must not flip the upper arm about its axis
    (the candy-wrapper failure of a fixed straight-arm reference)."""
    n = 60
    bend = np.concatenate([np.linspace(90.0, 0.0, 20), np.zeros(20), np.linspace(0.0, 90.0, 20)])
    # arm straight up, elbow crease turned so the forearm folds behind the head
    up = axis_angle_to_quat(np.array([0.0, 0.0, 1.0]), np.radians(90.0))
    turn = axis_angle_to_quat(np.array([1.0, 0.0, 0.0]), np.radians(170.0))   # twist about the bone
    upper = np.broadcast_to(qmul(up, turn), (n, 4))
    joints = _arm_clip(bend, upper, "left")
    rot = solve_rotations(joints)
    np.testing.assert_allclose(rot.positions(), joints, atol=1e-9)
    steps = _steps_deg(rot.local_quats)
    assert steps.max() < 10.0, f"largest step {steps.max():.1f} deg at joint {sk.JOINT_NAMES[steps.max(0).argmax()]}"
    # and the twist held while straight is the one of the bends around it
    np.testing.assert_allclose(quat_angle(qmul(qinv(upper), rot.local_quats[:, J["left_shoulder"]])), 0.0,
                               atol=1e-6)


def test_hyperextended_knee_does_not_flip_the_leg():
    n = 30
    bend = np.concatenate([np.linspace(40.0, -15.0, 15), np.linspace(-15.0, 40.0, 15)])
    local = np.zeros((n, sk.NUM_JOINTS, 4))
    local[..., 0] = 1.0
    local[:, J["left_knee"]] = axis_angle_to_quat(np.broadcast_to([1.0, 0.0, 0.0], (n, 3)), np.radians(bend))
    joints, _ = forward_kinematics(local, np.zeros((n, 3)), sk.T_POSE_OFFSETS_M, sk.PARENTS)
    rot = solve_rotations(joints)
    np.testing.assert_allclose(rot.positions(), joints, atol=1e-9)
    thigh_twist = _twist_deg(rot.local_quats[:, J["left_hip"]], sk.T_POSE_DIRECTIONS[J["left_knee"]])
    assert np.abs(thigh_twist).max() < 1.0
    assert _steps_deg(rot.local_quats).max() < 10.0


def test_torso_twist_is_spread_over_the_spine():
    """Shoulders turned 60 degrees against the hips: each spine joint takes a
    third of the yaw instead of one joint taking it all."""
    n = 5
    local = np.zeros((n, sk.NUM_JOINTS, 4))
    local[..., 0] = 1.0
    yaw = axis_angle_to_quat(np.array([0.0, 1.0, 0.0]), np.radians(20.0))
    for j in ("spine1", "spine2", "spine3"):
        local[:, J[j]] = yaw
    joints, _ = forward_kinematics(local, np.zeros((n, 3)), sk.T_POSE_OFFSETS_M, sk.PARENTS)
    rot = solve_rotations(joints)
    for j in ("spine1", "spine2", "spine3"):
        np.testing.assert_allclose(np.degrees(quat_angle(rot.local_quats[:, J[j]])), 20.0, atol=1e-6)
    for j in ("pelvis", "neck", "left_collar", "right_collar", "head"):
        np.testing.assert_allclose(np.degrees(quat_angle(rot.local_quats[:, J[j]])), 0.0, atol=1e-6)


def test_quaternions_are_continuous():
    rng = np.random.default_rng(1)
    n = 100
    local = qnormalize(np.cumsum(rng.normal(scale=0.05, size=(n, sk.NUM_JOINTS, 4)), axis=0)
                       + np.array([1.0, 0.0, 0.0, 0.0]))
    joints, _ = forward_kinematics(local, np.zeros((n, 3)), sk.T_POSE_OFFSETS_M, sk.PARENTS)
    q = solve_rotations(joints).local_quats
    assert np.all((q[1:] * q[:-1]).sum(-1) >= 0.0)


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("shape", [(10, 21, 3), (22, 3), (10, 22, 4), (0, 22, 3)])
def test_wrong_shape_is_rejected(shape):
    with pytest.raises(MotionShapeError, match=r"shape|frames"):
        solve_rotations(np.zeros(shape))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_rejected(bad):
    joints = _tpose(5)
    joints[3, 7, 1] = bad
    with pytest.raises(MotionShapeError, match="NaN or infinite.*frame 3"):
        solve_rotations(joints)


def test_bad_fps_is_rejected():
    with pytest.raises(MotionShapeError, match="fps"):
        solve_rotations(_tpose(2), fps=0.0)


# --------------------------------------------------------------------------- real mocap

def test_real_clips_are_reproduced(sample_solved):
    for kind in ("mocap", "features"):
        errs = [np.linalg.norm(rot.positions() - joints, axis=-1) * 1000.0
                for _, k, joints, rot, _ in sample_solved if k == kind]
        err = np.concatenate([e.ravel() for e in errs])
        print(f"\n{kind}: FK error mean {err.mean():.3g} mm, max {err.max():.3g} mm "
              f"over {sum(len(e) for e in errs)} frames")
        assert err.mean() < 5.0 and err.max() < 20.0
    cid, _, joints, rot, _ = sample_solved[0]
    mean_mm, max_mm = reconstruction_error_mm(joints, rot)
    assert mean_mm < 5.0 and max_mm < 20.0, cid


def test_rest_pose_is_a_tpose(sample_solved):
    for _, _, _, rot, _ in sample_solved:
        for j, c in MAIN_CHILD.items():
            if c >= 0:
                direction = rot.offsets[c] / np.linalg.norm(rot.offsets[c])
                np.testing.assert_allclose(direction, sk.T_POSE_DIRECTIONS[c], atol=1e-12)
        rest = rot.rest_positions()
        # arms straight out, left arm on +X; legs down; head above the pelvis
        for side, sign in (("left", 1.0), ("right", -1.0)):
            arm = rest[J[f"{side}_wrist"]] - rest[J[f"{side}_shoulder"]]
            assert sign * arm[0] > 0.4 and abs(arm[1]) < 1e-9 and abs(arm[2]) < 1e-9
            assert sign * (rest[J[f"{side}_hip"]] - rest[0])[0] > 0.03
            leg = rest[J[f"{side}_ankle"]] - rest[J[f"{side}_hip"]]
            assert leg[1] < -0.6 and abs(leg[0]) < 1e-9 and abs(leg[2]) < 1e-9
        assert rest[J["head"], 1] > rest[J["spine3"], 1] > rest[0, 1]


def test_leaves_have_identity_rotations(sample_solved):
    for _, _, _, rot, _ in sample_solved:
        for leaf in ("head", "left_wrist", "right_wrist", "left_foot", "right_foot"):
            np.testing.assert_allclose(quat_angle(rot.local_quats[:, J[leaf]]), 0.0, atol=1e-7)


def test_no_twist_flips_on_real_clips(sample_solved):
    worst: dict[str, tuple[float, str]] = {}
    worst_excess: dict[str, tuple[float, str]] = {}
    for cid, kind, _, rot, source in sample_solved:
        steps = _steps_deg(rot.local_quats)
        for j, name in enumerate(sk.JOINT_NAMES):
            if steps[:, j].max() > worst.get(name, (-1.0,))[0]:
                worst[name] = (float(steps[:, j].max()), f"{kind} {cid} frame {int(steps[:, j].argmax())}")
            if source is not None and name in BANDAI_JOINT:
                excess = steps[:, j] - _steps_deg(source[:, j])
                if excess.max() > worst_excess.get(name, (-1e9,))[0]:
                    worst_excess[name] = (float(excess.max()), f"{cid} frame {int(excess.argmax())}")
    print()
    for name in sk.JOINT_NAMES:
        extra = f", excess over mocap {worst_excess[name][0]:5.1f}" if name in worst_excess else ""
        print(f"{name:15s} max step {worst[name][0]:5.1f} deg/frame{extra}")
    for name, (deg, where) in worst.items():
        assert deg < MAX_STEP_DEG, f"{name} turns {deg:.1f} deg in one frame ({where})"
    for name, (deg, where) in worst_excess.items():
        assert deg < MAX_EXCESS_DEG, f"{name} turns {deg:.1f} deg/frame more than the mocap ({where})"


def test_limb_twist_is_steady_on_real_clips(sample_solved):
    """Twist about the bone alone (the flip-prone part) of the upper limbs and
    of the torso stays well below half a turn per frame."""
    for cid, kind, _, rot, _ in sample_solved:
        for name in ("pelvis", "spine1", "spine2", "spine3", "neck", "left_shoulder",
                     "right_shoulder", "left_hip", "right_hip"):
            j = J[name]
            twist = np.unwrap(np.radians(_twist_deg(rot.local_quats[:, j], sk.T_POSE_DIRECTIONS[MAIN_CHILD[j]])))
            step = np.degrees(np.abs(np.diff(twist))).max(initial=0.0)
            assert step < 80.0, f"{name} twists {step:.1f} deg in one frame ({kind} {cid})"

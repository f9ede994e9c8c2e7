import numpy as np
import pytest

from engine.errors import MotionShapeError
from engine.motion import features as F
from engine.motion import skeleton as sk
from engine.motion.quaternion import cont6d_to_matrix, matrix_to_quat, qrot, quat_to_cont6d


def test_shape_and_layout(sample_joints):
    joints = sample_joints["dataset-1_walk_active_001"]
    feats = F.joints_to_features(joints)
    assert feats.shape == (len(joints) - 1, 263)
    assert np.isfinite(feats).all()
    assert set(np.unique(feats[:, F.FOOT_CONTACT])) <= {0.0, 1.0}
    canon = F.canonicalize(joints)
    np.testing.assert_allclose(feats[:, 3], canon[:-1, 0, 1])  # root height
    assert 0.8 < feats[:, 3].mean() < 1.05


def test_round_trip_on_every_sample_clip(sample_joints):
    worst = 0.0
    for joints in sample_joints.values():
        recovered = F.features_to_joints(F.joints_to_features(joints))
        expected = F.canonicalize(joints)[:-1]
        worst = max(worst, np.linalg.norm(recovered - expected, axis=-1).mean())
    assert worst < 1e-4


def test_canonical_start_faces_plus_z_at_origin_on_floor(sample_joints):
    canon = F.canonicalize(sample_joints["dataset-1_walk_active_001"])
    np.testing.assert_allclose(canon[0, 0, [0, 2]], 0.0, atol=1e-9)
    assert abs(canon[..., 1].min()) < 1e-9
    assert canon[0, sk.JOINT_INDEX["left_hip"], 0] > canon[0, sk.JOINT_INDEX["right_hip"], 0]
    assert canon[-1, 0, 2] > 3.0  # a forward walk travels along +Z


def test_features_ignore_where_the_clip_starts_and_faces(sample_joints):
    joints = sample_joints["dataset-2_walk-turn-left_active_001"]
    yaw = np.array([np.cos(0.6), 0.0, np.sin(0.6), 0.0])
    moved = qrot(np.broadcast_to(yaw, joints.shape[:-1] + (4,)), joints) + np.array([3.0, 0.2, -1.0])
    np.testing.assert_allclose(F.joints_to_features(moved), F.joints_to_features(joints), atol=1e-7)


def test_body_size_is_normalised(sample_joints):
    joints = sample_joints["dataset-1_run_active_001"]
    np.testing.assert_allclose(F.joints_to_features(joints * 1.15), F.joints_to_features(joints), atol=1e-6)


def test_rotations_in_features_rebuild_the_positions(sample_joints):
    """The 6D block means what HumanML3D's recover_from_rot reads: forward
    kinematics of those rotations on the canonical body, rooted at the
    integrated root, lands on the same joints as the position block."""
    feats = F.joints_to_features(sample_joints["dataset-1_dance-short_normal_001"])
    yaw, root = F.root_rotation_and_position(feats)
    bones = matrix_to_quat(cont6d_to_matrix(feats[:, F.ROT6D].reshape(len(feats), 21, 6)))
    quats = np.concatenate([yaw[:, None], bones], axis=1)
    from_rotations = F.humanml3d_fk(quats, root)
    np.testing.assert_allclose(from_rotations, F.features_to_joints(feats), atol=1e-6)


def test_foot_contacts_follow_foot_speed():
    joints = np.tile(F.humanml3d_fk(np.tile([1.0, 0, 0, 0], (1, 22, 1)), np.array([[0, 0.9, 0]])), (10, 1, 1))
    joints[5:, sk.LEFT_FOOT_JOINTS[0], 2] += np.arange(5)[:, None].ravel() * 0.2  # left ankle slides
    contacts = F.foot_contacts(joints)
    assert contacts[:4, 0].all() and not contacts[5:, 0].any()
    assert contacts[:, 2:].all()


def test_gaussian_smooth_matches_direct_sum():
    x = np.random.default_rng(0).normal(size=(40, 3))
    sigma = 3.0
    radius = int(4 * sigma + 0.5)
    idx = np.clip(np.arange(40)[:, None] + np.arange(-radius, radius + 1)[None], 0, 39)
    w = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    expected = (x[idx] * (w / w.sum())[None, :, None]).sum(1)
    np.testing.assert_allclose(F.gaussian_smooth(x, sigma), expected, atol=1e-12)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((10, 21, 3)), "shape"),
    (np.zeros((1, 22, 3)), "at least 2 frames"),
    (np.full((5, 22, 3), np.nan), "NaN"),
])
def test_bad_joints_are_rejected(bad, message):
    with pytest.raises(MotionShapeError, match=message):
        F.joints_to_features(bad)


def test_bad_features_are_rejected():
    with pytest.raises(MotionShapeError, match="263"):
        F.features_to_joints(np.zeros((5, 262)))


def test_cont6d_layout_is_first_two_matrix_columns():
    q = np.array([np.cos(0.3), 0.0, 0.0, np.sin(0.3)])  # rotation about Z
    d6 = quat_to_cont6d(q)
    np.testing.assert_allclose(d6[:3], [np.cos(0.6), np.sin(0.6), 0.0], atol=1e-12)
    np.testing.assert_allclose(d6[3:], [-np.sin(0.6), np.cos(0.6), 0.0], atol=1e-12)

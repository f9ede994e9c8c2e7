import numpy as np

from engine.motion import skeleton as sk


def test_parents_come_before_children_and_match_chains():
    assert sk.PARENTS[0] == -1
    assert all(sk.PARENTS[j] < j for j in range(1, sk.NUM_JOINTS))
    for chain in sk.KINEMATIC_CHAINS:
        for parent, child in zip(chain[:-1], chain[1:]):
            assert sk.PARENTS[child] == parent


def test_left_is_plus_x_and_body_faces_plus_z():
    rest = sk.rest_joint_positions(sk.T_POSE_OFFSETS_M)
    assert rest[sk.JOINT_INDEX["left_hip"], 0] > 0 > rest[sk.JOINT_INDEX["right_hip"], 0]
    assert rest[sk.JOINT_INDEX["left_wrist"], 0] > 0.5
    assert rest[sk.JOINT_INDEX["left_foot"], 2] > rest[sk.JOINT_INDEX["left_ankle"], 2]
    assert rest[sk.JOINT_INDEX["head"], 1] > 0.5


def test_canonical_adult_height_is_plausible():
    # joints, not skin: hip-to-ankle about 0.8 m, ankle-to-head-centre about 1.35 m
    rest = sk.rest_joint_positions(sk.T_POSE_OFFSETS_M)
    assert 0.75 < -rest[:, 1].min() < 0.9
    assert 1.25 < rest[:, 1].max() - rest[:, 1].min() < 1.5
    assert 1.4 < rest[:, 0].max() - rest[:, 0].min() < 1.8  # arm span between wrists


def test_mirror_permutation_swaps_names():
    for j, name in enumerate(sk.JOINT_NAMES):
        twin = sk.JOINT_NAMES[sk.MIRROR_PERMUTATION[j]]
        assert twin == name.replace("left", "#").replace("right", "left").replace("#", "right")
    np.testing.assert_array_equal(sk.MIRROR_PERMUTATION[sk.MIRROR_PERMUTATION], np.arange(sk.NUM_JOINTS))


def test_tables_are_read_only():
    import pytest
    with pytest.raises(ValueError):
        sk.PARENTS[0] = 3

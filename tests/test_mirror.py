import numpy as np

from engine.motion import features as F
from engine.motion import skeleton as sk
from engine.motion.mirror import mirror_features, mirror_joints, mirror_text


def test_mirror_twice_is_identity(sample_joints):
    joints = sample_joints["dataset-2_wave-both-hands_active_001"]
    np.testing.assert_array_equal(mirror_joints(mirror_joints(joints)), joints)
    feats = F.joints_to_features(joints)
    np.testing.assert_array_equal(mirror_features(mirror_features(feats)), feats)


def test_feature_mirror_equals_mirrored_joints(sample_joints):
    for clip in ("dataset-2_raise-up-left-hand_active_001", "dataset-2_walk-turn-right_active_002"):
        joints = sample_joints[clip]
        np.testing.assert_allclose(mirror_features(F.joints_to_features(joints)),
                                   F.joints_to_features(mirror_joints(joints)), atol=1e-6)


def test_mirrored_left_hand_raise_raises_the_right_hand(sample_joints):
    joints = F.canonicalize(mirror_joints(sample_joints["dataset-2_raise-up-left-hand_active_001"]))
    left, right = sk.JOINT_INDEX["left_wrist"], sk.JOINT_INDEX["right_wrist"]
    assert joints[:, right, 1].max() > joints[:, left, 1].max() + 0.5


def test_mirrored_turn_turns_the_other_way(sample_joints):
    joints = F.canonicalize(sample_joints["dataset-2_walk-turn-left_active_001"])
    mirrored = F.canonicalize(mirror_joints(sample_joints["dataset-2_walk-turn-left_active_001"]))
    assert joints[-1, 0, 0] > 1.0 and mirrored[-1, 0, 0] < -1.0


def test_mirror_text_swaps_sides_and_keeps_case():
    assert mirror_text("A person raises the Left hand and turns right.") == \
        "A person raises the Right hand and turns left."
    assert mirror_text("spins clockwise") == "spins counterclockwise"
    assert mirror_text("a bright light") == "a bright light"

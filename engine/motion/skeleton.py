"""The one definition of the 22-joint SMPL / HumanML3D ("t2m") skeleton.

Every other module (features, rotations, BVH export, dataset building, the
Blender add-on's retargeting) reads joint order, parents, rest offsets and the
frame rate from here, so that a motion token means the same thing everywhere.

Conventions (those of HumanML3D): right-handed, Y up, the body faces +Z in the
rest pose, so the actor's left is +X. Units are metres.
"""
from __future__ import annotations

import numpy as np

FPS: float = 20.0
"""Frame rate of every motion the model reads or writes."""

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
NUM_JOINTS: int = len(JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

KINEMATIC_CHAINS: tuple[tuple[int, ...], ...] = (
    (0, 2, 5, 8, 11),       # right leg
    (0, 1, 4, 7, 10),       # left leg
    (0, 3, 6, 9, 12, 15),   # spine, neck, head
    (9, 14, 17, 19, 21),    # right arm
    (9, 13, 16, 18, 20),    # left arm
)


def _parents_from_chains(chains: tuple[tuple[int, ...], ...], n: int) -> np.ndarray:
    parents = np.full(n, -1, dtype=np.int64)
    for chain in chains:
        for parent, child in zip(chain[:-1], chain[1:]):
            parents[child] = parent
    return parents


PARENTS: np.ndarray = _parents_from_chains(KINEMATIC_CHAINS, NUM_JOINTS)
PARENTS.setflags(write=False)

RAW_OFFSET_DIRECTIONS: np.ndarray = np.array([
    [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0],
    [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1],
    [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, -1, 0], [0, -1, 0],
    [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
], dtype=np.float64)
"""Unit rest direction of each bone (parent -> joint), as in HumanML3D's
``t2m_raw_offsets``. Note that the arms point down (-Y) here: HumanML3D's
inverse kinematics measures every bone against these directions."""
RAW_OFFSET_DIRECTIONS.setflags(write=False)

BONE_LENGTHS_M: np.ndarray = np.array([
    0.0,                     # pelvis (root)
    0.108, 0.108,            # hips
    0.115,                   # spine1
    0.392, 0.392,            # knees
    0.140,                   # spine2
    0.418, 0.418,            # ankles
    0.058,                   # spine3
    0.139, 0.139,            # feet (ball of the foot)
    0.225,                   # neck
    0.151, 0.151,            # collars
    0.085,                   # head
    0.133, 0.133,            # shoulders
    0.260, 0.260,            # elbows
    0.268, 0.268,            # wrists
], dtype=np.float64)
"""Bone lengths of the canonical adult (about 1.7 m tall, SMPL-neutral
proportions). Features are always computed on this skeleton ("uniform
skeleton" in HumanML3D), so motions of any body size share one vocabulary."""
BONE_LENGTHS_M.setflags(write=False)

CANONICAL_OFFSETS_M: np.ndarray = RAW_OFFSET_DIRECTIONS * BONE_LENGTHS_M[:, None]
"""Rest offset of each joint from its parent in metres: HumanML3D's target
skeleton layout (each bone along its raw direction, canonical length)."""
CANONICAL_OFFSETS_M.setflags(write=False)

T_POSE_DIRECTIONS: np.ndarray = RAW_OFFSET_DIRECTIONS.copy()
T_POSE_DIRECTIONS[[16, 18, 20]] = (1.0, 0.0, 0.0)
T_POSE_DIRECTIONS[[17, 19, 21]] = (-1.0, 0.0, 0.0)
T_POSE_DIRECTIONS[15] = (0.0, 1.0, 0.0)  # head straight up (HumanML3D's raw table points it forward)
T_POSE_DIRECTIONS.setflags(write=False)

T_POSE_OFFSETS_M: np.ndarray = T_POSE_DIRECTIONS * BONE_LENGTHS_M[:, None]
"""Rest offsets of a T-pose (arms straight out to the sides, head up): the rest pose
of the joint rotations handed to the add-on and written to BVH, because
animators and retargeting tools expect a T-pose as the zero pose."""
T_POSE_OFFSETS_M.setflags(write=False)

FACE_JOINTS: tuple[int, int, int, int] = (2, 1, 17, 16)
"""(right hip, left hip, right shoulder, left shoulder): used to find which
way the body faces (HumanML3D's ``face_joint_indx``)."""

LEFT_FOOT_JOINTS: tuple[int, int] = (7, 10)    # left ankle, left foot
RIGHT_FOOT_JOINTS: tuple[int, int] = (8, 11)   # right ankle, right foot
FOOT_JOINTS: tuple[int, ...] = LEFT_FOOT_JOINTS + RIGHT_FOOT_JOINTS
LEG_LENGTH_JOINTS: tuple[int, int] = (5, 8)    # right knee, right ankle (HumanML3D l_idx1, l_idx2)


def _mirror_permutation() -> np.ndarray:
    swap = {"left_": "right_", "right_": "left_"}
    perm = []
    for name in JOINT_NAMES:
        for a, b in swap.items():
            if name.startswith(a):
                name = b + name[len(a):]
                break
        perm.append(JOINT_INDEX[name])
    return np.asarray(perm, dtype=np.int64)


MIRROR_PERMUTATION: np.ndarray = _mirror_permutation()
"""``joints[:, MIRROR_PERMUTATION]`` swaps every left joint with its right twin."""
MIRROR_PERMUTATION.setflags(write=False)


def children_of(joint: int) -> list[int]:
    return [int(c) for c in np.flatnonzero(PARENTS == joint)]


def rest_joint_positions(offsets: np.ndarray = CANONICAL_OFFSETS_M,
                         parents: np.ndarray = PARENTS) -> np.ndarray:
    """World positions of the rest pose (root at the origin)."""
    pos = np.zeros((len(parents), 3))
    for j in range(1, len(parents)):
        pos[j] = pos[parents[j]] + offsets[j]
    return pos


def leg_length(offsets: np.ndarray = CANONICAL_OFFSETS_M) -> float:
    """Knee-to-ankle plus hip-to-knee scale used to scale root motion between
    bodies (same measure as HumanML3D's uniform_skeleton)."""
    a, b = LEG_LENGTH_JOINTS
    return float(np.abs(offsets[a]).max() + np.abs(offsets[b]).max())

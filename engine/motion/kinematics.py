"""Forward kinematics for any tree skeleton, vectorised over frames."""
from __future__ import annotations

import numpy as np

from .quaternion import qmul, qrot


def forward_kinematics(local_quats: np.ndarray, root_pos: np.ndarray,
                       offsets: np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World joint positions and rotations.

    local_quats: (..., J, 4) rotation of each joint relative to its parent
    (the root's is its world rotation); root_pos: (..., 3); offsets: (J, 3)
    rest offset of each joint from its parent in the parent's frame; parents:
    (J,) with -1 for the root, every parent listed before its children.
    Returns positions (..., J, 3) and world quaternions (..., J, 4).
    """
    local_quats = np.asarray(local_quats, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.float64)
    n = local_quats.shape[-2]
    positions = np.zeros(local_quats.shape[:-1] + (3,))
    world = np.zeros_like(local_quats)
    for j in range(n):
        p = parents[j]
        if p < 0:
            world[..., j, :] = local_quats[..., j, :]
            positions[..., j, :] = root_pos
        else:
            if p >= j:
                raise ValueError(f"joint {j} is listed before its parent {p}; sort the skeleton parents-first")
            world[..., j, :] = qmul(world[..., p, :], local_quats[..., j, :])
            positions[..., j, :] = positions[..., p, :] + qrot(world[..., p, :], offsets[j])
    return positions, world


def bone_lengths(positions: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Length of every bone per frame, (..., J); the root's is 0."""
    parents = np.asarray(parents)
    safe = np.where(parents < 0, np.arange(len(parents)), parents)
    return np.linalg.norm(positions - positions[..., safe, :], axis=-1)

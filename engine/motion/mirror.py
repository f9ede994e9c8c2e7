"""Left/right mirroring, used to double the training data.

Mirroring reflects the world in the YZ plane (x -> -x) and swaps every left
joint with its right twin; it is its own inverse. Captions get "left" and
"right" swapped so they still describe the mirrored motion.
"""
from __future__ import annotations

import re

import numpy as np

from . import features as F
from . import skeleton as sk

_REFLECT = np.array([-1.0, 1.0, 1.0])
_FEET_SWAP = np.array([2, 3, 0, 1])


def mirror_joints(joints: np.ndarray) -> np.ndarray:
    """(..., 22, 3) positions -> mirrored positions."""
    return np.asarray(joints)[..., sk.MIRROR_PERMUTATION, :] * _REFLECT


def mirror_features(features: np.ndarray) -> np.ndarray:
    """Mirror 263-dim features directly, equal to featurising mirrored joints.

    Bone rotations R become M R M with M = diag(-1, 1, 1); in the stored 6D
    columns that flips (y, z) of column 0 and x of column 1.
    """
    feats = np.asarray(features, dtype=np.float64)
    out = feats.copy()
    lead = feats.shape[:-1]
    perm = sk.MIRROR_PERMUTATION[1:] - 1
    out[..., F.ROOT_YAW_VEL] = -feats[..., F.ROOT_YAW_VEL]
    out[..., 1] = -feats[..., 1]
    ric = feats[..., F.RIC].reshape(lead + (sk.NUM_JOINTS - 1, 3))
    out[..., F.RIC] = (ric[..., perm, :] * _REFLECT).reshape(lead + (-1,))
    rot = feats[..., F.ROT6D].reshape(lead + (sk.NUM_JOINTS - 1, 6))[..., perm, :]
    out[..., F.ROT6D] = (rot * np.array([1.0, -1.0, -1.0, -1.0, 1.0, 1.0])).reshape(lead + (-1,))
    vel = feats[..., F.LOCAL_VEL].reshape(lead + (sk.NUM_JOINTS, 3))
    out[..., F.LOCAL_VEL] = (vel[..., sk.MIRROR_PERMUTATION, :] * _REFLECT).reshape(lead + (-1,))
    out[..., F.FOOT_CONTACT] = feats[..., F.FOOT_CONTACT][..., _FEET_SWAP]
    return out


_SIDE_WORDS = {"left": "right", "right": "left", "clockwise": "counterclockwise",
               "counterclockwise": "clockwise", "counter-clockwise": "clockwise",
               "anticlockwise": "clockwise", "anti-clockwise": "clockwise"}
_SIDE_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _SIDE_WORDS), key=len, reverse=True)) + r")\b",
                      re.IGNORECASE)


def mirror_text(text: str) -> str:
    """Swap side words ("left" <-> "right", turning direction), keeping case."""
    def swap(match: re.Match) -> str:
        word = match.group(0)
        new = _SIDE_WORDS[word.lower()]
        return new.capitalize() if word[0].isupper() else new
    return _SIDE_RE.sub(swap, text)

"""The one shape every motion source is read into before features are made."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SourceClip:
    """One clip from any source (the shared mocap, a BVH library, ...):
    (T, 22, 3) joint positions in metres, Y up, 20 fps, with its captions
    and labels; the dataset builder needs nothing else to know of where it came from."""
    clip_id: str
    split: str
    captions: list[str]
    labels: dict
    joints: np.ndarray

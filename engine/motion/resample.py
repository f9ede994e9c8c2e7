"""Change the frame rate of a motion by time, not by frame index.

Output frame k sits at time k / dst_fps; positions are interpolated linearly
and rotations with slerp, the way the shared data was resampled from 30 fps.
"""
from __future__ import annotations

import numpy as np

from .quaternion import qfix, slerp


def resample_times(num_frames: int, src_fps: float, dst_fps: float) -> np.ndarray:
    """Fractional source-frame positions of each output frame, up to the last
    whole output frame that lies inside the source clip."""
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"frame rates must be positive, got {src_fps} and {dst_fps}")
    duration = (num_frames - 1) / src_fps
    count = int(np.floor(duration * dst_fps + 1e-6)) + 1
    return np.arange(count) * (src_fps / dst_fps)


def resample_linear(values: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Resample along axis 0 with linear interpolation."""
    values = np.asarray(values, dtype=np.float64)
    if src_fps == dst_fps:
        return values.copy()
    t = resample_times(len(values), src_fps, dst_fps)
    i0 = np.clip(np.floor(t).astype(int), 0, len(values) - 1)
    i1 = np.minimum(i0 + 1, len(values) - 1)
    w = (t - i0).reshape((-1,) + (1,) * (values.ndim - 1))
    return values[i0] * (1.0 - w) + values[i1] * w


def resample_quats(quats: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Resample (T, ..., 4) quaternions along axis 0 with slerp."""
    quats = qfix(np.asarray(quats, dtype=np.float64), axis=0)
    if src_fps == dst_fps:
        return quats
    t = resample_times(len(quats), src_fps, dst_fps)
    i0 = np.clip(np.floor(t).astype(int), 0, len(quats) - 1)
    i1 = np.minimum(i0 + 1, len(quats) - 1)
    w = (t - i0).reshape((-1,) + (1,) * (quats.ndim - 2))
    return slerp(quats[i0], quats[i1], np.broadcast_to(w, quats[i0].shape[:-1]))

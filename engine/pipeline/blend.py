"""Bending generated frames so they meet given key frames smoothly.

The model answers on a 4-frame token grid, on the canonical body and after
a VQ round trip, so its frames never hit the animator's keys exactly. Given
the generated window from a start key (index 0) to an end key (index L), and
the input's pose and velocity at those keys, :func:`correct_window` adds a
correction that is

* the key offset itself at each key (root position offset, and a per-joint
  rotation delta ``input * inverse(generated)``), spread across the window
  with smoothstep weights (flat at both ends, so it adds no velocity there);
* plus a velocity term at each key, ``dv * g(distance from the key)`` with
  ``g(0) = 0``, ``g(1) = 1`` and ``g`` back to 0 (flat) after ``blend``
  frames, that makes the first generated step equal the input's last step
  (root: linear velocity; joints: the frame-to-frame rotation, in the
  tangent space of the rotation group).

So frame 0 and frame L equal the keys (to rounding; the callers then copy
the keys bit-exactly) and the first difference across each key equals the
input's: no jump in pose or velocity at either key. With no end key the
offset fades out over ``blend`` frames instead (used to continue a motion).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion.quaternion import qfix, qinv, qmul, qnormalize, slerp


@dataclass
class Key:
    """The input at a key: pose (J, 4) + root (3,), and the input's step
    across the key from the side outside the window: ``step_quats``
    (rotation per frame, left-multiplied: ``q[next] = step * q[prev]``) and
    ``step_root`` (metres per frame); None: no velocity condition at this key."""
    quats: np.ndarray
    root: np.ndarray
    step_quats: np.ndarray | None = None
    step_root: np.ndarray | None = None


def smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def velocity_profile(x: np.ndarray, blend: int) -> np.ndarray:
    """g(x) = x (1 - x/B)^2 / g(1) on [0, B], 0 elsewhere: g(0) = 0, g(1) = 1
    exactly (the first step carries the whole velocity difference), flat at B."""
    x = np.asarray(x, dtype=np.float64)
    if blend < 2:
        return np.zeros_like(x)
    g = np.where((x >= 0) & (x <= blend), x * (1.0 - x / blend) ** 2, 0.0)
    return g / (1.0 - 1.0 / blend) ** 2


def qlog(q: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, radians) of unit quaternions, shortest way."""
    q = qnormalize(q)
    q = np.where(q[..., :1] < 0, -q, q)
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., :1])
    scale = np.where(s > 1e-12, angle / np.maximum(s, 1e-12), 2.0)
    return v * scale


def qexp(r: np.ndarray) -> np.ndarray:
    """Unit quaternion of a rotation vector."""
    r = np.asarray(r, dtype=np.float64)
    angle = np.linalg.norm(r, axis=-1, keepdims=True)
    half = angle / 2.0
    scale = np.where(angle > 1e-12, np.sin(half) / np.maximum(angle, 1e-12), 0.5)
    return np.concatenate([np.cos(half), r * scale], axis=-1)


def _conj(delta: np.ndarray, q: np.ndarray) -> np.ndarray:
    return qmul(qmul(delta, q), qinv(delta))


def correct_window(quats: np.ndarray, root: np.ndarray, start: Key, end: Key | None,
                   blend: int) -> tuple[np.ndarray, np.ndarray]:
    """Corrected copies of a generated window ``quats`` (L+1, J, 4) and
    ``root`` (L+1, 3) whose frame 0 lands on ``start`` and frame L on ``end``
    (see the module docstring). ``end`` None: the start offset fades out over
    ``blend`` frames. ``blend``: frames over which each key's velocity term
    (and, without an end key, the offset) acts."""
    quats = qfix(np.asarray(quats, dtype=np.float64), axis=0)
    root = np.asarray(root, dtype=np.float64)
    n = len(quats)
    last = n - 1
    k = np.arange(n, dtype=np.float64)
    blend = int(max(0, min(blend, last)))

    # key offsets, spread with smoothstep weights
    d_root0 = start.root - root[0]
    delta0 = qnormalize(qmul(start.quats, qinv(quats[0])))
    if end is not None and last > 0:
        w = smoothstep(k / last)
        d_root1 = end.root - root[last]
        delta1 = qnormalize(qmul(end.quats, qinv(quats[last])))
    else:
        w = smoothstep(k / blend) if blend > 0 else np.ones(n)
        d_root1 = np.zeros(3)
        delta1 = np.zeros_like(delta0)
        delta1[..., 0] = 1.0
    out_root = root + (1.0 - w)[:, None] * d_root0 + w[:, None] * d_root1
    delta = slerp(np.broadcast_to(delta0, quats.shape), np.broadcast_to(delta1, quats.shape),
                  np.broadcast_to(w[:, None], quats.shape[:-1]))

    # velocity terms: make the first step across each key equal the input's
    tangent = np.zeros(quats.shape[:-1] + (3,))
    if start.step_root is not None and n > 1:
        g0 = velocity_profile(k, blend)
        gen_step = root[1] - root[0]
        out_root += g0[:, None] * (start.step_root - gen_step)
        gen_rot_step = _conj(delta0, qmul(quats[1], qinv(quats[0])))
        omega0 = qlog(qmul(start.step_quats, qinv(gen_rot_step)))
        tangent += g0[:, None, None] * omega0
    if end is not None and end.step_root is not None and n > 1:
        g1 = velocity_profile(last - k, blend)
        gen_step = root[last] - root[last - 1]
        out_root -= g1[:, None] * (end.step_root - gen_step)
        gen_rot_step = _conj(delta1, qmul(quats[last], qinv(quats[last - 1])))
        omega1 = qlog(qmul(qinv(gen_rot_step), end.step_quats))
        tangent -= g1[:, None, None] * omega1
    out_quats = qfix(qnormalize(qmul(qexp(tangent), qmul(delta, quats))), axis=0)
    # same sign as the start key, so the frames before and after it read continuously
    flip = (out_quats[0] * start.quats).sum(-1) < 0
    out_quats[:, flip] *= -1.0
    return out_quats, out_root


def key_from(quats: np.ndarray, root: np.ndarray, frame: int, side: int) -> Key:
    """The Key at ``frame`` of an input motion, with its step from the
    neighbour on ``side`` (-1: the frame before, +1: the frame after). Steps
    are expressed as going forward in time. A key at the edge of the input
    (the first key of an animator's action, say) has no neighbour there: it
    is taken as held (zero step), so the motion eases out of it as Blender's
    own curves do from an end key, instead of leaving it at whatever speed
    the model's first frames happen to have."""
    q, r = quats[frame], root[frame]
    other = frame + side
    if 0 <= other < len(quats):
        if side < 0:
            step_q = qmul(q, qinv(quats[other]))
            step_r = r - root[other]
        else:
            step_q = qmul(quats[other], qinv(q))
            step_r = root[other] - r
        return Key(q, r, step_q, step_r)
    held = np.zeros_like(q)
    held[..., 0] = 1.0
    return Key(q, r, held, np.zeros_like(r))

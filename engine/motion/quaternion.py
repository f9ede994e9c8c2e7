"""Rotation maths on numpy arrays, vectorised over any leading shape.

Quaternions are (w, x, y, z), unit length, and act on column vectors:
``qrot(q, v)`` rotates v by q, and ``qmul(a, b)`` applies b first, then a.
Euler orders are written as the BVH channel order, e.g. "ZXY" means
R = Rz(z) @ Rx(x) @ Ry(y) (intrinsic Z, then X, then Y).
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-12
_AXIS = {"X": 0, "Y": 1, "Z": 2}


def qnormalize(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), _EPS)


def qidentity(shape: tuple[int, ...] = ()) -> np.ndarray:
    q = np.zeros(tuple(shape) + (4,))
    q[..., 0] = 1.0
    return q


def qinv(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion (its conjugate)."""
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    w = q[..., :1]
    u = q[..., 1:]
    uv = np.cross(u, v)
    return v + 2.0 * (w * uv + np.cross(u, uv))


def qbetween(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """Shortest-arc rotation taking direction v0 onto direction v1.

    Same formula as HumanML3D's ``qbetween_np`` so features match it bit for
    bit; opposite vectors fall back to a half turn about a perpendicular axis.
    """
    v0 = np.asarray(v0, dtype=np.float64)
    v1 = np.asarray(v1, dtype=np.float64)
    v0, v1 = np.broadcast_arrays(v0, v1)
    axis = np.cross(v0, v1)
    w = np.sqrt((v0 ** 2).sum(-1, keepdims=True) * (v1 ** 2).sum(-1, keepdims=True)) + (v0 * v1).sum(-1, keepdims=True)
    q = np.concatenate([w, axis], axis=-1)
    degenerate = np.linalg.norm(q, axis=-1) < 1e-9
    if np.any(degenerate):
        d0 = v0[degenerate]
        helper = np.where(np.abs(d0[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        perp = np.cross(d0, helper)
        q[degenerate] = np.concatenate([np.zeros((len(perp), 1)), perp], axis=-1)
    return qnormalize(q)


def qfix(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along a time axis so consecutive quaternions stay in one
    hemisphere (q and -q are the same rotation; interpolation needs one)."""
    q = np.moveaxis(np.array(q, dtype=np.float64), axis, 0)
    if len(q) < 2:
        return np.moveaxis(q, 0, axis)
    dots = (q[1:] * q[:-1]).sum(-1)
    flips = np.cumsum(dots < 0, axis=0) % 2
    sign = np.concatenate([np.ones_like(flips[:1]), 1 - 2 * flips], axis=0)
    return np.moveaxis(q * sign[..., None], 0, axis)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    q = qnormalize(q)
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Rotation matrices to unit quaternions with w >= 0 (Shepperd's method,
    choosing the largest pivot so it is stable for every rotation)."""
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    candidates = np.stack([
        np.stack([1 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 - m00 + m11 - m22, m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 - m00 - m11 + m22], -1),
    ], axis=-2)
    pivot = np.argmax(np.stack([trace, m00, m11, m22], -1), axis=-1)
    q = np.take_along_axis(candidates, pivot[..., None, None], axis=-2)[..., 0, :]
    q = qnormalize(q)
    return q * np.where(q[..., :1] < 0, -1.0, 1.0)


def quat_to_cont6d(q: np.ndarray) -> np.ndarray:
    """First two columns of the rotation matrix (HumanML3D's 6D layout:
    column 0 then column 1)."""
    m = quat_to_matrix(q)
    return np.concatenate([m[..., 0], m[..., 1]], axis=-1)


def cont6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    """Gram-Schmidt the two stored columns back into a rotation matrix."""
    d6 = np.asarray(d6, dtype=np.float64)
    a, b = d6[..., :3], d6[..., 3:]
    x = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), _EPS)
    z = np.cross(x, b)
    z = z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), _EPS)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def axis_angle_to_quat(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), _EPS)
    half = np.asarray(angle, dtype=np.float64)[..., None] / 2.0
    return np.concatenate([np.cos(half) * np.ones_like(axis[..., :1]), np.sin(half) * axis], axis=-1)


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """Unit quaternions to rotation vectors (axis * angle, radians, angle in
    [0, pi]): the axis-angle form SMPL-family files store. Small angles use
    the series of angle / sin(angle / 2), so identity gives exactly zero."""
    q = qnormalize(q)
    q = q * np.where(q[..., :1] < 0, -1.0, 1.0)
    xyz = q[..., 1:]
    s = np.linalg.norm(xyz, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., :1])
    small = s < 1e-8
    scale = np.where(small, 2.0 / np.maximum(q[..., :1], _EPS), angle / np.where(small, 1.0, s))
    return xyz * scale


def _check_order(order: str) -> tuple[int, int, int]:
    order = order.upper()
    if len(order) != 3 or sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"rotation order must be a permutation of XYZ, got {order!r}")
    return _AXIS[order[0]], _AXIS[order[1]], _AXIS[order[2]]


def euler_to_quat(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """Angles (..., 3) in degrees, listed in ``order``, to quaternions."""
    axes = _check_order(order)
    angles = np.radians(np.asarray(angles_deg, dtype=np.float64))
    q = qidentity(angles.shape[:-1])
    for k, axis in enumerate(axes):
        half = angles[..., k] / 2.0
        qk = np.zeros(angles.shape[:-1] + (4,))
        qk[..., 0] = np.cos(half)
        qk[..., 1 + axis] = np.sin(half)
        q = qmul(q, qk)
    return q


def matrix_to_euler(m: np.ndarray, order: str) -> np.ndarray:
    """Rotation matrices to angles in degrees (listed in ``order``) such that
    R = R_order[0](a) @ R_order[1](b) @ R_order[2](c)."""
    i, j, k = _check_order(order)
    m = np.asarray(m, dtype=np.float64)
    s = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    sin_b = np.clip(s * m[..., i, k], -1.0, 1.0)
    b = np.arcsin(sin_b)
    a = np.arctan2(-s * m[..., j, k], m[..., k, k])
    c = np.arctan2(-s * m[..., i, j], m[..., i, i])
    locked = np.abs(sin_b) > 1.0 - 1e-10
    if np.any(locked):
        a = np.where(locked, np.arctan2(s * m[..., k, j], m[..., j, j]), a)
        c = np.where(locked, 0.0, c)
    return np.degrees(np.stack([a, b, c], axis=-1))


def quat_to_euler(q: np.ndarray, order: str) -> np.ndarray:
    return matrix_to_euler(quat_to_matrix(q), order)


def unwrap_degrees(angles: np.ndarray, axis: int = 0) -> np.ndarray:
    """Remove 360-degree jumps between frames so F-curves stay continuous."""
    return np.degrees(np.unwrap(np.radians(angles), axis=axis))


def slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation; t broadcasts against the leading shape."""
    q0 = qnormalize(q0)
    q1 = qnormalize(q1)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = (q0 * q1).sum(-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6
    safe = np.where(near, 1.0, sin_theta)
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(near, t, np.sin(t * theta) / safe)
    return qnormalize(w0 * q0 + w1 * q1)


def quat_angle(q: np.ndarray) -> np.ndarray:
    """Rotation angle in radians (0..pi) of each quaternion."""
    q = qnormalize(q)
    return 2.0 * np.arccos(np.clip(np.abs(q[..., 0]), -1.0, 1.0))


def twist_about_y(q: np.ndarray) -> np.ndarray:
    """The part of each rotation about the vertical axis (swing-twist split):
    the heading a tilted frame keeps. A rotation with no twist to speak of
    (a half turn about a level axis) gives the identity."""
    q = np.asarray(q, dtype=np.float64)
    twist = np.zeros_like(q)
    twist[..., 0] = q[..., 0]
    twist[..., 2] = q[..., 2]
    norm = np.linalg.norm(twist, axis=-1, keepdims=True)
    return np.where(norm > 1e-6, twist / np.maximum(norm, _EPS), qidentity(q.shape[:-1]))

"""Rotation channels in the bone's own rotation mode (pure numpy, no bpy).

The add-on never changes a bone's ``rotation_mode``: a user's Euler keys
would stay in the action but stop driving the bone, so the pose at frames
nobody asked to change would move. Instead every solved rotation (a
quaternion of ``matrix_basis``) is written in the mode the bone already has:

- ``QUATERNION``: (w, x, y, z), signs continuous over time;
- an Euler order (``XYZ`` ... ``ZYX``): (x, y, z) radians as Blender reads
  them (order ``XYZ`` rotates about X first: R = Rz Ry Rx), continuous over
  time: of the two Euler triples of each rotation the one nearer the
  previous frame is kept and whole turns are unwrapped, as Blender's
  ``Euler.make_compatible`` does value by value -- here for all frames at once;
- ``AXIS_ANGLE``: (angle, x, y, z) with the axis kept on the side of the
  previous frame.

Each conversion can be pinned to a ``reference`` value (the channel just
before the written range, e.g. the key the motion continues from) so the
first written frame joins it without a flip.
"""
from __future__ import annotations

import numpy as np

from . import retarget_math as rm

QUATERNION, AXIS_ANGLE = "QUATERNION", "AXIS_ANGLE"
EULER_ORDERS = rm.EULER_ORDERS

ROTATION_PROPERTY: dict[str, tuple[str, int]] = {
    QUATERNION: ("rotation_quaternion", 4),
    AXIS_ANGLE: ("rotation_axis_angle", 4),
    **{order: ("rotation_euler", 3) for order in EULER_ORDERS},
}
"""Blender's pose-bone property and channel count for each rotation mode."""

_TWO_PI = 2.0 * np.pi


def rotation_property(mode: str) -> tuple[str, int]:
    """(property name, number of channels) that hold a bone's rotation."""
    try:
        return ROTATION_PROPERTY[mode]
    except KeyError:
        raise rm.RetargetError(f"unknown rotation mode {mode!r}") from None


# ---------------------------------------------------------------------------
# Euler angles

def _order_axes(order: str) -> tuple[int, int, int, bool]:
    """Axis indices (first, second, third applied) and whether the order is
    an odd permutation of XYZ."""
    if order not in EULER_ORDERS:
        raise rm.RetargetError(f"unknown Euler order {order!r}")
    i, j, k = ("XYZ".index(c) for c in order)
    odd = (j - i) % 3 != 1
    return i, j, k, odd


def matrix_to_euler(m: np.ndarray, order: str = "XYZ") -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 3) Euler angles (x, y, z) in radians,
    the branch whose middle angle lies in [-pi/2, pi/2]; inverse of
    :func:`retarget_math.euler_to_matrix`."""
    m = np.asarray(m, dtype=np.float64)
    i, j, k, odd = _order_axes(order)
    sign = -1.0 if odd else 1.0
    # R = R_k(c) R_j(b) R_i(a): the (k, i) entry is -sign * sin(b)
    b = np.arcsin(np.clip(-sign * m[..., k, i], -1.0, 1.0))
    cos_b = np.sqrt(m[..., k, j] ** 2 + m[..., k, k] ** 2)
    regular = cos_b > 1e-9
    a = np.where(regular, np.arctan2(sign * m[..., k, j], m[..., k, k]),
                 np.arctan2(-sign * m[..., j, k], m[..., j, j]))
    c = np.where(regular, np.arctan2(sign * m[..., j, i], m[..., i, i]), 0.0)
    out = np.empty(m.shape[:-2] + (3,))
    out[..., i], out[..., j], out[..., k] = a, b, c
    return out


def euler_alternative(euler: np.ndarray, order: str) -> np.ndarray:
    """The other Euler triple of the same rotation: (a + pi, pi - b, c + pi)
    in the order's first, middle and last axes."""
    i, j, k, _ = _order_axes(order)
    alt = np.array(euler, dtype=np.float64, copy=True)
    alt[..., i] += np.pi
    alt[..., j] = np.pi - alt[..., j]
    alt[..., k] += np.pi
    return alt


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles folded into (-pi, pi]."""
    return angle - _TWO_PI * np.round(angle / _TWO_PI)


def _nearest_turns(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``values`` shifted by whole turns (per channel) to lie nearest ``target``."""
    return values + _TWO_PI * np.round((target - values) / _TWO_PI)


def euler_continuous(m: np.ndarray, order: str, reference: np.ndarray | None = None) -> np.ndarray:
    """(T, 3, 3) rotations over time -> (T, 3) Euler angles without flips.

    Per frame both Euler triples are known; between consecutive frames the
    canonical and the alternative triple change by the same amounts, so
    whether to switch branch depends only on the canonical sequence: switch
    where the other branch is nearer (a gimbal crossing). The branch of each
    frame is the running parity of the switches; then whole turns are
    unwrapped along time. ``reference`` (3,): the value just before frame 0
    (an existing key); the first frame takes the triple nearest it."""
    canon = matrix_to_euler(m, order)
    if len(canon) == 0:
        return canon
    alt = euler_alternative(canon, order)
    same = np.abs(_wrap(np.diff(canon, axis=0))).sum(-1)
    switch = np.abs(_wrap(alt[1:] - canon[:-1])).sum(-1) < same - 1e-9
    parity = np.concatenate([[False], np.cumsum(switch) % 2 == 1])
    if reference is not None:
        ref = np.asarray(reference, dtype=np.float64)
        far = np.abs(_wrap(alt[0] - ref)).sum() < np.abs(_wrap(canon[0] - ref)).sum() - 1e-9
        parity = parity ^ far
    chosen = np.where(parity[:, None], alt, canon)
    chosen = np.unwrap(chosen, axis=0)
    start = chosen[0] if reference is None else np.asarray(reference, dtype=np.float64)
    return chosen + (_nearest_turns(chosen[0], start) - chosen[0])


# ---------------------------------------------------------------------------
# axis-angle

def quat_to_axis_angle(q: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """(T, 4) quaternions over time -> (T, 4) Blender axis-angle (angle, x, y, z).

    Continuous over time: quaternion signs are made continuous first; where
    the rotation passes through the identity the axis would flip, so the
    axis is kept on the previous frame's side and the angle goes negative
    instead; where the axis is undefined (the identity itself) the previous
    frame's axis is kept. ``reference`` (4,): the axis-angle value just
    before frame 0, which the first frame is made to agree with."""
    q = np.asarray(q, dtype=np.float64)
    if len(q) == 0:
        return np.zeros((0, 4))
    ref_q = ref_axis = None
    if reference is not None:
        ref = np.asarray(reference, dtype=np.float64)
        ref_axis = rm.normalize(ref[1:])
        ref_q = rm.quat_from_axis_angle(ref_axis, ref[0])
    q = rm.quat_continuity(rm.quat_normalize(q), ref_q)
    s = np.linalg.norm(q[:, 1:], axis=-1)
    angle = 2.0 * np.arctan2(s, q[:, 0])
    defined = s > 1e-8
    raw = np.where(defined[:, None], q[:, 1:] / np.maximum(s, 1e-12)[:, None], 0.0)
    # forward-fill the axis where it is undefined (index of the last defined frame)
    last = np.maximum.accumulate(np.where(defined, np.arange(len(q)), -1))
    fallback = ref_axis if ref_axis is not None else np.array([0.0, 1.0, 0.0])
    raw = np.where((last >= 0)[:, None], raw[np.maximum(last, 0)], fallback)
    # keep the axis on one side: a flip of the raw axis becomes a sign change of the angle
    first = 1.0 if ref_axis is None or raw[0] @ ref_axis >= 0 else -1.0
    flips = np.concatenate([[first], np.where((raw[1:] * raw[:-1]).sum(-1) < 0, -1.0, 1.0)])
    sign = np.cumprod(flips)
    angle = np.unwrap(angle * sign)             # whole turns about the same axis are the same rotation
    if reference is not None:
        angle += 2.0 * np.pi * np.round((float(reference[0]) - angle[0]) / (2.0 * np.pi))
    return np.concatenate([angle[:, None], raw * sign[:, None]], axis=-1)


# ---------------------------------------------------------------------------
# any mode

def rotation_channels(quats: np.ndarray, mode: str, reference: np.ndarray | None = None) -> np.ndarray:
    """(T, 4) ``matrix_basis`` rotations (w, x, y, z) -> (T, n) values of the
    property that holds rotation in ``mode`` (see :data:`ROTATION_PROPERTY`),
    continuous over time and with ``reference`` (the property's value just
    before the first frame, or None)."""
    quats = np.asarray(quats, dtype=np.float64)
    if mode == QUATERNION:
        return rm.quat_continuity(rm.quat_normalize(quats), reference)
    if mode == AXIS_ANGLE:
        return quat_to_axis_angle(quats, reference)
    return euler_continuous(rm.quat_to_matrix(quats), mode, reference)


def channels_to_quats(values: np.ndarray, mode: str) -> np.ndarray:
    """(T, n) values of a rotation property in ``mode`` -> (T, 4) unit quaternions."""
    values = np.asarray(values, dtype=np.float64)
    if mode == QUATERNION:
        return rm.quat_normalize(values)
    if mode == AXIS_ANGLE:
        return rm.matrix_to_quat(rm.axis_angle_to_matrix(values))
    return rm.matrix_to_quat(rm.euler_to_matrix(values, mode))

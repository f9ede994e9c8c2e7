"""A curve the animator drew, as the engine's ground path (no bpy).

The engine takes a path as ground points ``[x, z]`` in metres, Y up, in the
frame the rig's motion is read and written in (retarget_math: relative to
an origin, the rig's heading undone, Z up -> Y up). The curve is flattened
onto the ground (its height is ignored: the body stands on the floor) and
sent with the rig's leg length, so the engine walks it on the model's body
and the add-on's root scaling (rig legs / model legs) lands the walk back on
the curve, whatever the rig's size or the armature object's scale.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import retarget_math as rm

MAX_POINTS = 10_000
"""The engine's limit on a path's points; a denser curve is thinned evenly."""
MIN_LENGTH_M = 0.3
"""The engine's shortest path."""


class PathError(ValueError):
    """The curve cannot be followed; ``str()`` tells the animator why and what to do."""


def order_polyline(verts: np.ndarray, edges: np.ndarray, name: str = "the curve") -> np.ndarray:
    """The vertices (N, 3) of a mesh made from one curve, in order along it
    (a closed curve starts at its first vertex and ends on it again). A
    branching mesh or one of several pieces is refused: a path is one line."""
    verts = np.asarray(verts, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if len(verts) < 2 or len(edges) == 0:
        raise PathError(f"{name} has no length to follow; draw a curve with at least two points")
    degree = np.bincount(edges.ravel(), minlength=len(verts))
    if (degree > 2).any():
        raise PathError(f"{name} branches; a path is one line without forks")
    if (degree == 0).any():
        raise PathError(f"{name} has loose points; delete them or separate them into another object")
    neighbours: list[list[int]] = [[] for _ in verts]
    for a, b in edges:
        neighbours[a].append(int(b))
        neighbours[b].append(int(a))
    ends = np.flatnonzero(degree == 1)
    closed = len(ends) == 0
    order = [int(ends.min()) if not closed else 0]
    previous = -1
    while True:
        step = [n for n in neighbours[order[-1]] if n != previous]
        if not step or (closed and step[0] == order[0]):
            break
        previous = order[-1]
        order.append(step[0])
        if len(order) > len(verts):               # pragma: no cover - cannot happen with degree <= 2
            break
    if len(order) != len(verts):
        raise PathError(f"{name} has {len(verts)} points in several pieces; a path is one spline "
                        "(separate the others, P in Edit Mode)")
    if closed:
        order.append(order[0])
    return verts[order]


def thin(points: np.ndarray, limit: int = MAX_POINTS) -> np.ndarray:
    """At most ``limit`` points, evenly picked, the first and last kept."""
    if len(points) <= limit:
        return points
    keep = np.unique(np.round(np.linspace(0, len(points) - 1, limit)).astype(np.int64))
    return points[keep]


def ground_length(points: np.ndarray) -> float:
    """Length of a world polyline (N, 3) on the ground plane (world units)."""
    return float(np.linalg.norm(np.diff(points[:, :2], axis=0), axis=-1).sum())


def engine_path(points_world: np.ndarray, origin: np.ndarray, facing: np.ndarray, unit_scale: float,
                leg_world: float | None = None, seconds: float | None = None,
                name: str = "the curve") -> dict[str, Any]:
    """The engine's path (``{"points", "seconds"?, "leg_length"?}``) for a
    world polyline, in the frame :func:`retarget_math.world_to_engine` gives
    for ``origin`` and ``facing``; ``leg_world``: the rig's leg length in
    world units (see the module docstring)."""
    points_world = np.asarray(points_world, dtype=np.float64)
    if not np.isfinite(points_world).all():
        raise PathError(f"{name} has broken coordinates (NaN); fix its points or its object's transform")
    metres = ground_length(points_world) * unit_scale
    if metres < MIN_LENGTH_M:
        raise PathError(f"{name} is {metres:.2f} m long on the ground; a path needs at least {MIN_LENGTH_M:g} m "
                        "(a curve drawn straight up has no ground length)")
    flat = points_world.copy()
    flat[:, 2] = origin[2]
    xz = rm.world_to_engine(thin(flat), origin, facing, unit_scale)[:, [0, 2]]
    out: dict[str, Any] = {"points": np.round(xz, 5).tolist()}
    if seconds is not None:
        out["seconds"] = float(seconds)
    if leg_world is not None:
        out["leg_length"] = float(leg_world) * unit_scale
    return out

"""Follow Path: a curve object in the scene as the engine's ground path (bpy glue).

The curve is evaluated as Blender draws it (Bezier handles, NURBS order and
resolution, modifiers, its object transform and parents), as one polyline
in world space; :mod:`path_math` turns it into the engine's frame. Generate
sends it in the rig's own frame (origin: the rig's hip centre), with the
rig's leg length, so the walk lands on the curve whatever the rig's size;
Continue sends it in the frame the action is read in (origin: the armature
object), and the engine moves it to start where the action ends.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bpy
import numpy as np

from . import path_math, retarget_math as rm
from .retarget import read_rig_rest
from .rig_reader import scene_fps

START_CHARACTER = 'CHARACTER'
START_CURVE = 'CURVE'


class CurveError(Exception):
    """The curve cannot be followed (the operators turn it into a UserError)."""


@dataclass
class FollowRequest:
    path: dict[str, Any]                    # the engine's "path" parameter
    root_offset: np.ndarray | None          # world (x, y) shift of the relative root motion (Generate)
    length: float                           # ground length in world units


def curve_world_points(curve: bpy.types.Object | None, context) -> np.ndarray:
    """(N, 3) world points along ``curve``, in order from its start."""
    if curve is None:
        raise CurveError("Follow Path is on but no curve is picked; pick the curve to walk along (or turn Follow "
                         "Path off).")
    name = curve.name
    if curve.type != 'CURVE':
        raise CurveError(f"{name!r} is a {curve.type.lower()}, not a curve; pick a Bezier, NURBS or poly curve.")
    data = curve.data
    splines = len(data.splines)
    if splines == 0:
        raise CurveError(f"The curve {name!r} is empty; draw the path first.")
    if splines > 1:
        raise CurveError(f"The curve {name!r} has {splines} splines; a path is one. Separate the others (Edit Mode, "
                         "select one spline, P > Selection) or pick another curve.")
    if data.bevel_depth > 0 or data.extrude > 0 or data.bevel_mode == 'OBJECT' and data.bevel_object is not None:
        raise CurveError(f"The curve {name!r} has a bevel or extrusion, so it is a surface, not a line; use a copy "
                         "without them as the path.")
    evaluated = curve.evaluated_get(context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    try:
        verts = np.empty(len(mesh.vertices) * 3)
        mesh.vertices.foreach_get("co", verts)
        edges = np.empty(len(mesh.edges) * 2, dtype=np.int64)
        mesh.edges.foreach_get("vertices", edges)
        matrix = np.array(evaluated.matrix_world)
    finally:
        evaluated.to_mesh_clear()
    try:
        local = path_math.order_polyline(verts.reshape(-1, 3), edges.reshape(-1, 2), f"the curve {name!r}")
    except path_math.PathError as exc:
        raise CurveError(f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None
    return rm.transform_points(matrix, local)


def follow_request(context, obj: bpy.types.Object, mapping: dict[str, str], curve: bpy.types.Object | None, *,
                   start: str = START_CHARACTER, seconds: float | None = None,
                   for_continue: bool = False) -> FollowRequest:
    """What Generate (or Continue) sends to walk ``obj`` along ``curve``."""
    bpy.context.view_layer.update()
    points = curve_world_points(curve, context)
    rig = read_rig_rest(obj)
    facing = rm.rig_facing(rig, mapping)
    unit = float(context.scene.unit_settings.scale_length or 1.0)
    name = f"the curve {curve.name!r}"
    try:
        if for_continue:                        # the action's frame (rig_reader.read_motion); the engine moves it
            path = path_math.engine_path(points, rig.object_matrix[:3, 3], facing, unit, None, seconds, name)
            return FollowRequest(path, None, path_math.ground_length(points))
        hips = rm.rig_hip_centre(rig, mapping)
        offset = None
        if start == START_CHARACTER:
            points = points + np.array([hips[0] - points[0, 0], hips[1] - points[0, 1], 0.0])
        else:
            offset = np.array([points[0, 0] - hips[0], points[0, 1] - hips[1]])
        path = path_math.engine_path(points, hips, facing, unit, rm.rig_leg_length(rig, mapping), seconds, name)
    except path_math.PathError as exc:
        raise CurveError(f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None
    return FollowRequest(path, offset, path_math.ground_length(points))


def scene_range_seconds(scene) -> tuple[int, int, float]:
    """(first frame, frame count, seconds) of the scene's frame range."""
    first, last = int(scene.frame_start), int(scene.frame_end)
    frames = last - first + 1
    return first, frames, frames / scene_fps(scene)

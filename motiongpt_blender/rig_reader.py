"""Read an armature's animation back as the engine's 22-joint positions (bpy glue).

:func:`read_motion` returns ``{"fps", "joint_positions"}`` -- what the engine
accepts as a motion -- for scene frames [frame_start, frame_end]: world
positions (T, 22, 3) in metres, Y up, facing +Z, relative to the armature
object's origin (the rig's own heading, from its rest hip line, is turned
back to the engine's +Z). Each mapped joint is its bone's head, except the
pelvis: the midpoint of the two thigh heads, as in the engine's skeleton
(the same point the retargeting places); joints the rig lacks are filled (:func:`retarget_math.fill_missing_joints`: a missing
spine2 between spine1 and spine3, no toes -> the foot bone's tail, ...).

Two ways to evaluate the pose, picked by ``method``:

- ``"fcurves"``: evaluate the action's F-curves for all frames (LINEAR and
  CONSTANT curves without modifiers with numpy in one go, others with
  ``fcurve.evaluate``) and do forward kinematics in numpy from the rest
  matrices. Fast; ignores constraints, drivers, NLA and object animation.
- ``"depsgraph"``: ``scene.frame_set`` per frame and read the evaluated pose
  (``pose.bones.foreach_get("matrix")``). Exact for any rig, slower.
- ``"auto"`` (default): ``"fcurves"`` unless the rig needs the depsgraph
  (constraints on the bones involved, drivers, active NLA tracks, an
  animated or parented armature object, bones that do not inherit rotation
  or scale fully).
"""
from __future__ import annotations

import time
from typing import Any, Mapping

import bpy
import numpy as np

from . import retarget_math as rm
from . import fcurves
from .retarget import constrained_chain, read_rig_rest, resolve_bone_map
from .rotation_modes import rotation_property


def scene_fps(scene: bpy.types.Scene | None = None) -> float:
    scene = scene or bpy.context.scene
    return float(scene.render.fps) / float(scene.render.fps_base or 1.0)


def _needs_depsgraph(obj: bpy.types.Object, bones: list[str]) -> str | None:
    """Why the F-curve evaluation would be wrong for this rig (None: it is right)."""
    ad = obj.animation_data
    if ad is not None:
        if len(ad.drivers):
            return "drivers"
        if any(not t.mute and len(t.strips) for t in ad.nla_tracks):
            return "NLA tracks"
    if obj.parent is not None or len(obj.constraints):
        return "a parented or constrained armature object"
    for fc in fcurves.object_fcurves(obj):
        if not fc.data_path.startswith("pose.bones["):
            return "object animation"
    return constrained_chain(obj, bones)


def _bone_basis(obj, name: str, curves: Mapping[tuple[str, int], Any], frames: np.ndarray) -> np.ndarray | None:
    """(T, 4, 4) matrix_basis of a bone from its F-curves; None if unanimated."""
    pb = obj.pose.bones[name]
    prefix = fcurves.bone_path(name, "")
    mode = pb.rotation_mode
    rot_prop, width = rotation_property(mode)
    channels = {"location": 3, rot_prop: width, "scale": 3}
    if not any((prefix + p, i) in curves for p, w in channels.items() for i in range(w)):
        return None
    vals = {p: fcurves.property_values(pb, p, w, curves, frames, prefix) for p, w in channels.items()}
    return rm.basis_matrices(vals["location"], vals[rot_prop], vals["scale"], mode)


def read_motion(obj: bpy.types.Object | None = None, frame_start: int | None = None, frame_end: int | None = None,
                bone_map: Mapping[str, str] | None = None, method: str = "auto",
                as_lists: bool = True) -> dict[str, Any]:
    """The armature's animation as ``{"fps", "joint_positions"}`` (plus
    ``frame_start``, ``frame_end``, ``method`` and ``seconds``). Frames
    default to the scene's range; ``as_lists`` False keeps a numpy array."""
    t0 = time.perf_counter()
    scene = bpy.context.scene
    obj = obj or bpy.context.active_object
    bpy.context.view_layer.update()          # object matrices set from Python are stale until evaluated
    rig = read_rig_rest(obj)
    mapping = resolve_bone_map(obj, bone_map)
    a = int(scene.frame_start if frame_start is None else frame_start)
    b = int(scene.frame_end if frame_end is None else frame_end)
    if b < a:
        raise rm.RetargetError(f"frame_end ({b}) is before frame_start ({a})")
    frames = np.arange(a, b + 1, dtype=np.float64)
    bones = list(mapping.values())
    idx = [rig.index[n] for n in bones]
    needed = sorted({i for n in bones for i in [rig.index[n], *rig.ancestors(rig.index[n])]})
    if method == "auto":
        method = "depsgraph" if _needs_depsgraph(obj, [rig.names[i] for i in needed]) else "fcurves"
    if method == "fcurves":
        curves = fcurves.curve_map(obj)
        basis = {}
        for i in needed:
            m = _bone_basis(obj, rig.names[i], curves, frames)
            if m is not None:
                basis[i] = m
        pose = rm.pose_chain(rig, basis, idx, len(frames))
        heads = {j: rm.transform_points(rig.object_matrix, pose[rig.index[n]][:, :3, 3]) for j, n in mapping.items()}
        tails = {j: rm.transform_points(rig.object_matrix, rm.transform_points(
            pose[rig.index[n]], np.broadcast_to([0.0, obj.data.bones[n].length, 0.0], (len(frames), 3))))
            for j, n in mapping.items()}
        object_matrix = rig.object_matrix
    elif method == "depsgraph":
        heads_arm = np.empty((len(frames), len(rig.names), 3))
        tails_arm = np.empty_like(heads_arm)
        mats = np.empty((len(frames), 4, 4))
        pose_bones = obj.pose.bones
        order = np.array([rig.index[pb.name] for pb in pose_bones])
        buf = np.empty(len(rig.names) * 3, dtype=np.float32)
        current = scene.frame_current, scene.frame_subframe
        try:
            for k, f in enumerate(frames):
                scene.frame_set(int(f))
                pose_bones.foreach_get("head", buf)
                heads_arm[k, order] = buf.reshape(-1, 3)
                pose_bones.foreach_get("tail", buf)
                tails_arm[k, order] = buf.reshape(-1, 3)
                mats[k] = np.array(obj.matrix_world)
        finally:
            scene.frame_set(current[0], subframe=current[1])
        heads = {j: rm.transform_points(mats, heads_arm[:, rig.index[n]]) for j, n in mapping.items()}
        tails = {j: rm.transform_points(mats, tails_arm[:, rig.index[n]]) for j, n in mapping.items()}
        object_matrix = rig.object_matrix
    else:
        raise rm.RetargetError(f"method must be 'auto', 'fcurves' or 'depsgraph', got {method!r}")
    if "left_hip" in heads and "right_hip" in heads:
        # the engine's pelvis is the hip centre; a hips bone's head is not (see retarget_math, root motion)
        heads["pelvis"] = 0.5 * (heads["left_hip"] + heads["right_hip"])
    world = rm.fill_missing_joints(heads, tails)
    facing = rm.rig_facing(rig, mapping)
    unit = float(scene.unit_settings.scale_length or 1.0)
    positions = rm.world_to_engine(world, object_matrix[:3, 3], facing, unit)
    out: dict[str, Any] = {"fps": scene_fps(scene),
                           "joint_positions": positions.tolist() if as_lists else positions,
                           "frame_start": a, "frame_end": b, "method": method,
                           "seconds": time.perf_counter() - t0}
    return out

"""Read an armature's animation back as the engine's 22-joint positions (bpy glue).

:func:`read_motion` returns ``{"fps", "joint_positions"}`` -- what the engine
accepts as a motion -- for scene frames [frame_start, frame_end]: world
positions (T, 22, 3) in metres, Y up, facing +Z, relative to the armature
object's origin (the rig's own heading, from its rest hip line, is turned
back to the engine's +Z). Each mapped joint is its bone's head; joints the
rig lacks are filled (:func:`retarget_math.fill_missing_joints`: a missing
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
from .retarget import constrained_chain, layered_actions, read_rig_rest, resolve_bone_map


def scene_fps(scene: bpy.types.Scene | None = None) -> float:
    scene = scene or bpy.context.scene
    return float(scene.render.fps) / float(scene.render.fps_base or 1.0)


def _object_fcurves(obj: bpy.types.Object) -> list:
    ad = obj.animation_data
    if ad is None or ad.action is None:
        return []
    action = ad.action
    if layered_actions():
        slot = ad.action_slot
        if slot is None:
            return []
        from bpy_extras import anim_utils
        bag = anim_utils.action_get_channelbag_for_slot(action, slot)
        return list(bag.fcurves) if bag is not None else []
    return list(action.fcurves)


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
    for fc in _object_fcurves(obj):
        if not fc.data_path.startswith("pose.bones["):
            return "object animation"
    return constrained_chain(obj, bones)


def evaluate_fcurve(fc, frames: np.ndarray) -> np.ndarray:
    """Values of an F-curve at ``frames`` (vectorised for LINEAR/CONSTANT keys)."""
    kps = fc.keyframe_points
    n = len(kps)
    if n == 0 or len(fc.modifiers) or fc.mute:
        return np.array([fc.evaluate(float(f)) for f in frames])
    co = np.empty(2 * n, dtype=np.float32)
    kps.foreach_get("co", co)
    interp = np.empty(n, dtype=np.int32)
    kps.foreach_get("interpolation", interp)
    kf, kv = co[0::2].astype(np.float64), co[1::2].astype(np.float64)
    linear = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value
    constant = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["CONSTANT"].value
    if fc.extrapolation != 'CONSTANT' or np.any(np.diff(kf) <= 0):
        return np.array([fc.evaluate(float(f)) for f in frames])
    if np.all(interp[:-1] == linear):
        return np.interp(frames, kf, kv)
    if np.all(interp[:-1] == constant):
        idx = np.clip(np.searchsorted(kf, frames, side="right") - 1, 0, n - 1)
        return kv[idx]
    return np.array([fc.evaluate(float(f)) for f in frames])


def _channels(obj: bpy.types.Object) -> dict[tuple[str, int], Any]:
    return {(fc.data_path, fc.array_index): fc for fc in _object_fcurves(obj)}


def _bone_basis(obj, name: str, curves: Mapping[tuple[str, int], Any], frames: np.ndarray) -> np.ndarray | None:
    """(T, 4, 4) matrix_basis of a bone from its F-curves; None if unanimated."""
    pb = obj.pose.bones[name]
    prefix = f'pose.bones["{bpy.utils.escape_identifier(name)}"].'
    mode = pb.rotation_mode
    rot_prop, width, static_rot = {
        'QUATERNION': ("rotation_quaternion", 4, tuple(pb.rotation_quaternion)),
        'AXIS_ANGLE': ("rotation_axis_angle", 4, tuple(pb.rotation_axis_angle)),
    }.get(mode, ("rotation_euler", 3, tuple(pb.rotation_euler)))
    channels = {"location": (3, tuple(pb.location)), rot_prop: (width, static_rot), "scale": (3, tuple(pb.scale))}
    if not any((prefix + p, i) in curves for p, (w, _) in channels.items() for i in range(w)):
        return None
    vals = {}
    for p, (w, static) in channels.items():
        cols = []
        for i in range(w):
            fc = curves.get((prefix + p, i))
            cols.append(evaluate_fcurve(fc, frames) if fc is not None else np.full(len(frames), static[i]))
        vals[p] = np.stack(cols, axis=-1)
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
        curves = _channels(obj)
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
    world = rm.fill_missing_joints(heads, tails)
    facing = rm.rig_facing(rig, mapping)
    unit = float(scene.unit_settings.scale_length or 1.0)
    positions = rm.world_to_engine(world, object_matrix[:3, 3], facing, unit)
    out: dict[str, Any] = {"fps": scene_fps(scene),
                           "joint_positions": positions.tolist() if as_lists else positions,
                           "frame_start": a, "frame_end": b, "method": method,
                           "seconds": time.perf_counter() - t0}
    return out

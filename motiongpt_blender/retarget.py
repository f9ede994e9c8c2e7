"""Retarget an engine motion onto an armature and key it (bpy glue).

The math lives in :mod:`retarget_math` (pure numpy); this module only reads
the rig from Blender, resolves the bone map and writes F-curves in bulk.

Writing keys
------------
F-curves are filled in bulk (``keyframe_points.add(n)`` + ``foreach_set``),
never with ``keyframe_insert`` per frame. On Blender 4.4+ (layered, "slotted"
actions: ``action.slots`` / ``action.layers`` / ``strip.channelbag(slot)``)
the keys go into the channelbag of the armature's action slot (created if
needed; first layer and first keyframe strip). On 4.2/4.3 they go into
``action.fcurves``. Every mapped bone gets four ``rotation_quaternion``
curves (its ``rotation_mode`` is set to ``'QUATERNION'`` -- a change to the
user's rig, reported in :class:`RetargetReport`), the hips bone also three
``location`` curves. New keys are LINEAR, with quaternion signs continuous
over time and with the key just before the written range.

Frame range and replacing keys
------------------------------
The motion's frame i goes to scene frame ``frame_start + i``, up to
``frame_end``. By default, keys of the written curves at frames in the closed
range [frame_start, frame_end] are replaced; keys outside it stay bit-identical
(co, handles, interpolation, types, easing, selection). With
``replace_range=True`` only keys strictly inside (frame_start, frame_end)
are removed: existing keys at both ends stay bit-identical and the motion is
written only where they are not (in-betweening between two kept poses).
Existing keys are never re-handled: the curves are sorted, not recalculated.

Rigify (generated rig) note: when FK controls are driven (bones named
``*_fk``), each limb's ``IK_FK`` property is set to 1.0 (FK) so the keys show.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import bpy
import numpy as np

from . import bone_maps
from . import retarget_math as rm

ROTATION_PATH = 'pose.bones["{}"].rotation_quaternion'
LOCATION_PATH = 'pose.bones["{}"].location'


def rotation_path(bone: str) -> str:
    return ROTATION_PATH.format(bpy.utils.escape_identifier(bone))


def location_path(bone: str) -> str:
    return LOCATION_PATH.format(bpy.utils.escape_identifier(bone))

_KEY_FLOAT2 = ("co", "handle_left", "handle_right")
_KEY_ENUMS = ("interpolation", "handle_left_type", "handle_right_type", "type", "easing")
_KEY_FLOATS = ("back", "amplitude", "period")
_KEY_BOOLS = ("select_control_point", "select_left_handle", "select_right_handle")


def _enum_value(prop: str, name: str) -> int:
    return bpy.types.Keyframe.bl_rna.properties[prop].enum_items[name].value


def layered_actions() -> bool:
    """True on Blender 4.4+, whose actions have slots, layers and strips."""
    return "slots" in bpy.types.Action.bl_rna.properties and "layers" in bpy.types.Action.bl_rna.properties


# ---------------------------------------------------------------------------
# reading the rig

def _bones_matrix(collection, prop: str, n: int) -> np.ndarray:
    buf = np.empty(n * 16, dtype=np.float32)
    collection.foreach_get(prop, buf)
    return np.swapaxes(buf.reshape(n, 4, 4), 1, 2).astype(np.float64)   # Blender stores columns


def rig_bones(obj: bpy.types.Object) -> list[bone_maps.RigBone]:
    """The armature's bones for :func:`bone_maps.auto_detect`."""
    pose = obj.pose.bones
    return [bone_maps.RigBone(b.name, b.parent.name if b.parent else None, bool(b.use_deform),
                              bool(len(pose[b.name].constraints)))
            for b in obj.data.bones]


def read_rig_rest(obj: bpy.types.Object) -> rm.RigRest:
    """The armature's rest matrices, tails, current pose bases and object matrix."""
    if obj is None or obj.type != 'ARMATURE':
        raise rm.RetargetError("select an armature: the active object is "
                               f"{'nothing' if obj is None else repr(obj.name) + ' (' + obj.type.lower() + ')'}")
    if obj.mode == 'EDIT':
        raise rm.RetargetError(f"the armature {obj.name!r} is in Edit Mode; switch to Object or Pose Mode first")
    bones = obj.data.bones
    n = len(bones)
    if n == 0:
        raise rm.RetargetError(f"the armature {obj.name!r} has no bones")
    names = [b.name for b in bones]
    index = {name: i for i, name in enumerate(names)}
    parents = np.array([index[b.parent.name] if b.parent else -1 for b in bones])
    rest = _bones_matrix(bones, "matrix_local", n)
    tails = np.empty(n * 3, dtype=np.float32)
    bones.foreach_get("tail_local", tails)
    pose_bones = obj.pose.bones
    basis_pose = _bones_matrix(pose_bones, "matrix_basis", n)
    order = [index[pb.name] for pb in pose_bones]
    basis = np.empty_like(basis_pose)
    basis[order] = basis_pose
    return rm.RigRest(names=names, parents=parents, rest=rest, tails=tails.reshape(n, 3).astype(np.float64),
                      object_matrix=np.array(obj.matrix_world, dtype=np.float64), basis=basis)


def constrained_chain(obj: bpy.types.Object, bones) -> str | None:
    """Why the rest-hierarchy model of the pose would be wrong for these
    bones (constraints on them or an ancestor, partial inheritance), or None."""
    pose = obj.pose.bones
    seen: set[str] = set()
    for name in bones:
        b = obj.data.bones[name]
        while b is not None and b.name not in seen:
            seen.add(b.name)
            if len(pose[b.name].constraints):
                return f"constraints on {b.name}"
            if (b.parent is not None and not b.use_inherit_rotation) or b.inherit_scale not in ('FULL', 'FIX_SHEAR'):
                return f"bone {b.name} does not inherit its parent fully"
            b = b.parent
    return None


def detect_bone_map(obj: bpy.types.Object) -> bone_maps.Detection:
    return bone_maps.auto_detect(rig_bones(obj))


def resolve_bone_map(obj: bpy.types.Object, bone_map: Mapping[str, str] | None = None) -> dict[str, str]:
    """The given map (checked against the rig) or the auto-detected one;
    raises :class:`bone_maps.BoneMapError` when the rig cannot be driven."""
    if bone_map is None:
        bone_map = detect_bone_map(obj).mapping
    return bone_maps.validate_bone_map(bone_map, [b.name for b in obj.data.bones])


# ---------------------------------------------------------------------------
# actions and F-curves

class ChannelTarget:
    """Where the F-curves of one object live in an action: the channelbag of
    its slot (Blender 4.4+) or the legacy ``action.fcurves``."""

    def __init__(self, obj: bpy.types.Object, action: bpy.types.Action, assign: bool = True):
        self.action = action
        self.slot = None
        self.layered = layered_actions()
        ad = obj.animation_data or obj.animation_data_create()
        if assign and ad.action != action:
            ad.action = action
        if self.layered:
            slot = ad.action_slot if ad.action == action else None
            if slot is None:
                identifier = "OB" + obj.name
                slot = next((s for s in action.slots if s.identifier == identifier), None)
                if slot is None:
                    slot = action.slots.new(id_type='OBJECT', name=obj.name)
                if ad.action == action:
                    ad.action_slot = slot
            self.slot = slot
            layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
            strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type='KEYFRAME')
            self.bag = strip.channelbag(slot, ensure=True)
        else:
            self.bag = None

    def finish(self, obj: bpy.types.Object) -> None:
        """Legacy API on a 4.4+ Blender: bind the slot ``action.fcurves``
        created (no-op on 4.2/4.3, which have no slots)."""
        ad = obj.animation_data
        if (not self.layered and ad is not None and ad.action == self.action and hasattr(ad, "action_slot")
                and ad.action_slot is None and len(getattr(self.action, "slots", ()))):
            ad.action_slot = self.action.slots[0]
            self.slot = ad.action_slot

    @property
    def fcurves(self):
        return self.bag.fcurves if self.layered else self.action.fcurves

    def find(self, data_path: str, index: int):
        return self.fcurves.find(data_path, index=index)

    def ensure(self, data_path: str, index: int, group: str):
        fc = self.find(data_path, index)
        if fc is not None:
            return fc
        if not self.layered:
            return self.action.fcurves.new(data_path, index=index, action_group=group)
        fc = self.bag.fcurves.new(data_path, index=index)
        grp = next((g for g in self.bag.groups if g.name == group), None) or self.bag.groups.new(group)
        fc.group = grp
        return fc


def _get(kps, prop: str, n: int, width: int, dtype) -> np.ndarray:
    buf = np.empty(n * width, dtype=dtype)
    if n:
        kps.foreach_get(prop, buf)
    return buf


def write_fcurve(fc, frames: np.ndarray, values: np.ndarray, *, lo: float, hi: float, open_range: bool,
                 interpolation: str = 'LINEAR') -> int:
    """Replace the keys of ``fc`` in [lo, hi] (or (lo, hi) with
    ``open_range``, keeping and not overwriting keys at lo and hi) by keys at
    ``frames`` with ``values``; keys elsewhere stay bit-identical. Returns the
    number of keys written."""
    kps = fc.keyframe_points
    n_old = len(kps)
    frames = np.asarray(frames, dtype=np.float32)
    values = np.asarray(values, dtype=np.float32)
    kill = np.zeros(n_old, dtype=bool)
    if n_old:
        old_frames = _get(kps, "co", n_old, 2, np.float32)[0::2]
        if open_range:
            kill = (old_frames > lo) & (old_frames < hi)
            taken = np.isin(frames, old_frames[(old_frames == np.float32(lo)) | (old_frames == np.float32(hi))])
            frames, values = frames[~taken], values[~taken]
        else:
            kill = (old_frames >= lo) & (old_frames <= hi)
    n_new = len(frames)
    if n_new == 0 and not kill.any():
        return 0
    props = {p: (2, np.float32) for p in _KEY_FLOAT2}
    if kill.all():                     # nothing to keep (rewriting a range the curve holds alone)
        kps.clear()
        n_old = 0
        kill = np.zeros(0, dtype=bool)
    if kill.any():
        props.update({p: (1, np.int32) for p in _KEY_ENUMS})
        props.update({p: (1, np.float32) for p in _KEY_FLOATS})
        props.update({p: (1, bool) for p in _KEY_BOOLS})
        keep = ~kill
        saved = {p: _get(kps, p, n_old, w, t).reshape(n_old, w)[keep] for p, (w, t) in props.items()}
        kps.clear()
        n_keep = int(keep.sum())
        kps.add(n_keep + n_new)
        arrays = {p: _get(kps, p, n_keep + n_new, w, t).reshape(-1, w) for p, (w, t) in props.items()}
        for p in props:
            arrays[p][:n_keep] = saved[p]
    else:
        props.update({p: (1, np.int32) for p in ("interpolation", "handle_left_type", "handle_right_type")})
        n_keep = n_old
        kps.add(n_new)
        arrays = {p: _get(kps, p, n_keep + n_new, w, t).reshape(-1, w) for p, (w, t) in props.items()}
    if n_new:
        new = slice(n_keep, n_keep + n_new)
        co = np.stack([frames, values], axis=-1)
        prev = np.concatenate([co[:1] - [1.0, 0.0], co[:-1]]) if n_new > 1 else co - [1.0, 0.0]
        nxt = np.concatenate([co[1:], co[-1:] + [1.0, 0.0]]) if n_new > 1 else co + [1.0, 0.0]
        arrays["co"][new] = co
        arrays["handle_left"][new] = co + (prev - co) / 3.0
        arrays["handle_right"][new] = co + (nxt - co) / 3.0
        arrays["interpolation"][new, 0] = _enum_value("interpolation", interpolation)
        auto = _enum_value("handle_left_type", 'AUTO_CLAMPED')
        arrays["handle_left_type"][new, 0] = auto
        arrays["handle_right_type"][new, 0] = auto
    for p, arr in arrays.items():
        kps.foreach_set(p, arr.ravel())
    if hasattr(kps, "sort"):
        kps.sort()                     # no handle recalculation: existing keys stay bit-identical
    else:                              # pragma: no cover - Blender < 4.4
        fc.update()
    return n_new


# ---------------------------------------------------------------------------
# the operation

def _evaluated_pose(obj: bpy.types.Object, frames: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """(T, B, 4, 4) armature-space pose matrices evaluated by Blender
    (constraints, drivers and all) at each frame; the current frame is restored."""
    scene = bpy.context.scene
    pose_bones = obj.pose.bones
    n = len(pose_bones)
    order = np.array([index[pb.name] for pb in pose_bones])
    out = np.empty((len(frames), n, 4, 4))
    buf = np.empty(n * 16, dtype=np.float32)
    current = scene.frame_current, scene.frame_subframe
    try:
        for k, f in enumerate(frames):
            scene.frame_set(int(f))
            pose_bones.foreach_get("matrix", buf)
            out[k, order] = np.swapaxes(buf.reshape(n, 4, 4), 1, 2)
    finally:
        scene.frame_set(current[0], subframe=current[1])
    return out


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = (np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _refine(obj, rig: rm.RigRest, result: rm.RetargetResult, frames: np.ndarray, sel: np.ndarray, write,
            passes: int, tol_deg: float) -> tuple[int, float]:
    """Correct the keys of a rig whose pose is not a plain hierarchy (e.g.
    Rigify controls under constrained MCH parents): evaluate the written
    pose with Blender at ``frames[sel]`` (the frames actually keyed), and
    re-solve each bone's basis from the measured parent transform,
    ``basis' = basis @ actual^-1 @ desired``, until every mapped bone is
    within ``tol_deg`` (or ``passes`` run out). Returns (passes run, largest
    remaining rotation error in degrees)."""
    obj_rot = rm.decompose(rig.object_matrix)[0]
    inv_obj = rm.affine_inverse(rig.object_matrix)
    joint_of = {b: j for j, b in result.joint_to_bone.items()}
    desired = {b: obj_rot.T @ result.predicted_rotations[joint_of[b]][sel] for b in result.quats}
    root = result.root_bone
    root_head = None
    if result.root_location is not None and root is not None:
        root_head = rm.transform_points(inv_obj, result.predicted_heads[joint_of[root]][sel])
    pos_tol = 1e-5 * float(np.ptp(rig.rest[:, :3, 3], axis=0).max())     # armature units

    def errors(pose: np.ndarray) -> tuple[float, float]:
        worst = max(float(_angle_deg(rm.unscale(pose[:, rig.index[b], :3, :3]), desired[b]).max())
                    for b in result.quats)
        drift = 0.0 if root_head is None else \
            float(np.linalg.norm(pose[:, rig.index[root], :3, 3] - root_head, axis=-1).max())
        return worst, drift

    for k in range(passes + 1):
        pose = _evaluated_pose(obj, frames[sel], rig.index)
        worst, drift = errors(pose)
        if (worst <= tol_deg and drift <= pos_tol) or k == passes:
            return k, worst
        for b, q_all in result.quats.items():
            q = q_all[sel]
            actual = pose[:, rig.index[b]]
            if b == root and root_head is not None:
                # pose = X @ basis  =>  basis' = X^-1 @ desired (rotation and head position)
                basis = rm.compose(rm.quat_to_matrix(q), result.root_location[sel])
                x = actual @ np.linalg.inv(basis)
                new = np.linalg.inv(x) @ rm.compose(desired[b], root_head)
                result.root_location[sel] = new[:, :3, 3]
                rot = new[:, :3, :3]
            else:
                rot = rm.quat_to_matrix(q) @ np.swapaxes(rm.unscale(actual[:, :3, :3]), -1, -2) @ desired[b]
            q_all[sel] = rm.quat_continuity(rm.matrix_to_quat(rm.unscale(rot)), q[0])
        write()
    return passes, worst


@dataclass
class RetargetReport:
    action: str
    slot: str | None
    api: str                                  # "layered" (4.4+) or "legacy"
    frame_start: int
    frame_end: int
    frames_written: int
    keys_written: int
    bone_map: dict[str, str]
    skipped_joints: list[str]
    root_bone: str | None
    scale: float
    rotation_modes_changed: dict[str, str] = field(default_factory=dict)
    ik_fk_switched: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refined: str | None = None               # why the pose was refined by evaluation (None: not needed)
    refine_passes: int = 0
    refine_error_deg: float = 0.0            # largest bone rotation error left after refinement
    seconds: dict[str, float] = field(default_factory=dict)


def retarget_motion(obj: bpy.types.Object, motion: Mapping[str, Any] | rm.EngineMotion,
                    bone_map: Mapping[str, str] | None = None, *, action: bpy.types.Action | None = None,
                    frame_start: int | None = None, frame_end: int | None = None,
                    replace_range: bool = False, root_motion: str = "relative", keep_rig_facing: bool = True,
                    assign_action: bool = True, interpolation: str = 'LINEAR', refine: bool | None = None,
                    refine_passes: int = 6, refine_tol_deg: float = 0.05) -> RetargetReport:
    """Key ``motion`` (the engine's motion dict) onto armature ``obj``.

    bone_map: engine joint -> bone (auto-detected when None). action: the
    action to write into (default: the object's action, else a new
    "<object>_MotionGPT" action); it is assigned to the object unless
    ``assign_action`` is False. frame_start: scene frame of the motion's
    first frame (default: the current frame); frame_end: last frame written
    (default: frame_start + frames - 1). See the module docstring for
    ``replace_range``; ``root_motion`` / ``keep_rig_facing``: see
    :func:`retarget_math.retarget`. refine: evaluate the written pose with
    Blender and correct it (a few passes) -- needed when constraints or
    partial inheritance sit between the mapped bones (generated Rigify
    rigs); None decides from the rig (:func:`constrained_chain`).
    """
    t0 = time.perf_counter()
    scene = bpy.context.scene
    bpy.context.view_layer.update()          # object matrices set from Python are stale until evaluated
    em = motion if isinstance(motion, rm.EngineMotion) else rm.EngineMotion.from_dict(motion)
    rig = read_rig_rest(obj)
    mapping = resolve_bone_map(obj, bone_map)
    start = int(scene.frame_current if frame_start is None else frame_start)
    end = start + em.num_frames - 1 if frame_end is None else int(frame_end)
    if end < start:
        raise rm.RetargetError(f"frame_end ({end}) is before frame_start ({start})")
    total = em.num_frames
    n_write = min(total, end - start + 1)
    if n_write < total:
        em = rm.EngineMotion(em.fps, em.joint_names, em.parents, em.rest_offsets, em.local_quats[:n_write],
                             em.root_translation[:n_write], None)
    frames = start + np.arange(n_write, dtype=np.float64)
    warnings = []
    fps = float(scene.render.fps) / float(scene.render.fps_base or 1.0)
    if abs(fps - em.fps) > 1e-3:
        warnings.append(f"the motion runs at {em.fps:g} fps but the scene at {fps:g} fps; its frames were keyed "
                        f"one per scene frame (ask the engine for {fps:g} fps to keep the timing)")
    if n_write < total:
        warnings.append(f"only the first {n_write} of {total} frames fit in frames {start}-{end}")
    obj_scale = rm.decompose(np.array(obj.matrix_world))[1]
    if np.ptp(np.abs(obj_scale)) > 1e-4 * np.abs(obj_scale).max():
        warnings.append(f"the armature object {obj.name!r} is scaled non-uniformly {tuple(np.round(obj_scale, 4))}; "
                        f"apply its scale for exact results")

    if action is None:
        ad = obj.animation_data
        action = ad.action if ad is not None and ad.action is not None else \
            bpy.data.actions.new(f"{obj.name}_MotionGPT")
    target = ChannelTarget(obj, action, assign=assign_action)
    t1 = time.perf_counter()

    # continuity with the key just before the first written frame
    first = start + 1 if replace_range else start
    reference = {}
    for bone in mapping.values():
        curves = [target.find(rotation_path(bone), i) for i in range(4)]
        if all(c is not None and len(c.keyframe_points) for c in curves):
            reference[bone] = np.array([c.evaluate(first - 1) for c in curves])
    result = rm.retarget(em, rig, mapping, root_motion=root_motion, keep_rig_facing=keep_rig_facing,
                         reference_quats=reference)
    t2 = time.perf_counter()

    changed: dict[str, str] = {}
    for bone in result.quats:
        pb = obj.pose.bones[bone]
        if pb.rotation_mode != 'QUATERNION':
            changed[bone] = pb.rotation_mode
            pb.rotation_mode = 'QUATERNION'
    switched = []
    if any("_fk" in b for b in mapping.values()):
        for pb in obj.pose.bones:
            if "IK_FK" in pb.keys() and pb["IK_FK"] != 1.0:
                pb["IK_FK"] = 1.0
                switched.append(pb.name)

    written = frames
    if replace_range and len(frames):
        # the frames write_fcurve will actually fill (boundary keys that exist are kept)
        taken = set()
        for bone in result.quats:
            fc = target.find(rotation_path(bone), 0)
            if fc is not None and len(fc.keyframe_points):
                co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
                fc.keyframe_points.foreach_get("co", co)
                taken |= {f for f in (start, end) if f in set(co[0::2].tolist())}
        written = np.array([f for f in frames if f not in taken])

    def write(first_time: bool) -> int:
        n = 0
        # the first pass lets write_fcurve keep each curve's own boundary keys;
        # refinement passes rewrite exactly the frames written
        sel = np.ones(len(frames), dtype=bool) if first_time else np.isin(frames, written)
        lo, hi = (start, end) if first_time else (float(written[0]), float(written[-1]))
        open_range = replace_range if first_time else False
        for bone, q in result.quats.items():
            path = rotation_path(bone)
            for i in range(4):
                fc = target.ensure(path, i, bone)
                n += write_fcurve(fc, frames[sel], q[sel, i], lo=lo, hi=hi, open_range=open_range,
                                  interpolation=interpolation)
        if result.root_location is not None and result.root_bone is not None:
            path = location_path(result.root_bone)
            for i in range(3):
                fc = target.ensure(path, i, result.root_bone)
                n += write_fcurve(fc, frames[sel], result.root_location[sel, i], lo=lo, hi=hi,
                                  open_range=open_range, interpolation=interpolation)
        return n

    keys = write(True)
    t3 = time.perf_counter()
    why = constrained_chain(obj, list(result.quats)) if refine is None else ("requested" if refine else None)
    passes, worst = 0, 0.0
    if why is not None and len(written):
        target.finish(obj)
        passes, worst = _refine(obj, rig, result, frames, np.isin(frames, written), lambda: write(False),
                                refine_passes, refine_tol_deg)
    target.finish(obj)
    t4 = time.perf_counter()
    return RetargetReport(
        action=action.name, slot=target.slot.identifier if target.slot is not None else None,
        api="layered" if target.layered else "legacy", frame_start=start, frame_end=end,
        frames_written=n_write, keys_written=keys, bone_map=dict(mapping), skipped_joints=result.skipped_joints,
        root_bone=result.root_bone, scale=result.scale, rotation_modes_changed=changed,
        ik_fk_switched=switched, warnings=warnings, refined=why, refine_passes=passes, refine_error_deg=worst,
        seconds={"read": t1 - t0, "solve": t2 - t1, "write": t3 - t2, "refine": t4 - t3, "total": t4 - t0})

"""Retarget an engine motion onto an armature and key it (bpy glue).

The math lives in :mod:`retarget_math`, :mod:`rotation_modes`,
:mod:`constraint_model` and :mod:`key_reduction` (pure numpy); this module
reads the rig from Blender, resolves the bone map and writes F-curves in bulk
(:mod:`fcurves`).

Writing keys
------------
Every mapped bone is keyed in the rotation mode it already has -- quaternion,
any Euler order (continuous over time, no +-180 degree flips) or axis-angle --
and its ``rotation_mode`` is never changed: the user's other keys and
actions keep playing as before. The hips bone also gets ``location`` keys.
On Blender 4.4+ (layered, "slotted" actions) the keys go into the channelbag
of the armature's action slot; on 4.2/4.3 into ``action.fcurves``. New keys
are LINEAR, or, with ``reduce``, only the keys needed for a Bezier curve
within the tolerance (:mod:`key_reduction`).

Frame range and replacing keys
------------------------------
The motion's frame i goes to scene frame ``frame_start + i``, up to
``frame_end``. By default keys of the written curves at frames in the closed
range [frame_start, frame_end] are replaced; keys outside it stay
bit-identical in every field. With ``replace_range=True`` only keys strictly
inside (frame_start, frame_end) are removed: keys at both ends stay and the
motion is written only where there is none. ``hold=(start, end)`` makes the
written motion meet the pose the rig already has at a held end: the
difference of each bone's rotation (and the hips' location) at that frame is
eased in over the range (``hold_fade`` frames when only the start is held),
so the in-between leaves a hand-keyed pose without a pop and a curve that had
no key at the end gets one holding exactly its old value there.

Constrained rigs
----------------
When constraints or partial inheritance sit between the mapped bones (a
generated Rigify rig), a :mod:`constraint_model` measured from a few probe
evaluations of the rig solves every frame at once; three frames are checked
against Blender's own evaluation. The model is kept for the session under the
rig's :func:`rig_signature`, so the next Generate on an unchanged rig skips
the probes and checks one frame. If the rig cannot be modelled, the pose is
refined by evaluating the written keys frame by frame (slow; done in steps so
the UI keeps running). Rigify limbs driven through FK controls (bones named
``*_fk``) get ``IK_FK`` = 1.0 so the keys show.

Steps
-----
:class:`RetargetJob` does the work in short steps (a generator), so a modal
operator can apply a long result across timer ticks with a progress bar;
:func:`retarget_motion` runs all steps at once. Pass a
:class:`fcurves.ChangeLog` to be able to undo a half-written result.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import bpy
import numpy as np
from mathutils import Matrix

from . import bone_maps
from . import constraint_model as cm
from . import key_reduction as kr
from . import retarget_math as rm
from . import rotation_modes as modes
from .fcurves import ChangeLog, ChannelTarget, bone_path, layered_actions, property_values, write_fcurve

__all__ = ["RetargetJob", "RetargetReport", "retarget_motion", "read_rig_rest", "detect_bone_map",
           "resolve_bone_map", "constrained_chain", "rig_bones", "layered_actions"]

BONES_PER_STEP = 6                  # bones written between two yields
EVALUATIONS_PER_STEP = 12           # frames evaluated between two yields (fallback refinement)
MODEL_CHECK_FRAMES = 3              # frames checked against Blender after a constraint-model solve
MODEL_CHECK_FRAMES_CACHED = 1       # ... when the model came from the cache (the rig's signature is unchanged)
_MODEL_CACHE: dict[tuple, cm.ConstraintModel] = {}
_MODEL_CACHE_SIZE = 8


# ---------------------------------------------------------------------------
# reading the rig

def _bones_matrix(collection, prop: str, n: int) -> np.ndarray:
    buf = np.empty(n * 16, dtype=np.float32)
    collection.foreach_get(prop, buf)
    return np.swapaxes(buf.reshape(n, 4, 4), 1, 2).astype(np.float64)   # Blender stores columns


def _pose_matrices(obj: bpy.types.Object, index: dict[str, int], prop: str = "matrix") -> np.ndarray:
    """(B, 4, 4) of every pose bone's ``prop`` as Blender holds it now, in the rig's bone order."""
    pose_bones = obj.pose.bones
    m = _bones_matrix(pose_bones, prop, len(pose_bones))
    out = np.empty_like(m)
    out[[index[pb.name] for pb in pose_bones]] = m
    return out


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
    basis = _pose_matrices(obj, index, "matrix_basis")
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
# evaluating the rig

def _evaluated_poses(obj: bpy.types.Object, frames: np.ndarray, index: dict[str, int]) -> Iterator[np.ndarray]:
    """(B, 4, 4) armature-space pose evaluated by Blender (constraints,
    drivers and all) at each frame, one frame per item; the current frame is
    restored when the iteration ends."""
    scene = bpy.context.scene
    current = scene.frame_current, scene.frame_subframe
    try:
        for f in frames:
            scene.frame_set(int(f))
            yield _pose_matrices(obj, index)
    finally:
        scene.frame_set(current[0], subframe=current[1])


class _PoseProbe:
    """Set mapped bones' ``matrix_basis`` directly and let Blender evaluate
    the rig (no keys, no frame change); the bases are put back on exit (not
    evaluated: the caller sets the frame again afterwards)."""

    def __init__(self, obj: bpy.types.Object, bones: list[str]):
        self.obj = obj
        self.bones = bones
        self.saved: dict[str, Matrix] = {}

    def __enter__(self) -> "_PoseProbe":
        self.saved = {b: self.obj.pose.bones[b].matrix_basis.copy() for b in self.bones}
        return self

    def set(self, bases: Mapping[str, np.ndarray]) -> None:
        for b, m in bases.items():
            self.obj.pose.bones[b].matrix_basis = Matrix(np.asarray(m).tolist())
        bpy.context.view_layer.update()

    def __exit__(self, *exc) -> None:
        # no evaluation here: the job evaluates the rig again once its keys are written
        for b, m in self.saved.items():
            self.obj.pose.bones[b].matrix_basis = m


def _random_rotations(rng: np.random.Generator, n: int, max_angle: float) -> np.ndarray:
    axis = rm.normalize(rng.normal(size=(n, 3)))
    return rm.quat_to_matrix(rm.quat_from_axis_angle(axis, rng.uniform(0.3, 1.0, size=n) * max_angle))


def probe_constraint_model(obj: bpy.types.Object, rig: rm.RigRest, bones: list[str], root: str | None,
                           probes: int = 4, tol_deg: float = 0.01,
                           seed: int = 0) -> Iterator[float]:
    """Evaluate the rig in ``probes`` poses (the first at rest, the others
    with every mapped bone turned at random) and fit a
    :class:`constraint_model.ConstraintModel`. A generator that yields after
    each evaluation (a few milliseconds to tens on a big rig) and returns the
    model, or None if it does not fit."""
    rng = np.random.default_rng(seed)
    static = {b: rig.basis[rig.index[b]] for b in bones}
    size = rig.size or 1.0
    pose_rot, basis_rot, root_pose, root_basis = [], [], [], []
    idx = [rig.index[b] for b in bones]
    with _PoseProbe(obj, bones) as probe:
        for p in range(probes):
            turns = _random_rotations(rng, len(bones), np.radians(80.0)) if p else \
                np.broadcast_to(np.eye(3), (len(bones), 3, 3))
            bases = {}
            for k, b in enumerate(bones):
                loc = static[b][:3, 3] + (rng.uniform(-0.1, 0.1, 3) * size if (p and b == root) else 0.0)
                bases[b] = rm.compose(turns[k], loc, np.linalg.norm(static[b][:3, :3], axis=0))
            probe.set(bases)
            pose = _pose_matrices(obj, rig.index)[idx]
            basis = _pose_matrices(obj, rig.index, "matrix_basis")[idx]
            pose_rot.append(rm.unscale(pose[:, :3, :3]))
            basis_rot.append(rm.unscale(basis[:, :3, :3]))
            if root is not None:
                root_pose.append(pose[bones.index(root)])
                root_basis.append(basis[bones.index(root)])
            yield 0.3 + 0.05 * p / probes
    return cm.fit(bones, np.stack(pose_rot), np.stack(basis_rot), root=root,
                  root_pose=np.stack(root_pose) if root is not None else None,
                  root_basis=np.stack(root_basis) if root is not None else None, tol_deg=tol_deg)


def rig_signature(obj: bpy.types.Object, bones: list[str]) -> tuple:
    """Everything a constraint model of these bones depends on: every bone
    in their chains up to the root with its constraints (type, influence,
    target, spaces, mute), inheritance, custom properties (Rigify's IK/FK
    switches and follow sliders) and, for unkeyed bones, current basis. Equal
    signatures let a measured model be reused without probing the rig again."""
    data_bones, pose = obj.data.bones, obj.pose.bones
    chain: set[str] = set()
    for name in bones:
        b = data_bones[name]
        while b is not None and b.name not in chain:
            chain.add(b.name)
            b = b.parent
    keyed = set(bones)
    items = []
    for name in sorted(chain):
        pb, b = pose[name], data_bones[name]
        cons = tuple((c.type, round(float(c.influence), 6), getattr(c, "subtarget", ""), getattr(c, "mix_mode", ""),
                      c.owner_space, getattr(c, "target_space", ""), c.mute) for c in pb.constraints)
        props = tuple(sorted((k, repr(pb[k])) for k in pb.keys()))
        basis = () if name in keyed else tuple(np.round(np.array(pb.matrix_basis), 6).ravel())
        items.append((name, b.parent.name if b.parent else None, cons, props, basis, b.use_inherit_rotation,
                      b.inherit_scale))
    return (obj.name, obj.data.name, len(data_bones), tuple(bones), tuple(items))


# ---------------------------------------------------------------------------
# the operation

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
    rotation_modes: dict[str, str] = field(default_factory=dict)   # bone -> the mode its keys were written in
    ik_fk_switched: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refined: str | None = None               # why the plain-hierarchy solve was not enough (None: it was)
    refine_method: str | None = None         # "model" (measured constraint model) or "evaluation"
    model_cached: bool = False               # the model was measured on this rig before (not probed again)
    refine_passes: int = 0
    refine_error_deg: float = 0.0            # largest bone rotation error left (checked frames)
    held: tuple[bool, bool] = (False, False)
    seconds: dict[str, float] = field(default_factory=dict)


class RetargetJob:
    """``motion`` onto armature ``obj``, in steps (see :func:`retarget_motion`
    for the arguments; iterate :meth:`steps`, then read :attr:`report`)."""

    def __init__(self, obj: bpy.types.Object, motion: Mapping[str, Any] | rm.EngineMotion,
                 bone_map: Mapping[str, str] | None = None, *, action: bpy.types.Action | None = None,
                 frame_start: int | None = None, frame_end: int | None = None, replace_range: bool = False,
                 root_motion: str = "relative", keep_rig_facing: bool = True, assign_action: bool = True,
                 interpolation: str = 'LINEAR', refine: bool | None = None, refine_passes: int = 6,
                 refine_tol_deg: float = 0.05, hold: tuple[bool, bool] = (False, False),
                 hold_fade: int | None = None, reduce: kr.KeyReduction | None = None,
                 changes: ChangeLog | None = None, root_offset: np.ndarray | None = None):
        self.obj = obj
        self.motion = motion
        self.bone_map = bone_map
        self.action = action
        self.frame_start, self.frame_end = frame_start, frame_end
        self.replace_range = replace_range
        self.root_motion = root_motion
        self.keep_rig_facing = keep_rig_facing
        self.assign_action = assign_action
        self.interpolation = interpolation
        self.refine = refine
        self.refine_passes = refine_passes
        self.refine_tol_deg = refine_tol_deg
        self.hold = (bool(hold[0]), bool(hold[1]))
        self.hold_fade = hold_fade
        self.reduce = reduce
        self.changes = changes
        self.root_offset = root_offset
        self.report: RetargetReport | None = None
        self.keys_written = 0
        self.model_cached = False
        self.signature: tuple | None = None        # rig_signature of the solved bones (the model cache's key)

    # -- steps -------------------------------------------------------------------------------
    def steps(self) -> Iterator[float]:
        """Do the work; yields the fraction done between short steps."""
        t0 = time.perf_counter()
        self._prepare()
        t1 = time.perf_counter()
        yield 0.1
        self._solve()
        t2 = time.perf_counter()
        yield 0.3
        why = constrained_chain(self.obj, list(self.result.quats)) if self.refine is None else \
            ("requested" if self.refine else None)
        method, passes, worst = None, 0, 0.0
        check_after = False
        if why is not None and len(self.written):
            model = yield from self._constraint_model()
            if model is not None:
                # a model measured on this rig before is checked on the frame Blender shows after the
                # keys are written (one evaluation that happens anyway), when the keys are the plain solve
                check_after = self.model_cached and not any(self.hold) and \
                    bpy.context.scene.frame_current in self.frames
                if check_after:
                    method = "model"
                else:
                    worst = yield from self._check_model(model)
                    method = "model" if worst <= self.refine_tol_deg else None
                    if method is None:              # the rig changed in a way the signature missed
                        _MODEL_CACHE.pop(self.signature, None)
            yield 0.45
        t3 = time.perf_counter()
        for attempt in range(2):
            if why is not None and len(self.written) and method is None:
                method = "evaluation"
                for progress in self._write_all(blend=False):
                    yield 0.45 + 0.1 * progress
                for progress, passes, worst in self._refine_by_evaluation():
                    yield 0.55 + 0.35 * progress
            if method == "evaluation" and self._refined_keys_are_final():
                yield 1.0
            else:
                for progress in self._write_all(blend=True):
                    yield (0.9 if method == "evaluation" else 0.5) + (0.1 if method == "evaluation" else 0.5) * progress
            self.target.finish(self.obj)
            if why is None:
                break
            scene = bpy.context.scene
            scene.frame_set(scene.frame_current, subframe=scene.frame_subframe)      # show the new keys
            if not check_after:
                break
            check_after = False
            worst = self._error_now()
            if worst <= self.refine_tol_deg:
                break
            _MODEL_CACHE.pop(self.signature, None)
            method = None                           # the cached model no longer fits: evaluate instead
        t4 = time.perf_counter()
        self.report = RetargetReport(
            action=self.action.name, slot=self.target.slot.identifier if self.target.slot is not None else None,
            api="layered" if self.target.layered else "legacy", frame_start=self.start, frame_end=self.end,
            frames_written=len(self.frames), keys_written=self.keys_written, bone_map=dict(self.mapping),
            skipped_joints=self.result.skipped_joints, root_bone=self.result.root_bone, scale=self.result.scale,
            rotation_modes=dict(self.modes), ik_fk_switched=self.switched, warnings=self.warnings, refined=why,
            refine_method=method, model_cached=self.model_cached, refine_passes=passes,
            refine_error_deg=worst, held=self.hold,
            seconds={"read": t1 - t0, "solve": t2 - t1, "constraints": t3 - t2, "write": t4 - t3,
                     "total": time.perf_counter() - t0})

    def run(self) -> RetargetReport:
        for _ in self.steps():
            pass
        return self.report

    # -- reading -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        obj = self.obj
        scene = bpy.context.scene
        bpy.context.view_layer.update()          # object matrices set from Python are stale until evaluated
        em = self.motion if isinstance(self.motion, rm.EngineMotion) else rm.EngineMotion.from_dict(self.motion)
        self.rig = read_rig_rest(obj)
        self.mapping = resolve_bone_map(obj, self.bone_map)
        start = int(scene.frame_current if self.frame_start is None else self.frame_start)
        end = start + em.num_frames - 1 if self.frame_end is None else int(self.frame_end)
        if end < start:
            raise rm.RetargetError(f"frame_end ({end}) is before frame_start ({start})")
        total = em.num_frames
        n_write = min(total, end - start + 1)
        if n_write < total:
            em = rm.EngineMotion(em.fps, em.joint_names, em.parents, em.rest_offsets, em.local_quats[:n_write],
                                 em.root_translation[:n_write], None)
        self.em, self.start, self.end = em, start, end
        self.frames = start + np.arange(n_write, dtype=np.float64)
        ends = (self.frames == start) | (self.frames == end)
        self.written = self.frames[~ends] if self.replace_range else self.frames
        warnings = []
        fps = float(scene.render.fps) / float(scene.render.fps_base or 1.0)
        if abs(fps - em.fps) > 1e-3:
            warnings.append(f"the motion runs at {em.fps:g} fps but the scene at {fps:g} fps; its frames were keyed "
                            f"one per scene frame (ask the engine for {fps:g} fps to keep the timing)")
        if n_write < total:
            warnings.append(f"only the first {n_write} of {total} frames fit in frames {start}-{end}")
        obj_scale = rm.decompose(np.array(obj.matrix_world))[1]
        if np.ptp(np.abs(obj_scale)) > 1e-4 * np.abs(obj_scale).max():
            warnings.append(f"the armature object {obj.name!r} is scaled non-uniformly "
                            f"{tuple(np.round(obj_scale, 4))}; apply its scale for exact results")
        self.warnings = warnings
        if self.action is None:
            ad = obj.animation_data
            self.action = ad.action if ad is not None and ad.action is not None else \
                bpy.data.actions.new(f"{obj.name}_MotionGPT")
        self.target = ChannelTarget(obj, self.action, assign=self.assign_action)
        self.modes = {bone: obj.pose.bones[bone].rotation_mode for bone in self.mapping.values()}
        self.switched = []
        if any("_fk" in b for b in self.mapping.values()):
            for pb in obj.pose.bones:
                if "IK_FK" in pb.keys() and pb["IK_FK"] != 1.0:
                    if self.changes is not None:
                        self.changes.set_property(pb, "IK_FK", 1.0)
                    else:
                        pb["IK_FK"] = 1.0
                    self.switched.append(pb.name)
        curves = {(fc.data_path, fc.array_index): fc for fc in self.target.fcurves}
        first = start + 1 if self.replace_range else start
        # what the keys give, one evaluation per bone property: the rotation just before the written
        # frames (which they continue) and, at each held end, every mapped bone's basis rotation
        # (quaternion) and the hips bone's location
        held = [k for k in range(2) if self.hold[k]]
        frames = np.array([first - 1.0] + [float((start, end)[k]) for k in held])
        root = self.mapping["pelvis"]
        self.reference: dict[str, np.ndarray | None] = {}
        self.held_rot: list[dict[str, np.ndarray] | None] = [{} if self.hold[k] else None for k in range(2)]
        self.held_loc: list[np.ndarray | None] = [None, None]
        for bone, mode in self.modes.items():
            pb = obj.pose.bones[bone]
            prop, width = modes.rotation_property(mode)
            prefix = bone_path(bone, "")
            has = any((prefix + prop, i) in curves for i in range(width))
            values = property_values(pb, prop, width, curves, frames, prefix) if has or held else None
            self.reference[bone] = values[0] if has else None
            for j, k in enumerate(held, start=1):
                self.held_rot[k][bone] = modes.channels_to_quats(values[j:j + 1], mode)[0]
            if bone == root and held:
                loc = property_values(pb, "location", 3, curves, frames[1:], prefix)
                for j, k in enumerate(held):
                    self.held_loc[k] = loc[j]

    # -- solving -----------------------------------------------------------------------------
    def _solve(self) -> None:
        self.result = rm.retarget(self.em, self.rig, self.mapping, root_motion=self.root_motion,
                                  keep_rig_facing=self.keep_rig_facing, root_offset=self.root_offset)

    def _desired(self) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Armature-space rotation (T, 3, 3) of every keyed bone and the
        hips bone's armature-space matrix (T, 4, 4) the solve aims at."""
        res = self.result
        obj_rot = rm.decompose(self.rig.object_matrix)[0]
        joint_of = {b: j for j, b in res.joint_to_bone.items()}
        rot = {b: obj_rot.T @ res.predicted_rotations[joint_of[b]] for b in res.quats}
        root_m = None
        if res.root_location is not None and res.root_bone is not None:
            head = rm.transform_points(rm.affine_inverse(self.rig.object_matrix),
                                       res.predicted_heads[joint_of[res.root_bone]])
            root_m = rm.compose(rot[res.root_bone], head)
        return rot, root_m

    def _constraint_model(self) -> Iterator[float]:
        """Probe and fit the rig's constraint model and solve with it (yields
        between evaluations); returns the model or None."""
        bones = list(self.result.quats)
        root = self.result.root_bone if self.result.root_location is not None else None
        signature = self.signature = rig_signature(self.obj, bones)
        model = _MODEL_CACHE.get(signature)
        self.model_cached = model is not None
        if model is None:
            model = yield from probe_constraint_model(self.obj, self.rig, bones, root)
            if model is None:
                return None
            while len(_MODEL_CACHE) >= _MODEL_CACHE_SIZE:
                _MODEL_CACHE.pop(next(iter(_MODEL_CACHE)))
            _MODEL_CACHE[signature] = model
        desired, root_m = self._desired()
        basis, root_basis = model.solve(desired, root_m)
        for b, r in basis.items():
            self.result.quats[b] = rm.quat_continuity(rm.matrix_to_quat(r))
        if root_basis is not None:
            self.result.root_location = root_basis[:, :3, 3].copy()
        self.model = model
        return model

    def _check_model(self, model: cm.ConstraintModel) -> Iterator[float]:
        """Largest angle (degrees) between Blender's evaluation and the aim at
        a few frames, with the solved bases set on the rig directly (yields
        between evaluations, returns the angle)."""
        desired, root_m = self._desired()
        res, rig = self.result, self.rig
        bones = list(res.quats)
        idx = [rig.index[b] for b in bones]
        checks = MODEL_CHECK_FRAMES_CACHED if self.model_cached else MODEL_CHECK_FRAMES
        picks = np.unique(np.linspace(0, len(self.frames) - 1, checks).round().astype(int))
        worst = 0.0
        with _PoseProbe(self.obj, bones) as probe:
            for t in picks:
                bases = {}
                for b in bones:
                    static = rig.basis[rig.index[b]]
                    loc = res.root_location[t] if (b == res.root_bone and res.root_location is not None) \
                        else static[:3, 3]
                    bases[b] = rm.compose(rm.quat_to_matrix(res.quats[b][t]), loc,
                                          np.linalg.norm(static[:3, :3], axis=0))
                probe.set(bases)
                pose = _pose_matrices(self.obj, rig.index)[idx]
                for k, b in enumerate(bones):
                    worst = max(worst, float(cm.angle_deg(rm.unscale(pose[k, :3, :3]), desired[b][t])))
                if root_m is not None:
                    k = bones.index(res.root_bone)
                    size = rig.size or 1.0
                    if np.linalg.norm(pose[k, :3, 3] - root_m[t, :3, 3]) > 1e-5 * size:
                        worst = max(worst, 360.0)
                yield 0.4
        return worst

    def _error_now(self) -> float:
        """Largest angle (degrees) between the rig as Blender shows it now and
        the aim at the current frame."""
        desired, _ = self._desired()
        t = int(np.flatnonzero(self.frames == bpy.context.scene.frame_current)[0])
        pose = _pose_matrices(self.obj, self.rig.index)
        return max(float(cm.angle_deg(rm.unscale(pose[self.rig.index[b], :3, :3]), desired[b][t]))
                   for b in self.result.quats)

    def _refine_by_evaluation(self) -> Iterator[tuple[float, int, float]]:
        """Correct the keys of a rig the model cannot explain: evaluate the
        written pose with Blender at the written frames and re-solve each
        bone's basis from the measured parent transform,
        ``basis' = basis @ actual^-1 @ desired``, until every bone is within
        ``refine_tol_deg`` (or the passes run out). Yields (progress, passes, worst error)."""
        res, rig = self.result, self.rig
        desired, root_m = self._desired()
        sel = np.isin(self.frames, self.written)
        root = res.root_bone if root_m is not None else None
        pos_tol = 1e-5 * rig.size
        n = int(sel.sum())
        worst = 0.0
        for k in range(self.refine_passes + 1):
            pose = np.empty((n, len(rig.names), 4, 4))
            for i, frame_pose in enumerate(_evaluated_poses(self.obj, self.frames[sel], rig.index)):
                pose[i] = frame_pose
                if i % EVALUATIONS_PER_STEP == EVALUATIONS_PER_STEP - 1:
                    yield (k + i / n) / (self.refine_passes + 1), k, worst
            worst = max(float(cm.angle_deg(rm.unscale(pose[:, rig.index[b], :3, :3]), desired[b][sel]).max())
                        for b in res.quats)
            drift = 0.0 if root is None else \
                float(np.linalg.norm(pose[:, rig.index[root], :3, 3] - root_m[sel, :3, 3], axis=-1).max())
            if (worst <= self.refine_tol_deg and drift <= pos_tol) or k == self.refine_passes:
                yield 1.0, k, worst
                return
            for b, q_all in res.quats.items():
                q = q_all[sel]
                actual = pose[:, rig.index[b]]
                if b == root:
                    # pose = X @ basis  =>  basis' = X^-1 @ desired (rotation and head position)
                    basis = rm.compose(rm.quat_to_matrix(q), res.root_location[sel])
                    x = actual @ rm.affine_inverse(basis)
                    new = rm.affine_inverse(x) @ root_m[sel]
                    res.root_location[sel] = new[:, :3, 3]
                    rot = new[:, :3, :3]
                else:
                    rot = rm.quat_to_matrix(q) @ np.swapaxes(rm.unscale(actual[:, :3, :3]), -1, -2) @ desired[b][sel]
                q_all[sel] = rm.quat_continuity(rm.matrix_to_quat(rm.unscale(rot)), q[0])
            for _ in self._write_all(blend=False):
                pass

    # -- writing -----------------------------------------------------------------------------
    def _channel_values(self, blend: bool) -> dict[tuple[str, str], np.ndarray]:
        """{(bone, property): (T, n) values to key}: rotations in each bone's
        own mode (eased into held poses when ``blend``), the hips' location."""
        res = self.result
        n = len(self.frames)
        w0, w1 = rm.hold_weights(n, *self.hold, fade=self.hold_fade)
        out = {}
        for bone, q in res.quats.items():
            if blend and any(self.hold):
                q = rm.blend_to_held(q, w0, w1, *(h[bone] if h is not None else None for h in self.held_rot))
            prop, _ = modes.rotation_property(self.modes[bone])
            out[(bone, prop)] = modes.rotation_channels(q, self.modes[bone], self.reference[bone])
        if res.root_location is not None and res.root_bone is not None:
            loc = res.root_location
            if blend and any(self.hold):
                loc = rm.blend_points_to_held(loc, w0, w1, *self.held_loc)
            out[(res.root_bone, "location")] = loc
        return out

    def _reduction_error(self, bone: str, prop: str):
        """error(fit, values) -> (T,) in units of the Reduce Keys tolerance:
        the rotation's angle (all its channels together) or the hips' distance."""
        if prop == "location":
            scale = float(np.abs(rm.decompose(self.rig.object_matrix)[1]).max()) or 1.0
            unit = float(bpy.context.scene.unit_settings.scale_length or 1.0)
            tol = self.reduce.location_m / (scale * unit)
            return lambda fit, v: np.linalg.norm(fit - v, axis=-1) / tol
        tol = np.radians(self.reduce.rotation_deg)
        mode = self.modes[bone]

        def angle(fit: np.ndarray, v: np.ndarray) -> np.ndarray:
            a, b = modes.channels_to_quats(fit, mode), modes.channels_to_quats(v, mode)
            return 2.0 * np.arccos(np.clip(np.abs((a * b).sum(-1)), 0.0, 1.0)) / tol
        return angle

    def _refined_keys_are_final(self) -> bool:
        """Whether the keys the refinement by evaluation wrote last are the
        ones the final write would write: it writes the current solve
        (:meth:`_refine_by_evaluation` ends without changing it) at the
        written frames over [written[0], written[-1]], which is every frame
        over [start, end] without ``replace_range`` when the motion reaches
        ``end``; the final write differs only by blending into held ends and
        reducing keys."""
        return (not any(self.hold) and self.reduce is None and not self.replace_range
                and float(self.end) == float(self.frames[-1]))

    def _write_all(self, blend: bool) -> Iterator[float]:
        values = self._channel_values(blend)
        sel = np.isin(self.frames, self.written) if not blend else np.ones(len(self.frames), dtype=bool)
        lo, hi = (self.start, self.end) if blend else (float(self.written[0]), float(self.written[-1]))
        open_range = self.replace_range if blend else False
        frames = self.frames[sel]
        items = list(values.items())
        self.keys_written = 0
        for k, ((bone, prop), vals) in enumerate(items):
            vals = vals[sel]
            keys, handles = np.arange(len(frames)), None
            if blend and self.reduce is not None and len(frames) > 2:
                keys = kr.reduce_keys(frames, vals, error=self._reduction_error(bone, prop))
                handles = kr.smooth_handles(frames[keys], vals[keys])
            path = bone_path(bone, prop)
            for i in range(vals.shape[1]):
                fc = self.target.ensure(path, i, bone, self.changes)
                h = None if handles is None else (handles[0][:, i], handles[1][:, i])
                self.keys_written += write_fcurve(fc, frames[keys], vals[keys, i], lo=lo, hi=hi,
                                                  open_range=open_range, interpolation=self.interpolation,
                                                  handles=h, changes=self.changes, target=self.target)
            if k % BONES_PER_STEP == BONES_PER_STEP - 1:
                yield (k + 1) / len(items)
        yield 1.0


def retarget_motion(obj: bpy.types.Object, motion: Mapping[str, Any] | rm.EngineMotion,
                    bone_map: Mapping[str, str] | None = None, **kw) -> RetargetReport:
    """Key ``motion`` (the engine's motion dict) onto armature ``obj``.

    bone_map: engine joint -> bone (auto-detected when None). action: the
    action to write into (default: the object's action, else a new
    "<object>_MotionGPT" action); it is assigned to the object unless
    ``assign_action`` is False. frame_start: scene frame of the motion's
    first frame (default: the current frame); frame_end: last frame written
    (default: frame_start + frames - 1). See the module docstring for
    ``replace_range``, ``hold`` / ``hold_fade``, ``reduce`` (a
    :class:`key_reduction.KeyReduction`) and ``changes``; ``root_motion`` /
    ``keep_rig_facing``: see :func:`retarget_math.retarget`. refine: correct
    the plain-hierarchy solve for constraints and partial inheritance
    between the mapped bones (a generated Rigify rig); None decides from the
    rig (:func:`constrained_chain`).
    """
    return RetargetJob(obj, motion, bone_map, **kw).run()

"""F-curves: where an object's keys live, reading them, writing them in bulk,
and putting them back (bpy glue).

Writing keys
------------
:func:`write_fcurve` replaces the keys of one curve inside a frame range and
leaves every other key bit-identical in every field (co, handles,
interpolation, handle types, key type, easing, back/amplitude/period,
selection). It never asks Blender to recalculate handles or to sort: the
curve's keys are rebuilt in frame order from the saved fields of the kept
keys and the new ones (a handle recalculation would move the handles of the
user's keys next to the written range).

Putting keys back
-----------------
A :class:`ChangeLog` remembers, before a curve is first written, all of its
keys (or that the curve was created), and :meth:`ChangeLog.rollback` restores
them. The operators use it so that a job cancelled or failing while its keys
are being written leaves the action as it was.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import bpy
import numpy as np

KEY_FIELDS: dict[str, tuple[int, type]] = {
    "co": (2, np.float32), "handle_left": (2, np.float32), "handle_right": (2, np.float32),
    "interpolation": (1, np.int32), "handle_left_type": (1, np.int32), "handle_right_type": (1, np.int32),
    "type": (1, np.int32), "easing": (1, np.int32),
    "back": (1, np.float32), "amplitude": (1, np.float32), "period": (1, np.float32),
    "select_control_point": (1, bool), "select_left_handle": (1, bool), "select_right_handle": (1, bool),
}
"""Every field of a keyframe that a write must keep (width, dtype)."""


def enum_value(prop: str, name: str) -> int:
    return bpy.types.Keyframe.bl_rna.properties[prop].enum_items[name].value


def layered_actions() -> bool:
    """True on Blender 4.4+, whose actions have slots, layers and strips."""
    return "slots" in bpy.types.Action.bl_rna.properties and "layers" in bpy.types.Action.bl_rna.properties


def object_fcurves(obj: bpy.types.Object) -> list:
    """The F-curves animating ``obj`` in its active action (its slot's on 4.4+)."""
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


def action_prop(obj, name: str) -> str | None:
    """The ID property ``name`` of the object's active action, as text (None
    without an action or the property)."""
    ad = getattr(obj, "animation_data", None) if obj is not None else None
    action = ad.action if ad is not None else None
    value = action.get(name) if action is not None else None
    return str(value) if value is not None else None


def bone_path(bone: str, prop: str) -> str:
    """``pose.bones["bone"].prop`` with the bone name escaped."""
    return f'pose.bones["{bpy.utils.escape_identifier(bone)}"].{prop}'


# ---------------------------------------------------------------------------
# where the keys go

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

    def ensure(self, data_path: str, index: int, group: str, changes: "ChangeLog | None" = None):
        fc = self.find(data_path, index)
        if fc is not None:
            return fc
        if not self.layered:
            fc = self.action.fcurves.new(data_path, index=index, action_group=group)
        else:
            fc = self.bag.fcurves.new(data_path, index=index)
            grp = next((g for g in self.bag.groups if g.name == group), None) or self.bag.groups.new(group)
            fc.group = grp
        if changes is not None:
            changes.created(self, data_path, index)
        return fc

    def remove(self, fc) -> None:
        self.fcurves.remove(fc)


# ---------------------------------------------------------------------------
# reading keys

def read_keys(fc) -> dict[str, np.ndarray]:
    """Every field of every key of ``fc``: {field: (n, width) array}."""
    kps = fc.keyframe_points
    n = len(kps)
    out = {}
    for prop, (width, dtype) in KEY_FIELDS.items():
        buf = np.empty(n * width, dtype=dtype)
        if n:
            kps.foreach_get(prop, buf)
        out[prop] = buf.reshape(n, width)
    return out


def set_keys(fc, keys: Mapping[str, np.ndarray]) -> None:
    """Replace all keys of ``fc`` by ``keys`` (as :func:`read_keys` returns, in frame order)."""
    kps = fc.keyframe_points
    n = len(keys["co"])
    kps.clear()
    if n:
        kps.add(n)
        for prop, arr in keys.items():
            kps.foreach_set(prop, np.ascontiguousarray(arr).ravel())


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
    if fc.extrapolation != 'CONSTANT' or np.any(np.diff(kf) <= 0):
        return np.array([fc.evaluate(float(f)) for f in frames])
    if np.all(interp[:-1] == enum_value("interpolation", "LINEAR")):
        return np.interp(frames, kf, kv)
    if np.all(interp[:-1] == enum_value("interpolation", "CONSTANT")):
        idx = np.clip(np.searchsorted(kf, frames, side="right") - 1, 0, n - 1)
        return kv[idx]
    return np.array([fc.evaluate(float(f)) for f in frames])


def curve_map(obj: bpy.types.Object) -> dict[tuple[str, int], Any]:
    """{(data_path, index): F-curve} of the object's active action."""
    return {(fc.data_path, fc.array_index): fc for fc in object_fcurves(obj)}


def property_values(pb, prop: str, width: int, curves: Mapping[tuple[str, int], Any], frames: np.ndarray,
                    prefix: str | None = None) -> np.ndarray:
    """(T, width) values of a pose bone's property at ``frames``: its
    F-curves where they exist, its current value elsewhere."""
    prefix = prefix or bone_path(pb.name, "")
    static = tuple(getattr(pb, prop))
    cols = []
    for i in range(width):
        fc = curves.get((prefix + prop, i))
        cols.append(evaluate_fcurve(fc, frames) if fc is not None else np.full(len(frames), static[i], dtype=np.float64))
    return np.stack(cols, axis=-1)


# ---------------------------------------------------------------------------
# writing keys

def write_fcurve(fc, frames: np.ndarray, values: np.ndarray, *, lo: float, hi: float, open_range: bool,
                 interpolation: str = 'LINEAR', handles: tuple[np.ndarray, np.ndarray] | None = None,
                 changes: "ChangeLog | None" = None, target: ChannelTarget | None = None) -> int:
    """Replace the keys of ``fc`` in [lo, hi] (or (lo, hi) with
    ``open_range``, keeping and not overwriting keys at lo and hi) by keys at
    ``frames`` with ``values``; keys elsewhere stay bit-identical in every
    field. ``handles``: (left, right) (n, 2) Bezier handles of the new keys
    (then they are BEZIER with ALIGNED handles, which Blender never
    recomputes); without them new keys are ``interpolation`` with
    AUTO_CLAMPED handles a third of the way to their neighbours. Returns the
    number of keys written."""
    frames = np.asarray(frames, dtype=np.float32)
    values = np.asarray(values, dtype=np.float32)
    old = read_keys(fc)
    if changes is not None and target is not None:
        changes.remember(target, fc, keys=old)
    old_frames = old["co"][:, 0]
    if open_range:
        kill = (old_frames > lo) & (old_frames < hi)
        ends = old_frames[(old_frames == np.float32(lo)) | (old_frames == np.float32(hi))]
        taken = np.isin(frames, ends)
        frames, values = frames[~taken], values[~taken]
        if handles is not None:
            handles = (handles[0][~taken], handles[1][~taken])
    else:
        kill = (old_frames >= lo) & (old_frames <= hi)
    n_new = len(frames)
    if n_new == 0 and not kill.any():
        return 0
    new = {prop: np.zeros((n_new, width), dtype=dtype) for prop, (width, dtype) in KEY_FIELDS.items()}
    co = np.stack([frames, values], axis=-1)
    new["co"][:] = co
    if handles is None:
        prev = np.concatenate([co[:1] - [1.0, 0.0], co[:-1]]) if n_new else co
        nxt = np.concatenate([co[1:], co[-1:] + [1.0, 0.0]]) if n_new else co
        new["handle_left"][:] = co + (prev - co) / 3.0
        new["handle_right"][:] = co + (nxt - co) / 3.0
        new["interpolation"][:] = enum_value("interpolation", interpolation)
    else:
        new["handle_left"][:], new["handle_right"][:] = handles
        new["interpolation"][:] = enum_value("interpolation", 'BEZIER')
    handle_type = 'AUTO_CLAMPED' if handles is None else 'ALIGNED'     # ALIGNED: Blender keeps our shape
    new["handle_left_type"][:] = enum_value("handle_left_type", handle_type)
    new["handle_right_type"][:] = enum_value("handle_right_type", handle_type)
    new["type"][:] = enum_value("type", 'KEYFRAME')
    new["easing"][:] = enum_value("easing", 'AUTO')
    new["back"][:], new["amplitude"][:], new["period"][:] = 1.70158, 0.8, 4.1    # Blender's defaults
    keep = ~kill
    merged = {prop: np.concatenate([old[prop][keep], new[prop]]) for prop in KEY_FIELDS}
    order = np.argsort(merged["co"][:, 0], kind="stable")
    set_keys(fc, {prop: arr[order] for prop, arr in merged.items()})
    return n_new


# ---------------------------------------------------------------------------
# putting keys back

@dataclass
class _Saved:
    target: ChannelTarget
    data_path: str
    index: int
    keys: dict[str, np.ndarray] | None          # None: the curve did not exist


@dataclass
class ChangeLog:
    """What writes changed, so :meth:`rollback` can restore it (see module doc)."""
    saved: dict[tuple[int, str, int], _Saved] = field(default_factory=dict)
    properties: list[tuple[Any, str, Any]] = field(default_factory=list)

    def _key(self, target: ChannelTarget, data_path: str, index: int) -> tuple[int, str, int]:
        return (id(target), data_path, index)

    def remember(self, target: ChannelTarget, fc, keys: Mapping[str, np.ndarray] | None = None) -> None:
        """Save every key of ``fc`` (``keys``: what :func:`read_keys` gives for
        it now, when the caller has read them already) unless it is saved."""
        key = self._key(target, fc.data_path, fc.array_index)
        if key not in self.saved:
            self.saved[key] = _Saved(target, fc.data_path, fc.array_index,
                                     dict(keys) if keys is not None else read_keys(fc))

    def created(self, target: ChannelTarget, data_path: str, index: int) -> None:
        key = self._key(target, data_path, index)
        if key not in self.saved:
            self.saved[key] = _Saved(target, data_path, index, None)

    def set_property(self, owner, name: str, value) -> None:
        """Set ``owner[name]`` (an ID property, e.g. Rigify's IK_FK) and remember the old value."""
        self.properties.append((owner, name, owner.get(name)))
        owner[name] = value

    def rollback(self) -> None:
        for saved in reversed(list(self.saved.values())):
            fc = saved.target.find(saved.data_path, saved.index)
            if fc is None:
                continue
            if saved.keys is None:
                saved.target.remove(fc)
            else:
                set_keys(fc, saved.keys)
        for owner, name, value in reversed(self.properties):
            if value is None:
                del owner[name]
            else:
                owner[name] = value
        self.saved.clear()
        self.properties.clear()

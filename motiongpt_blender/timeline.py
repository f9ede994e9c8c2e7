"""The Timeline section: a shot from several prompts, one after another and at
once on body parts (the engine's ``compose`` task).

The items live on the scene (``scene.motiongpt.timeline``, saved with the
file); Generate Timeline (in ``operators``) writes ONE new action from the
first item's first frame, with the same stash rules as Generate, and stores
the timeline on that action (``action["motiongpt_timeline"]``) so "From
Action" brings back the timeline that made it.
"""
from __future__ import annotations

import json

import bpy
from bpy.props import IntProperty

from .animation import TIMELINE_PROP
from .fcurves import action_prop
from .props import BODY_PART_ITEMS

DEFAULT_ITEM_SECONDS = 3.0


def _settings(context):
    return context.scene.motiongpt


class MOTIONGPT_UL_timeline(bpy.types.UIList):
    """One row per item: prompt, frames, body part."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        row.prop(item, "prompt", text="", emboss=False)
        sub = row.row(align=True)
        sub.scale_x = 0.55
        sub.prop(item, "frame_start", text="")
        sub.prop(item, "frame_end", text="")
        part = row.row(align=True)
        part.scale_x = 0.8
        part.prop(item, "part", text="")


class MOTIONGPT_OT_timeline_add(bpy.types.Operator):
    """Add a timeline item after the last one (or over the scene's first frames)"""
    bl_idname = "motiongpt.timeline_add"
    bl_label = "Add Item"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        s = _settings(context)
        scene = context.scene
        fps = scene.render.fps / scene.render.fps_base
        start = max((it.frame_end for it in s.timeline), default=scene.frame_start - 1) + 1
        item = s.timeline.add()
        item.frame_start = start
        item.frame_end = start + int(round(DEFAULT_ITEM_SECONDS * fps))
        s.timeline_index = len(s.timeline) - 1
        return {'FINISHED'}


class MOTIONGPT_OT_timeline_remove(bpy.types.Operator):
    """Remove the selected timeline item"""
    bl_idname = "motiongpt.timeline_remove"
    bl_label = "Remove Item"
    bl_options = {'REGISTER', 'UNDO'}

    index: IntProperty(default=-1, options={'HIDDEN', 'SKIP_SAVE'})

    def execute(self, context):
        s = _settings(context)
        index = self.index if self.index >= 0 else s.timeline_index
        if not 0 <= index < len(s.timeline):
            return {'CANCELLED'}
        s.timeline.remove(index)
        s.timeline_index = min(index, len(s.timeline) - 1)
        return {'FINISHED'}


class MOTIONGPT_OT_timeline_from_markers(bpy.types.Operator):
    """Make one item per timeline marker: from the marker to the next (the last to the scene's end), its name \
as the prompt"""
    bl_idname = "motiongpt.timeline_from_markers"
    bl_label = "From Markers"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        scene = context.scene
        markers = sorted(scene.timeline_markers, key=lambda m: m.frame)
        if not markers:
            self.report({'ERROR'}, "The scene has no timeline markers; add some (M in the Timeline) and name "
                                   "each with what happens from there")
            return {'CANCELLED'}
        s = _settings(context)
        s.timeline.clear()
        for k, marker in enumerate(markers):
            end = markers[k + 1].frame - 1 if k + 1 < len(markers) else scene.frame_end
            if end <= marker.frame:
                continue
            item = s.timeline.add()
            item.prompt = marker.name
            item.frame_start, item.frame_end = marker.frame, end
        s.timeline_index = 0
        self.report({'INFO'}, f"{len(s.timeline)} timeline items from {len(markers)} markers")
        return {'FINISHED'}


class MOTIONGPT_OT_timeline_from_action(bpy.types.Operator):
    """Bring back the timeline that made the active action"""
    bl_idname = "motiongpt.timeline_from_action"
    bl_label = "From Action"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        return stored_timeline(context.active_object) is not None

    def execute(self, context):
        rows = stored_timeline(context.active_object)
        if rows is None:
            self.report({'ERROR'}, "The active action was not made from a timeline")
            return {'CANCELLED'}
        s = _settings(context)
        s.timeline.clear()
        for row in rows:
            item = s.timeline.add()
            item.prompt = str(row.get("prompt", ""))[:1000]
            item.frame_start, item.frame_end = int(row["frame_start"]), int(row["frame_end"])
            if row.get("part") in {p[0] for p in BODY_PART_ITEMS}:
                item.part = row["part"]
        return {'FINISHED'}


def stored_timeline(obj) -> list[dict] | None:
    """The rows of the timeline stored on ``obj``'s active action (None without one)."""
    if obj is None or obj.type != 'ARMATURE':
        return None
    raw = action_prop(obj, TIMELINE_PROP)
    if not isinstance(raw, str) or len(raw) > 1_000_000:
        return None
    try:
        rows = json.loads(raw).get("items")
    except (ValueError, AttributeError, RecursionError):
        return None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("frame_start"), int)
                                             and isinstance(r.get("frame_end"), int) for r in rows):
        return None
    return rows


classes = (MOTIONGPT_UL_timeline, MOTIONGPT_OT_timeline_add, MOTIONGPT_OT_timeline_remove,
           MOTIONGPT_OT_timeline_from_markers, MOTIONGPT_OT_timeline_from_action)

"""View3D > Sidebar > MotionGPT, and a MotionGPT menu in the Dope Sheet's and
Graph Editor's Key menus (where animators select keys)."""
from __future__ import annotations

import textwrap

import bpy

from . import animation, bone_map_editor as bme, bone_maps, operators, prompt_help


def _wrap(text: str, width: int = 38) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False)


def _width_chars(context) -> int:
    region = context.region
    return max(20, int((region.width if region else 300) / 7.5))


class _Base:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MotionGPT"


class MOTIONGPT_PT_main(_Base, bpy.types.Panel):
    bl_idname = "MOTIONGPT_PT_main"
    bl_label = "MotionGPT"

    def draw(self, context):
        layout = self.layout
        obj = context.active_object
        if obj is None or obj.type != 'ARMATURE':
            layout.label(text="Select an armature", icon='INFO')
        else:
            ad = obj.animation_data
            act = ad.action if ad is not None else None
            layout.label(text=f"{obj.name}: {act.name if act else 'no action'}", icon='ARMATURE_DATA')
        st = context.window_manager.motiongpt_status
        s = context.scene.motiongpt
        col = layout.column(align=True)
        col.prop(s, "root_motion", expand=True)
        col.prop(s, "foot_cleanup")
        row = col.row(align=True)
        row.prop(s, "use_seed")
        sub = row.row(align=True)
        sub.active = s.use_seed
        sub.prop(s, "seed", text="")
        col.prop(s, "reduce_keys")
        if s.reduce_keys:
            sub = col.row(align=True)
            sub.prop(s, "reduce_rotation_deg", text="Rotation")
            sub.prop(s, "reduce_location_cm", text="Location")
        if st.running:
            box = layout.box()
            if hasattr(box, "progress"):
                box.progress(factor=st.progress, type='BAR', text=f"{st.task}: {st.message}")
            else:                                                   # pragma: no cover - Blender < 4.0
                box.label(text=f"{st.task}: {int(st.progress * 100)}% {st.message}")
            box.operator(operators.MOTIONGPT_OT_cancel_job.bl_idname, icon='CANCEL')
        elif st.last:
            for line in _wrap(st.last, _width_chars(context)):
                layout.label(text=line)


class MOTIONGPT_PT_generate(_Base, bpy.types.Panel):
    bl_label = "Generate"
    bl_parent_id = "MOTIONGPT_PT_main"

    def draw(self, context):
        s = context.scene.motiongpt
        layout = self.layout
        layout.enabled = operators.active_runner() is None
        layout.prop(s, "prompt", text="")
        row = layout.row(align=True)
        row.prop(s, "seconds")
        row.prop(s, "variants")
        layout.prop(s, "add_as_nla")
        layout.prop(s, "follow_path")
        if s.follow_path:
            col = layout.column(align=True)
            col.prop(s, "path_curve", text="", icon='CURVE_BEZCURVE')
            col.row(align=True).prop(s, "path_start", expand=True)
            col.prop(s, "path_timing", text="")
        layout.operator(operators.MOTIONGPT_OT_generate.bl_idname, icon='PLAY')
        prompt_help.draw(layout, context, lambda text: _wrap(text, _width_chars(context)))


class MOTIONGPT_PT_fill_gap(_Base, bpy.types.Panel):
    bl_label = "Fill Gap"
    bl_parent_id = "MOTIONGPT_PT_main"

    def draw(self, context):
        s = context.scene.motiongpt
        layout = self.layout
        layout.enabled = operators.active_runner() is None
        layout.prop(s, "gap_source", expand=True)
        if s.gap_source == 'FRAMES':
            row = layout.row(align=True)
            row.prop(s, "gap_from")
            row.prop(s, "gap_to")
        layout.prop(s, "gap_prompt")
        layout.operator(operators.MOTIONGPT_OT_fill_gap.bl_idname, icon='IPO_EASE_IN_OUT')


class MOTIONGPT_PT_continue(_Base, bpy.types.Panel):
    bl_label = "Continue"
    bl_parent_id = "MOTIONGPT_PT_main"

    def draw(self, context):
        s = context.scene.motiongpt
        layout = self.layout
        layout.enabled = operators.active_runner() is None
        layout.prop(s, "continue_seconds")
        layout.prop(s, "continue_prompt")
        row = layout.row(align=True)
        row.prop(s, "continue_follow_path")
        if s.continue_follow_path:
            row.prop(s, "path_curve", text="", icon='CURVE_BEZCURVE')
        layout.operator(operators.MOTIONGPT_OT_continue.bl_idname, icon='FF')


class MOTIONGPT_PT_caption(_Base, bpy.types.Panel):
    bl_label = "Caption"
    bl_parent_id = "MOTIONGPT_PT_main"

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.enabled = operators.active_runner() is None
        col.operator(operators.MOTIONGPT_OT_caption.bl_idname, icon='TEXT')
        caption = animation.caption_of(context.active_object)
        if caption:
            box = layout.box()
            for line in _wrap(caption, _width_chars(context)):
                box.label(text=line)


class MOTIONGPT_PT_timeline(_Base, bpy.types.Panel):
    bl_label = "Timeline"
    bl_parent_id = "MOTIONGPT_PT_main"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        from . import timeline
        s = context.scene.motiongpt
        layout = self.layout
        layout.enabled = operators.active_runner() is None
        row = layout.row()
        row.template_list(timeline.MOTIONGPT_UL_timeline.__name__, "", s, "timeline", s, "timeline_index", rows=3)
        col = row.column(align=True)
        col.operator(timeline.MOTIONGPT_OT_timeline_add.bl_idname, text="", icon='ADD')
        col.operator(timeline.MOTIONGPT_OT_timeline_remove.bl_idname, text="", icon='REMOVE')
        row = layout.row(align=True)
        row.operator(timeline.MOTIONGPT_OT_timeline_from_markers.bl_idname, icon='MARKER_HLT')
        row.operator(timeline.MOTIONGPT_OT_timeline_from_action.bl_idname, icon='ACTION')
        layout.prop(s, "transition_seconds")
        layout.operator(operators.MOTIONGPT_OT_generate_timeline.bl_idname, icon='SEQUENCE')


class MOTIONGPT_PT_bone_map(_Base, bpy.types.Panel):
    """Which bone plays which joint: shown when auto-detection is right,
    editable when it is not."""
    bl_label = "Bone Map"
    bl_parent_id = "MOTIONGPT_PT_main"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        layout = self.layout
        obj = context.active_object
        if obj is None or obj.type != 'ARMATURE':
            layout.label(text="Select an armature", icon='INFO')
            return
        bmap = bme.stored(obj.data)
        has_slots = len(bmap.slots) == len(bone_maps.JOINT_NAMES)
        ready, message = bme.status_of(obj)
        box = layout.box()
        for i, line in enumerate(_wrap(message, _width_chars(context))):
            box.label(text=line, icon=('CHECKMARK' if ready else 'ERROR') if i == 0 else 'BLANK1')
        if has_slots:
            layout.prop(bmap, "use_custom")
        if not bmap.use_custom or not has_slots:
            det = bme.detection_for(obj)
            layout.label(text=f"Auto-detected: {bme.source_label(det.source)}")
            layout.operator_menu_enum(bme.MOTIONGPT_OT_bone_map_fill.bl_idname, "preset", text="Edit Bone Map From",
                                      icon='BONE_DATA')
        else:
            if bmap.source:
                layout.label(text=f"Started from: {bme.source_label(bmap.source)}")
            col = layout.column(align=True)
            for slot in bmap.slots:
                col.prop_search(slot, "bone", obj.data, "bones", text=bone_maps.JOINT_LABELS.get(slot.joint, slot.joint))
            layout.operator_menu_enum(bme.MOTIONGPT_OT_bone_map_fill.bl_idname, "preset", text="Refill From",
                                      icon='FILE_REFRESH')
        row = layout.row(align=True)
        row.operator(bme.MOTIONGPT_OT_bone_map_load.bl_idname, text="Load", icon='FILE_FOLDER')
        row.operator(bme.MOTIONGPT_OT_bone_map_save.bl_idname, text="Save", icon='FILE_TICK')


class MOTIONGPT_MT_keys(bpy.types.Menu):
    """MotionGPT in the Dope Sheet / Graph Editor Key menu: Fill Gap works on
    the keys selected there."""
    bl_idname = "MOTIONGPT_MT_keys"
    bl_label = "MotionGPT"

    def draw(self, context):
        layout = self.layout
        op = layout.operator(operators.MOTIONGPT_OT_fill_gap.bl_idname, text="Fill Gap Between Selected Keys",
                             icon='IPO_EASE_IN_OUT')
        op.selected_keys = True
        layout.operator(operators.MOTIONGPT_OT_continue.bl_idname, text="Continue Action", icon='FF')
        layout.operator(operators.MOTIONGPT_OT_generate.bl_idname, text="Generate From Prompt", icon='PLAY')
        layout.operator(operators.MOTIONGPT_OT_caption.bl_idname, text="Caption Action", icon='TEXT')


def draw_key_menu(self, context):
    self.layout.separator()
    self.layout.menu(MOTIONGPT_MT_keys.bl_idname, icon='ARMATURE_DATA')


KEY_MENUS = ("DOPESHEET_MT_key", "GRAPH_MT_key")


def register_menus() -> None:
    for name in KEY_MENUS:
        menu = getattr(bpy.types, name, None)
        if menu is not None:
            menu.append(draw_key_menu)


def unregister_menus() -> None:
    for name in KEY_MENUS:
        menu = getattr(bpy.types, name, None)
        if menu is not None:
            menu.remove(draw_key_menu)


classes = (MOTIONGPT_PT_main, MOTIONGPT_PT_generate, MOTIONGPT_PT_fill_gap, MOTIONGPT_PT_continue,
           MOTIONGPT_PT_caption, MOTIONGPT_PT_timeline, MOTIONGPT_PT_bone_map, MOTIONGPT_MT_keys)

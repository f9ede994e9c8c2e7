"""The Bone Map editor: which bone of this rig plays which engine joint,
visible, editable, savable.

Auto-detection (``bone_maps.auto_detect``) covers the common naming schemes;
when it guesses wrong or a rig uses its own names, the animator fills the map
in the panel. The map lives on the armature data (``Armature.motiongpt_bone_map``)
so it is saved with the .blend and travels with the rig when it is appended or
linked into a shot. Save/Load write the same JSON as ``bone_maps.save_bone_map``
so a TD can keep one file per character.

The pure logic (presets, detection, validation, JSON) stays in ``bone_maps``;
this module is only the Blender glue.
"""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, PointerProperty, StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import bone_maps
from .retarget import detect_bone_map

AUTO = 'AUTO'


class MotionGPTBoneSlot(bpy.types.PropertyGroup):
    joint: StringProperty(name="Joint", description="The engine joint (one of its 22)")
    bone: StringProperty(name="Bone", description="The rig's bone that plays this joint; empty: the rig has none "
                                                  "(its rotation folds into the next mapped bone)")


class MotionGPTBoneMap(bpy.types.PropertyGroup):
    use_custom: BoolProperty(name="Use This Bone Map", default=False,
                             description="Drive the rig through the map below; off: detect the bones by their names")
    source: StringProperty(name="Started From", default="",
                           description="The preset or detection the map was filled from")
    slots: CollectionProperty(type=MotionGPTBoneSlot)


# ---------------------------------------------------------------------------
# reading and writing the stored map

def stored(armature_data: bpy.types.Armature) -> MotionGPTBoneMap:
    return armature_data.motiongpt_bone_map


def mapping_of(bmap: MotionGPTBoneMap) -> dict[str, str]:
    """The stored map as bone_maps uses it (joints without a bone left out)."""
    return {s.joint: s.bone for s in bmap.slots if s.joint in bone_maps.JOINT_NAMES and s.bone}


def store(bmap: MotionGPTBoneMap, mapping: dict[str, str], source: str) -> None:
    """Write ``mapping`` into the 22 slots (in engine order) and switch the
    rig to it. Not for draw(): Blender forbids writing data while drawing."""
    slots = {s.joint: s for s in bmap.slots}
    if list(slots) != list(bone_maps.JOINT_NAMES):
        bmap.slots.clear()
        for joint in bone_maps.JOINT_NAMES:
            bmap.slots.add().joint = joint
        slots = {s.joint: s for s in bmap.slots}
    for joint, slot in slots.items():
        slot.bone = mapping.get(joint, "")
    bmap.source = source
    bmap.use_custom = True


def custom_bone_map(obj: bpy.types.Object) -> dict[str, str] | None:
    """The map the animator set for this rig, or None to auto-detect."""
    bmap = getattr(obj.data, "motiongpt_bone_map", None)
    if bmap is None or not bmap.use_custom:
        return None
    return mapping_of(bmap)


_DETECTIONS: dict[tuple, bone_maps.Detection] = {}


def detection_for(obj: bpy.types.Object) -> bone_maps.Detection:
    """Auto-detection for the panel, cached on the rig's bone names (the
    panel redraws often; detection tries every preset)."""
    key = (obj.data.name_full, tuple(b.name for b in obj.data.bones),
           tuple(b.parent.name if b.parent else "" for b in obj.data.bones))
    if key not in _DETECTIONS:
        if len(_DETECTIONS) > 32:
            _DETECTIONS.clear()
        _DETECTIONS[key] = detect_bone_map(obj)
    return _DETECTIONS[key]


def status_of(obj: bpy.types.Object) -> tuple[bool, str]:
    """(ready, a sentence for the panel) for the map the operators will use."""
    custom = custom_bone_map(obj)
    mapping = custom if custom is not None else detection_for(obj).mapping
    try:
        clean = bone_maps.validate_bone_map(mapping, [b.name for b in obj.data.bones])
    except bone_maps.BoneMapError as exc:
        return False, str(exc)
    return True, f"Ready: {len(clean)} of {len(bone_maps.JOINT_NAMES)} joints mapped."


def source_label(source: str) -> str:
    if source in bone_maps.PRESETS:
        return bone_maps.PRESETS[source].label
    return {"patterns": "name patterns", "file": "a file"}.get(source, source)


# ---------------------------------------------------------------------------
# operators

def _preset_items(self, context):
    items = [(AUTO, "Auto-Detect", "The best of every preset and the name-pattern detector")]
    items += [(p.key, p.label, p.description) for p in bone_maps.PRESETS.values()]
    return items


class _ArmatureOperator:
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        if obj is None or obj.type != 'ARMATURE':
            cls.poll_message_set("Select an armature first")
            return False
        return True


class MOTIONGPT_OT_bone_map_fill(_ArmatureOperator, bpy.types.Operator):
    """Fill this rig's Bone Map from a preset or the auto-detection, to edit it"""
    bl_idname = "motiongpt.bone_map_fill"
    bl_label = "Fill Bone Map"

    preset: EnumProperty(name="From", items=_preset_items)

    def execute(self, context):
        obj = context.active_object
        if self.preset == AUTO:
            det = detect_bone_map(obj)
            mapping, source = det.mapping, det.source
        else:
            mapping = bone_maps.apply_preset(self.preset, [b.name for b in obj.data.bones])
            source = self.preset
        store(stored(obj.data), mapping, source)
        missing = [label for label, _ in bone_maps.missing_required(mapping)]
        n = len(mapping)
        finder = "Auto-detection" if self.preset == AUTO else f"The {source_label(source)} preset"
        if missing:
            self.report({'WARNING'}, f"{finder} found {n} of {len(bone_maps.JOINT_NAMES)} joints on "
                                     f"{obj.name}; still missing: {', '.join(missing)}. Pick those bones in the "
                                     f"Bone Map panel.")
        else:
            self.report({'INFO'}, f"{obj.name}: {n} of {len(bone_maps.JOINT_NAMES)} joints mapped from "
                                  f"{source_label(source)}.")
        return {'FINISHED'}


class MOTIONGPT_OT_bone_map_save(_ArmatureOperator, ExportHelper, bpy.types.Operator):
    """Save this rig's Bone Map as a JSON file, to reuse on other files of the same character"""
    bl_idname = "motiongpt.bone_map_save"
    bl_label = "Save Bone Map"
    bl_options = {'REGISTER'}

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    def execute(self, context):
        obj = context.active_object
        custom = custom_bone_map(obj)
        if custom is not None:
            mapping, source = custom, stored(obj.data).source or None
        else:
            det = detection_for(obj)
            mapping, source = det.mapping, det.source
        try:
            bone_maps.save_bone_map(self.filepath, mapping, preset=source, rig=obj.name)
        except OSError as exc:
            self.report({'ERROR'}, f"Could not write {self.filepath}: {exc.strerror or exc}. Pick a folder you "
                                   f"can write to.")
            return {'CANCELLED'}
        self.report({'INFO'}, f"Saved the bone map of {obj.name} ({len(mapping)} joints) to {self.filepath}.")
        return {'FINISHED'}


class MOTIONGPT_OT_bone_map_load(_ArmatureOperator, ImportHelper, bpy.types.Operator):
    """Load a Bone Map JSON file onto this rig"""
    bl_idname = "motiongpt.bone_map_load"
    bl_label = "Load Bone Map"

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    def execute(self, context):
        obj = context.active_object
        try:
            mapping = bone_maps.load_bone_map(self.filepath)
        except bone_maps.BoneMapError as exc:
            self.report({'ERROR'}, f"{exc}. Nothing was changed.")
            return {'CANCELLED'}
        store(stored(obj.data), mapping, "file")
        names = {b.name for b in obj.data.bones}
        absent = [f"{bone_maps.JOINT_LABELS[j]} -> {b!r}" for j, b in mapping.items() if b not in names]
        if absent:
            self.report({'WARNING'}, f"Loaded, but {obj.name} has no bones named: {', '.join(absent)}. Pick them "
                                     f"in the Bone Map panel (shown in red).")
        else:
            self.report({'INFO'}, f"Loaded a bone map of {len(mapping)} joints onto {obj.name}.")
        return {'FINISHED'}


classes = (MotionGPTBoneSlot, MotionGPTBoneMap, MOTIONGPT_OT_bone_map_fill, MOTIONGPT_OT_bone_map_save,
           MOTIONGPT_OT_bone_map_load)


def register() -> None:
    bpy.types.Armature.motiongpt_bone_map = PointerProperty(type=MotionGPTBoneMap)


def unregister() -> None:
    del bpy.types.Armature.motiongpt_bone_map
    _DETECTIONS.clear()

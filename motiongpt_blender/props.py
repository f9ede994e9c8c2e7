"""The panel's settings (saved with the scene) and the job status (not saved)."""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

BODY_PART_ITEMS = [
    ('WHOLE', "Whole Body", "The whole body (one after another with the other whole-body items)"),
    ('LOWER_BODY', "Lower Body", "Legs and hips: the locomotion other items ride on"),
    ('UPPER_BODY', "Upper Body", "Spine, head and arms, at the same time as a whole- or lower-body item"),
    ('LEFT_ARM', "Left Arm", "The left arm, at the same time as a whole- or lower-body item"),
    ('RIGHT_ARM', "Right Arm", "The right arm, at the same time as a whole- or lower-body item"),
    ('HEAD', "Head", "Neck and head, at the same time as a whole- or lower-body item"),
]
"""The engine's body parts (engine/pipeline/compose.py BODY_PARTS), as the panel offers them."""


class MotionGPTTimelineItem(bpy.types.PropertyGroup):
    prompt: StringProperty(name="Prompt", default="", description="What happens in this item, e.g. \"a person bows\"")
    frame_start: IntProperty(name="Start", default=1, description="First frame of the item")
    frame_end: IntProperty(name="End", default=48, description="Last frame of the item")
    part: EnumProperty(name="Body Part", default='WHOLE', items=BODY_PART_ITEMS)


PATH_START_ITEMS = [
    ('CHARACTER', "Where It Stands", "The walk starts where the character stands; the curve gives its shape and "
                                     "direction"),
    ('CURVE', "Curve Start", "The walk starts at the curve's first point (the character moves there)"),
]
PATH_TIMING_ITEMS = [
    ('SECONDS', "Seconds", "The path takes the Seconds above, from the current frame"),
    ('SCENE_RANGE', "Frame Range", "The path takes the scene's frame range (keys from its first frame)"),
    ('CURVE_LENGTH', "Curve Length", "The action's own pace over the curve decides how long it takes (a 10 m curve "
                                     "at a walk: about 8 s), from the current frame"),
]


def _is_curve(_self, obj) -> bool:
    return obj.type == 'CURVE'


class MotionGPTSettings(bpy.types.PropertyGroup):
    prompt: StringProperty(name="Prompt", default="",
                           description="What the character does, e.g. \"a person waves with the right hand\"")
    seconds: FloatProperty(name="Seconds", default=4.0, min=0.1, max=60.0, soft_max=20.0, precision=1,
                           description="Length of the generated animation")
    use_seed: BoolProperty(name="Fixed Seed", default=False,
                           description="Use the seed below (same prompt + seed = same motion); off: a new one each time")
    seed: IntProperty(name="Seed", default=0, min=0, max=2**31 - 1)
    variants: IntProperty(name="Variants", default=1, min=1, max=8,
                          description="How many versions to generate; each becomes its own action (the first is "
                                      "assigned, switch in the Action Editor)")
    root_motion: EnumProperty(
        name="Root", default='ROOT',
        items=[('ROOT', "Root Motion", "The hips travel through the scene"),
               ('IN_PLACE', "In Place", "The character stays where it stands (horizontal travel removed)")])
    foot_cleanup: BoolProperty(name="Foot Cleanup", default=True,
                               description="Pin feet that touch the ground so they do not slide")
    add_as_nla: BoolProperty(name="Add as NLA Strip", default=False,
                             description="Generate: put the new motion on an NLA track as a strip at the current "
                                         "frame and leave the active action as it is (to layer and blend clips)")
    reduce_keys: BoolProperty(name="Reduce Keys", default=False,
                              description="Keep only the keys needed (Bezier) instead of one LINEAR key per frame; "
                                          "the curves stay within the tolerances below")
    reduce_rotation_deg: FloatProperty(name="Rotation Tolerance", default=1.0, min=0.01, max=10.0, precision=2,
                                       description="Largest rotation error the reduced keys may have, in degrees")
    reduce_location_cm: FloatProperty(name="Location Tolerance", default=1.0, min=0.01, max=10.0, precision=2,
                                      description="Largest hips position error the reduced keys may have, in "
                                                  "centimetres")
    follow_path: BoolProperty(name="Follow Path", default=False,
                              description="Walk (or run) along a curve you drew: the root follows it, the body faces "
                                          "along it, the feet stay planted")
    path_curve: PointerProperty(name="Curve", type=bpy.types.Object, poll=_is_curve,
                                description="The path: a Bezier, NURBS or poly curve with one spline (its height is "
                                            "ignored; its object transform counts)")
    path_start: EnumProperty(name="Start", default='CHARACTER', items=PATH_START_ITEMS)
    path_timing: EnumProperty(name="Duration", default='SECONDS', items=PATH_TIMING_ITEMS)
    continue_follow_path: BoolProperty(name="Follow Path", default=False,
                                       description="The continuation walks along the curve picked under Generate, "
                                                   "from where the action ends, for the Seconds above")
    gap_source: EnumProperty(
        name="Gap", default='SELECTED',
        items=[('SELECTED', "Selected Keys", "The two frames whose keys are selected (Dope Sheet, Graph Editor, "
                                             "Timeline)"),
               ('FRAMES', "Frames", "Two frame numbers")])
    gap_from: IntProperty(name="From", default=1, description="Frame of the first key")
    gap_to: IntProperty(name="To", default=48, description="Frame of the second key")
    gap_prompt: StringProperty(name="In Between", default="",
                               description="Optional: what happens between the keys, e.g. \"jumps over a puddle\"")
    continue_seconds: FloatProperty(name="Seconds", default=3.0, min=0.05, max=60.0, soft_max=20.0, precision=1,
                                    description="How long to extend the action past its last key")
    continue_prompt: StringProperty(name="Then", default="",
                                    description="Optional: what happens next, e.g. \"then sits down\"")
    timeline: CollectionProperty(type=MotionGPTTimelineItem)
    timeline_index: IntProperty(name="Item", default=0)
    transition_seconds: FloatProperty(name="Transition", default=0.8, min=0.2, max=3.0, precision=1,
                                      description="Seconds of generated transition between items that touch")


class MotionGPTStatus(bpy.types.PropertyGroup):
    running: BoolProperty(default=False)
    task: StringProperty(default="")
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype='FACTOR')
    message: StringProperty(default="")
    last: StringProperty(default="", description="What the last MotionGPT job did")


classes = (MotionGPTTimelineItem, MotionGPTSettings, MotionGPTStatus)


def register() -> None:
    bpy.types.Scene.motiongpt = PointerProperty(type=MotionGPTSettings)
    bpy.types.WindowManager.motiongpt_status = PointerProperty(type=MotionGPTStatus)


def unregister() -> None:
    del bpy.types.WindowManager.motiongpt_status
    del bpy.types.Scene.motiongpt

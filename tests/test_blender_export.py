"""A generated action leaves Blender through Blender's own exporters (FBX,
glTF, BVH) with the settings the README gives, and comes back unchanged.

The demo's path without the engine process: ``motiongpt generate`` with the
tiny model (two variants) writes the motions; in ONE bpy subprocess the
add-on's Generate apply code (``animation.plan_generate`` /
``apply_generate``, what the Generate button runs) keys them onto Blender's
Human metarig as the actions "<prompt> v1" and "v2"; the assigned action is
exported to FBX and BVH and every action to glTF; each file is imported again
with Blender's importer into an empty scene and the 22 mapped bones' world
heads are compared with the original rig's. The BVH is also read with the
engine's own BVH reader, independent of Blender.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import blender_support as bs
from engine.cli import main
from engine.motion import bvh

pytestmark = pytest.mark.skipif(not bs.bpy_available(), reason="bpy (Blender as a Python module) is not installed")

PROMPT = "a person walks forward"
FPS = 24
FRAMES = 49            # what Generate asks for "2 s" at 24 fps: keys at frames 1 .. 1 + 2 * 24

SCRIPT = r"""
from types import SimpleNamespace
import addon_utils
from motiongpt_blender import animation, retarget

EXPORTERS = ("io_scene_fbx", "io_scene_gltf2", "io_anim_bvh")
out = DATA["out"]
scene = bpy.context.scene
scene.render.fps = DATA["fps"]
scene.frame_current = 1
obj, RESULT["real_metarig"] = bs.human_metarig()
plan = animation.plan_generate(bpy.context, obj, DATA["prompt"], DATA["seconds"], 5, len(DATA["motions"]),
                               SimpleNamespace(foot_cleanup=False, root_motion='ROOT'))
RESULT["message"] = animation.apply_generate(bpy.context, plan, {"motions": DATA["motions"], "seeds": [5, 6]})
names = list(retarget.detect_bone_map(obj).mapping.values())
actions = sorted(a.name for a in bpy.data.actions)
assigned = obj.animation_data.action.name
start, end = (int(round(v)) for v in obj.animation_data.action.frame_range)
frames = [start, (start + end) // 2, end]

def heads(arm, action_name):
    arm.animation_data.action = bpy.data.actions[action_name]
    return bs.world_heads({"h": (arm, names)}, frames)["h"]

RESULT.update(names=names, actions=actions, assigned=assigned, frames=frames,
              reference={a: heads(obj, a) for a in actions})
obj.animation_data.action = bpy.data.actions[assigned]

# -- export, as the README says ---------------------------------------------------
scene.frame_start, scene.frame_end = start, end          # FBX and BVH export the scene's frame range
for mod in EXPORTERS:
    addon_utils.enable(mod, default_set=True)
bpy.ops.object.select_all(action='DESELECT')
obj.select_set(True)
bpy.context.view_layer.objects.active = obj
bpy.ops.export_scene.fbx(filepath=out + "/walk.fbx", use_selection=True, object_types={'ARMATURE'},
                         add_leaf_bones=False, bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
                         bake_anim_simplify_factor=0.0)
bpy.ops.export_scene.gltf(filepath=out + "/walk.glb", export_format='GLB', use_selection=True,
                          export_animation_mode='ACTIONS')
bpy.ops.export_anim.bvh(filepath=out + "/walk.bvh", frame_start=start, frame_end=end)

# -- read back with Blender's importers ---------------------------------------------
def imported(importer, **kw):
    bs.new_scene()
    bpy.context.scene.render.fps = DATA["fps"]
    for mod in EXPORTERS:
        addon_utils.enable(mod, default_set=True)
    importer(**kw)
    return next(o for o in bpy.data.objects if o.type == 'ARMATURE')

arm = imported(bpy.ops.import_scene.fbx, filepath=out + "/walk.fbx", anim_offset=0.0)
RESULT["fbx"] = {assigned: heads(arm, arm.animation_data.action.name)}
arm = imported(bpy.ops.import_scene.gltf, filepath=out + "/walk.glb")
RESULT["gltf"] = {a.name: heads(arm, a.name) for a in list(bpy.data.actions)}
arm = imported(bpy.ops.import_anim.bvh, filepath=out + "/walk.bvh", axis_forward='Y', axis_up='Z')
RESULT["bvh"] = {assigned: heads(arm, arm.animation_data.action.name)}
"""


@pytest.fixture(scope="module")
def exported(tiny_bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("blender_export")
    assert main(["generate", PROMPT, "--seconds", str(FRAMES / FPS), "--seed", "5", "--variants", "2", "--fps", str(FPS),
                 "--model", str(tiny_bundle), "--device", "cpu", "--out", str(out / "walk.json"), "--quiet"]) == 0
    motions = [json.loads((out / f"walk_{i}.json").read_text()) for i in (1, 2)]
    result = bs.run_blender(SCRIPT, {"out": str(out), "fps": FPS, "prompt": PROMPT, "seconds": 2.0,
                                     "motions": motions}, timeout=300)
    return result, out


def _error_mm(got, want) -> float:
    return float(1000 * np.abs(np.asarray(got) - np.asarray(want)).max())


def test_the_generated_actions_are_there(exported):
    result, out = exported
    assert result["actions"] == [f"{PROMPT} v1", f"{PROMPT} v2"] and result["assigned"] == f"{PROMPT} v1"
    assert result["message"].startswith(f"Generated '{PROMPT} v1' on metarig, frames 1-{FRAMES}")
    assert result["frames"] == [1, (1 + FRAMES) // 2, FRAMES]
    assert len(result["names"]) == 22
    for suffix in ("fbx", "glb", "bvh"):
        assert (out / f"walk.{suffix}").stat().st_size > 1000


@pytest.mark.parametrize("fmt", ["fbx", "gltf", "bvh"])
def test_each_format_comes_back_unchanged(exported, fmt):
    result, _ = exported
    ref = result["reference"]
    got = result[fmt]
    want_actions = result["actions"] if fmt == "gltf" else [result["assigned"]]   # glTF carries every variant
    assert sorted(got) == want_actions
    moved = _error_mm(ref[want_actions[0]][0], ref[want_actions[0]][-1])
    for action in want_actions:
        err = _error_mm(got[action], ref[action])
        print(f"{fmt} {action!r}: max {err:.4f} mm over {len(result['names'])} bones at frames {result['frames']}")
        assert err < 1.0
    assert moved > 100.0                                    # the motion really moves between the compared frames


def test_the_bvh_reads_back_with_the_engines_reader(exported):
    """Blender's BVH is in its scene's axes (Z up) and metres, bone heads as joints."""
    result, out = exported
    motion = bvh.read_bvh(out / "walk.bvh")
    assert motion.fps == pytest.approx(FPS) and motion.num_frames == result["frames"][-1] - result["frames"][0] + 1
    positions = bvh.bvh_joint_positions(motion, scale=1.0)
    idx = [motion.names.index(n) for n in result["names"]]
    frames = [f - result["frames"][0] for f in result["frames"]]
    err = _error_mm(positions[frames][:, idx], result["reference"][result["assigned"]])
    print(f"engine's BVH reader vs the rig: max {err:.4f} mm")
    assert err < 1.0

"""The add-on's Timeline section in real Blender (bpy 4.5; the same script
runs on 4.2 and 5.0 with MOTIONGPT_TEST_ENGINE_PYTHON): markers become items,
Generate Timeline writes ONE new action (the previous one stashed, keys only
in the timeline's range), one undo step restores everything, and the
timeline survives save and reload (on the scene and on the action)."""
from __future__ import annotations

import pytest

import blender_support as bs

pytestmark = pytest.mark.skipif(not bs.bpy_available(), reason="bpy (Blender as a Python module) is not installed")

DEFAULT_MODEL = bs.REPO / "models" / "default"

SCRIPT = r"""
import json, os
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 24, 1.0
scene.frame_start, scene.frame_end = 1, 96
rig, _ = bs.human_metarig("Shot")
bs.activate(rig)
# the animator's own action: keys at 1..120, some outside the timeline's range
for f in (1, 30, 60, 100, 120):
    rig.pose.bones["spine"].rotation_quaternion = (1.0, 0.02 * f / 120, 0.0, 0.0)
    rig.pose.bones["spine"].keyframe_insert("rotation_quaternion", frame=f)
mine = rig.animation_data.action
mine.name = "MyAction"
before = {fc.data_path + str(fc.array_index): [tuple(k.co) for k in fc.keyframe_points] for fc in action_curves(mine)}
for frame, name in ((1, "a person walks forward"), (49, "a person bows")):
    scene.timeline_markers.new(name, frame=frame)
RESULT["markers"] = sorted(bpy.ops.motiongpt.timeline_from_markers())
s = scene.motiongpt
RESULT["items"] = [(it.prompt, it.frame_start, it.frame_end, it.part) for it in s.timeline]
bpy.ops.motiongpt.timeline_add()
s.timeline[-1].prompt = "a person waves the right hand"
s.timeline[-1].frame_start, s.timeline[-1].frame_end, s.timeline[-1].part = 10, 40, 'RIGHT_ARM'
log = []
from types import SimpleNamespace
sys.modules[PKG + ".ui"].MOTIONGPT_PT_timeline.draw(SimpleNamespace(layout=bs.FakeLayout(log)), bpy.context)
RESULT["panel"] = [list(x) for x in log]
bpy.ops.ed.undo_push(message="before timeline")
r = bpy.ops.motiongpt.generate_timeline('EXEC_DEFAULT', True, seed=2, armature="Shot")
rig = bpy.data.objects["Shot"]
ad = rig.animation_data
act = ad.action
frames = sorted({k.co[0] for fc in action_curves(act) for k in fc.keyframe_points})
RESULT["generate"] = {"result": sorted(r), "last": bpy.context.window_manager.motiongpt_status.last,
                      "action": act.name, "frames": [frames[0], frames[-1]] if frames else [],
                      "stored": json.loads(act.get("motiongpt_timeline", "{}")),
                      "tracks": [(t.name, t.mute, [x.action.name for x in t.strips]) for t in ad.nla_tracks],
                      "mine_kept": {fc.data_path + str(fc.array_index): [tuple(k.co) for k in fc.keyframe_points]
                                    for fc in action_curves(bpy.data.actions["MyAction"])} == before}
bpy.ops.ed.undo()
rig = bpy.data.objects["Shot"]
ad = rig.animation_data
RESULT["undo"] = {"action": ad.action.name, "tracks": len(ad.nla_tracks),
                  "left": [a.name for a in bpy.data.actions if a.get("motiongpt_timeline")]}
bs.activate(rig)
r = bpy.ops.motiongpt.generate_timeline('EXEC_DEFAULT', seed=2, armature="Shot")
path = os.path.join(DATA["tmp"], "timeline.blend")
bpy.ops.wm.save_as_mainfile(filepath=path)
bpy.ops.wm.open_mainfile(filepath=path)
scene = bpy.context.scene
rig = bpy.data.objects["Shot"]
s = scene.motiongpt
RESULT["reopened"] = {"items": [(it.prompt, it.frame_start, it.frame_end, it.part) for it in s.timeline],
                      "action_timeline": json.loads(rig.animation_data.action.get("motiongpt_timeline", "{}"))}
s.timeline.clear()
bs.activate(rig)
RESULT["from_action"] = sorted(bpy.ops.motiongpt.timeline_from_action())
RESULT["restored"] = [(it.prompt, it.frame_start, it.frame_end, it.part) for it in s.timeline]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not (DEFAULT_MODEL / "model.json").exists():
        pytest.skip("no shipped model in models/default")
    return bs.run_addon_script(SCRIPT, tmp_path_factory.mktemp("timeline"), DEFAULT_MODEL)


def test_markers_become_items(run):
    assert run["markers"] == ["FINISHED"]
    assert run["items"] == [["a person walks forward", 1, 48, "WHOLE"], ["a person bows", 49, 96, "WHOLE"]]
    assert ["template_list", "MOTIONGPT_UL_timeline", 3] in run["panel"]
    assert ["operator", "motiongpt.generate_timeline"] in run["panel"]


def test_generate_timeline_writes_one_action_in_the_range(run):
    g = run["generate"]
    assert g["result"] == ["FINISHED"], g["last"]
    assert g["frames"] == [1.0, 96.0]
    assert [row["prompt"] for row in g["stored"]["items"]] == ["a person walks forward", "a person bows",
                                                               "a person waves the right hand"]
    assert ("[Action Stash]", True, ["MyAction"]) in [tuple(t) for t in g["tracks"]]
    assert g["mine_kept"]                                   # the animator's keys, 100 and 120 too, untouched
    assert "item 1:" in g["last"].lower() and "item 3:" in g["last"].lower()


def test_one_undo_restores_everything(run):
    assert run["undo"] == {"action": "MyAction", "tracks": 0, "left": []}


def test_the_timeline_survives_save_and_reload(run):
    items = [["a person walks forward", 1, 48, "WHOLE"], ["a person bows", 49, 96, "WHOLE"],
             ["a person waves the right hand", 10, 40, "RIGHT_ARM"]]
    assert run["reopened"]["items"] == items
    assert [[r["prompt"], r["frame_start"], r["frame_end"], r["part"]]
            for r in run["reopened"]["action_timeline"]["items"]] == items
    assert run["from_action"] == ["FINISHED"] and run["restored"] == items

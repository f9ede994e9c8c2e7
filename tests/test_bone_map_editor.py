"""The Bone Map editor in the real bpy module: a rig whose bone names no
preset or pattern knows is unusable until the animator maps it in the panel;
then the operators drive it exactly like the same rig with Mixamo names.
Save/Load round-trip through JSON, a bad file changes nothing, filling the
map is one undo step and the map survives saving the .blend."""
from __future__ import annotations

import json

import numpy as np
import pytest

import blender_support as bs

pytestmark = pytest.mark.skipif(not bs.bpy_available(), reason="needs the bpy module (pip install bpy)")

SCRIPT = r"""
import numpy as np
from types import SimpleNamespace
import motiongpt_blender
motiongpt_blender.register()
from motiongpt_blender import animation, bone_map_editor as bme, bone_maps, retarget, ui

activate = bs.activate

def draw():
    log = []
    ui.MOTIONGPT_PT_bone_map.draw(SimpleNamespace(layout=bs.FakeLayout(log)), bpy.context)
    return [list(x) for x in log]

def odd_rig(name):
    # the Mixamo rig with every bone renamed to something no detector knows
    obj = bs.mixamo_rig(name, prefix="")
    renames = {}
    for i, b in enumerate(list(obj.data.bones)):
        new = f"ctl_{i:02d}_x"
        renames[b.name] = new
        b.name = new
    return obj, renames

def user_error(obj):
    try:
        animation.bone_map_for(obj)
        return None
    except animation.UserError as exc:
        return str(exc)

reference = bs.mixamo_rig("Reference", prefix="")
ref_map = retarget.detect_bone_map(reference).mapping
odd, renames = odd_rig("Odd")
activate(odd)
RESULT["before"] = {"error": user_error(odd), "draw": draw()}

# fill from the auto-detection: one undo step
bpy.ops.ed.undo_push(message="before fill")
RESULT["fill"] = sorted(bpy.ops.motiongpt.bone_map_fill('EXEC_DEFAULT', True, preset='AUTO'))  # True: undo push as in the UI
odd = bpy.data.objects["Odd"]
bmap = odd.data.motiongpt_bone_map
RESULT["after_fill"] = {"use_custom": bmap.use_custom, "slots": [s.joint for s in bmap.slots],
                        "draw": draw()}
bpy.ops.ed.undo()
odd = bpy.data.objects["Odd"]
RESULT["undo"] = {"use_custom": odd.data.motiongpt_bone_map.use_custom,
                  "slots": len(odd.data.motiongpt_bone_map.slots)}
activate(odd)
bpy.ops.motiongpt.bone_map_fill(preset='AUTO')
odd, reference = bpy.data.objects["Odd"], bpy.data.objects["Reference"]   # undo reloads data
# the animator picks every bone in the panel (what prop_search writes)
for slot in odd.data.motiongpt_bone_map.slots:
    slot.bone = renames.get(ref_map.get(slot.joint, ""), "")
RESULT["mapped"] = {"map": animation.bone_map_for(odd), "expected": {j: renames[b] for j, b in ref_map.items()},
                    "status": list(bme.status_of(odd)), "draw": draw()}

# the same motion onto the mapped odd rig and the reference rig: same rotations
motion = DATA["motion"]
rep_odd = retarget.retarget_motion(odd, motion, animation.bone_map_for(odd), frame_start=1)
rep_ref = retarget.retarget_motion(reference, motion, ref_map, frame_start=1)
frames = list(range(1, motion["num_frames"] + 1, 7))
heads = bs.world_heads({"Odd": (odd, [renames[b] for b in ref_map.values()]),
                        "Reference": (reference, list(ref_map.values()))}, frames)
RESULT["retarget"] = {"odd": np.asarray(heads["Odd"]).tolist(), "ref": np.asarray(heads["Reference"]).tolist(),
                      "keys": [rep_odd.keys_written, rep_ref.keys_written]}

# save, then load onto a second rig with the same odd names
path = DATA["tmp"] + "/odd_character.json"
RESULT["save"] = sorted(bpy.ops.motiongpt.bone_map_save(filepath=path))
twin, _ = odd_rig("Twin")
activate(twin)
RESULT["twin_before"] = user_error(twin)
RESULT["load"] = sorted(bpy.ops.motiongpt.bone_map_load(filepath=path))
twin = bpy.data.objects["Twin"]
RESULT["twin_map"] = animation.bone_map_for(twin)

# a broken file: an error naming the problem, the map unchanged
bad = DATA["tmp"] + "/bad.json"
with open(bad, "w") as f:
    json.dump({"joints": {"left_tail": "ctl_01_x"}}, f)
try:
    bpy.ops.motiongpt.bone_map_load(filepath=bad)
    RESULT["bad"] = "no error"
except RuntimeError as exc:
    RESULT["bad"] = str(exc)
RESULT["twin_after_bad"] = animation.bone_map_for(bpy.data.objects["Twin"])

# a map naming a bone the rig lacks is reported, not silently used
wrong = DATA["tmp"] + "/wrong.json"
with open(path) as f:
    doc = json.load(f)
doc["joints"]["head"] = "no_such_bone"
with open(wrong, "w") as f:
    json.dump(doc, f)
activate(bpy.data.objects["Twin"])
bpy.ops.motiongpt.bone_map_load(filepath=wrong)
RESULT["wrong"] = user_error(bpy.data.objects["Twin"])

# saved with the .blend
blend = DATA["tmp"] + "/mapped.blend"
bpy.ops.wm.save_as_mainfile(filepath=blend)
bpy.ops.wm.open_mainfile(filepath=blend)
RESULT["reloaded"] = animation.bone_map_for(bpy.data.objects["Odd"])
"""


@pytest.fixture(scope="module")
def run(sample_joints, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bone_map")
    joints = next(iter(sample_joints.values()))[:40]
    return bs.run_blender(SCRIPT, {"motion": bs.engine_motion_dict(joints), "tmp": str(tmp)}, timeout=300)


def test_an_unknown_rig_points_the_animator_to_the_bone_map(run):
    err = run["before"]["error"]
    assert err and "Odd" in err and "Bone Map" in err and "hips" in err
    draw = run["before"]["draw"]
    assert ["operator_menu_enum", "motiongpt.bone_map_fill", "preset"] in draw
    assert any(x[0] == "label" and "Bone Map" in x[1] for x in draw)      # the error shows in the panel


def test_fill_makes_22_editable_slots_in_one_undo_step(run):
    assert run["fill"] == ["FINISHED"]
    after = run["after_fill"]
    assert after["use_custom"] and len(after["slots"]) == 22 and after["slots"][0] == "pelvis"
    assert sum(1 for x in after["draw"] if x[0] == "prop_search") == 22
    assert run["undo"] == {"use_custom": False, "slots": 0}


def test_a_mapped_rig_is_driven_like_the_same_rig_with_known_names(run):
    m = run["mapped"]
    assert m["map"] == m["expected"] and m["status"][0] and m["status"][1].startswith("Ready")
    odd, ref = np.asarray(run["retarget"]["odd"]), np.asarray(run["retarget"]["ref"])
    assert odd.shape == ref.shape and odd.size > 0
    assert np.abs(odd - ref).max() < 1e-5                  # same world positions of every mapped bone
    assert run["retarget"]["keys"][0] == run["retarget"]["keys"][1] > 0


def test_save_and_load_carry_the_map_to_another_rig(run):
    assert run["save"] == ["FINISHED"] and run["load"] == ["FINISHED"]
    assert run["twin_before"] is not None
    assert run["twin_map"] == run["mapped"]["expected"]


def test_a_bad_file_is_refused_and_changes_nothing(run):
    assert "left_tail" in run["bad"] and "Nothing was changed" in run["bad"]
    assert run["twin_after_bad"] == run["mapped"]["expected"]


def test_a_map_naming_missing_bones_says_which(run):
    assert "no_such_bone" in run["wrong"] and "head" in run["wrong"]


def test_the_map_is_saved_with_the_blend_file(run):
    assert run["reloaded"] == run["mapped"]["expected"]

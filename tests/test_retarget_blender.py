"""Retargeting onto real Blender armatures (bpy in ONE subprocess for the module).

Three rigs are built from scratch: an SMPL-named T-pose rig with the motion's
own proportions, a Mixamo-named A-pose rig imported-FBX style (centimetre
bones, object rotated 90 degrees and scaled 0.01, odd bone rolls) and
Blender's Human metarig (Rigify ships with the bpy module). A real walk from
the sample data is retargeted onto each; the joints are read back from the
evaluated pose (bone heads in world space after ``frame_set``) and compared
with the engine's joint positions.
"""
from __future__ import annotations

import numpy as np
import pytest

import blender_support as bs
from motiongpt_blender import bone_maps, retarget_math as rm

pytestmark = pytest.mark.skipif(not bs.bpy_available(), reason="bpy (Blender as a Python module) is not installed")

WALK = "dataset-1_walk_active_001"
OTHER = "dataset-1_bow_active_001"

SCRIPT = r"""
import time
import numpy as np
from motiongpt_blender import retarget, rig_reader, bone_maps, fcurves

walk, other = DATA["walk"], DATA["other"]
T = walk["num_frames"]
frames = list(range(1, T + 1))
scene = bpy.context.scene
meta, real_meta = bs.human_metarig()
rigs = {"smpl": bs.smpl_rig(walk["rest_offsets"]), "mixamo": bs.mixamo_rig(), "metarig": meta}
RESULT["real_metarig"] = real_meta
RESULT["layered"] = retarget.layered_actions()
RESULT["version"] = list(bpy.app.version)
rigs["mixamo"].pose.bones["mixamorig:LeftArm"].rotation_mode = 'XYZ'   # a user's Euler bone
track = {}
for key, obj in rigs.items():
    det = retarget.detect_bone_map(obj)
    t = time.perf_counter()
    rep = retarget.retarget_motion(obj, walk, det.mapping, frame_start=1,
                                   root_motion="absolute" if key == "smpl" else "relative")
    RESULT[key] = {"source": det.source, "mapping": det.mapping, "scale": rep.scale, "keys": rep.keys_written,
                   "api": rep.api, "slot": rep.slot, "seconds": time.perf_counter() - t,
                   "modes": rep.rotation_modes, "modes_after": {b: obj.pose.bones[b].rotation_mode for b in rep.rotation_modes},
                   "skipped": rep.skipped_joints, "frames": rep.frames_written,
                   "fcurves": len(fcurves.object_fcurves(obj))}
    joints = list(det.mapping)
    track[key] = (obj, [det.mapping[j] for j in joints])
    RESULT[key]["joints"] = joints
t = time.perf_counter()
heads = bs.world_heads(track, frames)
RESULT["frame_set_seconds"] = time.perf_counter() - t
for key in rigs:
    RESULT[key]["heads"] = heads[key]

# reading back
for key, method in (("smpl", "fcurves"), ("smpl", "depsgraph"), ("mixamo", "fcurves"), ("mixamo", "depsgraph"),
                    ("metarig", "auto")):
    t = time.perf_counter()
    back = rig_reader.read_motion(rigs[key], 1, T, method=method)
    RESULT[key]["read_" + method] = {"positions": back["joint_positions"], "fps": back["fps"],
                                     "seconds": time.perf_counter() - t, "method": back["method"]}

# reading hand-keyed Euler / axis-angle / Bezier animation: numpy F-curve FK vs Blender
hand = bs.smpl_rig(walk["rest_offsets"], name="Hand")
hand.location = (1.0, 2.0, 0.0)
hand.rotation_euler = (0.0, 0.0, 0.4)
for bone, mode, prop, values in (("L_Knee", "ZXY", "rotation_euler", [(0.9, 0.1, 0.2), (0.1, -0.3, 0.0)]),
                                 ("R_Elbow", "AXIS_ANGLE", "rotation_axis_angle", [(1.0, 0, 0, 1), (0.3, 1, 0, 0)]),
                                 ("Spine1", "QUATERNION", "rotation_quaternion", [(0.9, 0.3, 0, 0), (1, 0, 0.1, 0)])):
    pb = hand.pose.bones[bone]
    pb.rotation_mode = mode
    for frame, v in zip((1, 9), values):
        setattr(pb, prop, v)
        pb.keyframe_insert(prop, frame=frame)
pb = hand.pose.bones["Pelvis"]
for frame, v in ((1, (0, 0, 0)), (9, (0.2, 0.1, -0.1))):
    pb.location = v
    pb.keyframe_insert("location", frame=frame)
RESULT["hand"] = {m: rig_reader.read_motion(hand, 1, 12, method=m)["joint_positions"]
                  for m in ("fcurves", "depsgraph")}
RESULT["hand_auto"] = rig_reader.read_motion(hand, 1, 12)["method"]

# replacing a range: keys at and outside it must stay bit-identical
obj = rigs["mixamo"]
RESULT["snap0"] = bs.fcurve_snapshot(obj)
retarget.retarget_motion(obj, other, frame_start=20, frame_end=50, replace_range=True)
RESULT["snap_open"] = bs.fcurve_snapshot(obj)
rep = retarget.retarget_motion(obj, other, frame_start=60, frame_end=70)
RESULT["snap_closed"] = bs.fcurve_snapshot(obj)
RESULT["closed_warnings"] = rep.warnings

# the legacy (Blender 4.2/4.3) path: action.fcurves (Blender 5.0 has no legacy API left)
RESULT["legacy"] = None
if "fcurves" in bpy.types.Action.bl_rna.properties:
    real_layered = fcurves.layered_actions
    fcurves.layered_actions = lambda: False
    legacy = bs.mixamo_rig("LegacyRig")
    rep = retarget.retarget_motion(legacy, walk, frame_start=1)
    RESULT["legacy"] = {"api": rep.api, "keys": rep.keys_written,
                        "heads": bs.world_heads({"l": (legacy, [legacy.pose.bones[0].name, "mixamorig:LeftHand"])},
                                                [1, 40])["l"]}
    fcurves.layered_actions = real_layered

# constraints and partial inheritance inside the chain: the pose is refined by evaluation
cons = bs.smpl_rig(walk["rest_offsets"], name="Constrained")
bpy.context.view_layer.objects.active = cons
bpy.ops.object.mode_set(mode='EDIT')
eb = cons.data.edit_bones
helper = eb.new("helper.L")
# a mechanism bone at the elbow (as Rigify's MCH parents): it turns the forearm's parent frame
elbow = eb["L_Elbow"]
helper.head, helper.tail = elbow.head, elbow.head + (elbow.tail - elbow.head) * 0.3
helper.parent = eb["L_Shoulder"]
eb["L_Elbow"].parent = helper
eb["R_Elbow"].use_inherit_rotation = False
bpy.ops.object.mode_set(mode='OBJECT')
c = cons.pose.bones["helper.L"].constraints.new('COPY_ROTATION')
c.target, c.subtarget, c.influence = cons, "Spine3", 0.7
rep = retarget.retarget_motion(cons, walk, frame_start=1, root_motion="absolute")
det = retarget.detect_bone_map(cons)
RESULT["constrained"] = {"refined": rep.refined, "passes": rep.refine_passes, "error": rep.refine_error_deg,
                         "mapping": det.mapping, "joints": list(det.mapping), "seconds": rep.seconds["constraints"], "method": rep.refine_method,
                         "heads": bs.world_heads({"c": (cons, list(det.mapping.values()))}, frames)["c"],
                         "read_method": rig_reader.read_motion(cons, 1, 3)["method"]}
before = bs.fcurve_snapshot(cons)
rep = retarget.retarget_motion(cons, other, frame_start=20, frame_end=50, replace_range=True)
RESULT["constrained"]["replace"] = {"error": rep.refine_error_deg, "passes": rep.refine_passes,
                                    "before": before, "after": bs.fcurve_snapshot(cons)}

# a rig that is not a humanoid
nolegs = bs.no_legs_rig()
try:
    retarget.retarget_motion(nolegs, walk)
    RESULT["nolegs"] = None
except bone_maps.BoneMapError as exc:
    RESULT["nolegs"] = str(exc)
"""


@pytest.fixture(scope="module")
def clips(sample_joints):
    return {"walk": bs.engine_motion_dict(sample_joints[WALK]),
            "other": bs.engine_motion_dict(sample_joints[OTHER][:40])}


@pytest.fixture(scope="module")
def blender(clips):
    return bs.run_blender(SCRIPT, clips, timeout=110)


def _engine_zup(motion: dict) -> np.ndarray:
    return rm.yup_to_zup(np.asarray(motion["joint_positions"]))


def _heads(res: dict) -> dict[str, np.ndarray]:
    arr = np.asarray(res["heads"])              # (T, n, 3)
    return {j: arr[:, i] for i, j in enumerate(res["joints"])}


def test_auto_detect_finds_each_rig(blender):
    smpl = {j: c[0] for j, c in bone_maps.PRESETS["smpl"].joints.items()}
    assert blender["smpl"]["source"] == "smpl" and blender["smpl"]["mapping"] == smpl
    mixamo = {j: "mixamorig:" + c[0] for j, c in bone_maps.PRESETS["mixamo"].joints.items()}
    assert blender["mixamo"]["source"] == "mixamo" and blender["mixamo"]["mapping"] == mixamo
    meta = {j: c[0] for j, c in bone_maps.PRESETS["rigify_metarig"].joints.items()}
    assert blender["metarig"]["mapping"] == meta
    for key in ("smpl", "mixamo", "metarig"):
        assert blender[key]["skipped"] == []
        # 22 bones x (4 quaternion or 3 Euler channels) + 3 location channels, every frame
        assert blender[key]["keys"] == _channels(blender[key]["modes"]) * blender[key]["frames"]


def _channels(modes: dict) -> int:
    return sum(4 if m in ("QUATERNION", "AXIS_ANGLE") else 3 for m in modes.values()) + 3


def test_rotation_modes_are_kept(blender):
    # a user's Euler bone stays Euler and is keyed in its own mode
    assert blender["mixamo"]["modes"]["mixamorig:LeftArm"] == "XYZ"
    assert blender["mixamo"]["modes_after"] == blender["mixamo"]["modes"]
    assert set(blender["smpl"]["modes"].values()) == {"QUATERNION"}
    # Blender's Human metarig: Euler shoulders (YXZ) stay Euler
    assert blender["metarig"]["modes"]["shoulder.L"] == "YXZ" == blender["metarig"]["modes_after"]["shoulder.L"]


def test_reading_hand_keyed_euler_axis_angle_and_bezier_curves(blender):
    a, b = (np.asarray(blender["hand"][m]) for m in ("fcurves", "depsgraph"))
    assert a.shape == (12, 22, 3)
    assert np.abs(a - b).max() < 1e-4
    assert np.abs(a[4] - a[0]).max() > 0.05                              # it does move
    assert blender["hand_auto"] == "fcurves"


def test_keys_go_into_a_slotted_action(blender):
    assert blender["layered"] is (tuple(blender["version"][:2]) >= (4, 4))      # slotted actions came in 4.4
    for key in ("smpl", "mixamo", "metarig"):
        if blender["layered"]:
            assert blender[key]["api"] == "layered" and blender[key]["slot"].startswith("OB")
        else:
            assert blender[key]["api"] == "legacy"
        assert blender[key]["fcurves"] == _channels(blender[key]["modes"])
    if blender["legacy"] is not None:
        assert blender["legacy"]["api"] == "legacy" and blender["legacy"]["keys"] == blender["smpl"]["keys"]


@pytest.mark.parametrize("key", ["smpl", "mixamo", "metarig"])
def test_bone_directions_follow_the_engine(blender, clips, key, record_property):
    res = blender[key]
    eng = _engine_zup(clips["walk"])
    errs = bs.direction_errors_deg(_heads(res), eng, res["mapping"])
    record_property("direction_error_deg", (float(errs.mean()), float(errs.max())))
    print(f"{key}: bone direction error mean {errs.mean():.4f} deg, max {errs.max():.4f} deg")
    assert errs.max() < 0.05


@pytest.mark.parametrize("key", ["smpl", "mixamo", "metarig"])
def test_joint_positions(blender, clips, key):
    """SMPL rig (same proportions, absolute root): positions match outright.
    Other rigs: positions relative to the hips, the engine's scaled by the
    leg ratio (differences are the rigs' own proportions), and the root
    trajectory (which must match the leg-scaled engine's exactly)."""
    res = blender[key]
    heads = _heads(res)
    eng = _engine_zup(clips["walk"])
    s = res["scale"]
    idx = [rm.JOINT_INDEX[j] for j in res["joints"]]
    rig = np.stack([heads[j] for j in res["joints"]], 1)
    pel = res["joints"].index("pelvis")
    if key == "smpl":
        assert s == pytest.approx(1.0, abs=1e-5)
        err = np.linalg.norm(rig - eng[:, idx], axis=-1) * 1000
        print(f"{key}: joint position error mean {err.mean():.3f} mm, max {err.max():.3f} mm")
        assert err.max() < 1.0
    rel = np.linalg.norm((rig - rig[:, pel:pel + 1]) - s * (eng[:, idx] - eng[:, :1]), axis=-1) * 1000
    # the root motion drives the hip centre (between the thighs), not the hips bone's head
    hip_rig = 0.5 * (heads["left_hip"] + heads["right_hip"])
    hip_eng = 0.5 * (eng[:, 1] + eng[:, 2])
    root = hip_rig - hip_rig[0]
    root_err = np.linalg.norm(root[:, :2] - s * (hip_eng[:, :2] - hip_eng[0, :2]), axis=-1) * 1000
    height_err = np.abs(np.diff(hip_rig[:, 2]) - s * np.diff(hip_eng[:, 2])) * 1000
    print(f"{key}: leg scale {s:.3f}; hip-relative joint error mean {rel.mean():.1f} mm, max {rel.max():.1f} mm;"
          f" root path error max {root_err.max():.3f} mm")
    assert root_err.max() < 0.5 and height_err.max() < 0.5
    assert rel.mean() < 150.0


def test_relative_root_starts_where_the_rig_stands(blender):
    heads = _heads(blender["mixamo"])
    hip_centre = 0.5 * (heads["left_hip"][0] + heads["right_hip"][0])
    np.testing.assert_allclose(hip_centre[:2], [0.5, 0.3], atol=1e-4)


def test_reading_back_reproduces_the_engine_positions(blender, clips):
    eng = np.array(clips["walk"]["joint_positions"])
    # the pelvis is read as the hip centre (the point the retargeting places), whatever the rig's hips bone
    eng[:, 0] = 0.5 * (eng[:, 1] + eng[:, 2])
    for method in ("fcurves", "depsgraph"):
        back = blender["smpl"]["read_" + method]
        pos = np.asarray(back["positions"])
        assert pos.shape == eng.shape and back["fps"] == 24.0
        err = np.linalg.norm(pos - eng, axis=-1) * 1000
        print(f"read back SMPL rig ({method}, {back['seconds'] * 1000:.0f} ms): "
              f"error mean {err.mean():.3f} mm, max {err.max():.3f} mm")
        assert err.max() < 3.0
    a = np.asarray(blender["mixamo"]["read_fcurves"]["positions"])
    b = np.asarray(blender["mixamo"]["read_depsgraph"]["positions"])
    assert np.abs(a - b).max() < 1e-4           # numpy FK == Blender's evaluation
    meta = blender["metarig"]["read_auto"]
    assert np.asarray(meta["positions"]).shape == eng.shape


def _keys(snap: dict, path: str) -> dict[float, tuple]:
    e = snap[path]
    return {e["co"][i][0]: tuple(tuple(v) for v in (e[p][i] for p in e)) for i in range(len(e["co"]))}


def test_replace_range_keeps_other_keys_bit_identical(blender):
    before, after_open, after_closed = blender["snap0"], blender["snap_open"], blender["snap_closed"]
    assert set(before) == set(after_open) == set(after_closed)
    changed_inside = 0
    for path in before:
        k0, k1, k2 = _keys(before, path), _keys(after_open, path), _keys(after_closed, path)
        # open range (20, 50): keys at 20 and 50 and outside untouched, 21..49 rewritten
        assert sorted(k1) == sorted(k0)
        for f, v in k0.items():
            if f <= 20 or f >= 50:
                assert k1[f] == v, (path, f)
            else:
                changed_inside += k1[f] != v
        # closed range [60, 70]: everything outside untouched
        assert sorted(k2) == sorted(k1)
        for f, v in k1.items():
            if not 60 <= f <= 70:
                assert k2[f] == v, (path, f)
    assert changed_inside > 0.6 * len(before) * 29     # leaf bones (hands, head) repeat their values
    assert blender["closed_warnings"] == [
        "the motion runs at 20 fps but the scene at 24 fps; its frames were keyed one per scene frame "
        "(ask the engine for 24 fps to keep the timing)", "only the first 11 of 40 frames fit in frames 60-70"]


def test_legacy_action_api_poses_the_rig_like_the_layered_one(blender):
    if blender["legacy"] is None:
        pytest.skip("this Blender has no legacy action API (5.0+)")
    legacy = np.asarray(blender["legacy"]["heads"])
    mixamo = _heads(blender["mixamo"])
    np.testing.assert_allclose(legacy[:, 1], mixamo["left_wrist"][[0, 39]], atol=1e-4)


def test_constrained_chains_are_refined_by_evaluation(blender, clips):
    res = blender["constrained"]
    assert res["refined"] in ("constraints on helper.L", "bone R_Elbow does not inherit its parent fully")
    assert res["error"] < 0.05 and 1 <= res["passes"] <= 6
    errs = bs.direction_errors_deg(_heads(res), _engine_zup(clips["walk"]), res["mapping"])
    print(f"constrained rig: refined in {res['passes']} passes ({res['seconds']:.2f} s), "
          f"direction error max {errs.max():.4f} deg")
    assert errs.max() < 0.05
    assert res["read_method"] == "depsgraph"
    rep = res["replace"]                                   # refining a replaced range keeps the rest intact
    assert rep["error"] < 0.05
    for path in rep["before"]:
        k0, k1 = _keys(rep["before"], path), _keys(rep["after"], path)
        assert sorted(k0) == sorted(k1)
        assert all(k1[f] == v for f, v in k0.items() if f <= 20 or f >= 50)


def test_a_rig_without_legs_gets_a_clear_error(blender):
    assert blender["nolegs"] == ("This rig has no bones for: left thigh, right thigh, left shin, right shin "
                                 "(left_hip, right_hip, left_knee, right_knee). Map them in the MotionGPT "
                                 "panel's Bone Map or pick a preset.")

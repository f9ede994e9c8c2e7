"""The add-on's retargeting math and bone maps, without Blender (no bpy here)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from blender_support import direction_errors_deg, engine_motion_dict
from motiongpt_blender import bone_maps as bm
from motiongpt_blender import retarget_math as rm

RNG = np.random.default_rng(7)


# ---------------------------------------------------------------------------
# helpers: engine motions and synthetic rigs

@pytest.fixture(scope="module")
def walk(sample_joints) -> rm.EngineMotion:
    return rm.EngineMotion.from_dict(engine_motion_dict(sample_joints["dataset-1_walk_active_001"][:60]))


def random_rotations(n: int, max_deg: float) -> np.ndarray:
    axes = rm.normalize(RNG.normal(size=(n, 3)))
    ang = np.radians(RNG.uniform(-max_deg, max_deg, size=n))
    q = np.concatenate([np.cos(ang / 2)[:, None], axes * np.sin(ang / 2)[:, None]], -1)
    return rm.quat_to_matrix(q)


def bone_rest(head: np.ndarray, tail: np.ndarray, roll: float) -> np.ndarray:
    """A Blender-like bone.matrix_local: Y along the bone, rolled about it."""
    r = rm.swing_matrix(np.array([0.0, 1.0, 0.0]), tail - head)
    c, s = np.cos(roll), np.sin(roll)
    roll_m = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return rm.compose(r @ roll_m, head)


def make_rig(motion: rm.EngineMotion, *, bend_deg: float = 0.0, proportions: float = 0.0,
             object_matrix: np.ndarray | None = None, drop: tuple[str, ...] = (),
             extra_root: bool = False) -> tuple[rm.RigRest, dict[str, str]]:
    """A rig whose bones start at the joints of a (randomly bent, re-proportioned)
    rest pose of the engine skeleton, with random rolls, in Blender Z up,
    armature space = world through ``object_matrix``."""
    parents = [int(p) for p in motion.parents]
    factor = {n.replace("left_", "").replace("right_", ""): 1.0 + RNG.uniform(-proportions, proportions)
              for n in rm.JOINT_NAMES}                    # symmetric proportions
    offsets = motion.rest_offsets * np.array([[factor[n.replace("left_", "").replace("right_", "")]]
                                              for n in rm.JOINT_NAMES])
    local = random_rotations(22, bend_deg) if bend_deg else np.broadcast_to(np.eye(3), (22, 3, 3)).copy()
    for name in drop:                                    # a bone the rig lacks cannot bend its rest pose
        local[rm.JOINT_INDEX[name]] = np.eye(3)
    local_q = rm.matrix_to_quat(local)[None]
    pos, _ = rm.forward_kinematics(local_q, np.array([[0.0, 0.95, 0.0]]), offsets, parents)
    joints = rm.yup_to_zup(pos[0])                       # world, Z up
    obj = np.eye(4) if object_matrix is None else object_matrix
    inv = np.linalg.inv(obj)
    joints_arm = rm.transform_points(inv, joints)
    main = rm.main_children(parents, offsets)
    keep = [j for j in range(22) if rm.JOINT_NAMES[j] not in drop]
    names, bone_parents, rest, tails = [], [], [], []
    if extra_root:
        names.append("root")
        bone_parents.append(-1)
        rest.append(bone_rest(np.zeros(3), np.array([0, 0.3, 0]), 0.0))
        tails.append(np.array([0, 0.3, 0]))
    index = {}
    for j in keep:
        c = main[j]
        head = joints_arm[j]
        if c >= 0:
            tail = joints_arm[c]
        else:
            tail = head + (joints_arm[j] - joints_arm[parents[j]]) * 0.5
        p = parents[j]
        while p >= 0 and p not in index:
            p = parents[p]
        index[j] = len(names)
        names.append(f"b_{rm.JOINT_NAMES[j]}")
        bone_parents.append(index[p] if p >= 0 else (0 if extra_root else -1))
        rest.append(bone_rest(head, tail, RNG.uniform(-np.pi, np.pi)))
        tails.append(tail)
    rig = rm.RigRest(names=names, parents=np.array(bone_parents), rest=np.array(rest),
                     tails=np.array(tails), object_matrix=obj)
    mapping = {rm.JOINT_NAMES[j]: f"b_{rm.JOINT_NAMES[j]}" for j in keep}
    return rig, mapping


def evaluate(rig: rm.RigRest, result: rm.RetargetResult) -> dict[str, np.ndarray]:
    """World bone heads (T, 3) per joint, evaluating the written channels the way Blender does."""
    n_t = result.num_frames
    basis = {}
    for name, q in result.quats.items():
        b = rig.index[name]
        loc = result.root_location if name == result.root_bone and result.root_location is not None \
            else np.broadcast_to(rig.basis[b][:3, 3], (n_t, 3))
        basis[b] = rm.compose(rm.quat_to_matrix(q.astype(np.float32).astype(np.float64)), loc)
    pose = rm.pose_chain(rig, basis, list(basis), n_t)
    inv = {b: j for j, b in result.joint_to_bone.items()}
    return {inv[rig.names[b]]: rm.transform_points(rig.object_matrix, m[:, :3, 3])
            for b, m in pose.items() if rig.names[b] in inv}


def engine_zup(motion: rm.EngineMotion, facing: np.ndarray) -> np.ndarray:
    pos, _ = rm.forward_kinematics(motion.local_quats, motion.root_translation, motion.rest_offsets,
                                   motion.parents)
    return rm.yup_to_zup(pos) @ facing.T


# ---------------------------------------------------------------------------
# small helpers

def test_engine_skeleton_copy_matches_engine():
    from engine.motion import skeleton as sk
    assert rm.JOINT_NAMES == sk.JOINT_NAMES == bm.JOINT_NAMES
    assert rm.PARENTS == tuple(int(p) for p in sk.PARENTS)
    np.testing.assert_allclose(rm.T_POSE_OFFSETS_M, sk.T_POSE_OFFSETS_M)


def test_quaternion_matrix_round_trip_and_continuity():
    m = random_rotations(500, 180.0)
    q = rm.matrix_to_quat(m)
    np.testing.assert_allclose(rm.quat_to_matrix(q), m, atol=1e-12)
    np.testing.assert_allclose(rm.quat_to_matrix(rm.quat_mul(q[:-1], q[1:])), m[:-1] @ m[1:], atol=1e-12)
    flips = np.where(RNG.random(500) < 0.5, -1.0, 1.0)[:, None]
    smooth = rm.quat_continuity(np.cumsum(np.full((500, 4), 0.01), 0) * flips + [1, 0, 0, 0])
    assert ((smooth[1:] * smooth[:-1]).sum(-1) > 0).all() and smooth[0, 0] > 0
    ref = -smooth[0]
    assert (rm.quat_continuity(smooth, reference=ref)[0] * ref).sum() > 0


def test_swing_matrix_takes_u_onto_v_including_opposite():
    u = rm.normalize(RNG.normal(size=(200, 3)))
    v = rm.normalize(RNG.normal(size=(200, 3)))
    v[:3] = -u[:3]
    v[3:6] = u[3:6]
    r = rm.swing_matrix(u, v)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", r, u), v, atol=1e-9)
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-9)


def test_y_up_to_z_up():
    np.testing.assert_allclose(rm.yup_to_zup([0, 1, 0]), [0, 0, 1])      # up stays up
    np.testing.assert_allclose(rm.yup_to_zup([0, 0, 1]), [0, -1, 0])     # engine forward -> Blender front (-Y)
    np.testing.assert_allclose(rm.yup_to_zup([1, 0, 0]), [1, 0, 0])      # the actor's left stays +X
    p = RNG.normal(size=(10, 3))
    np.testing.assert_allclose(rm.zup_to_yup(rm.yup_to_zup(p)), p)
    r = random_rotations(10, 180)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", rm.yup_to_zup_rotation(r), rm.yup_to_zup(p)),
                               rm.yup_to_zup(np.einsum("nij,nj->ni", r, p)), atol=1e-12)
    assert np.isclose(np.linalg.det(rm.Y_UP_TO_Z_UP), 1.0)


def test_euler_and_axis_angle_match_quaternions():
    # Blender's Euler "XYZ": X first, then Y, then Z
    e = RNG.uniform(-3, 3, size=(20, 3))
    rx, ry, rz = (rm.euler_to_matrix(e * np.eye(3)[k], "XYZ") for k in range(3))
    np.testing.assert_allclose(rm.euler_to_matrix(e, "XYZ"), rz @ ry @ rx, atol=1e-12)
    np.testing.assert_allclose(rm.euler_to_matrix(e, "ZXY"), ry @ rx @ rz, atol=1e-12)
    q = rm.quat_normalize(RNG.normal(size=(20, 4)))
    angle = 2 * np.arccos(np.clip(q[:, 0], -1, 1))
    aa = np.concatenate([angle[:, None], q[:, 1:]], -1)
    np.testing.assert_allclose(rm.axis_angle_to_matrix(aa), rm.quat_to_matrix(q), atol=1e-9)



def test_quat_from_axis_angle_and_quat_power():
    angle = RNG.uniform(-3, 3, size=12)
    q = rm.quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), angle)
    np.testing.assert_allclose(rm.quat_to_matrix(q), np.stack([rm.rotation_z(a) for a in angle]), atol=1e-12)
    assert rm.quat_from_axis_angle(np.array([1.0, 0.0, 0.0]), 0.5).shape == (4,)
    # a power turns about the same axis by a multiple of the (short way round) angle
    axis = rm.normalize(RNG.normal(size=(12, 3)))
    turn = rm.quat_from_axis_angle(axis, np.abs(angle))
    np.testing.assert_allclose(rm.quat_power(turn, 0.5), rm.quat_from_axis_angle(axis, 0.5 * np.abs(angle)),
                               atol=1e-12)

def test_forward_kinematics_matches_engine(walk):
    from engine.motion.kinematics import forward_kinematics
    pos, _ = forward_kinematics(walk.local_quats, walk.root_translation, walk.rest_offsets, walk.parents)
    mine, _ = rm.forward_kinematics(walk.local_quats, walk.root_translation, walk.rest_offsets, walk.parents)
    np.testing.assert_allclose(mine, pos, atol=1e-12)
    np.testing.assert_allclose(mine, walk.joint_positions, atol=2e-6)   # the dict rounds to 6 decimals


def test_motion_dict_errors_are_clear():
    with pytest.raises(rm.RetargetError, match="lacks local_quats"):
        rm.EngineMotion.from_dict({"fps": 20, "root_translation": []})
    with pytest.raises(rm.RetargetError, match="shape"):
        rm.EngineMotion.from_dict({"fps": 20, "local_quats": [[[1, 0, 0, 0]]], "root_translation": [[0, 0, 0]]})


# ---------------------------------------------------------------------------
# retargeting round trips on synthetic rigs

def test_t_pose_rig_with_random_rolls_reproduces_positions(walk):
    rig, mapping = make_rig(walk)                       # same proportions, T-pose, random rolls
    res = rm.retarget(walk, rig, mapping, root_motion="absolute")
    assert res.scale == pytest.approx(1.0)
    heads = evaluate(rig, res)
    eng = engine_zup(walk, np.eye(3))
    err = np.stack([np.linalg.norm(heads[n] - eng[:, rm.JOINT_INDEX[n]], axis=-1) for n in heads])
    assert err.max() < 1e-4                             # float32 keys: well under a millimetre
    for n in heads:                                     # the prediction is what Blender will show
        np.testing.assert_allclose(res.predicted_heads[n], heads[n], atol=1e-4)


@pytest.mark.parametrize("drop", [(), ("spine2", "left_collar", "right_collar", "left_foot", "right_foot"),
                                  ("spine1", "spine2", "neck")])
def test_bent_rest_pose_scaled_rotated_armature_keeps_bone_directions(walk, drop):
    obj = rm.compose(rm.quat_to_matrix(np.array([np.cos(0.7854), np.sin(0.7854), 0, 0])), [1.0, 2.0, 0.5],
                     [0.01, 0.01, 0.01])                # Mixamo FBX style: X +90 degrees, scale 0.01 (cm bones)
    obj = obj @ rm.compose(np.eye(3), None, [1, 1, 1])
    rig, mapping = make_rig(walk, bend_deg=35.0, proportions=0.2, object_matrix=obj, drop=drop, extra_root=True)
    res = rm.retarget(walk, rig, mapping)
    heads = evaluate(rig, res)
    eng = engine_zup(walk, res.facing)
    errs = direction_errors_deg(heads, eng, mapping)
    assert errs.max() < 0.05, errs.max()
    assert set(res.skipped_joints) == set(drop)
    q = np.stack(list(res.quats.values()), 1)
    assert ((q[1:] * q[:-1]).sum(-1) > 0).all()        # sign continuity


def test_twist_follows_the_engine_joints(walk):
    """Bones keep the engine joint's whole rotation (twist included) relative
    to their rest: R_rig(t) R_rig(0)^T == W(t) W(0)^T for bones aimed at
    their direct child, in an A-pose-like bent rig with random rolls."""
    rig, mapping = make_rig(walk, bend_deg=30.0)
    res = rm.retarget(walk, rig, mapping)
    _, w = rm.forward_kinematics(walk.local_quats, walk.root_translation, walk.rest_offsets, walk.parents)
    w = res.facing @ rm.yup_to_zup_rotation(w) @ res.facing.T      # the motion as turned to the rig's heading
    for j in ("pelvis", "spine1", "spine3", "left_hip", "right_knee", "left_shoulder", "right_elbow", "neck"):
        r = res.predicted_rotations[j]
        rel_rig = r @ np.swapaxes(r[:1], -1, -2)
        wj = w[:, rm.JOINT_INDEX[j]]
        rel_eng = wj @ np.swapaxes(wj[:1], -1, -2)
        np.testing.assert_allclose(rel_rig, rel_eng, atol=1e-6, err_msg=j)


def test_leaf_bones_keep_their_rest_relation_and_twist(walk):
    rig, mapping = make_rig(walk, bend_deg=20.0)
    res = rm.retarget(walk, rig, mapping)
    eng = engine_zup(walk, res.facing)
    # the head and hands are leaves: their bone axis follows the engine's parent->joint direction
    for j in ("head", "left_wrist"):
        y = res.predicted_rotations[j][:, :, 1]
        p = rm.PARENTS[rm.JOINT_INDEX[j]]
        d = rm.normalize(eng[:, rm.JOINT_INDEX[j]] - eng[:, p])
        ang = np.degrees(np.arccos(np.clip((y * d).sum(-1), -1, 1)))
        assert ang.max() < 1e-3


def test_leg_scaling_and_relative_root_motion(walk):
    rig1, mapping = make_rig(walk)
    big = rm.RigRest(names=rig1.names, parents=rig1.parents, rest=rig1.rest.copy(), tails=rig1.tails * 2,
                     object_matrix=rm.compose(np.eye(3), [3.0, -1.0, 0.0], [2.0, 2.0, 2.0]))
    res_abs = rm.retarget(walk, big, mapping, root_motion="absolute")
    assert res_abs.scale == pytest.approx(2.0)
    # the root motion drives the hip centre (between the thighs)
    eng = engine_zup(walk, np.eye(3))
    eng_hip = 0.5 * (eng[:, rm.JOINT_INDEX["left_hip"]] + eng[:, rm.JOINT_INDEX["right_hip"]])

    def hip(res):
        return 0.5 * (res.predicted_heads["left_hip"] + res.predicted_heads["right_hip"])
    np.testing.assert_allclose(hip(res_abs), [3.0, -1.0, 0.0] + 2.0 * eng_hip, atol=1e-9)
    res_rel = rm.retarget(walk, big, mapping, root_motion="relative")
    ph = hip(res_rel)
    rest_hip = rm.rig_hip_centre(big, mapping)
    np.testing.assert_allclose(ph[0, :2], rest_hip[:2], atol=1e-9)          # starts where the rig stands
    np.testing.assert_allclose(ph[:, :2] - ph[0, :2], 2.0 * (eng_hip[:, :2] - eng_hip[0, :2]), atol=1e-9)
    np.testing.assert_allclose(np.diff(ph[:, 2]), 2.0 * np.diff(eng_hip[:, 2]), atol=1e-9)
    res_none = rm.retarget(walk, big, mapping, root_motion="none")
    assert res_none.root_location is None
    assert rm.leg_length([0, 0, 0], [0, -3, 0], [0, -3, -4]) == 7
    with pytest.raises(rm.RetargetError):
        rm.leg_scale(0.0, 1.0)


def test_rig_facing_another_way_keeps_its_heading(walk):
    base, mapping = make_rig(walk)
    turn = rm.compose(rm.rotation_z(np.pi / 2))          # the whole character turned 90 degrees
    rig = rm.RigRest(names=base.names, parents=base.parents, rest=base.rest, tails=base.tails, object_matrix=turn)
    res = rm.retarget(walk, rig, mapping, root_motion="absolute")
    np.testing.assert_allclose(res.facing, rm.rotation_z(np.pi / 2), atol=1e-9)
    heads = evaluate(rig, res)
    eng = engine_zup(walk, res.facing)
    assert direction_errors_deg(heads, eng, mapping).max() < 0.05
    res_fixed = rm.retarget(walk, rig, mapping, keep_rig_facing=False)
    np.testing.assert_allclose(res_fixed.facing, np.eye(3))


def test_mapping_errors(walk):
    rig, mapping = make_rig(walk)
    with pytest.raises(rm.RetargetError, match="does not have"):
        rm.retarget(walk, rig, {**mapping, "head": "nope"})
    with pytest.raises(rm.RetargetError, match="mapped to both"):
        rm.retarget(walk, rig, {**mapping, "neck": mapping["head"]})


def test_fill_missing_joints():
    pos = rm.rest_positions(rm.T_POSE_OFFSETS_M, rm.PARENTS)[None].repeat(3, 0)
    known = {n: pos[:, i] for i, n in enumerate(rm.JOINT_NAMES)
             if n not in ("spine2", "left_foot", "left_collar", "head", "right_wrist")}
    tails = {"left_ankle": pos[:, rm.JOINT_INDEX["left_foot"]]}
    out = rm.fill_missing_joints(known, tails)
    np.testing.assert_allclose(out, pos, atol=1e-12)     # every missing joint lies on the canonical skeleton
    with pytest.raises(rm.RetargetError):
        rm.fill_missing_joints({"spine1": pos[:, 3]})


def test_world_to_engine_inverts_the_conversion():
    p = RNG.normal(size=(5, 3))
    f = rm.rotation_z(0.3)
    world = rm.yup_to_zup(p) @ f.T + [1, 2, 3]
    np.testing.assert_allclose(rm.world_to_engine(world, np.array([1, 2, 3]), f), p, atol=1e-12)


# ---------------------------------------------------------------------------
# bone maps

def _preset_names(key: str) -> list[str]:
    return [c[0] for c in bm.PRESETS[key].joints.values()]


@pytest.mark.parametrize("key", list(bm.PRESETS))
def test_every_preset_is_detected_from_its_names(key):
    det = bm.auto_detect(_preset_names(key))
    assert det.source == key
    assert det.mapping == {j: c[0] for j, c in bm.PRESETS[key].joints.items()}


def test_mixamo_prefixes_and_patterns():
    names = [("mixamorig1:" + n) for n in _preset_names("mixamo")] + ["mixamorig1:LeftHandIndex1",
                                                                    "mixamorig1:HeadTop_End"]
    det = bm.auto_detect(names)
    assert det.source == "mixamo" and det.mapping["left_shoulder"] == "mixamorig1:LeftArm"
    assert bm.apply_preset("smpl", ["m_avg_Pelvis", "m_avg_L_Hip"]) == {"pelvis": "m_avg_Pelvis",
                                                                         "left_hip": "m_avg_L_Hip"}


def test_pattern_detection_on_an_unknown_naming_with_hierarchy():
    B = bm.RigBone
    bones = [B("root", None, False), B("pelvis", "root"), B("spine_01", "pelvis"), B("spine_02", "spine_01"),
             B("spine_03", "spine_02"), B("spine_04", "spine_03"), B("neck_01", "spine_04"),
             B("neck_02", "neck_01"), B("head", "neck_02")]
    for s in "lr":
        bones += [B(f"clavicle_{s}", "spine_04"), B(f"upperarm_{s}", f"clavicle_{s}"),
                  B(f"upperarm_twist_01_{s}", f"upperarm_{s}"), B(f"lowerarm_{s}", f"upperarm_{s}"),
                  B(f"hand_{s}", f"lowerarm_{s}"), B(f"index_01_{s}", f"hand_{s}"),
                  B(f"thigh_{s}", "pelvis"), B(f"calf_{s}", f"thigh_{s}"), B(f"foot_{s}", f"calf_{s}"),
                  B(f"ball_{s}", f"foot_{s}"), B(f"ik_foot_{s}", "root", False)]
    det = bm.auto_detect(bones)
    assert det.source == "patterns" and det.is_complete
    assert det.mapping == {
        "pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_03", "spine3": "spine_04", "neck": "neck_01",
        "head": "head", **{f"{side}_{j}": f"{b}_{side[0]}" for side in ("left", "right") for j, b in
                           (("collar", "clavicle"), ("shoulder", "upperarm"), ("elbow", "lowerarm"),
                            ("wrist", "hand"), ("hip", "thigh"), ("knee", "calf"), ("ankle", "foot"),
                            ("foot", "ball"))}}
    # Rigify-style naming: the root-most "spine" is the hips, spine bones above the arms are neck and head
    meta = [B("spine"), B("spine.001", "spine"), B("spine.002", "spine.001"), B("spine.003", "spine.002"),
            B("spine.004", "spine.003"), B("spine.005", "spine.004"), B("spine.006", "spine.005")]
    for s in "LR":
        meta += [B(f"shoulder.{s}", "spine.003"), B(f"upper_arm.{s}", f"shoulder.{s}"),
                 B(f"forearm.{s}", f"upper_arm.{s}"), B(f"hand.{s}", f"forearm.{s}"), B(f"thigh.{s}", "spine"),
                 B(f"shin.{s}", f"thigh.{s}"), B(f"foot.{s}", f"shin.{s}"), B(f"toe.{s}", f"foot.{s}"),
                 B(f"heel.02.{s}", f"foot.{s}"), B(f"pelvis.{s}", "spine")]
    pat = bm.detect_by_patterns(meta)
    assert pat == bm.apply_preset("rigify_metarig", meta)


def test_validation_names_what_is_missing():
    det = bm.auto_detect(["Hips", "Spine", "Neck", "Head", "LeftArm", "LeftForeArm", "RightArm", "RightForeArm"])
    with pytest.raises(bm.BoneMapError) as exc:
        bm.validate_bone_map(det.mapping)
    assert str(exc.value) == ("This rig has no bones for: left thigh, right thigh, left shin, right shin "
                              "(left_hip, right_hip, left_knee, right_knee). Map them in the MotionGPT panel's "
                              "Bone Map or pick a preset.")
    assert exc.value.missing == ["left thigh", "right thigh", "left shin", "right shin"]
    with pytest.raises(bm.BoneMapError, match="spine or chest.*spine1/spine2/spine3"):
        bm.validate_bone_map({"pelvis": "a"})
    with pytest.raises(bm.BoneMapError, match="does not have"):
        bm.validate_bone_map({"pelvis": "a"}, ["b"])


def test_bone_map_json_round_trip(tmp_path):
    mapping = bm.apply_preset("mixamo", ["mixamorig:" + n for n in _preset_names("mixamo")])
    path = tmp_path / "map.json"
    bm.save_bone_map(path, mapping, preset="mixamo", rig="Armature")
    doc = json.loads(path.read_text())
    assert doc["format"] == bm.BONE_MAP_FORMAT and doc["preset"] == "mixamo"
    assert bm.load_bone_map(path) == mapping
    assert bm.bone_map_from_json(json.dumps({"pelvis": "Hips", "head": None})) == {"pelvis": "Hips"}
    with pytest.raises(bm.BoneMapError, match="unknown joints: tail"):
        bm.bone_map_from_json(json.dumps({"tail": "x"}))
    with pytest.raises(bm.BoneMapError, match="not valid JSON"):
        bm.bone_map_from_json("{")

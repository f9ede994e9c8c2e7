"""The extra/ mocap libraries as they are: a skeleton without toe bones
(CMU salsa: End Sites at the toes), a library read without its bone map
(CMU dynamics: zero-length bones), one up axis per library (DeepMimic's
crawl and get-up stay on the floor), and damaged files reported by name."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from engine.data import build, bvh_library
from engine.errors import MotionGPTError
from engine.motion import features as F
from engine.motion import skeleton as sk
from engine.motion.bvh import read_bvh, write_bvh

J = sk.JOINT_INDEX




def _one_take_library(folder, source, rel, description, bone_map: bool = True):
    """A library folder holding one take copied from ``source`` (and its
    bone_map.json when asked)."""
    folder.mkdir(parents=True)
    shutil.copy(source / rel, folder / "take.bvh")
    if bone_map and (source / "bone_map.json").is_file():
        shutil.copy(source / "bone_map.json", folder / "bone_map.json")
    (folder / "captions_train.jsonl").write_text(json.dumps({"id": "take", "file": "take.bvh",
                                                             "description": description}) + "\n")
    return folder


def _upright(joints: np.ndarray) -> None:
    feet = joints[:, [J["left_ankle"], J["right_ankle"], J["left_foot"], J["right_foot"]], 1].min(axis=1)
    assert (joints[:, J["head"], 1] > feet + 0.6).mean() > 0.95          # standing: head well above the feet (salsa: 1.19 m figure)
    assert abs(np.median(feet)) < 0.15                                    # ... on a floor near y = 0


def test_salsa_without_toe_bones_takes_the_toes_from_the_end_sites(tmp_path, extra_dir):
    salsa = extra_dir / "cmu_salsa"
    library = bvh_library.read_library(_one_take_library(tmp_path / "salsa", salsa, "train/60_01.bvh",
                                                         "salsa dance"))
    assert not library.problems and library.mapped_from == {"take.bvh": "bone_map.json"}
    joints = library.clips[0].joints
    _upright(joints)
    # the toe sits in front of the ankle, near the floor, about a foot's length away
    foot = np.linalg.norm(joints[:, J["left_foot"]] - joints[:, J["left_ankle"]], axis=-1)
    assert 0.05 < np.median(foot) < 0.25
    assert np.isfinite(F.joints_to_features(joints)).all()
    assert library.clips[0].captions[0] == "a person dances salsa."


def test_a_library_without_its_bone_map_is_read_by_name_without_nan(tmp_path, extra_dir):
    dyn = extra_dir / "cmu_dynamics"
    rel = json.loads((dyn / "captions_val.jsonl").read_text().splitlines()[0])["file"]
    library = bvh_library.read_library(_one_take_library(tmp_path / "dyn", dyn, rel, "walk", bone_map=False))
    assert not library.problems and library.mapped_from["take.bvh"] == "cmu"
    joints = library.clips[0].joints
    _upright(joints)
    assert np.isfinite(F.joints_to_features(joints)).all()
    # the spine is not folded onto the hips: LowerBack (on Hips) was left to interpolation
    assert np.linalg.norm(joints[:, J["spine1"]] - joints[:, J["pelvis"]], axis=-1).min() > 0.03


def test_one_up_axis_per_library_keeps_lying_takes_on_the_floor(extra_dir):
    library = bvh_library.read_library(extra_dir / "deepmimic", splits=["train"])
    assert library.up == "y" and not library.problems
    clips = {c.clip_id: c.joints for c in library.clips}
    for clip_id in ("deepmimic_crawl", "deepmimic_getup_facedown"):
        lowest = clips[clip_id][..., 1].min(axis=1)
        assert np.median(lowest) > -0.1, clip_id                 # was -0.84 / -0.92 with a per-take guess


def test_library_up_axis_is_the_commonest_upright_vote():
    assert bvh_library.library_up_axis(["z", None, "z", "y", None]) == "z"
    assert bvh_library.library_up_axis([None, None]) is None


def test_nan_in_a_file_is_reported_and_the_library_goes_on(tmp_path, extra_dir):
    sie = extra_dir / "sie"
    first = sorted(p.name for p in (sie / "train").glob("*.bvh"))[0]
    folder = _one_take_library(tmp_path / "nan", sie, "train/" + first, "run forward")
    shutil.copy(folder / "take.bvh", folder / "good.bvh")
    with open(folder / "captions_train.jsonl", "a") as f:
        f.write(json.dumps({"id": "good", "file": "good.bvh", "description": "run forward"}) + "\n")
    motion = read_bvh(folder / "take.bvh")
    write_bvh(folder / "take.bvh", motion)
    lines = (folder / "take.bvh").read_text().splitlines()
    at = lines.index("MOTION") + 3 + 5                    # frame 5's line
    lines[at] = " ".join(["nan"] + lines[at].split()[1:])
    (folder / "take.bvh").write_text("\n".join(lines) + "\n")
    library = bvh_library.read_library(folder)
    assert [c.clip_id for c in library.clips] == ["good"]
    assert "non-finite" in library.problems["take.bvh"]


def test_non_finite_forward_kinematics_names_the_bone(extra_dir):
    motion = read_bvh(extra_dir / "deepmimic" / "train" / "walk.bvh")
    mapping, _ = bvh_library.rig_map.detect_bone_map(motion.names, motion.parents)
    column = motion.channel_column(motion.joint_index(mapping["left_knee"]), "Xrotation")
    motion.values[5:, column] = np.inf                  # what a reader that let it through would hand on
    with pytest.raises(MotionGPTError) as info, np.errstate(invalid="ignore"):
        bvh_library.mapped_positions(motion, mapping, "walk.bvh")
    assert f"'{mapping['left_ankle']}'" in str(info.value) and "frame 5" in str(info.value)


def test_a_zero_length_limb_is_an_error_naming_the_bone(extra_dir):
    motion = read_bvh(sorted((extra_dir / "deepmimic" / "train").glob("walk.bvh"))[0])
    mapping, _ = bvh_library.rig_map.detect_bone_map(motion.names, motion.parents)
    motion.offsets[motion.joint_index(mapping["left_knee"])] = 0.0          # the knee on the hip
    with pytest.raises(MotionGPTError, match="zero-length"):
        bvh_library.mapped_positions(motion, mapping, "walk.bvh")


def test_non_finite_features_stop_the_build_naming_file_and_joint(tmp_path):
    joints = np.zeros((20, 22, 3), dtype=np.float32)
    clip = bvh_library.SourceClip("c1", "train", ["a person walks."], {"file": "takes/c1.bvh"}, joints)
    feats = np.zeros((19, F.FEATURE_DIM), dtype=np.float32)
    feats[3, F.ROT6D.start + 6 * 3] = np.nan                  # rotation of the 4th non-root joint
    with pytest.raises(MotionGPTError) as info:
        build._check_finite_features(clip, feats, "studio")
    text = str(info.value)
    assert "takes/c1.bvh" in text and "frame 3" in text and f"rotation of {sk.JOINT_NAMES[4]}" in text

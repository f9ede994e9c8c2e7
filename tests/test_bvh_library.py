"""build-data --bvh-library on real CMU files (iClone rig: 101 bones, Z up,
centimetres, 60 fps): the 22 joints land where a body has them, and a file
that cannot be mapped is reported by name."""
import json
import shutil

import numpy as np
import pytest

from engine.cli import main
from engine.data import build, bvh_library, humanml3d
from engine.data.captions import describe, description_action
from engine.motion import features as F
from engine.motion import skeleton as sk
from engine.motion.bvh import read_bvh

J = sk.JOINT_INDEX
FILES = {"cmu_002_01": ("train/002_01.bvh", "walk"), "cmu_006_04": ("train/006_04.bvh",
                                                                     "basketball - forward dribble")}


@pytest.fixture(scope="module")
def cmu_dir(data_dir):
    folder = data_dir / "cmu"
    if not folder.is_dir():
        pytest.fail(f"CMU library not found at {folder}")
    return folder


def _library(folder, cmu_dir, broken: bool = False):
    """A small library: two real CMU takes (+ a copy with its left forearm and
    toes renamed so no detector can find them, + a BVH without a caption)."""
    (folder / "takes").mkdir(parents=True)
    lines = []
    for clip_id, (rel, description) in FILES.items():
        shutil.copy(cmu_dir / rel, folder / "takes" / f"{clip_id}.bvh")
        lines.append({"id": clip_id, "file": f"takes/{clip_id}.bvh", "description": description})
    if broken:
        text = (cmu_dir / FILES["cmu_002_01"][0]).read_text()
        text = text.replace("CC_Base_L_Forearm", "CC_Base_L_Blob").replace("CC_Base_L_ToeBase", "CC_Base_L_Nub")
        (folder / "takes" / "broken.bvh").write_text(text)
        lines.append({"id": "broken", "file": "takes/broken.bvh", "description": "walk"})
        shutil.copy(cmu_dir / FILES["cmu_002_01"][0], folder / "takes" / "uncaptioned.bvh")
    (folder / "captions_train.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def library(tmp_path_factory, cmu_dir):
    folder = _library(tmp_path_factory.mktemp("lib") / "studio", cmu_dir, broken=True)
    return bvh_library.read_library(folder)


def test_cmu_takes_are_mapped_resampled_and_in_metres(library, cmu_dir):
    clips = {c.clip_id: c for c in library.clips}
    assert sorted(clips) == sorted(FILES)
    for clip_id, (rel, _) in FILES.items():
        source = read_bvh(cmu_dir / rel)
        assert source.fps == 60.0
        assert len(clips[clip_id].joints) == (source.num_frames - 1) // 3 + 1      # 60 -> 20 fps by time
        body = F.canonicalize(clips[clip_id].joints)
        height = np.median(body[:, J["head"], 1] - body[:, [J["left_foot"], J["right_foot"]], 1].min(axis=1))
        assert 1.2 < height < 1.8                                                # centimetres became metres


def test_feet_lowest_head_highest_left_on_plus_x_facing_plus_z(library):
    for clip in library.clips:
        feats = F.joints_to_features(clip.joints)
        body = feats[:, F.RIC].reshape(len(feats), sk.NUM_JOINTS - 1, 3)     # root-relative, facing +Z
        at = lambda name: body[:, J[name] - 1]                                # noqa: E731
        heights = np.median(F.canonicalize(clip.joints)[..., 1], axis=0)
        assert np.argmax(heights) == J["head"], clip.clip_id
        assert set(np.argsort(heights)[:2]) <= {J["left_foot"], J["right_foot"], J["left_ankle"], J["right_ankle"]}
        # the actor's left is +X: every left joint sits on the +X side of its right twin
        for left in ("hip", "shoulder", "wrist", "foot"):
            assert np.median(at(f"left_{left}")[:, 0] - at(f"right_{left}")[:, 0]) > 0.05, (clip.clip_id, left)
        # facing +Z: the toes point ahead of the ankles (an improper axis swap would mirror this)
        for side in ("left", "right"):
            assert np.median(at(f"{side}_foot")[:, 2] - at(f"{side}_ankle")[:, 2]) > 0.05, (clip.clip_id, side)


def test_unmappable_and_uncaptioned_files_are_reported_not_dropped(library):
    assert set(library.problems) == {"takes/broken.bvh", "takes/uncaptioned.bvh"}
    why = library.problems["takes/broken.bvh"]
    assert "left forearm (left_elbow)" in why and "--bone-map" in why
    assert "left_foot" not in why          # a toe without a known name is the ankle's one child
    assert "no caption line" in library.problems["takes/uncaptioned.bvh"]


def test_a_bone_map_rescues_a_file_the_detector_cannot_map(tmp_path, cmu_dir, library):
    folder = _library(tmp_path / "lib", cmu_dir, broken=True)
    bone_map = dict(_detected_map(cmu_dir), left_elbow="CC_Base_L_Blob", left_foot="CC_Base_L_Nub")
    rescued = {c.clip_id: c for c in bvh_library.read_library(folder, bone_map=bone_map).clips}
    assert sorted(rescued) == ["broken"]        # the other takes lack the bones this map names: reported
    original = {c.clip_id: c for c in library.clips}["cmu_002_01"]
    np.testing.assert_allclose(rescued["broken"].joints, original.joints, atol=1e-6)


def _detected_map(cmu_dir):
    from engine.data import rig_map
    motion = read_bvh(cmu_dir / FILES["cmu_002_01"][0])
    return rig_map.detect_bone_map(motion.names, motion.parents)[0]


def test_build_data_cli_merges_a_library_and_says_what_it_skipped(tmp_path, cmu_dir, capsys):
    folder = _library(tmp_path / "lib", cmu_dir, broken=True)
    out = tmp_path / "built"
    assert main(["build-data", "--bvh-library", str(folder), "--out", str(out), "--quiet", "--workers", "1",
                 "--library-licence", "CMU: free for any use"]) == 0
    printed = capsys.readouterr().out
    assert "2 clip(s) mapped" in printed and "takes/broken.bvh: no bone for left forearm" in printed
    assert humanml3d.read_split_ids(out, "train") == ["cmu_002_01", "Mcmu_002_01", "cmu_006_04", "Mcmu_006_04"]
    assert [c.text for c in humanml3d.load_clip(out, "cmu_006_04").captions][0] == \
        "a person plays basketball: dribbles forward."
    assert build.read_actions(out) == {"cmu_002_01": "walk", "Mcmu_002_01": "walk", "cmu_006_04": "basketball",
                                       "Mcmu_006_04": "basketball"}
    manifest = humanml3d.read_manifest(out)
    assert manifest["sources"][0]["not_used"]["takes/broken.bvh"].startswith("no bone for")
    assert "CMU" in manifest["licence"]


def test_clip_ids_must_not_clash_across_sources(tmp_path, cmu_dir):
    library = bvh_library.read_library(_library(tmp_path / "lib", cmu_dir))
    batch = build.library_batch(library)
    with pytest.raises(build.MotionGPTError, match="already used by another source"):
        build.build_dataset([batch, batch], tmp_path / "out", progress=False)


def test_a_folder_without_captions_is_explained(tmp_path):
    (tmp_path / "a.bvh").write_text("HIERARCHY\n")
    with pytest.raises(build.MotionFileError, match="no captions\\*.jsonl"):
        bvh_library.read_library(tmp_path)


@pytest.mark.parametrize("description, sentence, action", [
    ("walk", "a person walks.", "walk"),
    ("punch/strike", "a person punches or strikes.", "punch/strike"),
    ("slow walk", "a person walks slowly.", "slow walk"),
    ("bend over, scoop up, rise, lift arm", "a person bends over, scoops up, rises and lifts arm.",
     "bend over, scoop up, rise, lift arm"),
    ("dance - small jetes, pirouette", "a person dances: small jetes, pirouette.", "dance"),
    ("playground - climb, sit, lower self to ground",
     "a person plays on a playground: climbs, sits, lowers themselves to ground.", "playground"),
    ("swordplay", "a person fights with a sword.", "swordplay"),
    ("juggling", "a person does juggling.", "juggling"),
])
def test_captions_are_written_from_descriptions(description, sentence, action):
    captions = describe(description)
    assert captions[0] == sentence and captions[1] == sentence.replace("a person", "someone", 1)
    assert captions[2].rstrip(".") == description.replace(" - ", ": ")
    assert description_action(description) == action


def test_a_missing_head_is_named_once(cmu_dir):
    from engine.errors import MotionFileError
    motion = read_bvh(cmu_dir / FILES["cmu_002_01"][0])
    mapping = {j: b for j, b in _detected_map(cmu_dir).items() if j != "head"}
    with pytest.raises(MotionFileError) as info:
        bvh_library.t2m_positions(motion, mapping, "take.bvh")
    assert str(info.value).count("(head)") == 1

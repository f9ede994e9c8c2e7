"""Any mocap file from the command line (issue 23): caption, continue and
in-between a BVH on its own skeleton, and caption a whole folder."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from engine.cli import main
from engine.data import build, bvh_library
from engine.motion import skeleton as sk
from engine.motion.bvh import read_bvh, write_bvh
from engine.pipeline import any_bvh
from engine.pipeline.motion_io import Motion

J = sk.JOINT_INDEX


@pytest.fixture(scope="module")
def extra_dir(data_dir):
    return data_dir / "extra"


def _upright(joints):
    feet = joints[:, [J["left_ankle"], J["right_ankle"]], 1].min(axis=1)
    assert (joints[:, J["head"], 1] > feet + 0.6).mean() > 0.9


def test_files_on_other_skeletons_units_and_axes_are_read(tmp_path, extra_dir, data_dir):
    salsa = extra_dir / "cmu_salsa" / "train" / "60_01.bvh"            # no toe bones; its bone_map.json a folder up
    deep = extra_dir / "deepmimic" / "val" / "jog.bvh"                  # centimetres, 18 joints
    cmu = data_dir / "cmu" / "val" / "002_03.bvh"                       # Z up, iClone rig with fingers
    for path in (salsa, deep, cmu):
        positions, fps, source = any_bvh.joint_positions(path)
        _upright(positions)
        assert positions.shape[1:] == (22, 3) and np.isfinite(positions).all()
    assert "bone_map.json" in any_bvh.joint_positions(salsa)[2]
    # the same take in metres reads the same (unit guessed from the body's size)
    motion = read_bvh(deep)
    motion.offsets = motion.offsets / 100.0
    motion.end_sites = {j: o / 100.0 for j, o in motion.end_sites.items()}
    for j in range(motion.num_joints):
        for axis in "XYZ":
            col = motion.channel_column(j, f"{axis}position")
            if col is not None:
                motion.values[:, col] /= 100.0
    write_bvh(tmp_path / "jog_m.bvh", motion)
    np.testing.assert_allclose(any_bvh.joint_positions(tmp_path / "jog_m.bvh")[0], any_bvh.joint_positions(deep)[0],
                               atol=1e-6)


def test_an_unmappable_file_says_which_joints_and_how_to_map_them(tmp_path, extra_dir):
    text = (extra_dir / "deepmimic" / "val" / "jog.bvh").read_text().replace("LowerArm_L", "Blob_1")
    (tmp_path / "odd.bvh").write_text(text)
    with pytest.raises(Exception) as info:
        Motion.load(tmp_path / "odd.bvh")
    message = str(info.value)
    assert "left_elbow" in message and "--bone-map" in message and "bone_map.json" in message
    bone_map = {"format": "motiongpt-bone-map", "version": 1, "joints": {"left_elbow": "Blob_1"}}
    mapping, _ = bvh_library.rig_map.detect_bone_map(read_bvh(extra_dir / "deepmimic" / "val" / "jog.bvh").names,
                                                     read_bvh(extra_dir / "deepmimic" / "val" / "jog.bvh").parents)
    bone_map["joints"].update({j: b for j, b in mapping.items() if j != "left_elbow"})
    (tmp_path / "map.json").write_text(json.dumps(bone_map))
    from engine.data.rig_map import load_bone_map_file
    assert Motion.load(tmp_path / "odd.bvh", load_bone_map_file(tmp_path / "map.json")).num_frames > 10


def test_caption_cli_reads_a_foreign_bvh(tiny_bundle, extra_dir, capsys):
    assert main(["caption", str(extra_dir / "sie" / "val" / "run_forward00.bvh"), "--model", str(tiny_bundle),
                 "--quiet"]) == 0
    assert capsys.readouterr().out.strip()


def test_caption_a_folder_goes_on_past_broken_files_and_resumes(tiny_bundle, tmp_path, extra_dir, capsys):
    lib = tmp_path / "lib"
    (lib / "a").mkdir(parents=True)
    shutil.copy(extra_dir / "deepmimic" / "val" / "jog.bvh", lib / "a" / "jog.bvh")
    shutil.copy(extra_dir / "cmu_salsa" / "train" / "60_02.bvh", lib / "salsa.bvh")        # 16 s: two windows
    shutil.copy(extra_dir / "cmu_salsa" / "bone_map.json", lib / "bone_map.json")
    (lib / "broken.bvh").write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n")
    out = lib / "captions_train.jsonl"
    args = ["caption", str(lib), "--out", str(out), "--model", str(tiny_bundle), "--quiet"]
    assert main(args) == 0
    lines = {r["file"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(lines) == {"a/jog.bvh", "salsa.bvh", "broken.bvh"}
    assert "error" in lines["broken.bvh"] and lines["a/jog.bvh"]["description"]
    assert 0 < lines["a/jog.bvh"]["confidence"] <= 1 and lines["a/jog.bvh"]["seconds"] > 0.5
    windows = lines["salsa.bvh"]["windows"]
    assert len(windows) == 2 and windows[0]["start_s"] == 0 and windows[1]["start_s"] == 10.0
    assert "1 could not be read" in capsys.readouterr().out
    assert main(args) == 0                                                   # resumable: nothing done twice
    assert len(out.read_text().splitlines()) == 3 and "3 already there" in capsys.readouterr().out
    # build-data reads the file as a library, the unreadable take listed as not used
    library = bvh_library.read_library(lib)
    assert sorted(c.labels["file"] for c in library.clips) == ["a/jog.bvh", "salsa.bvh"]
    assert "broken.bvh" in library.problems
    batch = build.library_batch(library)
    assert batch.clips

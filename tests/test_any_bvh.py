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


def _speeds(motion, scale):
    from engine.motion.bvh import bvh_joint_positions
    pos = bvh_joint_positions(motion, scale)
    return np.linalg.norm(np.diff(pos, axis=0), axis=-1) * motion.fps          # (F-1, J) m/s


@pytest.mark.parametrize("rel", ["deepmimic/val/jog.bvh", "cmu_dynamics/val/bmtrain_walking_extra_15.bvh"])
def test_continue_writes_on_the_takes_own_skeleton(tiny_bundle, tmp_path, extra_dir, rel):
    from engine.motion.bvh import guess_scale_to_metres
    source = extra_dir / rel
    out, smpl = tmp_path / "own.bvh", tmp_path / "smpl.bvh"
    common = ["--seconds", "1", "--seed", "4", "--model", str(tiny_bundle), "--quiet"]
    assert main(["continue", str(source), "--out", str(out), *common]) == 0
    assert main(["continue", str(source), "--out", str(smpl), "--skeleton", "smpl", *common]) == 0
    a, b = read_bvh(source), read_bvh(out)
    n = a.num_frames
    assert b.names == a.names and list(b.parents) == list(a.parents) and b.channels == a.channels
    assert b.frame_time == a.frame_time and b.num_frames == n + round(1 * a.fps)
    src_lines, out_lines = source.read_text().splitlines(), out.read_text().splitlines()
    motion_at = src_lines.index("MOTION")
    assert out_lines[:motion_at + 1] == src_lines[:motion_at + 1]                      # the hierarchy, as it was
    assert out_lines[motion_at + 3:motion_at + 3 + n] == src_lines[motion_at + 3:motion_at + 3 + n]   # byte for byte
    # the new frames follow the engine's answer (its 22-joint BVH), within bone-length differences
    own, _, _ = any_bvh.joint_positions(out)
    engine, _, _ = any_bvh.joint_positions(smpl)
    assert np.median(np.linalg.norm(own[n:] - engine[n:], axis=-1)) < 0.03
    # no pop at the seam
    scale = guess_scale_to_metres(a)
    seam = _speeds(b, scale)[n - 2:n + 1].max()
    assert seam <= 1.5 * np.percentile(_speeds(a, scale).max(axis=1), 95)


def test_inbetween_keeps_every_other_frame_of_the_take(tiny_bundle, tmp_path, extra_dir):
    source = extra_dir / "cmu_dynamics" / "val" / "bmtrain_walking_extra_15.bvh"
    out = tmp_path / "ib.bvh"
    assert main(["inbetween", str(source), "--from", "30", "--to", "70", "--seed", "1", "--out", str(out),
                 "--model", str(tiny_bundle), "--quiet"]) == 0
    a, b = read_bvh(source), read_bvh(out)
    keep = np.r_[0:31, 70:a.num_frames]
    assert b.num_frames == a.num_frames and np.array_equal(a.values[keep], b.values[keep])
    assert not np.array_equal(a.values[31:70], b.values[31:70])


def _bandai_bvh(sample_dir, path):
    """A Bandai Namco take as the BVH it came from (its 21-joint skeleton, cm, ZXY)."""
    from engine.data.bandai import load_bandai_npz
    from engine.motion.bvh import BvhMotion, continuous_euler
    m = load_bandai_npz(sample_dir / "motions_sample.npz")
    clip = m.clip_slice(0)
    rot, root = m.rot[clip].astype(np.float64), m.root_pos[clip].astype(np.float64)
    channels, columns = [], []
    for j in range(len(m.joint_names)):
        rotation = continuous_euler(rot[:, j], "ZXY")
        if m.parents[j] < 0:
            channels.append(("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"))
            columns.append(np.concatenate([root * 100.0, rotation], axis=1))
        else:
            channels.append(("Zrotation", "Xrotation", "Yrotation"))
            columns.append(rotation)
    ends = {j: np.array([0.0, 5.0, 0.0]) for j in range(len(m.parents)) if j not in set(m.parents.tolist())}
    motion = BvhMotion(list(m.joint_names), np.asarray(m.parents), m.offsets * 100.0, channels, ends, 1.0 / m.fps,
                       np.concatenate(columns, axis=1))
    write_bvh(path, motion)
    return path


def test_continue_on_a_bandai_take_keeps_its_skeleton(tiny_bundle, tmp_path, sample_dir):
    from engine.motion.bvh import guess_scale_to_metres
    source = _bandai_bvh(sample_dir, tmp_path / "bandai.bvh")
    out = tmp_path / "own.bvh"
    assert main(["continue", str(source), "--seconds", "1", "--seed", "2", "--out", str(out),
                 "--model", str(tiny_bundle), "--quiet"]) == 0
    a, b = read_bvh(source), read_bvh(out)
    n = a.num_frames
    assert b.names == a.names and b.num_frames == n + round(a.fps)
    assert np.array_equal(a.values, b.values[:n])
    scale = guess_scale_to_metres(a)
    assert _speeds(b, scale)[n - 2:n + 1].max() <= 1.5 * np.percentile(_speeds(a, scale).max(axis=1), 95)


def test_the_take_written_on_its_own_skeleton_reimports_in_blender(tiny_bundle, tmp_path, extra_dir):
    import blender_support as bs
    if not bs.bpy_available():
        pytest.skip("bpy (Blender as a Python module) is not installed")
    source = extra_dir / "cmu_dynamics" / "val" / "bmtrain_walking_extra_15.bvh"
    out = tmp_path / "own.bvh"
    assert main(["continue", str(source), "--seconds", "1", "--seed", "1", "--out", str(out),
                 "--model", str(tiny_bundle), "--quiet"]) == 0
    result = bs.run_blender("""
bpy.ops.import_anim.bvh(filepath=DATA["path"], global_scale=0.01)
obj = bpy.context.active_object
RESULT["bones"] = [b.name for b in obj.data.bones]
RESULT["frames"] = list(obj.animation_data.action.frame_range)
""", {"path": str(out)})
    assert result["bones"] == read_bvh(source).names
    assert result["frames"][1] - result["frames"][0] + 1 == read_bvh(out).num_frames

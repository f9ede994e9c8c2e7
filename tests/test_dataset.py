import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.data import bandai, build, humanml3d
from engine.errors import MotionFileError


def test_built_sample_has_every_clip_with_captions_and_sane_stats(built_sample, sample_dir):
    records = bandai.load_captions(sample_dir / "captions_sample.jsonl")
    ids = humanml3d.read_split_ids(built_sample, "train")
    assert len(ids) == 2 * len(records)
    for record in records:
        for clip_id in (record["id"], "M" + record["id"]):
            clip = humanml3d.load_clip(built_sample, clip_id)
            assert clip.features.shape == (record["frames"] - 1, 263)
            assert np.isfinite(clip.features).all()
            assert len(clip.captions) == 3
    mean, std = humanml3d.load_stats(built_sample)
    assert np.isfinite(mean).all() and (std > 0).all()
    assert 0.8 < mean[3] < 1.05  # root height, metres
    manifest = humanml3d.read_manifest(built_sample)
    assert manifest["clips"] == {"train": 40} and "CC BY-NC 4.0" in manifest["licence"]


def test_mirrored_captions_swap_sides(built_sample):
    original = humanml3d.load_clip(built_sample, "dataset-2_raise-up-left-hand_active_001")
    mirrored = humanml3d.load_clip(built_sample, "Mdataset-2_raise-up-left-hand_active_001")
    assert "left" in original.captions[0].text and "right" in mirrored.captions[0].text


def test_normalised_features_are_unit_scale(built_sample):
    mean, std = humanml3d.load_stats(built_sample)
    clips = humanml3d.load_split(built_sample, "train")
    normed = np.concatenate([(c.features - mean) / std for c in clips])
    assert abs(normed.mean()) < 0.05
    assert 0.3 < normed[:, :259].std() < 3.0


def test_builder_is_deterministic(tmp_path, sample_dir, built_sample):
    build.build_from_bandai(sample_dir, tmp_path, progress=False, workers=2, limit=3)
    for clip_id in humanml3d.read_split_ids(tmp_path, "train"):
        np.testing.assert_array_equal(np.load(tmp_path / "new_joint_vecs" / f"{clip_id}.npy"),
                                      np.load(built_sample / "new_joint_vecs" / f"{clip_id}.npy"))


def test_validate_reads_a_humanml3d_folder(built_sample):
    report = build.validate_humanml3d(built_sample, progress=False)
    assert report.clips == {"train": 40}


def _copy_humanml3d(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    (dst / "dataset.json").unlink()  # a real HumanML3D folder has no manifest
    return dst


def test_humanml3d_subclip_captions(built_sample, tmp_path):
    root = _copy_humanml3d(built_sample, tmp_path / "hml")
    clip_id = humanml3d.read_split_ids(root, "train")[0]
    (root / "texts" / f"{clip_id}.txt").write_text(
        "a man walks#a/DET man/NOUN walks/VERB#0.0#0.0\nthen he stops#then/ADV#1.5#2.5\n")
    clip = humanml3d.load_clip(root, clip_id)
    assert clip.captions[1].frame_range(len(clip.features)) == (30, min(50, len(clip.features)))
    assert clip.captions[0].frame_range(len(clip.features)) == (0, len(clip.features))


def test_missing_caption_file_names_the_file(built_sample, tmp_path):
    root = _copy_humanml3d(built_sample, tmp_path / "hml")
    clip_id = humanml3d.read_split_ids(root, "train")[2]
    (root / "texts" / f"{clip_id}.txt").unlink()
    with pytest.raises(MotionFileError, match=f"{clip_id}.txt.*caption file not found"):
        build.validate_humanml3d(root, progress=False)


def test_wrong_feature_shape_names_the_file(built_sample, tmp_path):
    root = _copy_humanml3d(built_sample, tmp_path / "hml")
    clip_id = humanml3d.read_split_ids(root, "train")[1]
    np.save(root / "new_joint_vecs" / f"{clip_id}.npy", np.zeros((10, 251), np.float32))
    with pytest.raises(MotionFileError, match=f"{clip_id}.npy.*wrong array shape"):
        build.validate_humanml3d(root, progress=False)


def test_nan_features_are_reported(built_sample, tmp_path):
    root = _copy_humanml3d(built_sample, tmp_path / "hml")
    clip_id = humanml3d.read_split_ids(root, "train")[1]
    np.save(root / "new_joint_vecs" / f"{clip_id}.npy", np.full((10, 263), np.nan, np.float32))
    with pytest.raises(MotionFileError, match="NaN"):
        build.validate_humanml3d(root, progress=False)


def _copy_source(sample_dir: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in sample_dir.iterdir():
        shutil.copy(f, dst / f.name)
        (dst / f.name).chmod(0o644)
    return dst


def test_missing_caption_jsonl_is_named(sample_dir, tmp_path):
    src = _copy_source(sample_dir, tmp_path / "src")
    (src / "captions_sample.jsonl").unlink()
    with pytest.raises(MotionFileError, match="captions_sample.jsonl.*not found"):
        build.build_from_bandai(src, tmp_path / "out", progress=False)


def test_truncated_npz_is_named(sample_dir, tmp_path):
    src = _copy_source(sample_dir, tmp_path / "src")
    data = (src / "motions_sample.npz").read_bytes()
    (src / "motions_sample.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(MotionFileError, match="motions_sample.npz.*cannot be read"):
        build.build_from_bandai(src, tmp_path / "out", progress=False)


def test_mismatched_captions_are_named(sample_dir, tmp_path):
    src = _copy_source(sample_dir, tmp_path / "src")
    lines = (src / "captions_sample.jsonl").read_text().splitlines()
    (src / "captions_sample.jsonl").write_text("\n".join(lines[1:] + lines[:1]) + "\n")
    with pytest.raises(MotionFileError, match="do not match"):
        build.build_from_bandai(src, tmp_path / "out", progress=False)


def test_bad_json_line_is_named(sample_dir, tmp_path):
    src = _copy_source(sample_dir, tmp_path / "src")
    lines = (src / "captions_sample.jsonl").read_text().splitlines()
    lines[4] = lines[4][:40]
    (src / "captions_sample.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(MotionFileError, match="line 5 is not valid JSON"):
        build.build_from_bandai(src, tmp_path / "out", progress=False)


def test_labels_are_kept_for_rewriting_captions(built_sample):
    rows = [json.loads(line) for line in (built_sample / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 40
    assert {"content", "style"} <= set(rows[0]["labels"])


def test_labelled_originals_and_action_precedence(tmp_path):
    from engine.data import labels
    assert labels.read_actions(tmp_path) == {}
    with pytest.raises(MotionFileError, match="labels.jsonl"):
        labels.read_labels(tmp_path)
    rows = [{"id": "a", "labels": {"content": "walk"}, "mirror_of": None},
            {"id": "Ma", "labels": {"content": "wave-left-hand"}, "mirror_of": "a"},
            {"id": "b", "labels": {"action": "", "content": "bow"}, "mirror_of": None},
            {"id": "c", "labels": {"action": None, "content": "run"}, "mirror_of": None},
            {"id": "d", "labels": {}, "mirror_of": None}]
    (tmp_path / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "train.txt").write_text("d\nc\nb\nMa\na\nunknown\n")
    # read_actions: an empty action falls back to content; mirrored copies swap sides
    assert labels.read_actions(tmp_path) == {"a": "walk", "Ma": "wave-right-hand", "b": "bow", "c": "run"}
    # action_of: a present action key wins, even when empty or null
    assert [labels.action_of(r) for r in rows] == ["walk", "wave-left-hand", "", None, None]
    assert [i for i, _ in labels.labelled_originals(tmp_path, "train")] == ["b", "a"]


def test_clips_shorter_than_two_frames_are_skipped_and_said(sample_dir, tmp_path, capsys):
    from engine.cli import main
    src = _copy_source(sample_dir, tmp_path / "src")
    arrays = dict(np.load(src / "motions_sample.npz", allow_pickle=False))
    arrays["clip_len"] = arrays["clip_len"].copy()
    arrays["clip_len"][1] = 1
    np.savez(src / "motions_sample.npz", **arrays)
    short = str(arrays["clip_ids"][1])
    batch, = build.bandai_batches(src, limit=3)
    assert batch.skipped == [short] and short not in [c.clip_id for c in batch.clips] and len(batch.clips) == 2
    assert main(["build-data", "--source", str(src), "--out", str(tmp_path / "out"), "--quiet",
                 "--workers", "1", "--no-mirror"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"Built {tmp_path / 'out'} in ") and "skipped 1 clip(s) shorter than 2 frames" in printed
    assert short not in humanml3d.read_split_ids(tmp_path / "out", "train")

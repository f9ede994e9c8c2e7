"""``motiongpt build-data``: turn the shared mocap (or a HumanML3D folder)
into the feature cache every trainer reads.

The output is a HumanML3D-layout folder (see ``humanml3d.py``) plus
``dataset.json`` (what was built, from what, under which licence) and
``labels.jsonl`` (the source's action/style labels, kept so captions can be
re-written later). Mirrored copies get the HumanML3D prefix ``M``.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import __version__
from ..errors import MotionFileError, MotionGPTError
from ..motion import features as F
from ..motion import skeleton as sk
from ..motion.mirror import mirror_joints, mirror_text
from . import bandai, bvh_library, humanml3d
from .labels import LABELS_FILE, read_actions  # noqa: F401  (read_actions re-exported: engine.train reads it here)
from .source_clip import SourceClip

LICENCE_NOTE = ("Bandai Namco Research Motion Dataset, (c) 2022 Bandai Namco Research Inc., CC BY-NC 4.0 "
                "(non-commercial use only). Kobayashi et al. 2023, arXiv:2306.08861. Changed: resampled to "
                "20 fps, mapped to the 22-joint SMPL skeleton, converted to HumanML3D features, captions by template.")
MIRROR_PREFIX = "M"


@dataclass
class BuildReport:
    out_dir: Path
    clips: dict[str, int] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{split}: {n} clips, {self.frames.get(split, 0)} frames" for split, n in self.clips.items()]
        text = f"Built {self.out_dir} in {self.seconds:.1f} s ({'; '.join(parts)})"
        if self.skipped:
            text += f"; skipped {len(self.skipped)} clip(s) shorter than 2 frames"
        return text


def _featurise(args: tuple[str, np.ndarray, bool]) -> tuple[str, np.ndarray, np.ndarray | None]:
    clip_id, joints, mirrored = args
    feats = F.joints_to_features(joints)
    return clip_id, feats.astype(np.float32), (F.joints_to_features(mirror_joints(joints)).astype(np.float32)
                                              if mirrored else None)


def _source_splits(source: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for npz in sorted(source.glob("motions_*.npz")):
        name = npz.stem[len("motions_"):]
        pairs.append((npz, source / f"captions_{name}.jsonl"))
    return pairs


@dataclass
class SourceBatch:
    """The clips of one source file or folder, what it says about itself,
    and the ids of the clips left out (shorter than 2 frames)."""
    name: str
    clips: list[SourceClip]
    manifest: dict
    skipped: list[str] = field(default_factory=list)


def bandai_batches(source: str | Path, splits: tuple[str, ...] | None = None,
                   limit: int | None = None) -> list[SourceBatch]:
    """The shared data's ``motions_<name>.npz`` + ``captions_<name>.jsonl``
    pairs; each clip goes to the split named in its caption record."""
    source = Path(source)
    pairs = _source_splits(source)
    if not pairs:
        raise MotionFileError(source, "no motions_<split>.npz found; point --source at the shared data folder "
                                      "or at a HumanML3D folder (with new_joint_vecs/ and texts/)")
    build_info = source / "build_info.json"
    manifest = {"kind": "bandai-npz", "path": str(source.resolve()), "licence": LICENCE_NOTE,
                "build": json.loads(build_info.read_text()) if build_info.is_file() else None}
    batches = []
    for npz_path, captions_path in pairs:
        motions = bandai.load_bandai_npz(npz_path)
        records = bandai.load_captions(captions_path)
        if [r["id"] for r in records] != list(motions.clip_ids):
            raise MotionFileError(captions_path, f"clip ids do not match {npz_path.name} line for line; "
                                                 "the two files come from different builds")
        positions = bandai.to_t2m_joints(bandai.bandai_joint_positions(motions), motions.joint_names)
        default_split = npz_path.stem[len("motions_"):]
        clips, skipped = [], []
        for i, record in enumerate(records[:limit]):
            split = record.get("split", default_split)
            if splits and split not in splits:
                continue
            joints = positions[motions.clip_slice(i)]
            if len(joints) < 2:
                skipped.append(record["id"])
                continue
            clips.append(SourceClip(record["id"], split, [str(c) for c in record["captions"]],
                                    record.get("labels", {}), joints))
        batches.append(SourceBatch(npz_path.name, clips, manifest, skipped))
    return batches


def library_batch(library: bvh_library.LibraryReport, licence: str | None = None) -> SourceBatch:
    clips = list(library.clips)
    licence = licence or " | ".join(sorted(library.licences)) or None     # the captions' own licence lines
    manifest = {"kind": "bvh-library", "path": str(library.root.resolve()), "licence": licence,
                "clips": len(clips), "not_used": library.problems,
                "mapped_from": sorted(set(library.mapped_from.values())), "up": library.up}
    return SourceBatch(library.root.name, clips, manifest)


def build_from_bandai(source: str | Path, out: str | Path, splits: tuple[str, ...] | None = None,
                      mirror: bool = True, save_joints: bool = False, workers: int = 1,
                      progress: bool = True, limit: int | None = None) -> BuildReport:
    """Build the cache from ``motions_<name>.npz`` + ``captions_<name>.jsonl``
    pairs in ``source``. Each clip goes to the split named in its caption
    record; ``splits`` keeps only those."""
    start = time.perf_counter()
    return build_dataset(bandai_batches(source, splits, limit), out, mirror=mirror, save_joints=save_joints,
                         workers=workers, progress=progress, start=start)


def build_dataset(batches: list[SourceBatch], out: str | Path, mirror: bool = True, save_joints: bool = False,
                  workers: int = 1, progress: bool = True, start: float | None = None) -> BuildReport:
    """Features, captions, splits, statistics and manifest for the clips of
    every source, in one HumanML3D-layout folder. Ids must be unique across
    sources. ``start``: when reading the sources began (the report's time
    includes it)."""
    start = time.perf_counter() if start is None else start
    out = Path(out)
    for sub in ("new_joint_vecs", "texts") + (("new_joints",) if save_joints else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)

    report = BuildReport(out)
    split_ids: dict[str, list[str]] = {}
    train_features: list[np.ndarray] = []
    all_features: list[np.ndarray] = []
    labels_lines: list[str] = []
    seen: set[str] = set()
    sources: list[dict] = []
    for batch in batches:
        if batch.manifest not in sources:
            sources.append(batch.manifest)
        clashes = sorted(c.clip_id for c in batch.clips if c.clip_id in seen)
        if clashes:
            raise MotionGPTError(f"{batch.name}: clip ids {clashes[:5]} are already used by another source; "
                                 "give the library's clips their own ids")
        seen.update(c.clip_id for c in batch.clips)
        report.skipped.extend(batch.skipped)
        meta = {c.clip_id: c for c in batch.clips}
        jobs = [(c.clip_id, c.joints, mirror) for c in batch.clips]
        bar = tqdm(total=len(jobs), desc=f"features {batch.name}", unit="clip", disable=not progress)
        results = _run(jobs, workers, bar)
        bar.close()
        for clip_id, feats, mirrored_feats in results:
            clip = meta[clip_id]
            _check_finite_features(clip, feats, batch.name)
            split, captions, labels = clip.split, clip.captions, clip.labels
            humanml3d.write_clip(out, clip_id, feats, captions,
                                 F.canonicalize(clip.joints) if save_joints else None)
            ids = split_ids.setdefault(split, [])
            ids.append(clip_id)
            collected = [feats]
            labels_lines.append(json.dumps({"id": clip_id, "labels": labels,
                                            "captions": captions, "mirror_of": None}))
            if mirrored_feats is not None:
                mid = MIRROR_PREFIX + clip_id
                mcaps = [mirror_text(c) for c in captions]
                humanml3d.write_clip(out, mid, mirrored_feats, mcaps)
                ids.append(mid)
                collected.append(mirrored_feats)
                labels_lines.append(json.dumps({"id": mid, "labels": labels,
                                                "captions": mcaps, "mirror_of": clip_id}))
            all_features.extend(collected)
            if split == "train":
                train_features.extend(collected)
            report.clips[split] = report.clips.get(split, 0) + len(collected)
            report.frames[split] = report.frames.get(split, 0) + sum(len(c) for c in collected)

    if not all_features:
        raise MotionGPTError("no clips to build: no source clip matched the requested splits")
    for split, ids in split_ids.items():
        (out / f"{split}.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
    mean, std = humanml3d.compute_stats(train_features or all_features)
    np.save(out / "Mean.npy", mean)
    np.save(out / "Std.npy", std)
    (out / LABELS_FILE).write_text("\n".join(labels_lines) + "\n", encoding="utf-8")
    report.seconds = time.perf_counter() - start
    first = sources[0] if sources else {}
    humanml3d.write_manifest(out, {
        "format": "humanml3d", "feature_dim": F.FEATURE_DIM, "joints": sk.NUM_JOINTS, "fps": sk.FPS,
        "source": first.get("path"), "source_build": first.get("build"), "sources": sources,
        "mirrored": mirror, "clips": report.clips, "frames": report.frames,
        "stats_from": "train" if train_features else "all",
        "licence": " | ".join(s["licence"] for s in sources if s.get("licence")),
        "engine_version": __version__, "build_seconds": round(report.seconds, 2),
    })
    return report


def _check_finite_features(clip: SourceClip, feats: np.ndarray, source: str) -> None:
    """A non-finite value never becomes a training row: the build stops,
    naming the file and the joint."""
    bad = ~np.isfinite(feats)
    if bad.any():
        frame, column = (int(i) for i in np.argwhere(bad)[0])
        where = clip.labels.get("file") or clip.clip_id
        raise MotionGPTError(f"{source}: {where} (clip {clip.clip_id}) gives NaN or infinite features at frame "
                             f"{frame} ({F.feature_column_name(column)}); check that bone in the file or "
                             "leave the file out")


def _run(jobs: list, workers: int, bar: tqdm) -> list:
    if workers <= 1 or len(jobs) < 8:
        out = []
        for job in jobs:
            out.append(_featurise(job))
            bar.update(1)
        return out
    out = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(_featurise, jobs, chunksize=16):
            out.append(result)
            bar.update(1)
    return out


@dataclass
class ValidationReport:
    root: Path
    clips: dict[str, int] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{s}: {n} clips, {self.frames[s]} frames" for s, n in self.clips.items()]
        return f"HumanML3D folder {self.root} is valid ({'; '.join(parts)})"


def validate_humanml3d(root: str | Path, progress: bool = True) -> ValidationReport:
    """Read every clip listed in the split files (shape, NaN, captions) and the
    statistics, so a broken copy fails here with the file named rather than
    hours into training."""
    root = Path(root)
    humanml3d.load_stats(root)
    report = ValidationReport(root)
    for split in humanml3d.SPLITS:
        if not (root / f"{split}.txt").is_file():
            continue
        ids = humanml3d.read_split_ids(root, split)
        frames = 0
        for clip_id in tqdm(ids, desc=f"checking {split}", unit="clip", disable=not progress):
            frames += len(humanml3d.load_clip(root, clip_id).features)
        report.clips[split], report.frames[split] = len(ids), frames
    if not report.clips:
        raise MotionFileError(root, "no train.txt / val.txt / test.txt split list found")
    return report

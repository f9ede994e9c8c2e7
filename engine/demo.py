"""The README's first command (``./setup.sh demo "prompt"``).

Until the model and the Blender add-on land, the demo runs the motion core on
real data end to end: build the feature cache from the shared sample, pick
the clip whose caption best matches the prompt, recover its joints from the
263-dim features, solve joint rotations and write a 22-joint BVH that any DCC
(Blender's own BVH importer included) opens.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .data import build, humanml3d
from .errors import MotionGPTError
from .motion import bvh
from .motion import features as F
from .motion.rotations import reconstruction_error_mm, solve_rotations


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def best_matching_clip(root: Path, prompt: str, split: str = "train") -> humanml3d.MotionClip:
    """The clip whose captions share the most words with the prompt (ties:
    the first), ignoring mirrored copies."""
    wanted = _words(prompt)
    best, best_score = None, -1.0
    for clip_id in humanml3d.read_split_ids(root, split):
        if clip_id.startswith(build.MIRROR_PREFIX):
            continue
        captions = humanml3d.read_captions(root / "texts" / f"{clip_id}.txt")
        score = max(len(wanted & _words(c.text)) / (1 + len(_words(c.text))) for c in captions)
        if score > best_score:
            best, best_score = clip_id, score
    return humanml3d.load_clip(root, best)


def run(prompt: str, data: Path, out: Path) -> Path:
    sample = data / "sample" if (data / "sample").is_dir() else data
    cache = out / "data_sample"
    print(f"[1/3] Building the feature cache from {sample} ...")
    print("      " + build.build_from_bandai(sample, cache, progress=False).summary())
    clip = best_matching_clip(cache, prompt)
    print(f"[2/3] Closest real clip to {prompt!r}: {clip.clip_id} ({clip.captions[0].text!r})")
    joints = F.features_to_joints(clip.features)
    rotations = solve_rotations(joints)
    mean_mm, max_mm = reconstruction_error_mm(joints, rotations)
    path = out / "demo.bvh"
    bvh.write_t2m_bvh(path, rotations.local_quats, rotations.root_pos, rotations.offsets, rotations.fps)
    print(f"[3/3] Wrote {path}: {len(joints)} frames at {rotations.fps:g} fps, "
          f"rotations reproduce the joints to {mean_mm:.2f} mm mean / {max_mm:.2f} mm max")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="setup.sh demo")
    parser.add_argument("prompt", nargs="?", default="a person walks forward")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        run(args.prompt, args.data, args.out)
    except MotionGPTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Clips and minutes per action of a built dataset, per source, as a markdown
table for a model card (the originals of a split; mirrored copies count
for the other side and are left out).

    python scripts/data_table.py .cache/data18 [--split train]

Reads only the labels and each clip's .npy header (its frame count), so it
takes seconds for thousands of clips.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--split", default="train")
    args = parser.parse_args()
    import numpy as np
    from engine.data.labels import labelled_originals
    from engine.eval.action_judge import action_of
    clips: dict[tuple[str, str], list[int]] = defaultdict(list)
    example: dict[tuple[str, str], str] = {}
    for clip_id, row in labelled_originals(args.data, args.split):
        source = row["labels"].get("source") or "bandai"
        key = (source, action_of(row))
        frames = np.load(Path(args.data) / "new_joint_vecs" / f"{clip_id}.npy", mmap_mode="r").shape[0]
        clips[key].append(frames)
        example.setdefault(key, row["captions"][0])
    print("| source | action: a caption | clips | minutes |")
    print("|---|---|---:|---:|")
    for (source, action), frames in sorted(clips.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"| {source} | {action}: \"{example[(source, action)]}\" | {len(frames)} | {sum(frames) / 20 / 60:.2f} |")
    total = sum(len(f) for f in clips.values())
    minutes = sum(sum(f) for f in clips.values()) / 20 / 60
    print(f"| all | {len(clips)} actions | {total} | {minutes:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The few files of a built dataset that language-model training reads when
its token cache comes with the run: what travels to a lent GPU machine.

    python scripts/compact_data.py .cache/data18 .cache/compact18

train-lm with a run whose ``cache/tokens_*.npz`` is present (a snapshot
restored by scripts/restore_run.py) reads only the split lists, the labels
(for action balancing) and the dataset's statistics: about 2.5 MB of the
573 MB build. The motion features themselves stay behind.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

FILES = ("train.txt", "val.txt", "test.txt", "labels.jsonl", "dataset.json", "Mean.npy", "Std.npy")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="built dataset (motiongpt build-data)")
    parser.add_argument("dest", type=Path, help="folder to write")
    args = parser.parse_args()
    if not (args.data / "train.txt").is_file():
        raise SystemExit(f"error: {args.data} is not a built dataset (no train.txt)")
    args.dest.mkdir(parents=True, exist_ok=True)
    copied = [shutil.copy2(args.data / name, args.dest / name) for name in FILES if (args.data / name).is_file()]
    size = sum(Path(p).stat().st_size for p in copied) / 1e6
    print(f"copied {len(copied)} files, {size:.1f} MB, to {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

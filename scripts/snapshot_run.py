"""Commit-sized snapshot of a training run, so the next session resumes it.

    python scripts/snapshot_run.py runs/v11/lm_run training/v11 [--base models/default]

What it keeps and leaves out (the shipped model's own weights, optimizer
state) is in :mod:`engine.train.snapshot`. The next session puts the run
back together and continues it at the step it stopped:

    python scripts/restore_run.py training/v11 runs/v11/lm_run
    motiongpt train-lm --data .cache/data18 --vq runs/v11/lm_run/vq --out runs/v11/lm_run --resume ...
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="train-lm output folder")
    parser.add_argument("dest", type=Path, help="snapshot folder to write (replaced)")
    parser.add_argument("--base", default="models/default",
                        help="model folder whose weights the snapshot may point to instead of copying "
                             "(default models/default; 'none' to copy every weight)")
    args = parser.parse_args()
    from engine.train.snapshot import snapshot
    files = snapshot(args.run, args.dest, None if args.base == "none" else args.base)
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"wrote {len(files)} files, {size:.1f} MB, to {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

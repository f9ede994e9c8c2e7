"""Put a training run back together from its committed snapshot.

    python scripts/restore_run.py training/v11 runs/v11/lm_run [--base models/default]

The weights the snapshot left out are taken from the model folder its
``base.json`` names (checked by SHA-256); then ``motiongpt train-lm --out
runs/v11/lm_run --resume ...`` carries on at the snapshot's step
(:mod:`engine.train.snapshot`).
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
    parser.add_argument("snapshot", type=Path, help="snapshot folder (training/...)")
    parser.add_argument("run", type=Path, help="train-lm folder to make (replaced)")
    parser.add_argument("--base", help="model folder to take left-out weights from (default: the one base.json names)")
    args = parser.parse_args()
    from engine.errors import MotionGPTError
    from engine.train.snapshot import restore
    try:
        restore(args.snapshot, args.run, args.base)
    except MotionGPTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"restored {args.snapshot} into {args.run}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

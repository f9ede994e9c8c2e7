"""``motiongpt build-data``."""
from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build-data", help="build the feature cache from the shared mocap or check a HumanML3D folder",
                       description="Read motions_<split>.npz + captions_<split>.jsonl (the shared Bandai Namco data) "
                                   "and write HumanML3D-layout features, captions, splits and Mean/Std to --out. "
                                   "Given a HumanML3D folder instead, check every clip and report; it can be "
                                   "trained on as it is.")
    p.add_argument("--source", required=True, help="shared data folder (e.g. ../shared/data) or a HumanML3D folder")
    p.add_argument("--out", help="output folder (required for the shared data)")
    p.add_argument("--splits", nargs="+", help="only these splits (default: all in the source)")
    p.add_argument("--no-mirror", action="store_true", help="do not add left/right mirrored copies")
    p.add_argument("--save-joints", action="store_true", help="also write new_joints/ positions")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="processes (default: cores, up to 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_build_data)


def run_build_data(args: argparse.Namespace) -> int:
    from ..data import build, humanml3d
    if humanml3d.is_humanml3d_folder(args.source):
        report = build.validate_humanml3d(args.source, progress=not args.quiet)
        print(report.summary())
        print(f"Train on it directly: --data {args.source}")
        return 0
    if not args.out:
        print("error: --out is required when building from the shared data")
        return 2
    report = build.build_from_bandai(args.source, args.out, splits=tuple(args.splits) if args.splits else None,
                                     mirror=not args.no_mirror, save_joints=args.save_joints,
                                     workers=args.workers, progress=not args.quiet)
    print(report.summary())
    return 0

"""``motiongpt build-data``."""
from __future__ import annotations

import argparse
import os
import time

UP_CHOICES = ("auto", "y", "z", "x", "-y", "-z", "-x")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build-data", help="build the feature cache from the shared mocap and/or BVH libraries, "
                                          "or check a HumanML3D folder",
                       description="Read motions_<split>.npz + captions_<split>.jsonl (the shared Bandai Namco data, "
                                   "--source) and/or folders of BVH files with a captions*.jsonl (--bvh-library, on "
                                   "any skeleton: bones are mapped onto the 22 joints by name or by --bone-map, "
                                   "units, up axis and frame rate are converted), and write HumanML3D-layout "
                                   "features, captions, splits, labels and Mean/Std to --out. Given a HumanML3D "
                                   "folder as --source instead, check every clip and report; it can be trained on "
                                   "as it is.")
    p.add_argument("--source", help="shared data folder (e.g. ../shared/data) or a HumanML3D folder")
    p.add_argument("--bvh-library", action="append", default=[], metavar="DIR",
                   help="folder of BVH files plus captions*.jsonl (one {\"id\", \"file\", \"description\" or "
                        "\"captions\"} per line); may be given more than once")
    p.add_argument("--bone-map", help="bone-map JSON (as the add-on saves it) for the libraries' skeleton "
                                      "(default: each library's own bone_map.json, else detect from bone names)")
    p.add_argument("--up", choices=UP_CHOICES, default="auto",
                   help="the libraries' up axis (default: one per library, the commonest of its upright takes)")
    p.add_argument("--library-licence", help="licence / credit line of the BVH libraries, kept in dataset.json "
                                             "(default: the 'licence' fields of their caption lines)")
    p.add_argument("--out", help="output folder (required unless checking a HumanML3D folder)")
    p.add_argument("--splits", nargs="+", help="only these splits (default: all in the source)")
    p.add_argument("--no-mirror", action="store_true", help="do not add left/right mirrored copies")
    p.add_argument("--save-joints", action="store_true", help="also write new_joints/ positions")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="processes (default: cores, up to 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_build_data)


def run_build_data(args: argparse.Namespace) -> int:
    from ..data import build, humanml3d
    if args.source and not args.bvh_library and humanml3d.is_humanml3d_folder(args.source):
        report = build.validate_humanml3d(args.source, progress=not args.quiet)
        print(report.summary())
        print(f"Train on it directly: --data {args.source}")
        return 0
    if not args.source and not args.bvh_library:
        print("error: give --source (the shared data) and/or --bvh-library DIR")
        return 2
    if not args.out:
        print("error: --out is required when building a dataset")
        return 2
    from ..data import bvh_library, rig_map
    splits = tuple(args.splits) if args.splits else None
    start = time.perf_counter()             # the reported time includes reading the sources
    batches = build.bandai_batches(args.source, splits) if args.source else []
    bone_map = rig_map.load_bone_map_file(args.bone_map) if args.bone_map else None
    for folder in args.bvh_library:
        library = bvh_library.read_library(folder, bone_map=bone_map, up=args.up, splits=splits)
        print(f"{folder}: {len(library.clips)} clip(s) mapped onto the 22 joints, {library.up or '?'} up"
              + (f"; {len(library.problems)} file(s) not used:" if library.problems else ""))
        for line in library.problem_lines():
            print(line)
        batches.append(build.library_batch(library, args.library_licence))
    report = build.build_dataset(batches, args.out, mirror=not args.no_mirror, save_joints=args.save_joints,
                                 workers=args.workers, progress=not args.quiet, start=start)
    print(report.summary())
    return 0

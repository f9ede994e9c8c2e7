"""``motiongpt evaluate``: score a model on a data split, beside real data and baselines."""
from __future__ import annotations

import argparse

from ..device import DEVICE_CHOICES, DEVICE_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="score a model: text-to-motion, captioning, prediction, in-betweening, plausibility",
        description="Evaluate a model folder on the original clips of one split (first 10 s of each): "
                    "R-precision / FID / MM-Dist / Diversity / MultiModality beside the real motions, caption "
                    "scores beside a constant caption, prediction and in-betweening errors beside classical "
                    "baselines, and foot skating / penetration / jerk beside real data. Prints tables; --json "
                    "writes everything. Without --data the shared data (../shared/data or $MOTIONGPT_DATA) is "
                    "built once into .cache/data.")
    p.add_argument("--model", help="model folder (default: $MOTIONGPT_MODEL when set, else models/default)")
    p.add_argument("--data", help="built dataset folder (HumanML3D layout; default: build .cache/data from the "
                                  "shared data)")
    p.add_argument("--split", default="val", help="split to evaluate on (default: val)")
    p.add_argument("--evaluator", help="retrieval evaluator folder (default: models/evaluator)")
    p.add_argument("--json", metavar="OUT", help="also write all results to this JSON file")
    p.add_argument("--max-clips", type=int, help="evaluate a seeded random subset of this many clips (quick runs)")
    p.add_argument("--mm-texts", type=int, default=20, help="captions used for MultiModality (default 20)")
    p.add_argument("--mm-repeats", type=int, default=5, help="generations per caption for MultiModality (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=DEVICE_HELP)
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (default 0: torch's choice; 1 is faster on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or notices, only the tables")
    p.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from ..eval.evaluate import format_results, run_evaluation
    from ..eval.report import write_json
    from ..runtime import set_torch_threads
    set_torch_threads(args.threads)
    results = run_evaluation(args.model, args.data, split=args.split, evaluator_dir=args.evaluator,
                             device=args.device, seed=args.seed, max_clips=args.max_clips, mm_texts=args.mm_texts,
                             mm_repeats=args.mm_repeats, progress=not args.quiet)
    print(format_results(results))
    if args.json:
        path = write_json(results, args.json)
        print(f"\nwrote {path}")
    return 0

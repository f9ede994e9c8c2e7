"""Real-data reference numbers for the evaluation harness.

What a perfect generator would score, with no model: the real motions of a
split against their own captions on the retrieval evaluator (R-precision,
MM-Dist, Diversity, FID train vs split), the constant-caption baseline, the
classical baselines for motion prediction (constant pose / velocity) and
in-betweening (linear positions / SLERP rotations at the 20 fps gaps 3, 10
and 20 frames), and the physical-plausibility metrics of real motion. It is
``motiongpt evaluate`` without a model (``run_evaluation(real_only=True)``),
so the protocol and the clips are exactly those of the model's evaluation.

    python benchmarks/eval_real_data.py [--data DIR] [--split val] [--evaluator DIR] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)
from engine.eval.evaluate import format_results, run_evaluation  # noqa: E402
from engine.eval.report import write_json  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="built dataset folder (default: .cache/data from the shared data)")
    p.add_argument("--evaluator", default=None, help="evaluator folder (default: models/evaluator)")
    p.add_argument("--split", default="val")
    p.add_argument("--json", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-clips", type=int, default=None)
    a = p.parse_args()
    results = run_evaluation(data_dir=a.data, split=a.split, evaluator_dir=a.evaluator, seed=a.seed,
                             max_clips=a.max_clips, real_only=True)
    print(format_results(results))
    if a.json:
        write_json(results, a.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Compare prompt_grounding.py runs with paired bootstrap CIs over prompts.

One seed of 71 prompts moves the motion-level hit count by several prompts
(a 4 s sample is one draw), so a model comparison needs more than one seed
and an interval: each prompt's hit rate is averaged over the seeds of a
model's runs, and the two models (or two conditions of one model) are
compared prompt by prompt with :func:`engine.eval.metrics.paired_bootstrap`.

    python benchmarks/prompt_grounding.py --seed S --json runs/g_new_sS.json     (per seed, per model)
    python benchmarks/grounding_compare.py --a runs/g_new_s*.json --b runs/g_old_s*.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONDITIONS = {"grounded": "judged", "typed": "typed_judged", "ceiling": "ceiling_judged"}
"""Per-prompt fields of prompt_grounding.py's JSON: the judged action of each condition."""


def hits(run: dict, condition: str) -> np.ndarray:
    """1/0 per prompt: the condition's motion judged as an accepted action
    (a refused prompt is a miss when grounded, as in prompt_grounding.py)."""
    field = CONDITIONS[condition]
    return np.array([float(p[field] in p["accepted"] and (condition != "grounded" or p["read_as"] is not None))
                     for p in run["per_prompt"]])


def load_runs(paths: list[str]) -> list[dict]:
    """The runs (seeds) in ``paths``, each read once; the prompts must be the same list."""
    runs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    prompts = [p["prompt"] for p in runs[0]["per_prompt"]]
    for path, run in zip(paths, runs):
        if [p["prompt"] for p in run["per_prompt"]] != prompts:
            raise SystemExit(f"error: {path} holds another prompt list than {paths[0]}")
    return runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", nargs="+", required=True, help="JSONs of model A (one per seed)")
    ap.add_argument("--b", nargs="+", help="JSONs of model B (one per seed) to compare A with")
    ap.add_argument("--name-a", default="A")
    ap.add_argument("--name-b", default="B")
    args = ap.parse_args()
    from engine.eval.metrics import paired_bootstrap

    def line(label: str, x: np.ndarray, y: np.ndarray) -> None:
        r = paired_bootstrap(x, y)
        lo, hi = r["diff_ci"]
        print(f"  {label:44s} {x.mean():6.1%} vs {y.mean():6.1%}: {r['diff'] * 100:+5.1f} points, "
              f"95% CI [{lo * 100:+.1f}, {hi * 100:+.1f}]")

    def summarise(name: str, paths: list[str]) -> dict[str, np.ndarray]:
        runs = load_runs(paths)
        per_run = {c: [hits(r, c) for r in runs] for c in CONDITIONS}
        rates = {c: np.mean(h, axis=0) for c, h in per_run.items()}      # each prompt's hit rate over the seeds
        for c, rate in rates.items():
            seeds = ", ".join(f"{int(h.sum())}/{len(rate)}" for h in per_run[c])
            print(f"  {name} {c:9s} {rate.mean():6.1%}  (per seed: {seeds})")
        line(f"{name}: grounded - typed", rates["grounded"], rates["typed"])
        line(f"{name}: grounded - ceiling", rates["grounded"], rates["ceiling"])
        return rates

    print(f"{args.name_a}: {len(args.a)} seed(s)" + (f"; {args.name_b}: {len(args.b)} seed(s)" if args.b else "") +
          "; motion-level hit rate, mean over seeds; paired bootstrap over prompts")
    a = summarise(args.name_a, args.a)
    if args.b:
        b = summarise(args.name_b, args.b)
        for c in CONDITIONS:
            line(f"{c}: {args.name_a} - {args.name_b}", a[c], b[c])
    return 0


if __name__ == "__main__":
    sys.exit(main())

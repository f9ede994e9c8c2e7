"""A warm 4 s generate with two model folders in the same run, interleaved.

    python benchmarks/model_speed.py --a CANDIDATE --b models/default [--runs 15] [--threads 1]

Both models are loaded in one process and warmed up; then each round times
one `tasks.generate` (prompt read, motion sampled with the folder's own
settings, rotations solved, foot cleanup) for each model in turn, with the
same prompt and seed, so a busy spell of the machine hits both. Prints the
medians and A's median as a multiple of B's (target: at most 1.2).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)

PROMPTS = ["a person walks forward", "a person waves the right hand", "a person bows", "a person runs forward"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True)
    parser.add_argument("--b", required=True)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    from engine.pipeline import tasks
    from engine.pipeline.jobs import load_model
    models = {"a": load_model(args.a, "cpu"), "b": load_model(args.b, "cpu")}
    for model in models.values():
        for prompt in PROMPTS:
            tasks.generate(model, prompt, seconds=4.0, seed=0)
    times: dict[str, list[float]] = {"a": [], "b": []}
    for k in range(args.runs):
        prompt = PROMPTS[k % len(PROMPTS)]
        for name in (("a", "b") if k % 2 == 0 else ("b", "a")):
            t0 = time.perf_counter()
            tasks.generate(models[name], prompt, seconds=4.0, seed=k)
            times[name].append(time.perf_counter() - t0)
    ma, mb = float(np.median(times["a"])), float(np.median(times["b"]))
    print(f"warm 4 s generate, {args.runs} interleaved rounds, {args.threads} thread(s), medians:")
    print(f"  A {args.a}: {ma:.3f} s")
    print(f"  B {args.b}: {mb:.3f} s")
    print(f"  A / B = {ma / mb:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

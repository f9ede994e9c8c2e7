"""Which torch thread count makes inference fastest here: 1, 2, torch's own
choice, and the engine's default, interleaved, quiet and with one core kept busy.

    python benchmarks/thread_choice.py [MODEL] [--runs 10] [--server]

In-process: a warm 4 s generate (prompt -> features, the pipeline's own
share) with each setting in turn, round after round, so slow moments of the
machine hit every setting alike. ``--server``: the same through three real
``motiongpt serve`` processes (``--threads 1``, ``--threads 2`` and no flag,
which is what the add-on starts), a 4 s generate job each, interleaved.
Both are run twice: quiet, then with one busy-looping process (another
program on one core, as Blender beside the engine on a laptop). Prints
medians and each setting's ratio to the best one in the same condition.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)
import torch  # noqa: E402

TORCH_CHOICE = torch.get_num_threads()
"""torch's own thread count, read before any setting here changes it."""

PROMPT = "a person walks forward"
SECONDS = 4.0


def _busy() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _report(title: str, times: dict[str, list[float]]) -> dict[str, float]:
    medians = {k: statistics.median(v) for k, v in times.items()}
    best = min(medians.values())
    print(title)
    for name, m in medians.items():
        print(f"  {name:22s} median {m:.3f} s  (min {min(times[name]):.3f}, max {max(times[name]):.3f}, "
              f"n={len(times[name])})  {m / best:.2f}x the best")
    return medians


def in_process(model_dir: str | None, runs: int) -> dict[str, list[float]]:
    import torch
    from engine.pipeline import tasks
    from engine.pipeline.jobs import load_model
    from engine.runtime import DEFAULT_INFERENCE_THREADS
    torch_choice = TORCH_CHOICE
    settings = {"1 thread": 1, "2 threads": 2, f"torch's choice ({torch_choice})": torch_choice,
                f"engine default ({DEFAULT_INFERENCE_THREADS})": DEFAULT_INFERENCE_THREADS}
    model = load_model(model_dir, "cpu")
    reading = tasks.read_prompt(model, PROMPT)
    times: dict[str, list[float]] = {k: [] for k in settings}
    for threads in set(settings.values()):                      # warm-up of every setting
        torch.set_num_threads(threads)
        tasks.generate(model, reading, seconds=SECONDS, seed=0)
    for r in range(runs):
        for name, threads in settings.items():
            torch.set_num_threads(threads)
            t = time.perf_counter()
            tasks.generate(model, reading, seconds=SECONDS, seed=r)
            times[name].append(time.perf_counter() - t)
    return times


def through_servers(model_dir: str | None, runs: int) -> dict[str, list[float]]:
    from engine.server.launch import start_engine
    flags = {"serve --threads 1": ["--threads", "1"], "serve --threads 2": ["--threads", "2"],
             "serve (default, as the add-on starts it)": []}
    model = ["--model", model_dir] if model_dir else []
    engines = {}
    try:
        for name, extra in flags.items():
            engines[name] = start_engine(["--port", "0", "--device", "cpu", *model, *extra],
                                         stderr=subprocess.DEVNULL, cwd=REPO)
        clients = {name: eng.client(timeout=60) for name, eng in engines.items()}
        params = {"text": PROMPT, "seconds": SECONDS}
        for client in clients.values():                          # warm-up
            client.wait(client.submit("generate", {**params, "seed": 0}), poll=0.005)
        times: dict[str, list[float]] = {k: [] for k in flags}
        for r in range(runs):
            for name, client in clients.items():
                t = time.perf_counter()
                client.wait(client.submit("generate", {**params, "seed": r}), poll=0.005)
                times[name].append(time.perf_counter() - t)
        return times
    finally:
        for eng in engines.values():
            eng.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="model folder (default models/default)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--server", action="store_true", help="also measure through serve processes")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; 4 s generate, {args.runs} interleaved runs per setting")
    for condition in ("quiet", "one core busy"):
        busy = _busy() if condition != "quiet" else None
        try:
            _report(f"in-process, {condition}:", in_process(args.model, args.runs))
            if args.server:
                _report(f"through the server, {condition}:", through_servers(args.model, args.runs))
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

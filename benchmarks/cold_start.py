"""Cold start of the engine's processes, on a quiet machine and on a busy one.

    python benchmarks/cold_start.py                       # models/default, 5 runs of each
    python benchmarks/cold_start.py --runs 5 --baseline-root /path/to/older/checkout

Prints, for each condition, the median (and min/max) of ``--runs`` fresh
processes of:

* ``import torch``: ``python -c "import torch"`` start to exit, the baseline
  everything is compared with (no engine can start faster than torch loads);
* ``import torch, line``: the same until it prints a line after the import
  (not waiting for the interpreter's exit, which with torch loaded takes a
  while): the like-for-like counterpart of ``serve ready``, also shown as a
  ratio (``x line``);
* ``serve ready``: ``python -m engine serve --port 0`` until its JSON ready
  line (model loaded, socket listening), then stopped;
* ``generate 4 s``: ``python -m engine generate "..." --seconds 4 --out
  x.bvh`` as a whole process, start to exit;

and each engine time as a multiple of the torch baseline (targets, issue
11: ready <= 2.0x, generate <= 3.0x). The conditions:

* ``quiet``: nothing else started by this script (other users' work on a
  shared machine still counts: the load average is printed);
* ``loaded``: one busy-looping process per CPU core runs throughout, as
  when Blender renders on the same machine -- where OpenMP threads spinning
  for work hurt most.

The runs of the different commands are interleaved (one of each per round),
so slow drift of a shared machine's load hits them alike. The engine
commands run with the environment as it is: the engine applies its own
process policy (engine/runtime.py). ``--baseline-root`` adds the same engine
rows for another checkout (e.g. the commit before a change), in the same
rounds, for a before/after in one run.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPT = "a person walks forward"


def _busy() -> None:  # pragma: no cover - runs in the competing processes
    while True:
        pass


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    env.pop("MOTIONGPT_TOKEN", None)
    return env


def time_torch_import(root: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True, env=_env(root), cwd=root)
    return time.perf_counter() - t


def time_torch_import_line(root: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "import torch; print('imported', flush=True)"],
                            stdout=subprocess.PIPE, env=_env(root), cwd=root)
    proc.stdout.readline()
    took = time.perf_counter() - t
    proc.wait(60)
    return took


def time_ready(root: Path, model: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", "0", "--model", str(model),
                             "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env=_env(root), cwd=root)
    line = proc.stdout.readline()
    took = time.perf_counter() - t
    proc.terminate()
    proc.wait(60)
    if json.loads(line or b"{}").get("event") != "ready":
        raise SystemExit(f"{root}: the engine did not start: {line[:300]!r}")
    return took


def time_generate(root: Path, model: Path, out_dir: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine", "generate", PROMPT, "--seconds", "4", "--seed", "1",
                    "--model", str(model), "--device", "cpu", "--quiet", "--out", str(out_dir / "walk.bvh")],
                   check=True, env=_env(root), cwd=root, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def run_condition(name: str, runs: int, roots: dict[str, Path], model: Path, out_dir: Path) -> dict:
    """One condition: ``runs`` rounds of every command, interleaved."""
    rows: dict[str, list[float]] = {"import torch": [], "import torch, line": []}
    for label in roots:
        rows[f"serve ready{label}"] = []
        rows[f"generate 4 s{label}"] = []
    print(f"[{name}] load average before: {os.getloadavg()[0]:.2f}", flush=True)
    for r in range(runs):
        rows["import torch"].append(time_torch_import(REPO))
        rows["import torch, line"].append(time_torch_import_line(REPO))
        for label, root in roots.items():
            rows[f"serve ready{label}"].append(time_ready(root, model))
            rows[f"generate 4 s{label}"].append(time_generate(root, model, out_dir))
        print(f"[{name}] round {r + 1}/{runs}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in rows.items()),
              flush=True)
    return {key: _stats(values) for key, values in rows.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "default"), help="model folder")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes of each command per condition")
    parser.add_argument("--conditions", default="quiet,loaded", help="quiet, loaded or both (default)")
    parser.add_argument("--baseline-root", help="another checkout whose engine is timed in the same rounds")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    model = Path(args.model).resolve()
    roots = {"": REPO}
    if args.baseline_root:
        roots[" (baseline)"] = Path(args.baseline_root).resolve()
    cores = os.cpu_count() or 1
    print(f"{cores} CPU cores, python {sys.version.split()[0]}, model {model}; engine policy env: "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset: the engine sets PASSIVE)')}")
    report: dict = {"cores": cores, "model": str(model), "runs": args.runs, "conditions": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in [c.strip() for c in args.conditions.split(",") if c.strip()]:
            hogs = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(cores if name == "loaded" else 0)]
            for h in hogs:
                h.start()
            try:
                report["conditions"][name] = run_condition(name, args.runs, roots, model, Path(tmp))
            finally:
                for h in hogs:
                    h.terminate()
                    h.join()
    print()
    print(f"{'condition':<8} {'command':<26} {'median s':>9} {'min':>7} {'max':>7} {'x torch':>8} {'x line':>7}")
    for name, rows in report["conditions"].items():
        base, line = rows["import torch"]["median"], rows["import torch, line"]["median"]
        for key, st in rows.items():
            st["x_torch"], st["x_line"] = st["median"] / base, st["median"] / line
            print(f"{name:<8} {key:<26} {st['median']:>9.2f} {st['min']:>7.2f} {st['max']:>7.2f} "
                  f"{st['x_torch']:>7.2f}x {st['x_line']:>6.2f}x")
    print("targets: serve ready <= 2.0x import torch, generate 4 s <= 3.0x import torch")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

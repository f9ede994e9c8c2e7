"""Engine server latency: cold start to ready, and request -> result.

    python benchmarks/server_latency.py                       # models/default
    python benchmarks/server_latency.py path/to/model_folder --starts 5 --requests 10

Cold start: from launching ``python -m engine serve --port 0`` to its ready
line (the model is loaded and the socket listens), median of ``--starts``
fresh processes. Request latency: POST a ``--seconds`` (default 4) s generate
job, poll every 10 ms until done, median of ``--requests`` after one warm-up
job; "run" is the job's own time in the worker (started -> finished), so
"request - run" is the HTTP, queue and polling overhead. A health round trip
(median of 50) shows the bare HTTP cost.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.server.client import EngineError  # noqa: E402
from engine.server.launch import pid_rss_mb, start_engine  # noqa: E402

PROMPT = "a person walks forward and waves with the right hand"


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", help="model folder (default: --model, else models/default)")
    parser.add_argument("--model", dest="model_opt", help="model folder (same as the positional argument)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--starts", type=int, default=3, help="cold starts to time (default 3)")
    parser.add_argument("--requests", type=int, default=5, help="generate requests to time (default 5)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the generated motion (default 4)")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    model = Path(args.model or args.model_opt or REPO / "models" / "default")
    if not (model / "model.json").is_file():
        parser.error(f"{model} is not a model folder (no model.json); pass one, e.g. "
                     "benchmarks/server_latency.py path/to/model")
    serve_args = ["--port", "0", "--model", str(model), "--device", args.device, "--parent-pid", str(os.getpid())]
    log_path = REPO / "out" / "server_latency.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)

    with open(log_path, "w", encoding="utf-8") as log:
        starts = []
        for _ in range(max(1, args.starts)):
            t0 = time.perf_counter()
            engine = start_engine(serve_args, stderr=log, cwd=REPO)
            starts.append(time.perf_counter() - t0)
            ready = engine.ready
            if len(starts) < args.starts:
                engine.stop()

        client = engine.client(timeout=30)
        try:
            health = []
            for _ in range(50):
                t0 = time.perf_counter()
                client.health()
                health.append(time.perf_counter() - t0)
            params = {"text": PROMPT, "seconds": args.seconds, "seed": 0}
            client.run("generate", params, poll=0.01, timeout=600)  # warm-up
            rss_before = pid_rss_mb(engine.pid)
            total, run = [], []
            frames = None
            for i in range(max(1, args.requests)):
                t0 = time.perf_counter()
                job_id = client.submit("generate", dict(params, seed=i + 1))
                result = client.wait(job_id, poll=0.01, timeout=600)
                total.append(time.perf_counter() - t0)
                job = client.status(job_id)
                run.append(job["finished"] - job["started"])
                frames = _frames(result)
            rss_after = pid_rss_mb(engine.pid)
        except EngineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            client.close()
            engine.stop()

    rows = [("cold start to ready", _stats(starts)),
            ("health round trip", _stats(health)),
            (f"generate {args.seconds:g} s: request -> result", _stats(total)),
            (f"generate {args.seconds:g} s: job run (worker)", _stats(run))]
    print(f"model {ready['model']} ({model}) on {ready['device']}, engine {ready['version']}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; output {frames} frames")
    print(f"{'measure':<40} {'median':>10} {'min':>10} {'max':>10} {'n':>4}")
    for name, s in rows:
        print(f"{name:<40} {_fmt(s['median']):>10} {_fmt(s['min']):>10} {_fmt(s['max']):>10} {s['n']:>4}")
    if rss_before is not None and rss_after is not None:
        print(f"server RSS {rss_before:.0f} MB after warm-up, {rss_after:.0f} MB after {len(total)} requests")
    print(f"server log: {log_path}")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": ready["model"], "device": ready["device"],
                                               "rows": {name: s for name, s in rows},
                                               "rss_mb": [rss_before, rss_after]}, indent=2) + "\n")
    return 0


def _frames(result: dict) -> int | None:
    motions = result.get("motions") or ([result["motion"]] if "motion" in result else [])
    if motions and isinstance(motions[0], dict):
        return motions[0].get("num_frames")
    return None


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    sys.exit(main())

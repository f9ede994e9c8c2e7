"""A warm 4 s generate through the server: a new prompt against a repeated one,
and this checkout against an earlier commit, in the same run (issue 21).

    python benchmarks/job_costs.py --before 024b422 [--rounds 12] [--model models/default]

Starts two engines on the same model folder, each with its defaults (as the
add-on starts one: no --threads): this checkout's, and the code of commit
``--before`` (a temporary git worktree). Then, round after round and engine
after engine, a 4 s generate job with a prompt the engine has not seen
(a different one each round) and one with the same prompt every round,
each timed from POST to result (polled every 5 ms). Prints medians and the
ratios the issue asks about: repeated / new on this checkout, and this
checkout / the earlier one for each kind.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.server.launch import start_engine  # noqa: E402

NEW_PROMPTS = [
    "a person walks forward slowly", "someone strolls ahead", "a man walks along the street", "a woman walks ahead",
    "a person takes a walk", "someone walks in a straight line", "a person paces forward", "a person marches ahead",
    "someone ambles forward", "a person walks on", "a person heads forward on foot", "someone walks steadily",
    "a person walks calmly forward", "a person goes for a walk", "someone treks ahead", "a person walks briskly",
]
REPEATED = "a person waves with the right hand"


def _timed(client, text: str, seed: int) -> float:
    t = time.perf_counter()
    client.wait(client.submit("generate", {"text": text, "seconds": 4, "seed": seed}), poll=0.005)
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the earlier commit to compare with")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--model", default=str(REPO / "models" / "default"))
    args = parser.parse_args()
    rounds = min(args.rounds, len(NEW_PROMPTS))
    with tempfile.TemporaryDirectory(prefix="mgpt_before_") as tmp:
        old = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), args.before], check=True,
                       capture_output=True)
        engines = {}
        try:
            for name, cwd in (("now", REPO), ("before", old)):
                engines[name] = start_engine(["--port", "0", "--model", args.model, "--device", "cpu"],
                                             stderr=subprocess.DEVNULL, cwd=cwd)
            clients = {name: e.client(timeout=60) for name, e in engines.items()}
            for c in clients.values():                                     # warm-up, not timed
                _timed(c, "a person bows", 0)
                _timed(c, REPEATED, 0)
            times = {(name, kind): [] for name in clients for kind in ("new", "repeated")}
            for r in range(rounds):
                for name, c in clients.items():
                    times[(name, "new")].append(_timed(c, NEW_PROMPTS[r], r))
                    times[(name, "repeated")].append(_timed(c, REPEATED, r))
        finally:
            for e in engines.values():
                e.stop()
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], capture_output=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    for (name, kind), m in med.items():
        print(f"{name:6s} {kind:8s} median {m * 1000:6.1f} ms (min {min(times[(name, kind)]) * 1000:6.1f}, "
              f"n={len(times[(name, kind)])})")
    print(f"repeated / new on this checkout: {med[('now', 'repeated')] / med[('now', 'new')]:.2f}x (target <= 0.9x)")
    print(f"this checkout / {args.before}: new prompt {med[('now', 'new')] / med[('before', 'new')]:.2f}x, "
          f"repeated prompt {med[('now', 'repeated')] / med[('before', 'repeated')]:.2f}x (target <= 0.7x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run by tests/test_distributed_training.py under torchrun: joins the process
group once, then runs each command line it is given (a JSON list of argv
lists) through the engine's CLI in this process, as ``torchrun ... -m
engine train-lm ...`` would, and exits with the first non-zero status.

One process group for several runs keeps the test to one torchrun start;
the trainers join a group that is already there and leave it open."""
from __future__ import annotations

import json
import os
import sys


def main() -> int:
    import torch.distributed as dist
    from engine.cli import main as cli
    runs = json.loads(sys.argv[1])
    dist.init_process_group("gloo")
    try:
        for argv in runs:
            code = cli(argv)
            if code != 0:
                print(f"rank {dist.get_rank()}: {argv[0]} exited {code}", file=sys.stderr)
                return code
            dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

"""``motiongpt`` command line: one sub-command per task.

Each command module exposes ``register(subparsers)``; handlers return an exit
code. Command modules import nothing heavy at import time (torch,
transformers), so ``--help`` and the light commands start fast and the
process policy (:mod:`engine.runtime`) is in place before torch loads.
Errors the user can fix (MotionGPTError) print one line starting with
"error:" and exit 2; Ctrl-C exits 130 without a traceback.
"""
from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import MotionGPTError
from . import (compose_command, data_commands, evaluate_command, model_commands, motion_commands, serve_command,
               smpl_command, task_commands, train_lm_command, train_vq_command, vocabulary_command)

COMMAND_MODULES = (
    task_commands,      # generate, inbetween, continue, caption
    compose_command,    # compose
    serve_command,      # serve, add-token
    motion_commands,    # features, joints, bvh
    data_commands,      # build-data
    train_vq_command,   # train-vq
    train_lm_command,   # train-lm
    evaluate_command,   # evaluate
    model_commands,     # convert-official, export-model
    vocabulary_command,  # build-vocabulary
    smpl_command,       # export-smpl
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motiongpt",
        description="MotionGPT engine: motion features, BVH, datasets, models and the local server.")
    parser.add_argument("--version", action="version", version=f"motiongpt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except MotionGPTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130

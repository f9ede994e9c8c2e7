"""Process-wide settings every engine entry point applies before torch is imported.

Why this exists: OpenMP's default wait policy keeps a finished parallel
region's threads spinning on their core, waiting for the next one. On a
machine whose cores are busy with something else (an animator's machine
rendering, a shared build box) the spinning threads fight the threads that
do the work. Measured on the 2-core development machine while other work
kept it busy, default policy vs ``OMP_WAIT_POLICY=PASSIVE``:

* a 4 s prompt -> motion called from the main thread (what the CLI does):
  1.8-6.9 s vs 0.52 s, with 2 torch threads either way;
* a training step of the ``small`` language model (batch 32): 13.0 s vs 2.5 s;
* the server's time to its ready line: 5.37 s vs 2.98 s (issue 11).

So every entry point -- the CLI commands (``generate`` and the other tasks,
``serve``, ``evaluate``, ``train-vq``, ``train-lm``, ``build-data``), the
benchmarks and the add-on's launcher -- runs with the passive policy. It is
the OpenMP standard variable, honoured by GNU libgomp (Linux), LLVM libomp
(macOS) and Intel's (Windows). A value the user set wins: someone with a
dedicated machine may prefer ``OMP_WAIT_POLICY=ACTIVE`` for training.

``PYTORCH_ENABLE_MPS_FALLBACK=1`` lets an operation that Apple's MPS backend
lacks run on the CPU instead of failing the job (the engine picks MPS on a
Mac, :mod:`engine.device`).

Both variables are read once, when torch (and its OpenMP runtime) is loaded,
so :func:`apply_process_policy` must run first: ``engine/__init__`` calls
it, so importing anything of the engine applies it, and no engine module
imports torch before that.
Inference runs on one torch thread unless ``--threads`` says otherwise
(:data:`DEFAULT_INFERENCE_THREADS`: the CLI's tasks, ``serve`` and so the
add-on's engine). The model is small: a decoder step multiplies a few rows
by 256-wide matrices, too little work to share between cores. Measured on
the 2-core development machine (issue 21, ``benchmarks/thread_choice.py``,
warm 4 s generate, medians of 10 interleaved runs): two threads took 1.89x
(in-process) and 2.39x (through ``serve``) as long as one with the machine
otherwise idle, 1.25x / 1.45x with the other core busy (Blender or a render
beside the engine, as on a laptop); the default was within 1.06x of the best
setting in all four. Training keeps torch's own choice.
"""
from __future__ import annotations

import os
import sys
from typing import MutableMapping

PROCESS_ENV: dict[str, str] = {
    "OMP_WAIT_POLICY": "PASSIVE",
    "PYTORCH_ENABLE_MPS_FALLBACK": "1",
}
"""Environment variables every engine process runs with (unless the user
set them already)."""


def apply_process_policy(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set each :data:`PROCESS_ENV` variable the environment lacks; returns
    the ones it set. Takes effect only before torch is imported
    (:func:`policy_in_effect` says whether it did)."""
    env = os.environ if environ is None else environ
    changed = {}
    for key, value in PROCESS_ENV.items():
        if key not in env:
            env[key] = value
            changed[key] = value
    return changed


def policy_in_effect() -> bool:
    """True when torch is not loaded yet, so the variables set by
    :func:`apply_process_policy` still decide how it runs."""
    return "torch" not in sys.modules


DEFAULT_INFERENCE_THREADS: int = 1
"""Torch CPU threads for inference when none are asked for (module docstring)."""


def inference_threads(requested: int | None) -> int:
    """The torch thread count an inference process uses."""
    return int(requested) if requested else DEFAULT_INFERENCE_THREADS


def set_torch_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` when given (torch's own choice otherwise);
    it holds for the worker threads that run jobs, too."""
    if threads:
        import torch
        torch.set_num_threads(int(threads))

"""Preferences > Install Engine: a virtual environment with the engine in it (no bpy).

Two steps, each a child process whose output goes line by line to a log file
and to :attr:`EngineInstaller.line` (the status line the Preferences show,
refreshed by a timer):

1. ``<base python> -m venv <folder>`` (base: Preferences > Python for the
   install, default Blender's own Python; the engine needs Python 3.11);
2. ``<folder>/bin/python -m pip install [extra args] -e <engine folder>``:
   the engine and its pinned dependencies (``torch==2.13.0``, transformers,
   numpy, safetensors, requests, tqdm -- pyproject.toml), a download of a few
   hundred MB the first time.

Nothing blocks Blender: the steps run on a thread. :meth:`cancel` kills the
running step. A failure names the step, its exit code, the last meaningful
output line and the log.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from .paths import is_engine_root, venv_python

IDLE, RUNNING, DONE, FAILED, CANCELLED = "idle", "running", "done", "failed", "cancelled"


class EngineInstaller:
    def __init__(self, engine_root: str | Path, venv_dir: str | Path, base_python: str | Path | None = None,
                 pip_args: Sequence[str] = (), log_path: str | Path | None = None,
                 venv_args: Sequence[str] = ()):
        self.engine_root = Path(engine_root) if engine_root else None
        self.venv_dir = Path(venv_dir)
        self.base_python = str(base_python or sys.executable)
        self.pip_args = list(pip_args)
        self.venv_args = list(venv_args)
        self.log_path = Path(log_path) if log_path else self.venv_dir.parent / "install-engine.log"
        self.state = IDLE
        self.step = ""
        self.line = ""
        self.error = ""
        self._proc: subprocess.Popen | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def python(self) -> Path:
        return venv_python(self.venv_dir)

    def steps(self) -> list[tuple[str, list[str]]]:
        return [
            ("creating the virtual environment", [self.base_python, "-m", "venv", *self.venv_args, str(self.venv_dir)]),
            ("installing the engine and torch (a large download the first time)",
             [str(self.python), "-m", "pip", "install", "--disable-pip-version-check", *self.pip_args,
              "-e", str(self.engine_root)]),
        ]

    def check(self) -> str | None:
        if self.engine_root is None or not is_engine_root(self.engine_root) \
                or not (self.engine_root / "pyproject.toml").is_file():
            return (f"The engine folder {self.engine_root or '(not set)'} is not a MotionGPT-for-Blender checkout "
                    "(engine/ and pyproject.toml). Set Preferences > MotionGPT > Engine Folder first.")
        if Path(self.base_python).is_dir():
            return (f"The Python for the install {self.base_python} is a folder, not a Python executable; choose the "
                    "python file itself.")
        if not Path(self.base_python).is_file():
            return f"The Python for the install {self.base_python} does not exist."
        return None

    def start(self) -> "EngineInstaller":
        problem = self.check()
        if problem:
            self.state, self.error, self.line = FAILED, problem, problem
            return self
        self.state = RUNNING
        self._thread = threading.Thread(target=self._run, name="motiongpt-install", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def status_text(self) -> str:
        if self.state == RUNNING:
            return f"{self.step}: {self.line}" if self.line else self.step
        if self.state == DONE:
            return f"Engine installed: {self.python}"
        if self.state == CANCELLED:
            return "Install cancelled"
        if self.state == FAILED:
            return self.error
        return ""

    def _run(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("PYTHONPATH", None)             # Blender's own paths must not leak into the new environment
        env.pop("PYTHONHOME", None)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} install engine from {self.engine_root} "
                      f"into {self.venv_dir}\n")
            for step, cmd in self.steps():
                if self._cancel.is_set():
                    self.state = CANCELLED
                    return
                self.step, self.line = step, ""
                log.write(f"=== {step}: {' '.join(cmd)}\n")
                log.flush()
                meaningful = ""
                try:
                    with self._lock:
                        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                      stderr=subprocess.STDOUT, text=True, errors="replace",
                                                      env=env, cwd=str(self.engine_root))
                except OSError as exc:
                    self.error = f"Installing the engine failed while {step}: {exc.strerror or exc} (log: {self.log_path})"
                    self.state = FAILED
                    return
                for raw in self._proc.stdout:
                    log.write(raw)
                    text = raw.strip()
                    if text:
                        self.line = text[:200]
                        if not text.startswith(("WARNING", "[notice]")):
                            meaningful = text
                code = self._proc.wait()
                log.flush()
                if self._cancel.is_set():
                    log.write("=== cancelled\n")
                    self.state = CANCELLED
                    return
                if code != 0:
                    self.error = (f"Installing the engine failed while {step} (exit code {code}): "
                                  f"{meaningful or 'no output'} (log: {self.log_path})")
                    log.write(f"=== failed: exit code {code}\n")
                    self.state = FAILED
                    return
            log.write("=== done\n")
        self.state = DONE

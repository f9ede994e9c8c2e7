"""Start ``motiongpt serve`` as a child process and wait for its ready line.

What a parent (the Blender add-on, the tests, the latency benchmark) does:

    engine = start_engine(["--model", "models/default", "--parent-pid", str(os.getpid())])
    client = engine.client()
    ...
    engine.stop()

The child prints exactly one JSON line on stdout: ``{"event": "ready", ...}``
once the model is loaded and the socket listens, or ``{"event": "error",
"error": {"message": ...}}`` when it cannot start. Its stderr (the log) should
go to a file or DEVNULL: a pipe nobody reads fills up and stalls the server.
"""
from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Sequence

from .client import EngineClient, EngineError


class EngineProcess:
    def __init__(self, proc: subprocess.Popen, ready: dict[str, Any]):
        self.proc = proc
        self.ready = ready

    @property
    def url(self) -> str:
        return self.ready["url"]

    @property
    def token(self) -> str:
        return self.ready["token"]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, timeout: float = 10.0) -> EngineClient:
        return EngineClient.from_ready(self.ready, timeout=timeout)

    def stop(self, timeout: float = 15.0) -> int:
        """Ask for a clean stop (SIGTERM / TerminateProcess), then kill; the
        exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode


def serve_command(args: Sequence[str], python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "engine", "serve", *args]


def start_engine(args: Sequence[str], *, python: str | None = None, env: dict[str, str] | None = None,
                 cwd: str | Path | None = None, stderr: IO | int | None = None,
                 timeout: float = 300.0) -> EngineProcess:
    """Start the server with these ``serve`` arguments and return once it is
    ready. Raises EngineError (with the engine's own message when it gave
    one) if it exits or stays silent for ``timeout`` seconds."""
    proc = subprocess.Popen(serve_command(args, python), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=stderr, env=env, cwd=cwd)
    return EngineProcess(proc, read_ready_line(proc, timeout))


def read_ready_line(proc: subprocess.Popen, timeout: float) -> dict[str, Any]:
    lines: queue.Queue = queue.Queue()
    # a reader thread: select() does not work on pipes on Windows
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=0.1)
            break
        except queue.Empty:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise EngineError(f"the engine did not become ready within {timeout:g} s", code="start_timeout")
    try:
        info = json.loads(line)
    except ValueError:
        info = None
    if isinstance(info, dict) and info.get("event") == "ready":
        return info
    code = proc.wait(30)
    if isinstance(info, dict) and info.get("event") == "error":
        raise EngineError(info.get("error", {}).get("message", "the engine could not start"), code="start_failed")
    raise EngineError(f"the engine exited with code {code} before it was ready"
                      + (f" (it printed {line[:200]!r})" if line.strip() else ""), code="start_failed")


def pid_rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for row in fh:
                if row.startswith("VmRSS:"):
                    return int(row.split()[1]) / 1024.0
    except OSError:
        return None
    return None


__all__ = ["EngineProcess", "start_engine", "read_ready_line", "serve_command", "pid_rss_mb"]

"""Start, reuse, health-check, restart and stop the engine process (no bpy).

One :class:`EngineManager` (:data:`MANAGER`) per Blender session. The first
job starts ``python -m engine serve --port 0 --parent-pid <Blender's pid>
--idle-timeout S --model DIR --device D`` in the engine folder, with stdout a
pipe (the engine prints ONE JSON ready line there) and stderr appended to a
log file. The ready line is read on a helper thread so that waiting can time
out and be cancelled. Later jobs reuse the process after a quick
``GET /v1/health``; if that fails (the process died, idled out or hangs) the
engine is restarted once. It is stopped by :meth:`EngineManager.stop` (the
add-on's ``unregister``) and at interpreter exit (``atexit``); and because
it watches Blender's pid, it also exits by itself within a second if Blender
is killed.

A remote engine (Preferences: Remote) is only health-checked: the add-on
neither starts nor stops it; :func:`remote_url_warning` says when its URL
would send the token in the clear.

The engine's environment is Blender's, plus :data:`ENGINE_ENV` where Blender's
does not set those variables (the engine applies the same policy itself when
it starts, ``engine/runtime.py``; set here too so it holds from the child's
first instruction), minus ``MOTIONGPT_TOKEN``.
"""
from __future__ import annotations

import atexit
import json
import os
import ipaddress
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from .client import EngineClient, EngineError
from .paths import open_private_log, private_temp_dir

HEALTH_TIMEOUT_S = 5.0

ENGINE_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "PYTORCH_ENABLE_MPS_FALLBACK": "1"}
"""The engine's process policy (``engine.runtime.PROCESS_ENV``, which a test
keeps equal to this): idle OpenMP threads sleep instead of spinning, so a
busy machine (Blender rendering) does not slow the engine 5-10x."""


@dataclass(frozen=True)
class EngineSettings:
    """Everything needed to reach (or start) an engine; built from the
    add-on Preferences by ``preferences.engine_settings``."""
    mode: str = "local"                 # "local" (a child process) or "remote"
    python: str = ""
    root: str = ""
    model: str = ""
    device: str = "auto"
    idle_timeout: float = 1800.0
    start_timeout: float = 300.0
    log_dir: str = ""
    url: str = ""
    token: str = ""
    problems: tuple[str, ...] = ()      # configuration problems found while resolving paths
    request_timeout: float = 30.0

    def process_key(self) -> tuple:
        """Settings whose change needs a new engine process."""
        return (self.python, self.root, self.model, self.device, float(self.idle_timeout))

    def command(self, parent_pid: int | None = None) -> list[str]:
        cmd = [self.python, "-m", "engine", "serve", "--host", "127.0.0.1", "--port", "0", "--model", self.model,
               "--device", self.device, "--parent-pid", str(os.getpid() if parent_pid is None else parent_pid)]
        if self.idle_timeout and self.idle_timeout > 0:
            cmd += ["--idle-timeout", f"{float(self.idle_timeout):g}"]
        return cmd


def _log_dir(settings: EngineSettings) -> Path:
    """The Preferences' log folder (the add-on's user folder), else a
    folder of this user's own under the temp dir (paths.private_temp_dir)."""
    if not settings.log_dir:
        return private_temp_dir("logs")
    d = Path(settings.log_dir)
    d.mkdir(parents=True, exist_ok=True)
    return d


def remote_url_warning(url: str) -> str:
    """Why sending the token to ``url`` is unsafe ('' when it is not): a
    plain http URL to anything but this machine sends the token, and every
    prompt and motion, readable by anyone on the network path."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return ""
    if parts.scheme.lower() != "http" or not host:
        return ""
    if host == "localhost":
        return ""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return ""
    except ValueError:
        pass
    return (f"{host} is reached over plain http: the token and your animation travel unencrypted. Use https "
            "(e.g. behind a TLS proxy) or an SSH tunnel to 127.0.0.1.")


_PROBLEM_WORDS = ("error", "traceback", "exception", "killed", "fatal", "warning", "out of memory")


def last_log_line(path: Path | str | None, max_bytes: int = 16384, problems_only: bool = False) -> str:
    """The last non-empty line of a log file ('' if none); with
    ``problems_only``, the last line that reports a problem (not the
    engine's one-line-per-request INFO log)."""
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    for line in reversed(tail.splitlines()):
        line = line.strip()
        if not line or line.startswith("=== "):
            continue
        if problems_only and (" INFO " in line or not any(w in line.lower() for w in _PROBLEM_WORDS)):
            continue
        return line[:400]
    return ""


class LocalEngine:
    """One engine child process."""

    def __init__(self, settings: EngineSettings):
        self.settings = settings
        self.proc: subprocess.Popen | None = None
        self.ready: dict[str, Any] = {}
        self.log_path = _log_dir(settings) / "engine.log"
        self.started_at = 0.0

    # -- start -------------------------------------------------------------------
    def start(self, cancelled: Callable[[], bool] | None = None,
              on_message: Callable[[str], None] | None = None) -> None:
        s = self.settings
        cmd = s.command()
        env = dict(os.environ)
        if s.root:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (s.root, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        for key, value in ENGINE_ENV.items():
            env.setdefault(key, value)
        env.pop("MOTIONGPT_TOKEN", None)          # a fresh random token per start
        try:
            log = open_private_log(self.log_path)
        except OSError as exc:
            raise EngineError(f"The engine log {self.log_path} cannot be written ({exc.strerror or exc}); check "
                              "that folder's permissions.", code="start_failed") from None
        try:
            log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n")
            log.flush()
            kwargs: dict[str, Any] = {}
            if sys.platform == "win32":           # pragma: no cover - no console window per engine
                kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
            try:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                             cwd=s.root or None, env=env, **kwargs)
            except OSError as exc:
                raise EngineError(f"The engine could not be started: {s.python}: {exc.strerror or exc}. Check "
                                  f"Preferences > MotionGPT > Engine Python.", code="start_failed") from None
        finally:
            log.close()
        self.started_at = time.monotonic()
        if on_message:
            on_message("starting the engine (loading the model)")
        self.ready = self._read_ready(cancelled)

    def _read_ready(self, cancelled) -> dict[str, Any]:
        lines: queue.Queue = queue.Queue()
        proc = self.proc
        threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True,
                         name="motiongpt-ready-line").start()
        deadline = time.monotonic() + self.settings.start_timeout
        while True:
            try:
                line = lines.get(timeout=0.1)
                break
            except queue.Empty:
                if cancelled is not None and cancelled():
                    self.stop(timeout=5)
                    raise EngineError("cancelled while the engine was starting", code="cancelled") from None
                if time.monotonic() > deadline:
                    self.stop(timeout=5)
                    raise self._start_error(f"it did not become ready within {self.settings.start_timeout:g} s")
        try:
            info = json.loads(line)
        except ValueError:
            info = None
        if isinstance(info, dict) and info.get("event") == "ready" and info.get("url") and info.get("token"):
            proc.stdout.close()
            return info
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            self.stop(timeout=5)
        if isinstance(info, dict) and info.get("event") == "error":
            raise self._start_error((info.get("error") or {}).get("message") or "it reported an error")
        raise self._start_error(f"it exited with code {proc.returncode} before it was ready")

    def _start_error(self, why: str) -> EngineError:
        last = last_log_line(self.log_path)
        msg = f"The engine failed to start: {why}."
        if last and last not in why:
            msg += f" Last log line: {last}"
        msg += f" (log: {self.log_path})"
        return EngineError(msg, code="start_failed")

    # -- state ---------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def client(self, timeout: float = 30.0) -> EngineClient:
        return EngineClient(self.ready["url"], self.ready["token"], timeout=timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc.stdout is not None and not proc.stdout.closed:
            try:
                proc.stdout.close()
            except OSError:
                pass
        return proc.returncode


class EngineManager:
    """The add-on's engine: started on first use, reused, restarted once when
    it stopped answering, stopped with the add-on."""

    def __init__(self):
        self._lock = threading.RLock()
        self.engine: LocalEngine | None = None
        self._starting: LocalEngine | None = None
        self.starts = 0

    def connect(self, settings: EngineSettings, cancelled: Callable[[], bool] | None = None,
                on_message: Callable[[str], None] | None = None) -> EngineClient:
        """A client for a healthy engine with these settings (starting or
        restarting the local one as needed)."""
        if settings.mode == "remote":
            if not settings.url.strip():
                raise EngineError("Set the engine URL in Preferences > MotionGPT (Remote engine).", code="config")
            client = EngineClient(settings.url.strip(), settings.token.strip(), timeout=settings.request_timeout)
            if on_message:
                on_message(f"connecting to {client.base_url}")
            client.health(timeout=HEALTH_TIMEOUT_S)
            return client
        with self._lock:
            eng = self.engine
            if eng is not None and eng.settings.process_key() == settings.process_key() and eng.alive():
                client = eng.client(settings.request_timeout)
                try:
                    client.health(timeout=HEALTH_TIMEOUT_S)
                    return client
                except EngineError:
                    if on_message:
                        on_message("the engine stopped answering; restarting it")
            if eng is not None:
                eng.stop(timeout=5)
                self.engine = None
            if settings.problems:
                raise EngineError(" ".join(settings.problems), code="config")
            eng = LocalEngine(settings)
            self._starting = eng
            try:
                eng.start(cancelled, on_message)
            finally:
                self._starting = None
            self.engine = eng
            self.starts += 1
            return eng.client(settings.request_timeout)

    def death_note(self) -> str | None:
        """Why the local engine is gone (None if it runs or never ran)."""
        eng = self.engine
        if eng is None or eng.alive():
            return None
        code = eng.exit_code
        how = f"it was killed by signal {-code}" if code is not None and code < 0 else f"it exited with code {code}"
        last = last_log_line(eng.log_path, problems_only=True)
        return how + (f"; its last log line was: {last}" if last else "") + f"; log: {eng.log_path}"

    def info(self) -> dict[str, Any]:
        eng = self.engine
        if eng is None:
            return {"running": False}
        return {"running": eng.alive(), "pid": eng.pid, "url": eng.ready.get("url"), "model": eng.ready.get("model"),
                "device": eng.ready.get("device"), "log": str(eng.log_path), "exit_code": eng.exit_code}

    def stop(self) -> None:
        starting = self._starting
        if starting is not None:            # do not wait for a start in progress: end it
            starting.stop(timeout=5)
        with self._lock:
            if self.engine is not None:
                self.engine.stop(timeout=10)
                self.engine = None


MANAGER = EngineManager()
atexit.register(MANAGER.stop)

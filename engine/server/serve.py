"""Start, announce and stop the engine server (``motiongpt serve``).

Order of events: check the options, take over SIGTERM/SIGINT, listen on the
socket, load the model once, start the worker and the HTTP threads, then
print ONE JSON line on stdout (the ready line) and wait until a signal, the
parent's death or the idle timeout asks us to stop. Stopping is always clean
and exits 0, also when the signal comes while the model is still loading.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from .. import __version__
from ..device import device_note
from ..errors import MotionGPTError
from ..runtime import inference_threads, set_torch_threads
from .app import API, DEFAULT_MAX_BODY, DEFAULT_MAX_JOB_RESULT, EngineHTTPServer, EngineService, is_loopback
from .lifecycle import Watchdog, wait_for
from .tokens import TokenTable

log = logging.getLogger("motiongpt.server")

TOKEN_ENV = "MOTIONGPT_TOKEN"
MIN_REMOTE_TOKEN = 16
SHUTDOWN_GRACE_S = 5.0


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 0
    model: str | None = None
    device: str = "auto"
    token: str | None = None
    tokens_file: str | None = None
    allow_remote: bool = False
    parent_pid: int | None = None
    idle_timeout: float | None = None
    max_body: int = DEFAULT_MAX_BODY
    keep_finished: int = 64
    max_queued: int = 32
    max_result_bytes: int = 512 * 2**20
    threads: int | None = None
    max_job_result: int = DEFAULT_MAX_JOB_RESULT


def resolve_token(opts: ServeOptions, environ: dict[str, str] | None = None) -> tuple[str, bool]:
    """(token, given explicitly). --token wins over $MOTIONGPT_TOKEN; with
    neither, a fresh random token is made for this start."""
    env = os.environ if environ is None else environ
    given = opts.token if opts.token is not None else env.get(TOKEN_ENV)
    if given is not None:
        given = given.strip()
        if not given:
            raise MotionGPTError(f"the token is empty; pass --token or set {TOKEN_ENV} to a non-empty value, "
                                 "or give neither and the engine makes one")
        if any(c.isspace() or not c.isprintable() or ord(c) > 126 for c in given):
            raise MotionGPTError("the token must be printable ASCII without spaces")
        return given, True
    return secrets.token_urlsafe(32), False


def check_options(opts: ServeOptions, environ: dict[str, str] | None = None) -> tuple[str | None, TokenTable | None]:
    """Refuse unsafe or impossible settings before anything slow; (the single
    token, the tokens file's table). With a tokens file and no explicit
    token there is no single token: every client uses its own."""
    tokens = TokenTable.from_file(opts.tokens_file) if opts.tokens_file else None
    token, explicit = resolve_token(opts, environ)
    if tokens is not None and not explicit:
        token = None
    if not is_loopback(opts.host):
        if not opts.allow_remote:
            raise MotionGPTError(f"refusing to listen on {opts.host}: only loopback (127.0.0.1, ::1, localhost) is "
                                 "allowed by default because anyone who can reach the port could use the engine; "
                                 f"pass --allow-remote together with --token (or {TOKEN_ENV}) or --tokens-file to do "
                                 "it anyway")
        if not explicit and tokens is None:
            raise MotionGPTError(f"--host {opts.host} with --allow-remote needs an explicit token: pass --token or "
                                 f"set {TOKEN_ENV} (at least {MIN_REMOTE_TOKEN} characters), or --tokens-file")
        if token is not None and len(token) < MIN_REMOTE_TOKEN:
            raise MotionGPTError(f"the token is {len(token)} characters long; a server reachable from other "
                                 f"machines needs at least {MIN_REMOTE_TOKEN}")
    if not 0 <= opts.port <= 65535:
        raise MotionGPTError(f"--port must be 0..65535 (0 picks a free port), got {opts.port}")
    if opts.idle_timeout is not None and not opts.idle_timeout > 0:
        raise MotionGPTError(f"--idle-timeout must be a positive number of seconds, got {opts.idle_timeout:g}")
    if opts.parent_pid is not None and opts.parent_pid <= 0:
        raise MotionGPTError(f"--parent-pid must be a positive process id, got {opts.parent_pid}")
    if opts.max_body < 1024:
        raise MotionGPTError("the body size limit must be at least 1 KB")
    if opts.threads is not None and opts.threads < 1:
        raise MotionGPTError(f"--threads must be at least 1, got {opts.threads}")
    return token, tokens


def _load_default(folder: str | None, device: str) -> Any:
    from ..pipeline.jobs import load_model  # MotionGPT.load, with a clear message when no model is installed
    return load_model(folder, device)


def _default_runner() -> Any:
    from ..pipeline import jobs
    return jobs


def serve(opts: ServeOptions, ready: TextIO, *, runner: Any = None,
          load_model: Callable[[str | None, str], Any] | None = None, environ: dict[str, str] | None = None,
          install_signals: bool = True, close_ready: bool = False) -> int:
    """Run the server until told to stop; the exit code (0 on a clean stop)."""
    token, tokens = check_options(opts, environ)
    stop_event = threading.Event()
    state: dict[str, Any] = {"ready": False, "reason": None}

    def stop(reason: str) -> None:
        if not state["ready"]:  # still loading: nothing to clean up, nobody to answer
            log.info("%s before the engine was ready; exiting", reason)
            logging.shutdown()
            os._exit(0)
        if state["reason"] is None:
            state["reason"] = reason
        stop_event.set()

    if install_signals and threading.current_thread() is threading.main_thread():
        # before the model loads, so SIGTERM while loading is a clean stop (exit 0) too
        for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGBREAK"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), lambda signum, _frame: stop(signal.Signals(signum).name))

    watchdog = Watchdog(stop, parent_pid=opts.parent_pid, idle_timeout=opts.idle_timeout)
    if opts.parent_pid is not None:
        watchdog.start()  # also covers a parent that dies while the model loads

    try:
        httpd = EngineHTTPServer(opts.host, opts.port)
    except OSError as exc:
        raise MotionGPTError(f"cannot listen on {opts.host}:{opts.port} ({exc.strerror or exc}); pick another "
                             "--port, or --port 0 for any free one") from exc
    try:
        set_torch_threads(inference_threads(opts.threads))
        log.info("loading model %s on %s", opts.model or "(default)", opts.device)
        model = (load_model or _load_default)(opts.model, opts.device)
        note = device_note(model)
        if note:
            log.info("device: %s", note)
        service = EngineService(model, runner if runner is not None else _default_runner(), token, tokens=tokens,
                                keep_finished=opts.keep_finished, max_queued=opts.max_queued, max_body=opts.max_body,
                                max_result_bytes=opts.max_result_bytes, max_job_result=opts.max_job_result,
                                allowed_hosts=loopback_hosts(opts.host, httpd.port) if is_loopback(opts.host)
                                else None)
    except BaseException:
        httpd.server_close()
        raise
    httpd.service = service
    service.jobs.start()
    http_thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.25},
                                   name="motiongpt-http", daemon=True)
    http_thread.start()

    host = opts.host
    url_host = f"[{host}]" if ":" in host else host
    info = {"event": "ready", "api": API, "url": f"http://{url_host}:{httpd.port}", "host": host,
            "port": httpd.port, "token": token, "pid": os.getpid(), "version": __version__,
            "model": service.model_name, "device": service.device, "dtype": service.dtype}
    state["ready"] = True
    watchdog.idle_for = service.idle_for
    if not watchdog.is_alive() and (opts.parent_pid is not None or opts.idle_timeout is not None):
        watchdog.start()
    log.info("engine %s ready on %s (model %s on %s in %s, pid %d)", __version__, info["url"], info["model"],
             info["device"], info["dtype"], info["pid"])
    try:
        ready.write(json.dumps(info) + "\n")
        ready.flush()
        if close_ready:
            ready.close()
    except (OSError, ValueError) as exc:  # nobody reads stdout any more: the parent decides what happens next
        log.warning("could not write the ready line to stdout (%s)", exc)

    wait_for(stop_event)
    log.info("shutting down: %s", state["reason"])
    watchdog.halt()
    httpd.shutdown()
    stopped = service.jobs.stop(grace=SHUTDOWN_GRACE_S)
    httpd.server_close()
    if not stopped:
        log.warning("the running job did not stop within %.0f s; exiting anyway", SHUTDOWN_GRACE_S)
        logging.shutdown()
        os._exit(0)
    log.info("stopped")
    return 0


def loopback_hosts(host: str, port: int) -> list[str]:
    """The Host header values a loopback engine answers: its address with
    the port, under every loopback name a local client may use."""
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
    return sorted(f"{name}:{port}" for name in names)


def configure_logging(log_file: str | Path | None = None) -> None:
    """One line per event on stderr (or appended to ``log_file``)."""
    handler: logging.Handler
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("motiongpt.server")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False

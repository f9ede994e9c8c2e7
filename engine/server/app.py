"""The HTTP side: routing, auth, JSON bodies and errors for API v1.

Standard library only (``http.server.ThreadingHTTPServer``): each connection
gets a thread, requests are short (validation, queue bookkeeping, status), and
the real work happens in the single worker thread of :class:`JobManager`.

Every request passes two gates before anything else: its Host header must
name this engine on loopback (``127.0.0.1:PORT``, ``localhost:PORT`` or
``[::1]:PORT``: a web page that rebinds a DNS name to 127.0.0.1 sends its own
name, so it is refused even before the token is looked at), and it must carry
the token. Only requests through both count as activity for the idle
timeout. Log lines quote the request with control characters escaped.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable
from urllib.parse import urlsplit

from .. import __version__
from ..errors import MotionGPTError
from ..pipeline.fields import MAX_ECHO, clip, shown
from ..pipeline.motion_io import DEFAULT_MAX_RESULT_MB
from .jobs import JobManager, QueueFull
from .tokens import TokenTable

log = logging.getLogger("motiongpt.server")

API = "v1"
DEFAULT_MAX_BODY = 32 * 1024 * 1024
DRAIN_LIMIT = 256 * 1024 * 1024  # bodies up to this size are read and dropped when refused, not cut off
DEFAULT_MAX_JOB_RESULT = int(DEFAULT_MAX_RESULT_MB * 2**20)
"""Largest result one job may produce (estimated before it runs,
``engine.pipeline.jobs.estimate_result_bytes``); ``serve --max-result-mb``."""
JOB_FIELDS = ("task", "params")


class ApiError(Exception):
    """An error response: HTTP status + {"error": {"code", "message", "field"}}."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = int(status)
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class EngineService:
    """Everything a request needs: the tokens, the job manager, the task
    validator and what /v1/health reports. Holds no HTTP state.

    ``token`` is the single token (its jobs belong to "default"); ``tokens``
    a team's table of named, hashed tokens (:mod:`.tokens`); either or both.
    Each token sees and cancels only the jobs it submitted."""

    def __init__(self, model: Any, runner: Any, token: str | None, *, tokens: TokenTable | None = None,
                 model_name: str | None = None, device: str | None = None, keep_finished: int = 64,
                 max_queued: int = 32, max_body: int = DEFAULT_MAX_BODY, max_result_bytes: int = 512 * 2**20,
                 max_job_result: int = DEFAULT_MAX_JOB_RESULT, allowed_hosts: Iterable[str] | None = None):
        table = TokenTable.single(token) if token else None
        if tokens is not None:
            table = tokens if table is None else table.merged(tokens)
        if table is None:
            raise MotionGPTError("the server needs a non-empty token or a tokens file")
        self.max_job_result = int(max_job_result)
        self.allowed_hosts = None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        """Host header values accepted (None: any, for a server reachable from other machines)."""
        self.runner = runner
        self.tasks = tuple(runner.TASKS)
        self._tokens = table
        self.model_name = model_name if model_name is not None else str(getattr(model, "name", "unknown"))
        self.device = device if device is not None else str(getattr(model, "device", "cpu"))
        self.dtype = str(getattr(model, "dtype", "float32"))
        self.max_body = int(max_body)
        self.jobs = JobManager(model, runner, keep_finished=keep_finished, max_queued=max_queued,
                               max_result_bytes=max_result_bytes)
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._last_request = time.monotonic()

    # -- gates & activity -----------------------------------------------------------
    def host_allowed(self, header: str | None) -> bool:
        """True when the Host header names this engine (or any host is allowed)."""
        if self.allowed_hosts is None:
            return True
        return header is not None and header.strip().lower() in self.allowed_hosts

    def authorized(self, header: str | None) -> str | None:
        """The name of the token in an ``Authorization: Bearer`` header (the
        owner of the jobs it submits), or None."""
        scheme, _, credential = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._tokens.owner(credential.strip())

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._last_request = time.monotonic()

    def request_finished(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._last_request = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the last request or job ended; 0 while anything is
        in flight, running or queued."""
        with self._lock:
            if self._in_flight:
                return 0.0
            last = self._last_request
        if self.jobs.busy():
            return 0.0
        return time.monotonic() - max(last, self.jobs.last_activity)

    # -- endpoints ---------------------------------------------------------------
    def health(self, owner: str | None = None) -> dict[str, Any]:
        counts = self.jobs.counts(owner)
        return {"status": "ok", "api": API, "version": __version__, "model": self.model_name,
                "device": self.device, "dtype": self.dtype, "tasks": list(self.tasks),
                "queue_length": counts["queue_length"], "running": counts["running"], "jobs_run": counts["jobs_run"],
                "results_mb": counts["result_mb"], "threads": _torch_threads(),
                "uptime_s": round(time.monotonic() - self.started, 3)}

    def submit(self, body: Any, owner: str | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_body", 'the body must be a JSON object like {"task": "generate", '
                                                '"params": {...}}, got ' + _json_type(body))
        for key in body:
            if key not in JOB_FIELDS:
                raise ApiError(400, "invalid_param", f"unknown field {shown(clip(key, 60))}; a job is "
                                                     '{"task": ..., "params": {...}}', field=clip(key))
        task = body.get("task")
        if not isinstance(task, str) or task not in self.tasks:
            got = "nothing" if task is None else shown(task) if isinstance(task, str) else _json_type(task)
            raise ApiError(400, "invalid_param", f"task must be one of {', '.join(self.tasks)}; got {got}",
                           field="task")
        params = body.get("params", {})
        if not isinstance(params, dict):
            raise ApiError(400, "invalid_param", f"params must be a JSON object, got {_json_type(params)}",
                           field="params")
        try:
            checked = self.runner.validate_job(task, params)
        except MotionGPTError as exc:
            raise ApiError(400, getattr(exc, "code", "invalid_param"), str(exc), field=getattr(exc, "field", None)) \
                from exc
        except RecursionError as exc:
            raise ApiError(400, "invalid_param", "params are nested too deeply", field="params") from exc
        self._check_result_size(task, checked)
        try:
            return self.jobs.submit(task, checked, owner)
        except QueueFull as exc:
            raise ApiError(503, "queue_full", str(exc), headers={"Retry-After": "5"}) from exc

    def _check_result_size(self, task: str, params: dict[str, Any]) -> None:
        """Refuse, before it runs, a job whose result would exceed
        :attr:`max_job_result` (held in memory and sent as one answer)."""
        estimate = getattr(self.runner, "estimate_result_bytes", None)
        if estimate is None:
            return
        size = int(estimate(task, params))
        if size > self.max_job_result:
            field = self.runner.result_size_field(task, params)
            raise ApiError(400, "result_too_large",
                           f"the result would be about {size / 2**20:.0f} MB; this engine sends at most "
                           f"{self.max_job_result / 2**20:.0f} MB per job: ask for fewer variants, fewer seconds or "
                           "a lower fps (or start the engine with a larger --max-result-mb)", field=field)

    def job(self, job_id: str, owner: str | None = None) -> tuple[dict[str, Any], bytes | None]:
        found = self.jobs.get(job_id, owner)
        if found is None:
            raise _unknown_job(job_id, self.jobs.keep_finished)
        return found

    def cancel(self, job_id: str, owner: str | None = None) -> dict[str, Any]:
        snap = self.jobs.cancel(job_id, owner)
        if snap is None:
            raise _unknown_job(job_id, self.jobs.keep_finished)
        return snap


def _unknown_job(job_id: str, keep: int) -> ApiError:
    return ApiError(404, "not_found", f"no job with id {shown(clip(job_id, 64))}; finished jobs are kept for the "
                                      f"last {keep} only")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: Any, limit: int = MAX_ECHO) -> str:
    """``text`` for a log line: control characters (and lone surrogates)
    as ``\\xNN`` escapes, so a request cannot move the cursor, clear the
    screen or forge a line in the log; cut to ``limit`` characters."""
    return clip(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                             else f"\\u{ord(m.group()):04x}", str(text)), limit)


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (str, "a string"), (int, "a number"), (float, "a number"),
                       (list, "an array"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


# -- routing -----------------------------------------------------------------------
def _route(path: str) -> tuple[str, tuple[str, ...], str | None]:
    """(route name, allowed methods, job id) for a path; ApiError 404 if none."""
    if path == f"/{API}/health":
        return "health", ("GET",), None
    if path == f"/{API}/jobs":
        return "jobs", ("GET", "POST"), None
    prefix = f"/{API}/jobs/"
    if path.startswith(prefix) and "/" not in path[len(prefix):] and path[len(prefix):]:
        return "job", ("GET", "DELETE"), path[len(prefix):]
    raise ApiError(404, "not_found", f"no such endpoint {shown(path)}; the API lives under /{API}/ "
                                     f"(/{API}/health, /{API}/jobs, /{API}/jobs/ID)")


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: polling reuses one connection
    server_version = f"MotionGPT/{__version__}"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this (once it has shown the token)
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    server: "EngineHTTPServer"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(UNAUTHENTICATED_TIMEOUT_S)     # until a request shows the token

    # every method goes through one place so that unknown ones get 405, not 501
    def do_GET(self) -> None: self._handle()
    def do_POST(self) -> None: self._handle()
    def do_DELETE(self) -> None: self._handle()
    def do_PUT(self) -> None: self._handle()
    def do_PATCH(self) -> None: self._handle()
    def do_OPTIONS(self) -> None: self._handle()
    def do_HEAD(self) -> None: self._handle()

    def _handle(self) -> None:
        service = self.server.service
        started = time.perf_counter()
        self._status = 0
        self._body_read = False
        counted = False
        path = urlsplit(self.path).path
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
        try:
            try:
                owner = self._check_gates(service)
                self.server.authenticated(self.connection)   # a token holder's connection keeps the long timeout
                service.request_started()   # only requests past both gates keep an idle engine alive
                counted = True
                self._dispatch(service, path, owner)
            except ApiError as exc:
                self._send_json(exc.status, exc.body(), exc.headers)
            except (ConnectionError, TimeoutError):
                raise
            except Exception as exc:  # a bug in a request handler: 500, keep serving
                log.error("request %s %s crashed:\n%s", printable(self.command), printable(path),
                          traceback.format_exc().rstrip())
                err = ApiError(500, "internal_error", f"the engine hit an internal error ({type(exc).__name__}: "
                                                      f"{clip(exc)}); it is still running")
                if not self._status:
                    self._send_json(500, err.body())
                else:
                    self.close_connection = True
        except (ConnectionError, TimeoutError) as exc:  # the client hung up or stalled: drop the connection
            self.close_connection = True
            note = f" (connection lost: {type(exc).__name__})"
        else:
            note = ""
        finally:
            if counted:
                service.request_finished()
        log.info("%s %s %d %.1f ms%s", printable(self.command, 20), printable(path), self._status,
                 (time.perf_counter() - started) * 1000.0, note)

    def _check_gates(self, service: EngineService) -> str:
        """The owner (the token's name) of a request that passes the Host and token checks."""
        host = self.headers.get("Host")
        if not service.host_allowed(host):
            got = "no Host header" if host is None else f"Host {shown(host)}"
            raise ApiError(400, "invalid_host", f"{got}: this engine answers only requests addressed to it on "
                                                f"loopback ({', '.join(sorted(service.allowed_hosts or ()))})")
        owner = service.authorized(self.headers.get("Authorization"))
        if owner is None:
            raise ApiError(401, "unauthorized", "missing or wrong token; send the header "
                                                "'Authorization: Bearer <token>' with the token the engine "
                                                "printed when it started", headers={"WWW-Authenticate": "Bearer"})
        return owner

    def _dispatch(self, service: EngineService, path: str, owner: str) -> None:
        name, methods, job_id = _route(path)
        if self.command not in methods:
            raise ApiError(405, "method_not_allowed", f"{self.command} is not allowed on {shown(path)}; use "
                                                      f"{' or '.join(methods)}", headers={"Allow": ", ".join(methods)})
        if name == "health":
            self._send_json(200, service.health(owner))
        elif name == "jobs" and self.command == "GET":
            self._send_json(200, {"jobs": service.jobs.list(owner)})
        elif name == "jobs":
            snap = service.submit(self._read_json(), owner)
            self._send_json(202, snap, {"Location": f"/{API}/jobs/{snap['id']}"})
        elif self.command == "GET":
            snap, result_json = service.job(job_id, owner)
            self._send_json(200, snap, result_json=result_json)
        else:
            self._send_json(200, service.cancel(job_id, owner))

    # -- bodies ------------------------------------------------------------------
    def _read_json(self) -> Any:
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(411, "length_required", "chunked request bodies are not accepted; send Content-Length")
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            raise ApiError(411, "length_required", "the request has no Content-Length header; send the JSON "
                                                   "body with its length")
        try:
            length = int(raw_length)
            if length < 0:
                raise ValueError
        except ValueError:
            raise ApiError(400, "invalid_body", f"Content-Length {shown(clip(raw_length, 40))} is not a whole "
                                                "number") from None
        limit = self.server.service.max_body
        if length > limit:
            raise ApiError(413, "body_too_large", f"the request body is {length / 2**20:.1f} MB; the limit is "
                                                  f"{limit / 2**20:.0f} MB (send fewer frames or fewer joints)")
        data = self.rfile.read(length) if length else b""
        self._body_read = True
        if len(data) < length:
            self.close_connection = True
            raise ApiError(400, "invalid_body", f"the request body ended after {len(data)} of {length} bytes")
        if not data.strip():
            raise ApiError(400, "invalid_body", 'the request body is empty; send a JSON object like '
                                                '{"task": "generate", "params": {...}}')
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, "invalid_encoding", f"the request body is not UTF-8 (byte 0x{data[exc.start]:02x} "
                                                    f"at position {exc.start}); send JSON encoded as UTF-8") from None
        try:
            return json.loads(text.removeprefix("\ufeff"))
        except json.JSONDecodeError as exc:
            raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc.msg} at line "
                                                f"{exc.lineno} column {exc.colno}") from None
        except RecursionError:
            raise ApiError(400, "invalid_json", "the request body is nested too deeply") from None
        except ValueError as exc:  # e.g. an integer longer than Python reads (4300 digits)
            raise ApiError(400, "invalid_json", f"the request body holds a value that cannot be read: "
                                                f"{clip(exc)}") from None

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None,
                   result_json: bytes | None = None) -> None:
        """One JSON answer. A stored result is written as it is, after the
        snapshot's bytes, never copied into a new string."""
        head = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
        parts = [head] if result_json is None else [head[:-1] + b',"result":', result_json, b"}"]
        if not self._body_read:
            self._discard_body()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(sum(len(part) for part in parts)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            for part in parts:
                self.wfile.write(part)

    def _discard_body(self) -> None:
        """An error answered before the body was read (401, 404, 413...):
        read and drop a body of sane size, so the client, still sending,
        gets the answer instead of a reset connection; close the connection
        after anything bigger or odd (an unread body would be taken for the
        next request)."""
        self._body_read = True
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length == 0 and not self.headers.get("Transfer-Encoding"):
            return
        if 0 < length <= DRAIN_LIMIT:
            try:
                while length > 0:
                    chunk = self.rfile.read(min(length, 1 << 20))
                    if not chunk:
                        break
                    length -= len(chunk)
            except OSError:
                pass
            if length <= 0:
                return
        self.close_connection = True

    # -- what BaseHTTPRequestHandler does on its own -------------------------------
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests (bad request line, huge headers, unknown verbs)
        get the same JSON error shape as everything else."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        err = ApiError(code, "bad_request" if code == 400 else phrase.lower().replace(" ", "_"),
                       clip(message or phrase))
        self.close_connection = True
        self._status = 0
        self._body_read = True
        body = json.dumps(err.body()).encode("utf-8")
        self.send_response(code)  # the standard phrase: the message may quote the request
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)
        log.info("%s %s %d (malformed request: %s)", printable(self.command or "-", 20),
                 printable(urlsplit(self.path).path) if getattr(self, "path", None) else "-", code,
                 printable(message or phrase))

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass  # _handle logs one line per request, without headers (the token)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s", printable(format % args, 400))


MAX_CONNECTIONS = 128
"""Open connections served at once; under the usual 1,024 open files."""
UNAUTHENTICATED_TIMEOUT_S = 5.0
"""How long a connection may sit without a request that shows the token."""


class EngineHTTPServer(ThreadingHTTPServer):
    """One thread per connection, at most :data:`MAX_CONNECTIONS` of them.
    A connection that has not shown the token gets a short idle timeout, and
    when the cap is reached the oldest such connection is dropped to make
    room: a local user who floods the port with idle connections cannot
    keep the token holder out."""
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, host: str, port: int, service: EngineService | None = None):
        self.address_family = _address_family(host)
        self.service = service  # type: ignore[assignment]
        self._connections: dict[socket.socket, bool] = {}       # open connection -> has shown the token
        self._connections_lock = threading.Lock()
        super().__init__((host, port), RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            if len(self._connections) >= MAX_CONNECTIONS:
                strangers = [c for c, ok in self._connections.items() if not ok]
                if not strangers:
                    log.warning("connection from %s refused: %d token holders' connections are open",
                                client_address[0] if client_address else "?", len(self._connections))
                    self.shutdown_request(request)
                    return
                _drop(strangers[0])                      # the oldest (dicts keep insertion order)
                self._connections.pop(strangers[0], None)
            self._connections[request] = False
        super().process_request(request, client_address)

    def authenticated(self, connection: socket.socket) -> None:
        with self._connections_lock:
            if connection in self._connections and not self._connections[connection]:
                self._connections[connection] = True
                try:
                    connection.settimeout(RequestHandler.timeout)
                except OSError:
                    pass

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    @property
    def open_connections(self) -> int:
        with self._connections_lock:
            return len(self._connections)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (socket.getfqdn): skip it
        import socketserver
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hangs up mid-response is not worth a traceback
        log.warning("connection from %s ended with an error:\n%s", client_address[0] if client_address else "?",
                    traceback.format_exc().rstrip().splitlines()[-1])

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def _torch_threads() -> int | None:
    """The torch CPU threads jobs run with (None before torch is loaded)."""
    import sys
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


def _drop(connection: socket.socket) -> None:
    """End a connection from outside its thread (its read fails, the thread ends)."""
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _address_family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_INET  # a name such as "localhost": resolved as IPv4


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

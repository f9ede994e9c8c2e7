"""The add-on's HTTP client for the MotionGPT engine (API v1). No bpy, no engine.

It follows ``engine/server/client.py`` (the engine's reference client) but is
its own code: the add-on must not import the engine. Transport:

- ``requests`` when it can be imported (Blender bundles it with its Python;
  so does the development venv), with ``trust_env`` off so a proxy from the
  environment never sees loopback traffic or the token;
- else the standard library's ``urllib.request`` (with an empty proxy
  handler for the same reason). Both behave the same: see :data:`BACKENDS`.

Every failure raises :class:`EngineError` with the engine's own message (the
server words them for the user), the HTTP status, the error ``code`` and the
input ``field`` at fault.
"""
from __future__ import annotations

import json
import re
from typing import Any

try:                                     # the spec's transport; bundled with Blender
    import requests as _requests
except ImportError:                      # pragma: no cover - depends on the Python
    _requests = None

import urllib.error
import urllib.request

BACKENDS: tuple[str, ...] = (("requests",) if _requests is not None else ()) + ("urllib",)
MAX_REPLY_BYTES = 192 * 1024 * 1024
"""Largest reply read, after decompression (the engine's own result limit is
128 MB by default): a reply past it is refused before it is all in memory."""
_CHUNK = 64 * 1024
DEFAULT_BACKEND: str = BACKENDS[0]


class EngineError(Exception):
    """A request the engine refused or could not answer, or a job that did
    not finish. ``status``: HTTP status (None without an answer); ``code``:
    the engine's error code or one of ``unreachable``, ``timeout``,
    ``bad_response``, ``invalid_param``, ``job_failed``, ``cancelled``,
    ``engine_died``, ``start_failed``, ``config``; ``field``: the input at
    fault."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 field: str | None = None, job: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field
        self.job = job


def _reason(exc: BaseException) -> str:
    """The short cause of a connection failure ("Connection refused"),
    without the transport library's wrapping."""
    text = str(exc)
    found = re.findall(r"\[Errno -?\d+\] ([^'\"()\]]+)", text)
    if found:
        return found[-1].strip()
    return text if len(text) <= 120 else text[:117] + "..."


def _encode(body: Any) -> bytes:
    try:
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except ValueError as exc:
        raise EngineError("the poses hold NaN or infinite numbers; check the animation for broken keys",
                          code="invalid_param") from exc


class EngineClient:
    """Talks to one engine (``base_url`` like ``http://127.0.0.1:40965``)."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0, backend: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = float(timeout)
        self.backend = backend or DEFAULT_BACKEND
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        self._session = None
        self._cap = MAX_REPLY_BYTES
        if self.backend == "requests":
            self._session = _requests.Session()
            self._session.trust_env = False
        else:
            self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- API ---------------------------------------------------------------------
    def health(self, timeout: float | None = None) -> dict[str, Any]:
        return self.request("GET", "/v1/health", timeout=timeout)

    def submit(self, task: str, params: dict[str, Any]) -> dict[str, Any]:
        """Queue a job; the job as the engine answered (``id``, ``status``)."""
        return self.request("POST", "/v1/jobs", {"task": task, "params": params})

    def status(self, job_id: str, max_bytes: int | None = None) -> dict[str, Any]:
        """The job; its reply read up to ``max_bytes`` (what the request can need)."""
        return self.request("GET", f"/v1/jobs/{job_id}", max_bytes=max_bytes)

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/v1/jobs/{job_id}")

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    # -- plumbing ------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, timeout: float | None = None,
                max_bytes: int | None = None) -> dict[str, Any]:
        url = self.base_url + path
        self._cap = min(int(max_bytes), MAX_REPLY_BYTES) if max_bytes else MAX_REPLY_BYTES
        timeout = self.timeout if timeout is None else float(timeout)
        data = None if body is None else _encode(body)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                   "Accept-Encoding": "identity"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.backend == "requests":
            status, raw = self._send_requests(method, url, data, headers, timeout)
        else:
            status, raw = self._send_urllib(method, url, data, headers, timeout)
        try:
            answer = json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            answer = None
        if status >= 400:
            err = answer.get("error") if isinstance(answer, dict) and isinstance(answer.get("error"), dict) else {}
            raise EngineError(err.get("message") or f"the server at {self.base_url} answered HTTP {status} without "
                              "an engine error; is this the MotionGPT engine's URL?", status=status,
                              code=err.get("code") or ("unauthorized" if status == 401 else None),
                              field=err.get("field"))
        if not isinstance(answer, dict):
            raise EngineError(f"the engine at {self.base_url} answered HTTP {status} without a JSON object; is "
                              "this the MotionGPT engine?", status=status, code="bad_response")
        return answer

    def _unreachable(self, exc: BaseException) -> EngineError:
        return EngineError(f"cannot reach the engine at {self.base_url} ({_reason(exc)})", code="unreachable")

    def _timed_out(self, timeout: float) -> EngineError:
        return EngineError(f"the engine at {self.base_url} did not answer within {timeout:g} s", code="timeout")

    def _too_large(self) -> EngineError:
        limit = f"{self._cap / 2**20:.1f} MB" if self._cap >= 2**20 else f"{self._cap // 1024} kB"
        return EngineError(f"the engine at {self.base_url} sent a reply larger than {limit}, more than this "
                           "request can need; it was not read (nothing was changed)", code="bad_response")

    def _send_requests(self, method, url, data, headers, timeout) -> tuple[int, bytes]:
        try:
            with self._session.request(method, url, data=data, headers=headers, timeout=timeout, stream=True) as r:
                declared = r.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self._cap:
                    raise self._too_large()
                body = bytearray()
                # iter_content inflates gzip/deflate piece by piece: the limit holds after decompression too
                for piece in r.iter_content(chunk_size=_CHUNK):
                    body += piece
                    if len(body) > self._cap:
                        raise self._too_large()
                return r.status_code, bytes(body)
        except _requests.Timeout:
            raise self._timed_out(timeout) from None
        except _requests.RequestException as exc:
            raise self._unreachable(exc) from None

    def _read_capped(self, stream) -> bytes:
        """The body, refused past MAX_REPLY_BYTES; a compressed body is
        inflated here with the same limit (urllib does not inflate)."""
        raw = stream.read(self._cap + 1)
        if len(raw) > self._cap:
            raise self._too_large()
        encoding = (stream.headers.get("Content-Encoding") or "").lower() if stream.headers else ""
        if encoding in ("gzip", "deflate"):
            import zlib
            inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)        # gzip or zlib header
            try:
                body = inflater.decompress(raw, self._cap + 1)
            except zlib.error:
                raise EngineError(f"the engine at {self.base_url} sent a damaged compressed reply",
                                  code="bad_response") from None
            if len(body) > self._cap or inflater.unconsumed_tail:
                raise self._too_large()
            return body
        return raw

    def _send_urllib(self, method, url, data, headers, timeout) -> tuple[int, bytes]:
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=timeout) as r:
                return r.status, self._read_capped(r)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, self._read_capped(exc)
        except TimeoutError:
            raise self._timed_out(timeout) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._timed_out(timeout) from None
            raise self._unreachable(exc.reason) from None
        except (OSError, ValueError) as exc:
            raise self._unreachable(exc) from None

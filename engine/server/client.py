"""Reference client for the engine's HTTP API v1 (needs only ``requests``).

    client = EngineClient("http://127.0.0.1:PORT", token)
    job_id = client.submit("generate", {"prompt": "a person waves", "seconds": 4})
    result = client.wait(job_id, on_progress=lambda p, msg: print(f"{p:.0%} {msg}"))

Every failure raises :class:`EngineError` carrying the server's own message
(already worded for the animator), its error ``code`` and, for bad input, the
``field`` at fault. The Blender add-on has its own copy-free client that
follows this one; keep the two in step.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import requests


class EngineError(Exception):
    """A request the engine refused or could not answer, or a job that did
    not finish. ``status`` is the HTTP status (None when there was no
    answer), ``code`` the machine-readable error code, ``field`` the input
    field at fault, ``job`` the last job status seen (for ``wait``)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 field: str | None = None, job: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field
        self.job = job


class EngineClient:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._session.trust_env = False  # loopback: never through an HTTP proxy from the environment

    @classmethod
    def from_ready(cls, ready: dict[str, Any], timeout: float = 10.0) -> "EngineClient":
        """A client for the server that printed this ready line."""
        return cls(ready["url"], ready["token"], timeout=timeout)

    # -- API ---------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._request("GET", "/v1/health")

    def submit(self, task: str, params: dict[str, Any]) -> str:
        """Queue a job; its id. Bad params raise EngineError with ``field``."""
        return self._request("POST", "/v1/jobs", {"task": task, "params": params})["id"]

    def status(self, job_id: str) -> dict[str, Any]:
        """{"id", "task", "status", "progress", "message", ...; "result" when
        done, "error" when failed}."""
        return self._request("GET", f"/v1/jobs/{job_id}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._request("DELETE", f"/v1/jobs/{job_id}")

    def jobs(self) -> list[dict[str, Any]]:
        return self._request("GET", "/v1/jobs")["jobs"]

    def wait(self, job_id: str, poll: float = 0.1, timeout: float | None = None,
             on_progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
        """Poll until the job ends; its result. A failed or cancelled job, or
        running past ``timeout`` seconds (the job keeps running: cancel it if
        you no longer want it), raises EngineError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.status(job_id)
            if on_progress is not None:
                on_progress(float(job.get("progress", 0.0)), str(job.get("message", "")))
            state = job.get("status")
            if state == "done":
                return job["result"]
            if state == "failed":
                err = job.get("error") or {}
                raise EngineError(err.get("message") or "the job failed", code=err.get("code", "job_failed"),
                                  field=err.get("field"), job=job)
            if state == "cancelled":
                raise EngineError("the job was cancelled", code="cancelled", job=job)
            if deadline is not None and time.monotonic() >= deadline:
                raise EngineError(f"the job is still {state} after {timeout:g} s", code="timeout", job=job)
            time.sleep(poll)

    def run(self, task: str, params: dict[str, Any], **wait_kwargs: Any) -> dict[str, Any]:
        """submit + wait."""
        return self.wait(self.submit(task, params), **wait_kwargs)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "EngineClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        url = self.base_url + path
        try:
            response = self._session.request(method, url, json=body, timeout=self.timeout)
        except requests.exceptions.InvalidJSONError as exc:
            raise EngineError("the request holds NaN or infinite numbers (or values JSON cannot carry); check "
                              "the poses for missing keys", code="invalid_param") from exc
        except requests.Timeout as exc:
            raise EngineError(f"the engine at {self.base_url} did not answer within {self.timeout:g} s",
                              code="timeout") from exc
        except requests.ConnectionError as exc:
            raise EngineError(f"cannot reach the engine at {self.base_url}; is it running?",
                              code="unreachable") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            err = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), dict) else {}
            raise EngineError(err.get("message") or f"the engine answered HTTP {response.status_code}",
                              status=response.status_code, code=err.get("code"), field=err.get("field"))
        if not isinstance(data, dict):
            raise EngineError(f"the engine answered HTTP {response.status_code} without a JSON object",
                              status=response.status_code, code="bad_response")
        return data

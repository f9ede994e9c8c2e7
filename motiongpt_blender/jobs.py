"""Run one engine job on a background thread (no bpy).

Blender's UI must never wait on the network or on the engine starting, so an
operator hands the request (already read from the scene on the main thread)
to a :class:`JobRunner`. Its thread connects (starting the engine if needed),
submits the job and polls ``GET /v1/jobs/{id}`` (every 10 ms at first, backing
off to ``poll`` seconds), publishing ``state``, ``progress`` and ``message``
under a lock. The modal operator reads them on each timer tick; the blocking
``execute`` path simply waits for the thread. :meth:`JobRunner.cancel` stops waiting at once and
sends ``DELETE /v1/jobs/{id}`` from the thread.

Errors end up in :attr:`JobRunner.error` as an :class:`EngineError` whose
message is written for an animator (:func:`explain`).
"""
from __future__ import annotations

import threading
import time
import traceback
from typing import Any

from .client import EngineError
from .reply_check import ReplyError, check_reply, expected_reply_bytes
from .engine_manager import MANAGER, EngineManager, EngineSettings

STARTING, QUEUED, RUNNING, DONE, FAILED, CANCELLED = "starting", "queued", "running", "done", "failed", "cancelled"
FINISHED = frozenset({DONE, FAILED, CANCELLED})

TOKEN_MESSAGE = "The engine refused the token; check Preferences > MotionGPT > Token"

_FIELD_WORDS = {
    "text": "the prompt", "seconds": "the length", "seed": "the seed", "variants": "the number of variants",
    "fps": "the scene frame rate", "from_frame": "the first key", "to_frame": "the second key",
    "motion": "the animation", "options": "the options",
}


def _field_words(field: str | None) -> str:
    if not field:
        return ""
    head = field.split(".", 1)[0]
    return _FIELD_WORDS.get(head, field)


def explain(exc: EngineError, settings: EngineSettings, manager: EngineManager | None = None,
            during_job: bool = False) -> EngineError:
    """The same error, reworded for the status bar."""
    manager = manager or MANAGER
    if exc.status == 401 or exc.code == "unauthorized":
        return EngineError(TOKEN_MESSAGE, status=401, code="unauthorized")
    if exc.code in ("unreachable", "timeout"):
        if settings.mode == "remote":
            why = exc.message.split(" (", 1)[1].rstrip(")") if " (" in exc.message else exc.message
            return EngineError(f"Cannot reach the engine at {settings.url.strip()} ({why}). Check that it runs and "
                               "Preferences > MotionGPT > Engine URL.", code=exc.code)
        note = manager.death_note()
        for _ in range(10):                       # a killed process may take a moment to be reaped
            if note is not None or manager.engine is None or not during_job:
                break
            time.sleep(0.1)
            note = manager.death_note()
        if note is not None:
            where = "while working on the job" if during_job else "unexpectedly"
            return EngineError(f"The engine stopped {where}: {note}. Nothing was changed; the next request "
                               "restarts it.", code="engine_died")
        return EngineError(f"The engine does not answer: {exc.message}. Nothing was changed.", code=exc.code)
    if exc.code == "invalid_param" or (exc.status == 400 and exc.field):
        what = _field_words(exc.field)
        return EngineError(f"The engine refused {what}: {exc.message}" if what else
                           f"The engine refused the request: {exc.message}", code=exc.code, field=exc.field)
    if exc.code == "queue_full":
        return EngineError(f"The engine is busy: {exc.message}", code=exc.code)
    return exc


class JobRunner:
    """One job on a background thread; read its fields from any thread."""

    def __init__(self, settings: EngineSettings, task: str, params: dict[str, Any], *,
                 manager: EngineManager | None = None, poll: float = 0.1):
        self.settings = settings
        self.task = task
        self.params = params
        self.manager = manager or MANAGER
        self.poll = float(poll)
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"motiongpt-{task}", daemon=True)
        self.state = STARTING
        self.progress = 0.0
        self.message = "connecting to the engine"
        self.job_id: str | None = None
        self.result: dict[str, Any] | None = None
        self.error: EngineError | None = None
        self.started = time.monotonic()
        self.finished_at: float | None = None

    # -- control -------------------------------------------------------------------
    def start(self) -> "JobRunner":
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self.state in FINISHED

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends; True if it did within ``timeout``."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def snapshot(self) -> tuple[str, float, str]:
        with self._lock:
            return self.state, self.progress, self.message

    # -- thread ---------------------------------------------------------------------
    def _set(self, **kw: Any) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, v)
            if kw.get("state") in FINISHED:
                self.finished_at = time.monotonic()

    def _run(self) -> None:
        client = None
        try:
            client = self.manager.connect(self.settings, cancelled=self._cancel.is_set,
                                          on_message=lambda m: self._set(message=m))
            if self._cancel.is_set():
                self._set(state=CANCELLED, message="cancelled")
                return
            self._set(message="sending the request")
            job = client.submit(self.task, self.params)
            self.job_id = job["id"]
            self._set(state=QUEUED, message=job.get("message") or "queued")
            delay = 0.01                      # poll fast at first (short jobs), then every ``poll`` seconds
            while True:
                if self._cancel.is_set():
                    try:
                        client.cancel(self.job_id)
                    except EngineError:
                        pass
                    self._set(state=CANCELLED, message="cancelled")
                    return
                status = client.status(self.job_id, max_bytes=expected_reply_bytes(self.task, self.params))
                state = status.get("status")
                if state == "done":
                    result = status.get("result") or {}
                    try:
                        check_reply(self.task, self.params, result)
                    except ReplyError as exc:
                        raise EngineError(str(exc), code="bad_response", job=None) from None
                    self._set(result=result, progress=1.0, message="done", state=DONE)
                    return
                if state == "failed":
                    err = status.get("error") or {}
                    raise EngineError(err.get("message") or "the job failed", code=err.get("code") or "job_failed",
                                      field=err.get("field"), job=status)
                if state == "cancelled":
                    self._set(state=CANCELLED, message=status.get("message") or "cancelled")
                    return
                self._set(state=RUNNING if state == "running" else QUEUED,
                          progress=float(status.get("progress") or 0.0),
                          message=str(status.get("message") or state))
                self._cancel.wait(min(delay, self.poll))
                delay *= 1.5
        except EngineError as exc:
            if exc.code == "cancelled" and self._cancel.is_set():
                self._set(state=CANCELLED, message="cancelled")
                return
            self._set(error=explain(exc, self.settings, self.manager, during_job=self.job_id is not None),
                      state=FAILED, message="failed")
        except Exception as exc:                     # a bug: say so instead of dying silently
            traceback.print_exc()
            self._set(error=EngineError(f"Unexpected error while talking to the engine: {exc!r}", code="internal"),
                      state=FAILED, message="failed")
        finally:
            if client is not None:
                client.close()

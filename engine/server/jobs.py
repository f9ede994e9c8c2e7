"""The job queue behind ``POST /v1/jobs``: one worker thread, one job at a time.

A job goes ``queued -> running -> done | failed | cancelled`` (a queued job
may go straight to ``cancelled``). Everything a request thread reads or writes
is guarded by one condition variable, so the HTTP threads and the worker never
see a half-updated job.

Memory stays flat however many jobs run: a job's params are dropped when it
finishes, its result is kept only as the UTF-8 JSON bytes it will be served
as (encoded once; every GET writes those same bytes, so polling a 100 MB
result from several clients copies nothing), and only the last
``keep_finished`` finished jobs (and at most ``max_result_bytes`` of results)
are remembered.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..errors import MotionGPTError

log = logging.getLogger("motiongpt.server")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = frozenset({DONE, FAILED, CANCELLED})


class QueueFull(MotionGPTError):
    """More jobs are waiting than the server accepts."""


@dataclass
class Job:
    id: str
    task: str
    params: dict[str, Any] | None
    created: float = field(default_factory=time.time)
    status: str = QUEUED
    progress: float = 0.0
    message: str = "waiting for the jobs before it"
    started: float | None = None
    finished: float | None = None
    cancel_requested: bool = False
    error: dict[str, Any] | None = None
    result_json: bytes | None = None  # the result as UTF-8 JSON, encoded once: served as is
    owner: str | None = None  # who submitted it (the token's name): only they see and cancel it

    def snapshot(self, position: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "task": self.task, "status": self.status,
                               "progress": round(self.progress, 4), "message": self.message,
                               "created": self.created, "started": self.started, "finished": self.finished}
        if self.status == QUEUED and position is not None:
            out["position"] = position
        if self.status == RUNNING:
            out["cancel_requested"] = self.cancel_requested
        if self.error is not None:
            out["error"] = self.error
        return out


class JobManager:
    """Queue + worker thread + bounded history of finished jobs.

    ``runner`` provides ``run_job(model, task, params, progress, cancelled)``
    (engine.pipeline.jobs, or any object with the same function) and
    optionally ``JobCancelled``, the exception it raises when it stops early.
    """

    def __init__(self, model: Any, runner: Any, keep_finished: int = 64, max_queued: int = 32,
                 max_result_bytes: int = 512 * 2**20):
        if keep_finished < 1 or max_queued < 1:
            raise ValueError("keep_finished and max_queued must be at least 1")
        self.model = model
        self.runner = runner
        self.keep_finished = int(keep_finished)
        self.max_queued = int(max_queued)
        self.max_result_bytes = int(max_result_bytes)
        self._result_bytes = 0
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._jobs: dict[str, Job] = {}
        self._finished: deque[str] = deque()
        self._running: Job | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="motiongpt-worker", daemon=True)
        self.jobs_run = 0
        self.last_activity = time.monotonic()
        self._cancelled_type = getattr(runner, "JobCancelled", None)

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, grace: float = 5.0) -> bool:
        """Cancel everything and wait up to ``grace`` seconds for the running
        job to notice. True when the worker has stopped."""
        with self._cond:
            self._stopping = True
            while self._queue:
                self._finish(self._queue.popleft(), CANCELLED, message="cancelled: the engine is shutting down")
            if self._running is not None:
                self._running.cancel_requested = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(grace)
        return not self._thread.is_alive()

    # -- requests -----------------------------------------------------------------
    def submit(self, task: str, params: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
        """Queue an already validated job for ``owner``; its snapshot."""
        with self._cond:
            if self._stopping:
                raise QueueFull("the engine is shutting down and takes no new jobs")
            if len(self._queue) >= self.max_queued:
                raise QueueFull(f"{len(self._queue)} jobs are already waiting (the limit is {self.max_queued}); "
                                "wait for some to finish or cancel them")
            job = Job(id=uuid.uuid4().hex, task=task, params=params, owner=owner)
            self._jobs[job.id] = job
            self._queue.append(job)
            self.last_activity = time.monotonic()
            self._cond.notify_all()
            return job.snapshot(position=len(self._queue))

    def _visible(self, job_id: str, owner: str | None) -> Job | None:
        """The job if it exists and ``owner`` may see it (None: anyone may);
        another owner's job is as unknown as a missing one. Caller holds the lock."""
        job = self._jobs.get(job_id)
        return job if job is not None and (owner is None or job.owner == owner) else None

    def get(self, job_id: str, owner: str | None = None) -> tuple[dict[str, Any], bytes | None] | None:
        """(snapshot, result JSON bytes or None), or None for an unknown id
        (or another owner's job)."""
        with self._cond:
            job = self._visible(job_id, owner)
            if job is None:
                return None
            return job.snapshot(self._position(job)), job.result_json

    def cancel(self, job_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """Queued: cancelled at once. Running: flagged; the job stops at its
        next check. Finished: unchanged. None for an unknown id (or another
        owner's job)."""
        with self._cond:
            job = self._visible(job_id, owner)
            if job is None:
                return None
            if job.status == QUEUED:
                self._queue.remove(job)
                self._finish(job, CANCELLED, message="cancelled before it started")
            elif job.status == RUNNING and not job.cancel_requested:
                job.cancel_requested = True
                job.message = "cancelling: the job stops at its next check"
            return job.snapshot(self._position(job))

    def list(self, owner: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [job.snapshot(self._position(job)) for job in self._jobs.values()
                    if owner is None or job.owner == owner]

    def counts(self, owner: str | None = None) -> dict[str, Any]:
        """Queue figures; ``running`` is the running job's id when ``owner``
        may see it (None: anyone may), else None."""
        with self._cond:
            running = self._running
            visible = running is not None and (owner is None or running.owner == owner)
            return {"queue_length": len(self._queue), "running": running.id if visible else None,
                    "jobs_run": self.jobs_run, "finished_kept": len(self._finished),
                    "result_mb": round(self._result_bytes / 2**20, 3)}

    def busy(self) -> bool:
        with self._cond:
            return bool(self._queue) or self._running is not None

    # -- worker -------------------------------------------------------------------
    def _position(self, job: Job) -> int | None:
        if job.status != QUEUED:
            return None
        return self._queue.index(job) + 1

    def _finish(self, job: Job, status: str, message: str, error: dict | None = None,
                result_json: bytes | None = None) -> None:
        # caller holds the lock
        job.status = status
        job.message = message
        job.error = error
        job.result_json = result_json
        job.params = None
        job.finished = time.time()
        if status == DONE:
            job.progress = 1.0
        self._finished.append(job.id)
        self._result_bytes += len(result_json or b"")
        # at most keep_finished jobs and max_result_bytes of results (the newest is always kept)
        while len(self._finished) > self.keep_finished or (
                self._result_bytes > self.max_result_bytes and len(self._finished) > 1):
            old = self._jobs.pop(self._finished.popleft(), None)
            if old is not None:
                self._result_bytes -= len(old.result_json or b"")
        self.last_activity = time.monotonic()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._queue.popleft()
                job.status = RUNNING
                job.started = time.time()
                job.message = "starting"
                params, job.params = job.params, None
                self._running = job
            try:
                status, message, error, result_json = self._run(job, params)
            except BaseException as exc:  # never let the worker die
                status, message, error, result_json = FAILED, str(exc), _internal_error(job.task, exc), None
            del params
            with self._cond:
                self._running = None
                self.jobs_run += 1
                self._finish(job, status, message, error, result_json)
            log.info("job %s (%s) %s in %.2f s", job.id, job.task, status, job.finished - job.started)

    def _run(self, job: Job, params: dict[str, Any]) -> tuple[str, str, dict | None, bytes | None]:
        def progress(fraction: float, message: str = "") -> None:
            try:
                value = min(1.0, max(0.0, float(fraction)))
            except (TypeError, ValueError):
                value = job.progress
            with self._cond:
                if value == value:  # not NaN
                    job.progress = max(job.progress, value)
                if message and not job.cancel_requested:
                    job.message = str(message)[:500]

        def cancelled() -> bool:
            return job.cancel_requested

        try:
            result = self.runner.run_job(self.model, job.task, params, progress, cancelled)
        except BaseException as exc:
            if _is_cancellation(exc, self._cancelled_type, job.cancel_requested):
                return CANCELLED, "cancelled", None, None
            if isinstance(exc, MotionGPTError):
                err = {"code": getattr(exc, "code", None) or ("invalid_param" if getattr(exc, "field", None)
                                                              else "job_failed"),
                       "type": type(exc).__name__, "message": str(exc), "field": getattr(exc, "field", None)}
                log.warning("job %s (%s) failed: %s: %s", job.id, job.task, type(exc).__name__, exc)
                return FAILED, str(exc), err, None
            if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
                _free_accelerator_memory()
                message = (f"the {job.task} job ran out of memory; ask for fewer variants or fewer seconds, "
                           "or use a smaller model")
                log.error("job %s (%s) ran out of memory: %s", job.id, job.task, exc)
                return FAILED, message, {"code": "out_of_memory", "type": type(exc).__name__, "message": message,
                                         "field": None}, None
            log.error("job %s (%s) crashed:\n%s", job.id, job.task,
                      "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
            err = _internal_error(job.task, exc)
            return FAILED, err["message"], err, None
        try:
            encoded = json.dumps(result, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as exc:
            message = (f"the {job.task} job finished but its result could not be sent as JSON ({exc}); "
                       "this is an engine bug, please report it with the engine log")
            log.error("job %s (%s): %s", job.id, job.task, message)
            return FAILED, message, {"code": "internal_error", "type": type(exc).__name__, "message": message,
                                     "field": None}, None
        return DONE, "done", None, encoded


def _is_cancellation(exc: BaseException, cancelled_type: type | None, requested: bool) -> bool:
    if cancelled_type is not None and isinstance(exc, cancelled_type):
        return True
    if type(exc).__name__ in ("JobCancelled", "GenerationCancelled"):
        return True
    # asked to stop, and stopped with one of the engine's own errors: that is the stop
    return requested and isinstance(exc, MotionGPTError)


def _internal_error(task: str, exc: BaseException) -> dict[str, Any]:
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "no details"
    message = (f"the {task} job failed inside the engine ({type(exc).__name__}: {detail}); the engine is still "
               "running, so you can try again; if it keeps failing, report it with the engine log")
    return {"code": "internal_error", "type": type(exc).__name__, "message": message, "field": None}


def _free_accelerator_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


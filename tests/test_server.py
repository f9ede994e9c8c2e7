"""The engine server end to end.

Part 1 (in-process, fast): the HTTP layer and the job queue with a small
runner that follows the engine.pipeline.jobs contract on trivial real work, so
queueing, cancelling, eviction and crash handling are checked exactly.

Part 2 (a real ``python -m engine serve`` subprocess on loopback with the tiny
model and the real pipeline): the ready line, every task on real motion,
progress, cancelling a long job, a clean SIGTERM exit.
"""
from __future__ import annotations

import math
import os
import signal
import threading
import time

import numpy as np
import pytest
import requests

from engine.errors import MotionGPTError
from engine.server.app import EngineHTTPServer, EngineService
from engine.server.client import EngineClient, EngineError
from engine.server.launch import start_engine
from support import motion_dict

# ----------------------------------------------------------------------------
# part 1: the core with a stub runner

class StubParamError(MotionGPTError):
    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


class StubCancelled(Exception):
    pass


class StubRunner:
    """The engine.pipeline.jobs contract on trivial real work: 'generate'
    integrates a sine wave frame by frame, 'caption' describes a motion by
    its extent."""
    TASKS = ("generate", "inbetween", "continue", "caption")
    JobCancelled = StubCancelled

    @staticmethod
    def validate_job(task: str, params: dict) -> dict:
        out = dict(params)
        if task == "generate":
            text = params.get("text")
            if not isinstance(text, str) or not text.strip():
                raise StubParamError("text", "the prompt is empty")
            seconds = params.get("seconds", 1.0)
            if not isinstance(seconds, (int, float)) or not 0 < seconds <= 1e4:
                raise StubParamError("seconds", "seconds must be in (0, 10000]")
            out["seconds"] = float(seconds)
        else:
            motion = params.get("motion")
            if not isinstance(motion, dict):
                raise StubParamError("motion", "motion is missing")
            joints = np.asarray(motion.get("joint_positions"), dtype=float)
            if joints.ndim != 3 or joints.shape[1:] != (22, 3):
                raise StubParamError("motion.joint_positions", f"expected (T, 22, 3), got {joints.shape}")
            if not np.isfinite(joints).all():
                raise StubParamError("motion.joint_positions", "holds NaN")
            out["motion"] = joints
        return out

    @staticmethod
    def run_job(model, task, params, progress, cancelled):
        if task == "generate":
            frames = int(params["seconds"] * 20)
            pos = np.zeros((frames, 22, 3))
            for i in range(frames):
                if cancelled():
                    raise StubCancelled()
                pos[i] = math.sin(i / 20.0) + model.offset
                if params.get("slow"):
                    time.sleep(0.01)
                progress((i + 1) / frames, f"frame {i + 1}/{frames}")
            if params.get("nan_result"):
                pos[0, 0, 0] = float("nan")
            return {"fps": 20, "joint_positions": pos.tolist()}
        if task == "continue":  # a genuine runtime failure: an index error in this runner
            return {"first_missing": params["motion"][10_000].tolist()}
        if task == "inbetween":
            raise MotionGPTError("the gap covers no whole 4-frame token")
        extent = float(np.ptp(params["motion"][..., 1]))
        return {"caption": f"a motion {extent:.2f} m tall"}


class StubModel:
    name = "stub"
    device = "cpu"
    offset = 0.5


@pytest.fixture()
def core():
    service = EngineService(StubModel(), StubRunner, "secret-token", keep_finished=3, max_queued=4,
                            max_body=64 * 1024)
    httpd = EngineHTTPServer("127.0.0.1", 0, service)
    service.jobs.start()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    client = EngineClient(f"http://127.0.0.1:{httpd.port}", "secret-token", timeout=5)
    yield service, client
    httpd.shutdown()
    service.jobs.stop(2)
    httpd.server_close()


def _motion(frames=8):
    return {"fps": 20, "joint_positions": np.random.default_rng(0).normal(size=(frames, 22, 3)).tolist()}


def test_core_job_round_trip_and_progress(core):
    service, client = core
    seen = []
    result = client.run("generate", {"text": "wave", "seconds": 0.5}, on_progress=lambda p, m: seen.append(p))
    assert np.asarray(result["joint_positions"]).shape == (10, 22, 3)
    assert seen[-1] == 1.0 and all(0 <= p <= 1 for p in seen)
    assert client.run("caption", {"motion": _motion()})["caption"].startswith("a motion")
    assert client.health()["jobs_run"] == 2


def test_core_queue_cancel_and_eviction(core):
    service, client = core
    long_id = client.submit("generate", {"text": "slow", "seconds": 100, "slow": True})
    queued = [client.submit("caption", {"motion": _motion()}) for _ in range(3)]
    assert client.status(queued[-1])["status"] == "queued"
    assert client.status(queued[-1])["position"] == 3
    snap = client.cancel(queued[0])  # queued: removed at once
    assert snap["status"] == "cancelled"
    assert client.health()["queue_length"] == 2
    snap = client.cancel(long_id)  # running: flagged, stops at its next check
    assert snap["status"] == "running" and snap["cancel_requested"]
    with pytest.raises(EngineError) as err:
        client.wait(long_id, timeout=10)
    assert err.value.code == "cancelled"
    for job_id in queued[1:]:
        client.wait(job_id, timeout=10)
    # keep_finished=3: the oldest finished job (the cancelled queued one) is gone
    with pytest.raises(EngineError) as err:
        client.status(queued[0])
    assert err.value.status == 404
    assert client.cancel(queued[2])["status"] == "done"  # cancelling a finished job changes nothing


def test_core_results_are_bounded_in_bytes_too():
    service = EngineService(StubModel(), StubRunner, "t", keep_finished=64, max_result_bytes=300_000)
    service.jobs.start()
    try:
        ids = []
        for _ in range(4):  # each result is about 120 kB of JSON
            ids.append(service.jobs.submit("generate", {"text": "x", "seconds": 5.0})["id"])
            while service.jobs.busy():
                time.sleep(0.01)
        kept = [job_id for job_id in ids if service.jobs.get(job_id) is not None]
        assert kept == ids[-2:]
        assert service.health()["results_mb"] < 0.3
    finally:
        service.jobs.stop(2)


def test_core_queue_full_is_503(core):
    service, client = core
    long_id = client.submit("generate", {"text": "slow", "seconds": 100, "slow": True})
    time.sleep(0.1)
    ids = [client.submit("caption", {"motion": _motion()}) for _ in range(4)]
    with pytest.raises(EngineError) as err:
        client.submit("caption", {"motion": _motion()})
    assert err.value.status == 503 and err.value.code == "queue_full"
    assert {job["id"] for job in client.jobs()} == {long_id, *ids}
    for job_id in [*ids, long_id]:
        assert client.cancel(job_id)["status"] in ("running", "cancelled")


def test_core_crashes_fail_the_job_not_the_server(core):
    service, client = core
    with pytest.raises(EngineError) as err:
        client.run("continue", {"motion": _motion()})
    assert err.value.code == "internal_error" and "IndexError" in err.value.message
    assert err.value.job["error"]["type"] == "IndexError"
    with pytest.raises(EngineError) as err:
        client.run("inbetween", {"motion": _motion()})
    assert err.value.code == "job_failed" and "4-frame token" in err.value.message
    with pytest.raises(EngineError) as err:  # a result JSON cannot carry fails, not the response
        client.run("generate", {"text": "x", "seconds": 0.2, "nan_result": True})
    assert err.value.code == "internal_error" and "JSON" in err.value.message
    assert client.run("caption", {"motion": _motion()})["caption"]


def test_core_http_errors(core):
    service, client = core
    url = client.base_url
    auth = {"Authorization": "Bearer secret-token"}
    assert requests.get(url + "/v1/health").status_code == 401
    assert requests.get(url + "/v1/health", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert requests.get(url + "/v1/health", headers={"Authorization": "secret-token"}).status_code == 401
    assert requests.get(url + "/v1/health", headers={"Authorization": "Bearer s\u00e9cret"}).status_code == 401
    r = requests.get(url + "/v2/health", headers=auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = requests.put(url + "/v1/jobs", headers=auth)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, POST"
    assert requests.head(url + "/v1/jobs/abc", headers=auth).status_code == 405
    assert requests.get(url + "/v1/jobs/deadbeef", headers=auth).status_code == 404
    assert requests.delete(url + "/v1/jobs/deadbeef", headers=auth).status_code == 404
    r = requests.post(url + "/v1/jobs", headers=auth, data=b"\xff\xfe{}")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_encoding"
    r = requests.post(url + "/v1/jobs", headers=auth, data=b'{"task": ')
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = requests.post(url + "/v1/jobs", headers=auth, data=b"[" * 50_000)
    assert r.status_code == 400
    r = requests.post(url + "/v1/jobs", headers=auth, data=b"x" * (65 * 1024))
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    r = requests.post(url + "/v1/jobs", headers=auth, json={"task": "dance", "params": {}})
    assert r.status_code == 400 and r.json()["error"]["field"] == "task"
    r = requests.post(url + "/v1/jobs", headers=auth, json={"task": "generate", "params": {}, "extra": 1})
    assert r.status_code == 400 and r.json()["error"]["field"] == "extra"
    r = requests.post(url + "/v1/jobs", headers=auth, json={"task": "generate", "params": {"text": " "}})
    assert r.status_code == 400 and r.json()["error"] == {"code": "invalid_param", "field": "text",
                                                         "message": "the prompt is empty"}
    nan_body = '{"task": "caption", "params": {"motion": {"joint_positions": [[[NaN, 0, 0]]]}}}'
    r = requests.post(url + "/v1/jobs", headers=auth, data=nan_body)
    assert r.status_code == 400 and r.json()["error"]["field"] == "motion.joint_positions"
    # the server is still fine after all that
    assert client.health()["status"] == "ok"


# ----------------------------------------------------------------------------
# part 2: a real server subprocess with the tiny model and the real pipeline


@pytest.fixture(scope="module")
def engine(tiny_bundle, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("server") / "engine.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = start_engine(["--port", "0", "--model", str(tiny_bundle), "--device", "cpu",
                             "--parent-pid", str(os.getpid())], stderr=log, timeout=120)
        proc.log_path = log_path
        yield proc
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(30) == 0
    text = log_path.read_text(encoding="utf-8")
    assert "shutting down: SIGTERM" in text and text.rstrip().endswith("stopped")
    assert proc.token not in text  # the log never shows the token


@pytest.fixture(scope="module")
def client(engine):
    with engine.client(timeout=30) as c:
        yield c


def test_ready_line_and_health(engine, client):
    ready = engine.ready
    assert ready["event"] == "ready" and ready["api"] == "v1"
    assert ready["pid"] == engine.pid and ready["host"] == "127.0.0.1" and 0 < ready["port"] < 65536
    assert ready["url"] == f"http://127.0.0.1:{ready['port']}"
    assert len(ready["token"]) >= 32 and ready["model"] == "tiny_model" and ready["device"] == "cpu"
    health = client.health()
    assert health["status"] == "ok" and health["version"] == ready["version"]
    assert health["model"] == "tiny_model" and health["device"] == "cpu"
    assert health["tasks"] == ["generate", "inbetween", "continue", "caption", "compose"]
    assert health["queue_length"] == 0 and health["uptime_s"] >= 0


def test_every_task_end_to_end(client, clip):
    motion = motion_dict(clip)
    ids = {
        "generate": client.submit("generate", {"text": "a person walks forward", "seconds": 2, "seed": 3,
                                               "variants": 2}),
        "inbetween": client.submit("inbetween", {"motion": motion, "from_frame": 8, "to_frame": 30, "seed": 1}),
        "continue": client.submit("continue", {"motion": motion, "seconds": 1.0, "text": "then sits down"}),
        "caption": client.submit("caption", {"motion": motion}),
    }
    progress = []
    results = {task: client.wait(job_id, poll=0.02, timeout=60,
                                 on_progress=lambda p, m, t=task: progress.append((t, p, m)))
               for task, job_id in ids.items()}

    gen = results["generate"]
    assert gen["seeds"] == [3, 4] and len(gen["motions"]) == 2
    for m in gen["motions"]:
        _check_motion(m, 40)
    _check_motion(results["inbetween"]["motion"], 40)
    _check_motion(results["continue"]["motion"], 60)
    assert isinstance(results["continue"]["seed"], int)
    # how the text was read travels with the result (the tiny model's vocabulary knows walk)
    reading = gen["understood_as"]
    assert reading["known"] is True and reading["action"] == "walk" and reading["message"].startswith("understood as:")
    assert reading["text"] == "a person walks forward" and reading["model_text"].endswith(".")
    outside = results["continue"]["understood_as"]
    assert outside["known"] is False and outside["outside"] == "sit" and "outside what this model knows" in \
        outside["message"]
    assert results["inbetween"]["understood_as"] is None                    # no text, nothing read
    assert isinstance(results["caption"]["caption"], str) and results["caption"]["caption"].strip()

    gen_progress = [p for t, p, _ in progress if t == "generate"]
    assert gen_progress == sorted(gen_progress) and gen_progress[-1] == 1.0
    for task, job_id in ids.items():
        job = client.status(job_id)
        assert job["status"] == "done" and job["task"] == task and job["progress"] == 1.0
        assert job["started"] <= job["finished"]
    listed = {job["id"] for job in client.jobs()}
    assert set(ids.values()) <= listed


def _check_motion(m: dict, frames: int) -> None:
    assert m["fps"] == 20 and m["num_frames"] == frames
    assert np.asarray(m["joint_positions"]).shape == (frames, 22, 3)
    assert np.asarray(m["local_quats"]).shape == (frames, 22, 4)
    assert np.asarray(m["root_translation"]).shape == (frames, 3)
    assert np.isfinite(np.asarray(m["joint_positions"])).all()
    assert len(m["joint_names"]) == 22 and len(m["parents"]) == 22


def test_cancel_a_long_job_and_a_queued_one(client, clip):
    long_id = client.submit("generate", {"text": "a person dances for a long time", "seconds": 60,
                                         "variants": 8, "seed": 5})
    queued_id = client.submit("caption", {"motion": motion_dict(clip)})
    deadline = time.monotonic() + 30
    while client.status(long_id)["status"] != "running":
        assert time.monotonic() < deadline, "the long job never started"
        time.sleep(0.05)
    time.sleep(0.3)  # let it get going
    queued = client.cancel(queued_id)  # queued: removed at once
    assert queued["status"] == "cancelled"
    assert client.health()["queue_length"] == 0
    snap = client.cancel(long_id)
    assert snap["status"] in ("running", "cancelled")
    t0 = time.monotonic()
    with pytest.raises(EngineError) as err:
        client.wait(long_id, poll=0.02, timeout=20)
    assert err.value.code == "cancelled"
    assert time.monotonic() - t0 < 5, "a running job should stop at its next check"
    job = client.status(long_id)
    assert job["status"] == "cancelled" and job["progress"] < 1.0 and "result" not in job
    # the worker is free again
    assert client.run("caption", {"motion": motion_dict(clip)}, poll=0.02, timeout=30)["caption"]


def test_unknown_job_path_and_method(engine, client):
    auth = {"Authorization": f"Bearer {engine.token}"}
    assert requests.get(engine.url + "/v1/jobs/0123abcd", headers=auth).status_code == 404
    assert requests.delete(engine.url + "/v1/jobs/0123abcd", headers=auth).status_code == 404
    assert requests.get(engine.url + "/v1/nothing", headers=auth).json()["error"]["code"] == "not_found"
    r = requests.post(engine.url + "/v1/health", headers=auth, json={})
    assert r.status_code == 405 and r.headers["Allow"] == "GET"


@pytest.mark.parametrize("text", [".", "🏃", "?!", "a"])
def test_a_prompt_with_nothing_to_read_is_refused_at_submit(engine, text):
    import requests
    r = requests.post(f"{engine.url}/v1/jobs", json={"task": "generate", "params": {"text": text}},
                      headers={"Authorization": f"Bearer {engine.token}"}, timeout=10)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "prompt_refused" and err["field"] == "text" and "e.g." in err["message"]


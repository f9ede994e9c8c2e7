"""The engine server under faults: many jobs, bad tokens, bad input, a job
that crashes, a parent that dies, an idle timeout, an unsafe host. Every test
talks to a real ``python -m engine serve`` subprocess with the tiny model."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from engine.server.client import EngineError
from engine.server.launch import pid_rss_mb, serve_command, start_engine
from support import motion_dict

REPO = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def engine(tiny_bundle, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("server_faults") / "engine.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = start_engine(["--port", "0", "--model", str(tiny_bundle), "--device", "cpu",
                             "--parent-pid", str(os.getpid())], stderr=log, cwd=REPO, timeout=120)
        proc.log_path = log_path
        yield proc
        proc.proc.send_signal(signal.SIGINT)  # Ctrl-C is a clean stop too
        assert proc.proc.wait(30) == 0
    text = log_path.read_text(encoding="utf-8")
    assert "shutting down: SIGINT" in text and proc.token not in text


@pytest.fixture(scope="module")
def client(engine):
    with engine.client(timeout=30) as c:
        yield c


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting to be reaped counts)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] in (b"Z", b"X")


def _wait_gone(pid: int, timeout: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if _gone(pid):
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


# ----------------------------------------------------------------------------
# load

def test_hundred_jobs_keep_memory_flat(engine, client, clip):
    params = {"motion": motion_dict(clip)}
    for _ in range(5):  # warm up allocator and caches
        client.run("caption", params, poll=0.01, timeout=30)
    before = pid_rss_mb(engine.pid)
    t0 = time.monotonic()
    for _ in range(100):
        client.run("caption", params, poll=0.01, timeout=30)
    elapsed = time.monotonic() - t0
    after = pid_rss_mb(engine.pid)
    health = client.health()
    print(f"\nserver RSS before {before:.1f} MB, after 100 caption jobs {after:.1f} MB "
          f"(growth {after - before:+.1f} MB, {elapsed:.1f} s, {elapsed * 10:.0f} ms/job)")
    assert after - before < 50, f"RSS grew by {after - before:.1f} MB over 100 jobs"
    assert health["queue_length"] == 0 and health["jobs_run"] >= 105
    assert len(client.jobs()) <= 64  # finished jobs are bounded


# ----------------------------------------------------------------------------
# auth

def test_missing_or_wrong_token_is_401(engine):
    url = engine.url + "/v1/health"
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {engine.token}"},
                    {"Authorization": engine.token}, {"Authorization": f"Bearer {engine.token}x"},
                    {"Authorization": "Bearer"}):
        r = requests.get(url, headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]["code"] == "unauthorized" and r.headers["WWW-Authenticate"] == "Bearer"
    # a job POST with a bad token is refused before anything is read or queued
    r = requests.post(engine.url + "/v1/jobs", headers={"Authorization": "Bearer nope"},
                      json={"task": "caption", "params": {}})
    assert r.status_code == 401
    assert requests.get(url, headers={"Authorization": f"Bearer {engine.token}"}).status_code == 200


# ----------------------------------------------------------------------------
# bad input: 4xx with the field named

def _bad_inputs(clip):
    m = motion_dict(clip)
    nan_joints = np.asarray(m["joint_positions"]).copy()
    nan_joints[3, 4, 1] = np.nan
    return [
        ("empty text", {"task": "generate", "params": {"text": "   "}}, 400, "text"),
        ("10 000-character text", {"task": "generate", "params": {"text": "a" * 10_000}}, 400, "text"),
        ("no text", {"task": "generate", "params": {"seconds": 2}}, 400, "text"),
        ("negative seconds", {"task": "generate", "params": {"text": "walk", "seconds": -1}}, 400, "seconds"),
        ("huge seconds", {"task": "generate", "params": {"text": "walk", "seconds": 1e9}}, 400, "seconds"),
        ("seconds as text", {"task": "continue", "params": {"motion": m, "seconds": "2"}}, 400, "seconds"),
        ("from >= to", {"task": "inbetween", "params": {"motion": m, "from_frame": 20, "to_frame": 10}}, 400,
         "to_frame"),
        ("gap outside the motion", {"task": "inbetween", "params": {"motion": m, "from_frame": 5, "to_frame": 400}},
         400, "to_frame"),
        ("gap before the motion", {"task": "inbetween", "params": {"motion": m, "from_frame": -5, "to_frame": 10}},
         400, "from_frame"),
        ("NaN in poses", json.dumps({"task": "caption", "params": {"motion": {
            "fps": 20, "joint_positions": nan_joints.tolist()}}}).encode(), 400, "motion.joint_positions"),
        ("wrong joint count", {"task": "caption", "params": {"motion": {
            "fps": 20, "joint_positions": np.asarray(m["joint_positions"])[:, :21].tolist()}}}, 400,
         "motion.joint_positions"),
        ("bad fps", {"task": "caption", "params": {"motion": dict(m, fps=0)}}, 400, "motion.fps"),
        ("too many variants", {"task": "generate", "params": {"text": "walk", "variants": 1000}}, 400, "variants"),
        ("unknown param", {"task": "generate", "params": {"text": "walk", "steps": 3}}, 400, "steps"),
        ("unknown task", {"task": "dance", "params": {}}, 400, "task"),
        ("params not an object", {"task": "caption", "params": [1, 2]}, 400, "params"),
        ("non-UTF-8 text", b'{"task": "generate", "params": {"text": "caf\xe9"}}', 400, None),
        ("not JSON", b'{"task": "generate", "params": ', 400, None),
        ("empty body", b"", 400, None),
        ("body over the limit", b"[" + b"0," * (17 * 2 ** 20) + b"0]", 413, None),
    ]


def test_bad_input_is_4xx_naming_the_field(engine, client, clip):
    headers = {"Authorization": f"Bearer {engine.token}", "Content-Type": "application/json"}
    with requests.Session() as session:
        for name, body, status, field in _bad_inputs(clip):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            r = session.post(engine.url + "/v1/jobs", data=data, headers=headers)
            assert r.status_code == status, (name, r.text[:300])
            err = r.json()["error"]
            assert err["field"] == field, (name, err)
            assert err["message"] and err["code"], name
            if field:
                assert err["code"] == "invalid_param" and field in err["message"], (name, err)
    assert client.health()["queue_length"] == 0  # nothing bad was queued
    # the reference client raises with the same details
    with pytest.raises(EngineError) as exc:
        client.submit("generate", {"text": ""})
    assert exc.value.status == 400 and exc.value.field == "text"
    with pytest.raises(EngineError) as exc:  # NaN never leaves the client
        client.submit("caption", {"motion": {"fps": 20, "joint_positions": [[[float("nan")] * 3] * 22] * 40}})
    assert exc.value.code == "invalid_param"


def test_specific_encoding_and_json_messages(engine):
    headers = {"Authorization": f"Bearer {engine.token}"}
    r = requests.post(engine.url + "/v1/jobs", data=b'{"task": "generate", "params": {"text": "caf\xe9"}}',
                      headers=headers)
    assert r.json()["error"]["code"] == "invalid_encoding" and "UTF-8" in r.json()["error"]["message"]
    r = requests.post(engine.url + "/v1/jobs", data=b'{"task": "generate", "params": ', headers=headers)
    assert r.json()["error"]["code"] == "invalid_json" and "line 1" in r.json()["error"]["message"]
    r = requests.post(engine.url + "/v1/jobs", data=b"x" * (33 * 2 ** 20), headers=headers)
    assert r.status_code == 413 and "32 MB" in r.json()["error"]["message"]


# ----------------------------------------------------------------------------
# a crash inside a job

def test_a_failing_job_fails_alone_and_the_server_keeps_serving(client, clip):
    """Genuine run-time failures of the real pipeline. A prompt holding a
    motion token string ("<motion_id_3>") used to pass validation and fail
    in the model's prompt builder; it is now refused up front. Keyboard mash
    ("qwerty uiop zxcvbnm") passes validation (it has words) but the model's
    prompt reading refuses it while the job runs, since only the model's
    vocabulary can tell it relates to nothing. Each such job must fail on
    its own, with the exception type and the engine's message, and the next
    job must run as usual. (A Python crash such as an IndexError inside a
    job is covered in-process in
    test_server.py::test_core_crashes_fail_the_job_not_the_server.)"""
    m = motion_dict(clip)
    candidates = [
        ("generate", {"text": "qwerty uiop zxcvbnm", "seconds": 2}),
        ("generate", {"text": "a person <motion_id_3> walks", "seconds": 2}),
        ("continue", {"motion": m, "seconds": 1, "text": "<motion_id_1> then sits down"}),
        ("inbetween", {"motion": m, "from_frame": 5, "to_frame": 30, "text": "jumps <motion_id_0>"}),
    ]
    failures = []
    for task, params in candidates:
        try:
            job_id = client.submit(task, params)
        except EngineError as exc:  # the pipeline learned to refuse it up front: fine, but not a run-time failure
            assert exc.status == 400 and exc.field
            continue
        with pytest.raises(EngineError) as exc:
            client.wait(job_id, poll=0.02, timeout=30)
        job = exc.value.job
        assert job["status"] == "failed" and "result" not in job and job["task"] == task
        err = job["error"]
        assert err["code"] in ("job_failed", "internal_error", "prompt_refused") and err["type"] and err["message"]
        assert exc.value.message == err["message"] == job["message"]
        if err["code"] == "internal_error":  # a Python exception: its type is in the message
            assert err["type"] in err["message"] and "still running" in err["message"]
        failures.append(err)
        assert client.health()["status"] == "ok"
        assert client.run("caption", {"motion": m}, poll=0.02, timeout=30)["caption"]
    if not failures:
        pytest.fail("every candidate is now refused at validation; find another genuine run-time failure")
    print("\n" + "\n".join(f"failed as expected: {e['code']} {e['type']}: {e['message']}" for e in failures))


# ----------------------------------------------------------------------------
# lifecycle

def test_server_exits_when_its_parent_dies(tiny_bundle, tmp_path):
    """An intermediate parent starts the server with --parent-pid of itself,
    then is killed with SIGKILL (no chance to clean up): the server notices
    and exits on its own."""
    log_path = tmp_path / "engine.log"
    cmd = serve_command(["--port", "0", "--model", str(tiny_bundle), "--device", "cpu"])
    parent_code = textwrap.dedent(f"""
        import os, subprocess, sys, time
        cmd = {cmd!r} + ["--parent-pid", str(os.getpid())]
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open({str(log_path)!r}, "w"), cwd={str(REPO)!r})
        print(child.pid, flush=True)
        print(child.stdout.readline().decode().strip(), flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    server_pid = None
    try:
        server_pid = int(parent.stdout.readline())
        ready = json.loads(parent.stdout.readline())
        assert ready["event"] == "ready" and ready["pid"] == server_pid
        r = requests.get(ready["url"] + "/v1/health", headers={"Authorization": f"Bearer {ready['token']}"})
        assert r.status_code == 200
        parent.kill()
        parent.wait(10)
        took = _wait_gone(server_pid, 10)
        assert took is not None, "the server outlived its parent by 10 s"
        assert took < 5
    finally:
        if parent.poll() is None:
            parent.kill()
        if server_pid is not None and not _gone(server_pid):
            os.kill(server_pid, signal.SIGKILL)
    text = log_path.read_text(encoding="utf-8")
    assert f"parent process {parent.pid} is gone" in text and text.rstrip().endswith("stopped")
    print(f"\nserver {server_pid} exited {took:.2f} s after its parent was killed")


def test_idle_timeout_exits_cleanly(tiny_bundle, tmp_path):
    log_path = tmp_path / "engine.log"
    with open(log_path, "w", encoding="utf-8") as log:
        engine = start_engine(["--port", "0", "--model", str(tiny_bundle), "--device", "cpu",
                               "--idle-timeout", "2"], stderr=log, cwd=REPO, timeout=120)
        try:
            with engine.client() as c:
                for _ in range(4):  # requests keep it alive
                    time.sleep(0.8)
                    assert c.health()["status"] == "ok"
            t0 = time.monotonic()
            assert engine.proc.wait(15) == 0
            waited = time.monotonic() - t0
        finally:
            engine.stop()
    assert 1.5 < waited < 8
    text = log_path.read_text(encoding="utf-8")
    assert "shutting down: idle for 2 s (--idle-timeout 2)" in text


@pytest.mark.parametrize("extra, needle", [
    ([], "--allow-remote"),
    (["--allow-remote"], "explicit token"),
    (["--allow-remote", "--token", "short"], "at least 16"),
])
def test_non_loopback_host_is_refused(extra, needle):
    env = {k: v for k, v in os.environ.items() if k != "MOTIONGPT_TOKEN"}
    proc = subprocess.run(serve_command(["--host", "0.0.0.0", "--port", "0", "--model", "nowhere", *extra]),
                          capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert proc.returncode == 2
    line = json.loads(proc.stdout.splitlines()[0])
    assert line["event"] == "error" and needle in line["error"]["message"]
    assert "refus" in proc.stderr or needle in proc.stderr


def test_missing_model_folder_reports_an_error_line(tmp_path):
    with pytest.raises(EngineError) as exc:
        start_engine(["--port", "0", "--model", str(tmp_path / "no_model"), "--device", "cpu"],
                     stderr=subprocess.DEVNULL, cwd=REPO, timeout=120)
    assert "model folder not found" in exc.value.message

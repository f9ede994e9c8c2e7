"""The input holes a probe of ~190 bad requests found (issue 11), each closed
and each answered with a 4xx JSON error, against a real ``python -m engine
serve`` on the tiny model: huge integers, lone surrogates, numbers sent as
strings, unbounded echoes, idle-timer resets without a token, raw request
lines in the log, foreign Host headers, results too large to hold, SIGTERM
while loading, damaged weights."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from engine.server.client import EngineError
from engine.server.launch import pid_rss_mb, serve_command, start_engine
from support import motion_dict

REPO = Path(__file__).resolve().parents[1]
HUGE = int("9" * 400)


@pytest.fixture(scope="module")
def engine(tiny_bundle, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("server_holes") / "engine.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = start_engine(["--port", "0", "--model", str(tiny_bundle), "--device", "cpu",
                             "--parent-pid", str(os.getpid()), "--max-result-mb", "64"], stderr=log, cwd=REPO,
                            timeout=120)
        proc.log_path = log_path
        yield proc
        proc.stop()


def _post(engine, body, headers=None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(engine.url + "/v1/jobs", data=data,
                         headers={"Authorization": f"Bearer {engine.token}", **(headers or {})})


def _error(r: requests.Response, status: int = 400) -> dict:
    assert r.status_code == status, r.text[:300]
    assert len(r.content) < 1000, f"the answer quotes too much input: {len(r.content)} bytes"
    return r.json()["error"]


def test_huge_integers_are_400_naming_the_field(engine, clip):
    m = motion_dict(clip)
    cases = [
        ("generate", {"text": "walk", "seconds": HUGE}, "seconds"),
        ("generate", {"text": "walk", "variants": HUGE}, "variants"),
        ("generate", {"text": "walk", "seed": HUGE}, "seed"),
        ("generate", {"text": "walk", "seed": -HUGE}, "seed"),
        ("generate", {"text": "walk", "fps": HUGE}, "fps"),
        ("inbetween", {"motion": m, "from_frame": HUGE, "to_frame": 30}, "from_frame"),
        ("inbetween", {"motion": m, "from_frame": 3, "to_frame": HUGE}, "to_frame"),
        ("continue", {"motion": m, "seconds": HUGE}, "seconds"),
        ("caption", {"motion": dict(m, fps=HUGE)}, "motion.fps"),
        ("caption", {"motion": dict(m, joint_positions=[[[HUGE, 0, 0]] * 22] * 40)}, "motion.joint_positions"),
        ("caption", {"motion": dict(m, num_frames=HUGE)}, "motion.num_frames"),
    ]
    for task, params, field in cases:
        err = _error(_post(engine, {"task": task, "params": params}))
        assert err["code"] == "invalid_param" and err["field"] == field, (task, field, err)
    # Python's int reader refuses over 4300 digits: a bare number, or one inside the params
    for body in (b"9" * 5000, b'{"task": "generate", "params": {"text": "walk", "seed": ' + b"9" * 5000 + b"}}"):
        err = _error(_post(engine, body))
        assert err["code"] == "invalid_json" and "digits" in err["message"]


def test_text_with_a_lone_surrogate_is_refused_up_front(engine):
    err = _error(_post(engine, b'{"task": "generate", "params": {"text": "walk \\ud800"}}'))
    assert err["field"] == "text" and "surrogate" in err["message"]
    r = _post(engine, b'{"task": "generate", "params": {"text": "walk \\ud83d\\ude00", "seconds": 1}}')
    assert r.status_code == 202     # a proper pair (an emoji) is fine


@pytest.mark.parametrize("cell", ["0.12", True, None, [0.1]])
def test_motion_arrays_must_hold_numbers(engine, clip, cell):
    m = motion_dict(clip)
    joints = m["joint_positions"]
    joints[5][7][1] = cell
    err = _error(_post(engine, {"task": "caption", "params": {"motion": m}}))
    assert err["field"] == "motion.joint_positions" and "numbers" in err["message"]
    rest = {"fps": 20, "local_quats": [[["1", 0, 0, 0]] * 22] * 10, "root_translation": [[0, 0.9, 0]] * 10}
    err = _error(_post(engine, {"task": "caption", "params": {"motion": rest}}))
    assert err["field"] == "motion.local_quats"


def test_error_messages_quote_at_most_200_characters_of_input(engine):
    nested = 1
    for _ in range(900):
        nested = [nested]
    long_key = "k" * 10_000
    for body in ({"task": "generate", "params": {"text": "walk", "seed": nested}},
                 {"task": "generate", "params": {"text": "walk", long_key: 1}},
                 {"task": "generate", "params": {"text": "walk", "options": {long_key: True}}},
                 {"task": "generate", "params": {"text": "walk", "options": {"in_place": "x" * 10_000}}},
                 {"task": "x" * 10_000},
                 {long_key: 1}):
        err = _error(_post(engine, body))
        assert len(err["message"]) < 400 and len(err["field"] or "") <= 200, err
    r = requests.get(engine.url + "/v1/jobs/" + "j" * 5000, headers={"Authorization": f"Bearer {engine.token}"})
    _error(r, 404)


def test_foreign_host_headers_are_refused(engine):
    auth = {"Authorization": f"Bearer {engine.token}"}
    port = engine.ready["port"]
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1"):
        err = _error(requests.get(engine.url + "/v1/health", headers={**auth, "Host": host}))
        assert err["code"] == "invalid_host" and f"127.0.0.1:{port}" in err["message"], host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert requests.get(engine.url + "/v1/health", headers={**auth, "Host": host}).status_code == 200, host
    # no Host at all (a raw HTTP/1.1 request)
    reply = _raw(engine, b"GET /v1/health HTTP/1.1\r\nAuthorization: Bearer " + engine.token.encode() + b"\r\n\r\n")
    assert b" 400 " in reply.split(b"\r\n", 1)[0] and b"invalid_host" in reply


def _raw(engine, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", engine.ready["port"]), timeout=10) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_log_escapes_control_characters(engine):
    host = f"127.0.0.1:{engine.ready['port']}".encode()
    _raw(engine, b"GET /\x1b[2J\x1b[31mred\r HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    _raw(engine, b"G\x1bET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    time.sleep(0.3)
    text = engine.log_path.read_text(encoding="utf-8", errors="replace")
    assert "\x1b" not in text and "/\\x1b[2J\\x1b[31mred" in text


def test_a_result_too_large_is_refused_before_it_runs(engine):
    before = requests.get(engine.url + "/v1/health", headers={"Authorization": f"Bearer {engine.token}"}).json()
    err = _error(_post(engine, {"task": "generate", "params": {"text": "walk", "seconds": 60, "variants": 8,
                                                                "fps": 240}}))
    assert err["code"] == "result_too_large" and err["field"] == "variants" and "64 MB" in err["message"]
    err = _error(_post(engine, {"task": "generate", "params": {"text": "walk", "seconds": 60, "fps": 240,
                                                                "variants": 4}}))
    assert err["code"] == "result_too_large"
    after = requests.get(engine.url + "/v1/health", headers={"Authorization": f"Bearer {engine.token}"}).json()
    assert after["jobs_run"] == before["jobs_run"] and after["queue_length"] == 0


def test_a_large_result_is_served_from_one_copy(engine):
    """A ~40 MB result fetched by 8 clients at once: the same bytes every
    time, and the server's memory does not grow by a copy per request."""
    auth = {"Authorization": f"Bearer {engine.token}"}
    r = _post(engine, {"task": "generate", "params": {"text": "a person walks", "seconds": 30, "variants": 8,
                                                       "fps": 120, "seed": 1}})
    assert r.status_code == 202, r.text
    url = engine.url + "/v1/jobs/" + r.json()["id"]
    deadline = time.monotonic() + 300
    while requests.get(url, headers=auth).json()["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    first = requests.get(url, headers=auth).content
    assert json.loads(first)["status"] == "done" and len(first) > 30 * 2**20
    before = pid_rss_mb(engine.pid)
    bodies, peak = [], [before]

    def fetch():
        bodies.append(requests.get(url, headers=auth).content)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak.append(pid_rss_mb(engine.pid))
        time.sleep(0.01)
    assert all(b == first for b in bodies) and len(bodies) == 8
    growth = max(peak) - before
    print(f"\n{len(first) / 2**20:.0f} MB result, 8 concurrent GETs: server RSS {before:.0f} MB, peak "
          f"{max(peak):.0f} MB (+{growth:.0f} MB)")
    assert growth < len(first) / 2**20, "the server copied the result per request"


def test_requests_without_the_token_do_not_keep_an_idle_engine_alive(tiny_bundle, tmp_path):
    log_path = tmp_path / "engine.log"
    with open(log_path, "w", encoding="utf-8") as log:
        engine = start_engine(["--port", "0", "--model", str(tiny_bundle), "--device", "cpu",
                               "--idle-timeout", "2"], stderr=log, cwd=REPO, timeout=120)
        try:
            t0 = time.monotonic()
            while engine.proc.poll() is None and time.monotonic() - t0 < 15:
                try:  # a bad token, and a good token with a foreign Host: neither counts as activity
                    requests.get(engine.url + "/v1/health", headers={"Authorization": "Bearer wrong"}, timeout=2)
                    requests.get(engine.url + "/v1/health", timeout=2,
                                 headers={"Authorization": f"Bearer {engine.token}", "Host": "evil.example"})
                except requests.ConnectionError:
                    break
                time.sleep(0.25)
            assert engine.proc.wait(15) == 0
            took = time.monotonic() - t0
        finally:
            engine.stop()
    assert took < 8, f"the engine stayed up {took:.1f} s under unauthorised requests"
    assert "shutting down: idle for 2 s" in log_path.read_text(encoding="utf-8")


def test_sigterm_while_the_model_loads_exits_0(tiny_bundle, tmp_path):
    log_path = tmp_path / "engine.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(serve_command(["--port", "0", "--model", str(tiny_bundle), "--device", "cpu"]),
                                stdout=subprocess.PIPE, stderr=log, cwd=REPO)
        try:
            deadline = time.monotonic() + 60
            while "loading model" not in log_path.read_text(encoding="utf-8"):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log_path.read_text(encoding="utf-8")
    assert "SIGTERM before the engine was ready" in text and proc.stdout.read() == b""


# ----------------------------------------------------------------------------
# damaged weights

def _exported(tiny_bundle: Path, dest: Path) -> Path:
    from engine.models.bundle import export_bundle
    return export_bundle(tiny_bundle, dest)


def _poison(path: Path) -> None:
    """Overwrite the start of the largest tensor's data with float16 NaN
    (0xFFFF): a file safetensors still reads without complaint."""
    raw = bytearray(path.read_bytes())
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    start = 8 + int.from_bytes(raw[:8], "little")
    name = max((k for k in header if k != "__metadata__"), key=lambda k: np.diff(header[k]["data_offsets"])[0])
    lo, hi = header[name]["data_offsets"]
    raw[start + lo:start + hi] = b"\xff" * (hi - lo)
    path.write_bytes(bytes(raw))


def test_damaged_weights_are_refused_at_load_by_their_sha256(tiny_bundle, tmp_path):
    from engine.errors import MotionFileError
    from engine.models.motiongpt import MotionGPT
    folder = _exported(tiny_bundle, tmp_path / "model")
    manifest = json.loads((folder / "model.json").read_text())
    assert set(manifest["sha256"]) >= {"lm/model.safetensors", "vq/model.safetensors", "vq/mean.npy",
                                       "lm/tokenizer.json"}
    MotionGPT.load(folder, "cpu")                       # intact: loads
    intact = (folder / "lm" / "model.safetensors").read_bytes()
    _poison(folder / "lm" / "model.safetensors")
    with pytest.raises(MotionFileError) as err:
        MotionGPT.load(folder, "cpu")
    assert "lm/model.safetensors" in str(err.value) and "damaged or was changed" in str(err.value)
    (folder / "vq" / "std.npy").unlink()
    (folder / "lm" / "model.safetensors").write_bytes(intact)
    with pytest.raises(MotionFileError, match="std.npy: is missing"):
        MotionGPT.load(folder, "cpu")


def test_the_shipped_model_carries_the_sha256_of_its_files():
    from engine.models.bundle import bundle_files, read_bundle_manifest, verify_bundle
    folder = REPO / "models" / "default"
    manifest = read_bundle_manifest(folder)
    assert sorted(manifest["sha256"]) == bundle_files(folder, manifest)
    verify_bundle(folder, manifest)


def test_non_finite_model_output_fails_the_job_with_a_clear_message(tiny_bundle, tmp_path, clip):
    """Weights damaged without a SHA-256 to catch it (a folder exported by an
    older engine): the load succeeds, every job fails saying why, and the
    engine keeps serving."""
    folder = _exported(tiny_bundle, tmp_path / "model")
    manifest = json.loads((folder / "model.json").read_text())
    del manifest["sha256"]
    (folder / "model.json").write_text(json.dumps(manifest))
    _poison(folder / "lm" / "model.safetensors")
    with open(tmp_path / "engine.log", "w", encoding="utf-8") as log:
        eng = start_engine(["--port", "0", "--model", str(folder), "--device", "cpu"], stderr=log, cwd=REPO,
                           timeout=120)
        try:
            with eng.client(timeout=30) as c:
                for task, params in (("generate", {"text": "walk", "seconds": 1}),
                                     ("caption", {"motion": motion_dict(clip)})):
                    with pytest.raises(EngineError) as exc:
                        c.wait(c.submit(task, params), poll=0.05, timeout=60)
                    job = exc.value.job
                    assert job["status"] == "failed", job
                    assert job["error"]["type"] == "ModelOutputError" and "damaged" in job["error"]["message"]
                assert c.health()["status"] == "ok"
        finally:
            eng.stop()


FLOOD = """
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
held = []
for _ in range(count):
    try:
        held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except OSError:
        break
print(len(held), flush=True)
time.sleep(30)
"""


def test_a_flood_of_idle_connections_does_not_keep_the_token_holder_out(tiny_bundle, tmp_path):
    """Another local process holds 1,000 idle connections without a token;
    the token holder's health check still answers within a second, and the
    engine holds at most its cap of connections meanwhile."""
    import resource
    import sys as _sys
    from engine.server import app
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = min(1000, hard - 64)
    with open(tmp_path / "engine.log", "w", encoding="utf-8") as log:
        engine = start_engine(["--port", "0", "--model", str(tiny_bundle), "--device", "cpu"], stderr=log, cwd=REPO,
                              timeout=120)
        flood = None
        try:
            env = dict(os.environ)
            flood = subprocess.Popen([_sys.executable, "-c", "import resource; resource.setrlimit("
                                      f"resource.RLIMIT_NOFILE, ({count + 64}, {hard}))\n" + FLOOD,
                                      engine.url.rsplit(":", 1)[1], str(count)], stdout=subprocess.PIPE, text=True, env=env)
            opened = int(flood.stdout.readline())
            assert opened >= app.MAX_CONNECTIONS + 100
            t0 = time.monotonic()
            r = requests.get(engine.url + "/v1/health", headers={"Authorization": f"Bearer {engine.token}"},
                             timeout=5)
            took = time.monotonic() - t0
            assert r.status_code == 200 and took < 1.0, took
            fds = len(os.listdir(f"/proc/{engine.proc.pid}/fd"))
            assert fds < app.MAX_CONNECTIONS + 64, fds
        finally:
            if flood is not None:
                flood.kill()
                flood.wait()
            engine.stop()

"""The add-on against a hostile or broken engine (issue 22): a real HTTP
server on 127.0.0.1 that speaks the engine's API but answers each job with
one bad reply. Every bad reply fails the job with a reason before any key
could be written, and the transport never holds more than its cap."""
from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from motiongpt_blender import client as mclient
from motiongpt_blender import engine_manager, jobs
from motiongpt_blender.client import EngineClient, EngineError
from motiongpt_blender.reply_check import ReplyError, check_reply

TOKEN = "t" * 32
FPS = 20.0


def _motion(frames: int, fps: float = FPS, joints: int = 22) -> dict:
    quats = np.zeros((frames, joints, 4))
    quats[..., 0] = 1.0
    root = np.zeros((frames, 3))
    root[:, 1] = 0.9
    return {"fps": fps, "num_frames": frames, "local_quats": quats.tolist(), "root_translation": root.tolist()}


GIVEN = _motion(40)                                            # 2 s of input
CONTINUE = {"motion": {"fps": FPS, "joint_positions": np.zeros((40, 22, 3)).tolist()}, "seconds": 2.0}
GENERATE = {"text": "a person waves", "seconds": 2.0, "variants": 2, "fps": FPS}
PACED = {"text": "a person walks", "variants": 2, "fps": FPS, "path": {"points": [[0, 0], [0, 5]]}}
"""Follow Path timed by the curve's length: no seconds, the engine decides (within 60 s)."""


def _generated(frames=40, variants=2, **change) -> dict:
    return {"motions": [_motion(frames) for _ in range(variants)], "seeds": list(range(variants)),
            "understood_as": {"message": "understood as: wave"}, **change}


def test_the_reply_cap_follows_the_request():
    from motiongpt_blender.reply_check import REPLY_BYTES_PER_FRAME, expected_reply_bytes
    small = expected_reply_bytes("continue", CONTINUE)
    assert small < 1_000_000 and small >= 80 * REPLY_BYTES_PER_FRAME
    assert expected_reply_bytes("generate", {**GENERATE, "seconds": 60, "variants": 8}) > 50 * small
    assert expected_reply_bytes("caption", {"motion": {}}) < 300_000
    assert expected_reply_bytes("generate", PACED) >= 2 * 60 * FPS * REPLY_BYTES_PER_FRAME   # up to 60 s each


def test_a_good_reply_passes():
    check_reply("generate", GENERATE, _generated())
    check_reply("generate", PACED, _generated(frames=97))
    check_reply("continue", CONTINUE, {"motion": _motion(80), "seed": 3})
    check_reply("inbetween", {"motion": CONTINUE["motion"], "from_frame": 5, "to_frame": 30}, {"motion": _motion(40)})
    check_reply("caption", {"motion": CONTINUE["motion"]}, {"caption": "a person waves."})


def _bad(**changes):
    motion = _motion(80)
    motion.update(changes)
    return {"motion": motion}


@pytest.mark.parametrize("task, params, result, needle", [
    ("continue", CONTINUE, {"motion": _motion(50_000 // 50)}, "frames"),                 # far more than asked
    ("continue", CONTINUE, {"motion": _motion(80, joints=21)}, "shape"),
    ("continue", CONTINUE, _bad(root_translation=(np.full((80, 3), 1e300)).tolist()), "range"),
    ("continue", CONTINUE, {"motion": _motion(80, fps=30.0)}, "fps"),
    ("continue", CONTINUE, _bad(local_quats=np.full((80, 22, 4), np.nan).tolist()), "NaN"),
    ("continue", CONTINUE, _bad(local_quats=np.full((80, 22, 4), 0.3).tolist()), "unit quaternions"),
    ("continue", CONTINUE, _bad(local_quats="lots"), "frames"),
    ("continue", CONTINUE, {"motion": _motion(80), "understood_as": {"message": "x" * 20_000_000}}, "longer than"),
    ("generate", GENERATE, _generated(variants=3), "motions"),
    ("generate", GENERATE, _generated(frames=41), "frames"),
    ("generate", GENERATE, _generated(seeds=["a", "b"]), "seeds"),
    ("generate", PACED, _generated(frames=1300), "outside 2 to 60 s"),
    ("generate", GENERATE, [1, 2], "not an object"),
    ("caption", {"motion": {}}, {"caption": "y" * 5000}, "longer than"),
    ("caption", {"motion": {}}, {"caption": 7}, "no caption"),
])
def test_each_bad_reply_is_refused_with_a_reason(task, params, result, needle):
    with pytest.raises(ReplyError) as info:
        check_reply(task, params, result)
    assert needle in str(info.value) and "nothing was changed" in str(info.value)


class _FakeEngine(BaseHTTPRequestHandler):
    """The engine's API with a scripted job result (``server.result``) or a
    scripted raw body for the job status (``server.raw`` + headers)."""

    def log_message(self, *args):            # quiet
        pass

    def _send(self, body: bytes, headers: dict | None = None, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in (headers or {"Content-Length": str(len(body))}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        if self.path == "/v1/health":
            return self._send(json.dumps({"status": "ok", "api": 1}).encode())
        if self.server.raw is not None:
            return self._send(self.server.raw, self.server.raw_headers)
        self._send(json.dumps({"id": "j1", "status": "done", "result": self.server.result}).encode())

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        self._send(json.dumps({"id": "j1", "status": "queued"}).encode())


@pytest.fixture()
def fake_engine():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeEngine)
    server.result, server.raw, server.raw_headers = {}, None, None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def _run(server, task, params):
    settings = engine_manager.EngineSettings(mode="remote", url=server.url, token=TOKEN)
    runner = jobs.JobRunner(settings, task, params, poll=0.01).start()
    assert runner.wait(30)
    return runner


def test_a_job_answered_with_a_bad_reply_fails_and_hands_nothing_on(fake_engine):
    fake_engine.result = {"motion": _motion(50_000)}             # a 2 s Continue answered with 50,000 frames
    runner = _run(fake_engine, "continue", CONTINUE)
    assert runner.state == jobs.FAILED and runner.result is None
    # refused by the transport: a reply that large cannot answer a 2 s request (never parsed into objects)
    assert runner.error.code == "bad_response" and "more than this request can need" in runner.error.message
    fake_engine.result = {"motion": _motion(90)}                  # small enough to read, wrong frame count
    runner = _run(fake_engine, "continue", CONTINUE)
    assert runner.state == jobs.FAILED and "frames" in runner.error.message
    fake_engine.result = {"motion": _motion(80), "seed": 1}
    runner = _run(fake_engine, "continue", CONTINUE)
    assert runner.state == jobs.DONE and len(runner.result["motion"]["local_quats"]) == 80


@pytest.mark.parametrize("backend", mclient.BACKENDS)
def test_a_gzip_bomb_is_refused_at_the_cap(fake_engine, backend, monkeypatch):
    monkeypatch.setattr(mclient, "MAX_REPLY_BYTES", 4 * 1024 * 1024)
    bomb = gzip.compress(b"[" + b" " * (256 * 1024 * 1024) + b"]", compresslevel=9)   # ~250 kB -> 256 MB
    fake_engine.raw = bomb
    fake_engine.raw_headers = {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}
    client = EngineClient(fake_engine.url, TOKEN, backend=backend)
    start = time.perf_counter()
    with pytest.raises(EngineError) as info:
        client.status("j1")
    assert info.value.code == "bad_response" and "larger than" in info.value.message
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("backend", mclient.BACKENDS)
def test_a_reply_declaring_a_huge_length_is_not_read(fake_engine, backend, monkeypatch):
    monkeypatch.setattr(mclient, "MAX_REPLY_BYTES", 1024 * 1024)
    fake_engine.raw = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    fake_engine.raw_headers = {"Content-Length": str(len(fake_engine.raw))}
    with pytest.raises(EngineError, match="larger than"):
        EngineClient(fake_engine.url, TOKEN, backend=backend).status("j1")


@pytest.mark.parametrize("content", ['{"examples": 5}', "[" * 100_000 + "]" * 100_000, '{"examples": [1, "", "ok"]}',
                                     "not json", '"a string"'])
def test_a_hostile_vocabulary_never_breaks_the_panel(tmp_path, content):
    from motiongpt_blender import prompt_help
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "vocabulary.json").write_text(content)
    examples = prompt_help.example_prompts(tmp_path)
    assert examples in ([], ["ok"])

"""A team engine: several named, hashed tokens; each sees and cancels only its own jobs."""
from __future__ import annotations

import os
import stat
import threading

import pytest

from engine.cli import main
from engine.errors import MotionGPTError
from engine.server.app import EngineHTTPServer, EngineService
from engine.server.client import EngineClient, EngineError
from engine.server.launch import start_engine
from engine.server.serve import ServeOptions, check_options
from engine.server.tokens import TokenTable, add_token, token_hash
from support import motion_dict
from test_server import StubModel, StubRunner

SINGLE = "single-token-0123456789abcdef"


@pytest.fixture()
def team(tmp_path):
    """An in-process engine with a tokens file (alice, bob) and a single token."""
    path = tmp_path / "team.tokens"
    tokens = {name: add_token(path, name) for name in ("alice", "bob")}
    service = EngineService(StubModel(), StubRunner, SINGLE, tokens=TokenTable.from_file(path))
    httpd = EngineHTTPServer("127.0.0.1", 0, service)
    service.jobs.start()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.port}"
    clients = {name: EngineClient(url, tok, timeout=5) for name, tok in tokens.items()}
    clients["default"] = EngineClient(url, SINGLE, timeout=5)
    yield clients, path
    httpd.shutdown()
    service.jobs.stop(2)
    httpd.server_close()


def _status(err: pytest.ExceptionInfo) -> int:
    return err.value.status


def test_each_token_sees_and_cancels_only_its_own_jobs(team):
    clients, _ = team
    alice, bob, default = clients["alice"], clients["bob"], clients["default"]
    running = alice.submit("generate", {"text": "slow", "seconds": 100, "slow": True})
    queued = alice.submit("generate", {"text": "next", "seconds": 0.5})
    mine = bob.submit("generate", {"text": "bob's", "seconds": 0.5})
    for other in (bob, default):
        for call in (other.status, other.cancel):                   # GET and DELETE /v1/jobs/{id}
            with pytest.raises(EngineError) as err:
                call(running)
            assert _status(err) == 404 and err.value.code == "not_found"
        assert [j["id"] for j in other.jobs()] == ([mine] if other is bob else [])
        assert other.health()["running"] is None                    # not even the running job's id
    assert alice.health()["running"] == running
    assert {j["id"] for j in alice.jobs()} == {running, queued}
    assert alice.status(queued)["status"] == "queued"
    assert alice.cancel(running)["cancel_requested"]                # the owner can cancel it
    with pytest.raises(EngineError) as err:
        alice.wait(running, timeout=10)
    assert err.value.code == "cancelled"
    assert alice.wait(queued, timeout=10)["joint_positions"] and bob.wait(mine, timeout=10)["joint_positions"]


def test_unknown_or_revoked_tokens_get_401(team, tmp_path):
    clients, path = team
    revoked = add_token(tmp_path / "old.tokens", "carol")            # a token from another file
    for token in (revoked, "wrong", token_hash(SINGLE).hex()):       # the hash itself is no token
        with pytest.raises(EngineError) as err:
            EngineClient(clients["alice"].base_url, token, timeout=5).health()
        assert _status(err) == 401
    assert clients["bob"].health()["status"] == "ok"


def test_the_tokens_file_holds_hashes_only(tmp_path, capsys):
    path = tmp_path / "team.tokens"
    assert main(["add-token", "alice", "--tokens-file", str(path)]) == 0
    token = capsys.readouterr().out.strip()
    text = path.read_text()
    assert token not in text and f"alice sha256:{token_hash(token).hex()}" in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert TokenTable.from_file(path).owner(token) == "alice"
    assert main(["add-token", "alice", "--tokens-file", str(path)]) == 2
    assert "already has a token for 'alice'" in capsys.readouterr().err


@pytest.mark.parametrize("content,expected", [
    ("alice 1234\n", "line 1 is not 'NAME sha256:HEX'"),
    ("# team\nalice sha256:abcd\n", "line 2: the hash of 'alice' is not 64 hex digits"),
    (f"alice sha256:{'a' * 64}\nalice sha256:{'b' * 64}\n", "line 2: the name 'alice' is listed twice"),
    (f"alice sha256:{'a' * 64}\nbob sha256:{'a' * 64}\n", "line 2: 'bob' has the same token as another name"),
    (f"al/ice sha256:{'a' * 64}\n", "line 1: the name 'al/ice' must be"),
    ("# nobody yet\n", "holds no tokens"),
])
def test_a_bad_tokens_file_is_named_by_line(tmp_path, content, expected):
    path = tmp_path / "team.tokens"
    path.write_text(content)
    with pytest.raises(MotionGPTError, match=expected):
        TokenTable.from_file(path)


def test_serve_options_with_a_tokens_file(tmp_path):
    path = tmp_path / "team.tokens"
    add_token(path, "alice")
    token, table = check_options(ServeOptions(host="0.0.0.0", allow_remote=True, tokens_file=str(path)), {})
    assert token is None and [n for n, _ in table.entries] == ["alice"]       # no single token
    token, _ = check_options(ServeOptions(tokens_file=str(path), token=SINGLE), {})
    assert token == SINGLE
    with pytest.raises(MotionGPTError, match="tokens file not found"):
        check_options(ServeOptions(tokens_file=str(tmp_path / "missing.tokens")), {})


def test_a_real_engine_serves_a_team(tiny_bundle, clip, tmp_path):
    path = tmp_path / "team.tokens"
    tokens = {name: add_token(path, name) for name in ("alice", "bob")}
    log = open(tmp_path / "engine.log", "w", encoding="utf-8")
    eng = start_engine(["--port", "0", "--model", str(tiny_bundle), "--device", "cpu", "--tokens-file", str(path),
                        "--parent-pid", str(os.getpid())], stderr=log, timeout=180)
    try:
        assert eng.ready["token"] is None
        alice = EngineClient(eng.url, tokens["alice"], timeout=30)
        bob = EngineClient(eng.url, tokens["bob"], timeout=30)
        job = alice.submit("caption", {"motion": motion_dict(clip)})
        with pytest.raises(EngineError) as err:
            bob.status(job)
        assert _status(err) == 404
        assert "caption" in alice.wait(job, timeout=60)
    finally:
        eng.stop()
        log.close()
    assert not any(t in (tmp_path / "engine.log").read_text() for t in tokens.values())


def test_a_tokens_file_others_can_write_is_refused_with_the_fix(tmp_path):
    import os
    from engine.errors import MotionFileError
    from engine.server.tokens import TokenTable, add_token
    folder = tmp_path / "team"
    folder.mkdir(mode=0o700)
    path = folder / "tokens"
    add_token(path, "alice")
    assert len(TokenTable.from_file(path).entries) == 1
    os.chmod(path, 0o666)
    with pytest.raises(MotionFileError) as info:
        TokenTable.from_file(path)
    assert "chmod go-w" in str(info.value) and "666" in str(info.value)
    os.chmod(path, 0o600)
    os.chmod(folder, 0o777)                      # others could replace the file by name
    with pytest.raises(MotionFileError, match="tokens folder"):
        TokenTable.from_file(path)
    os.chmod(folder, 0o1777)                     # a sticky folder, like /tmp: others cannot replace it
    assert len(TokenTable.from_file(path).entries) == 1
    os.chmod(folder, 0o700)

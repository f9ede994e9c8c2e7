"""The add-on's engine link outside Blender: HTTP client (requests and
urllib), job runner, engine manager, path resolution and the engine installer.

These modules import no bpy, so they run in the pytest process against a real
engine (the session's ``token_engine`` on the tiny model).
"""
from __future__ import annotations

import math
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ENGINE_TOKEN
from motiongpt_blender import client as mclient
from motiongpt_blender import engine_manager, installer, jobs, paths
from motiongpt_blender.client import EngineClient, EngineError

BACKENDS = mclient.BACKENDS


def remote(engine, token=ENGINE_TOKEN) -> engine_manager.EngineSettings:
    return engine_manager.EngineSettings(mode="remote", url=engine.url, token=token)


@pytest.mark.parametrize("backend", BACKENDS)
def test_client_talks_to_the_engine(token_engine, backend):
    c = EngineClient(token_engine.url, ENGINE_TOKEN, backend=backend)
    assert c.health()["status"] == "ok"
    job = c.submit("generate", {"text": "a person waves", "seconds": 1.0, "fps": 24, "seed": 3})
    deadline = time.monotonic() + 60
    while (st := c.status(job["id"]))["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert st["status"] == "done"
    motion = st["result"]["motions"][0]
    assert motion["num_frames"] == 24 and motion["fps"] == 24
    with pytest.raises(EngineError) as err:
        c.submit("generate", {"text": "x", "seconds": 100})
    assert err.value.status == 400 and err.value.field == "seconds"
    with pytest.raises(EngineError) as err:
        c.status("no-such-job")
    assert err.value.status == 404


@pytest.mark.parametrize("backend", BACKENDS)
def test_client_wrong_token_and_unreachable(token_engine, backend):
    with pytest.raises(EngineError) as err:
        EngineClient(token_engine.url, "wrong", backend=backend).health()
    assert err.value.status == 401 and err.value.code == "unauthorized"
    with pytest.raises(EngineError) as err:
        EngineClient("http://127.0.0.1:9", "x", backend=backend).health()
    assert err.value.code == "unreachable" and "Connection refused" in err.value.message


def test_nan_is_refused_before_sending():
    with pytest.raises(EngineError) as err:
        EngineClient("http://127.0.0.1:9", "x").submit("caption", {"motion": {"fps": 24, "joint_positions": [[math.nan]]}})
    assert err.value.code == "invalid_param"


def test_job_runner_runs_and_rewords_errors(token_engine):
    r = jobs.JobRunner(remote(token_engine), "generate", {"text": "a person jumps", "seconds": 1.0, "fps": 30}).start()
    assert r.wait(60) and r.state == jobs.DONE and r.progress == 1.0
    assert len(r.result["motions"][0]["local_quats"]) == 30
    r = jobs.JobRunner(remote(token_engine, "wrong"), "generate", {"text": "a person jumps"}).start()
    assert r.wait(30) and r.state == jobs.FAILED and r.error.message == jobs.TOKEN_MESSAGE
    r = jobs.JobRunner(remote(token_engine), "generate", {"text": "a person jumps", "seconds": 100}).start()
    assert r.wait(30) and r.state == jobs.FAILED
    assert r.error.message.startswith("The engine refused the length: ")


def test_job_runner_cancels_a_running_job(token_engine):
    r = jobs.JobRunner(remote(token_engine), "generate",
                       {"text": "a person walks", "seconds": 60, "variants": 8, "fps": 20}, poll=0.05).start()
    deadline = time.monotonic() + 60
    while r.state != jobs.RUNNING and time.monotonic() < deadline:
        time.sleep(0.02)
    t = time.monotonic()
    r.cancel()
    assert r.wait(10) and r.state == jobs.CANCELLED and r.result is None
    assert time.monotonic() - t < 2.0
    c = EngineClient(token_engine.url, ENGINE_TOKEN)
    deadline = time.monotonic() + 30
    while c.status(r.job_id)["status"] != "cancelled" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert c.status(r.job_id)["status"] == "cancelled"          # the engine stopped it too (DELETE)


def _broken_root(folder: Path, code: int = 3) -> Path:
    (folder / "engine").mkdir(parents=True)
    (folder / "engine" / "__init__.py").write_text("")
    (folder / "engine" / "__main__.py").write_text(textwrap.dedent(f"""
        import sys
        print("ImportError: libcudart.so.12: cannot open shared object file", file=sys.stderr)
        sys.exit({code})
    """))
    return folder


def test_manager_reports_a_failed_start_with_its_log(tmp_path, tiny_bundle):
    mgr = engine_manager.EngineManager()
    s = engine_manager.EngineSettings(python=sys.executable, root=str(_broken_root(tmp_path / "root")),
                                      model=str(tiny_bundle), device="cpu", log_dir=str(tmp_path / "logs"))
    with pytest.raises(EngineError) as err:
        mgr.connect(s)
    msg = err.value.message
    assert msg.startswith("The engine failed to start: it exited with code 3 before it was ready.")
    assert "Last log line: ImportError: libcudart.so.12" in msg and str(tmp_path / "logs" / "engine.log") in msg
    with pytest.raises(EngineError) as err:
        mgr.connect(engine_manager.EngineSettings(problems=("No model at /x (model.json is missing).",)))
    assert err.value.code == "config" and err.value.message.startswith("No model at /x")
    with pytest.raises(EngineError) as err:
        mgr.connect(engine_manager.EngineSettings(python="/no/such/python", root=str(tmp_path), model="m"))
    assert err.value.code == "start_failed" and "/no/such/python" in err.value.message


def test_paths_resolution(tmp_path, monkeypatch):
    repo = paths.PACKAGE_DIR.parent
    # running from the checkout: the add-on finds its engine folder by itself
    root, src = paths.find_engine_root("", environ={})
    assert root == repo and src == "the checkout the add-on runs from"
    root, src = paths.find_engine_root("", environ={paths.ENV_ROOT: str(tmp_path)})
    assert root == tmp_path and src == f"${paths.ENV_ROOT}"
    assert paths.find_engine_root(str(tmp_path / "x"), environ={paths.ENV_ROOT: "/y"})[0] == tmp_path / "x"
    venv = tmp_path / "venv"
    paths.venv_python(venv).parent.mkdir(parents=True)
    paths.venv_python(venv).write_text("")
    py, src = paths.find_engine_python("", root=tmp_path, install_venv=venv, environ={})
    assert py == paths.venv_python(venv) and src == "Install Engine"
    assert paths.model_folder("DEFAULT", "", repo) == repo / "models" / "default"
    assert paths.model_folder("OFFICIAL", "", repo) == repo / "models" / "official"
    assert paths.model_folder("CUSTOM", str(tmp_path), repo) == tmp_path
    r = paths.resolve(str(tmp_path), "/no/python", "CUSTOM", str(tmp_path), environ={})
    assert len(r.problems) == 3
    assert "has no engine/ package" in r.problems[0] and "does not exist" in r.problems[1]
    assert "model.json is missing" in r.problems[2]
    # an Engine Python that is a folder (a venv, say) is named as such, with where the python is
    r = paths.resolve(str(repo), str(venv), "DEFAULT", "", environ={})
    msg = next(p for p in r.problems if str(venv) in p)
    assert "is a folder, not a Python executable" in msg and str(venv / "bin" / "python") in msg
    assert "does not exist" not in msg


_BACKEND = '''
"""A PEP 517/660 build backend in a few lines: an editable wheel holding a .pth file."""
import base64, hashlib, os, zipfile

NAME, VERSION = "fake_engine", "0.0.1"

def _record(entries):
    rows = []
    for name, data in entries:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{name},sha256={digest},{len(data)}")
    return "\\n".join(rows + [f"{NAME}-{VERSION}.dist-info/RECORD,,"]) + "\\n"

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    dist = f"{NAME}-{VERSION}.dist-info"
    entries = [(f"{NAME}.pth", (os.path.dirname(os.path.abspath(__file__)) + "\\n").encode()),
               (f"{dist}/METADATA", f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n".encode()),
               (f"{dist}/WHEEL", b"Wheel-Version: 1.0\\nGenerator: fake\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")]
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for n, data in entries:
            zf.writestr(n, data)
        zf.writestr(f"{dist}/RECORD", _record(entries))
    return name

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return build_editable(wheel_directory, config_settings, metadata_directory)

def build_sdist(sdist_directory, config_settings=None):
    raise NotImplementedError
'''


def _fake_checkout(folder: Path) -> Path:
    (folder / "engine").mkdir(parents=True)
    (folder / "engine" / "__init__.py").write_text("MARK = 'fake engine'\n")
    (folder / "fake_backend.py").write_text(_BACKEND)
    (folder / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "fake_backend"\n'
                                           'backend-path = ["."]\n\n[project]\nname = "fake-engine"\n'
                                           'version = "0.0.1"\n')
    return folder


def test_installer_creates_a_venv_with_the_engine(tmp_path):
    root = _fake_checkout(tmp_path / "checkout")
    inst = installer.EngineInstaller(root, tmp_path / "venv", sys.executable,
                                     pip_args=["--no-index", "--no-build-isolation", "--no-deps"],
                                     log_path=tmp_path / "install.log").start()
    lines = set()
    deadline = time.monotonic() + 120
    while inst.running and time.monotonic() < deadline:
        lines.add(inst.status_text())
        time.sleep(0.05)
    assert inst.state == installer.DONE, (inst.error, (tmp_path / "install.log").read_text()[-2000:])
    assert any(t.startswith("creating the virtual environment") for t in lines)
    import subprocess
    out = subprocess.run([str(inst.python), "-c", "import engine; print(engine.MARK)"], capture_output=True,
                         text=True, cwd=str(tmp_path))
    assert out.stdout.strip() == "fake engine"
    # the add-on then finds that Python by itself
    py, src = paths.find_engine_python("", root=None, install_venv=tmp_path / "venv", environ={})
    assert py == inst.python and src == "Install Engine"
    assert "=== done" in (tmp_path / "install.log").read_text()


def test_installer_errors_and_cancel(tmp_path):
    inst = installer.EngineInstaller(tmp_path, tmp_path / "venv", sys.executable).start()
    assert inst.state == installer.FAILED and "is not a MotionGPT-for-Blender checkout" in inst.error
    root = _fake_checkout(tmp_path / "checkout")
    (root / "pyproject.toml").write_text("[project]\nname = 'broken'\nversion = 'not a version'\n")
    inst = installer.EngineInstaller(root, tmp_path / "venv2", sys.executable, pip_args=["--no-index"],
                                     venv_args=["--without-pip", "--system-site-packages"],
                                     log_path=tmp_path / "i.log").start()
    assert inst.wait(120)
    assert inst.state == installer.FAILED
    assert inst.error.startswith("Installing the engine failed while installing the engine")
    assert "(log: " in inst.error
    inst = installer.EngineInstaller(root, tmp_path / "venv3", sys.executable, log_path=tmp_path / "c.log").start()
    time.sleep(0.3)
    inst.cancel()
    assert inst.wait(30) and inst.state == installer.CANCELLED and inst.status_text() == "Install cancelled"


def test_launcher_environment_carries_the_engine_process_policy(tmp_path, tiny_bundle, monkeypatch):
    """The engine child gets OMP_WAIT_POLICY=PASSIVE (the engine's own
    policy, engine/runtime.py, kept equal here) unless the user set it, and
    never MOTIONGPT_TOKEN."""
    import json
    from engine.runtime import PROCESS_ENV
    assert engine_manager.ENGINE_ENV == PROCESS_ENV
    root = tmp_path / "root"
    (root / "engine").mkdir(parents=True)
    (root / "engine" / "__init__.py").write_text("")
    (root / "engine" / "__main__.py").write_text(textwrap.dedent("""
        import json, os
        keys = ("OMP_WAIT_POLICY", "PYTORCH_ENABLE_MPS_FALLBACK", "MOTIONGPT_TOKEN")
        with open("env.json", "w") as fh:
            json.dump({k: os.environ.get(k) for k in keys}, fh)
        raise SystemExit(3)
    """))
    monkeypatch.setenv("MOTIONGPT_TOKEN", "secret")
    for user_value, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        if user_value is None:
            monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
        else:
            monkeypatch.setenv("OMP_WAIT_POLICY", user_value)
        s = engine_manager.EngineSettings(python=sys.executable, root=str(root), model=str(tiny_bundle),
                                          device="cpu", log_dir=str(tmp_path / "logs"))
        with pytest.raises(EngineError):
            engine_manager.EngineManager().connect(s)
        env = json.loads((root / "env.json").read_text())
        assert env == {"OMP_WAIT_POLICY": expected, "PYTORCH_ENABLE_MPS_FALLBACK": "1", "MOTIONGPT_TOKEN": None}


@pytest.mark.parametrize("url, warns", [
    ("http://127.0.0.1:8765", False), ("http://localhost:8765", False), ("http://[::1]:8765", False),
    ("https://render-box.example:8765", False), ("http://render-box.example:8765", True),
    ("http://192.168.1.20:8765", True), ("HTTP://10.0.0.5", True), ("", False), ("not a url", False),
])
def test_remote_url_warning(url, warns):
    warning = engine_manager.remote_url_warning(url)
    assert bool(warning) == warns
    if warns:
        assert "plain http" in warning and "https" in warning


def test_log_folder_fallback_is_private_and_never_a_symlink(tmp_path, monkeypatch):
    import os
    import stat
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    logs = engine_manager._log_dir(engine_manager.EngineSettings())
    base = tmp_path / f"motiongpt-{os.getuid()}"
    assert logs == base / "logs"
    for folder in (base, logs):
        assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o700
    os.chmod(base, 0o755)                        # ours but loose: tightened
    paths.private_temp_dir("logs")
    assert stat.S_IMODE(os.lstat(base).st_mode) == 0o700
    # a log file planted as a symlink is not followed
    target = tmp_path / "victim.txt"
    target.write_text("keep")
    (logs / "engine.log").symlink_to(target)
    with pytest.raises(OSError):
        paths.open_private_log(logs / "engine.log")
    assert target.read_text() == "keep"
    # a symlink (or a file) where the folder should be is refused, not followed
    (logs / "engine.log").unlink()
    logs.rmdir()
    (base / "logs").symlink_to(tmp_path)
    with pytest.raises(OSError, match="not a folder of its own"):
        paths.private_temp_dir("logs")
    (base / "logs").unlink()
    (base / "logs").write_text("")
    with pytest.raises(OSError, match="not a folder of its own"):
        paths.private_temp_dir("logs")


def test_the_addons_engine_runs_with_the_engines_inference_threads(token_engine):
    """The add-on starts `serve` without --threads, so its engine gets the
    engine's inference default (one torch thread: issue 21), the same as
    the CLI's tasks."""
    from engine.runtime import DEFAULT_INFERENCE_THREADS, inference_threads
    command = engine_manager.EngineSettings(python=sys.executable, root="/r", model="/m").command(parent_pid=1)
    assert "--threads" not in command and command[2:4] == ["engine", "serve"]
    assert EngineClient(token_engine.url, ENGINE_TOKEN).health()["threads"] == DEFAULT_INFERENCE_THREADS
    assert inference_threads(None) == DEFAULT_INFERENCE_THREADS == 1 and inference_threads(3) == 3

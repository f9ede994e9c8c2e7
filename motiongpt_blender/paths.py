"""Where the engine, its Python and the model are (no bpy, no engine imports).

The extension zip is thin: it holds only the add-on. The engine (the
``engine/`` package of the MotionGPT-for-Blender repository, which needs
torch) runs in its own Python as a child process. These functions turn the
Preferences' fields (empty = automatic) into paths, in this order:

Engine folder (the repository checkout that holds ``engine/`` and ``models/``):
  1. Preferences > Engine Folder;
  2. ``$MOTIONGPT_ENGINE_ROOT``;
  3. the folder above the add-on when it runs straight from a checkout
     (``<repo>/motiongpt_blender``, e.g. symlinked into Blender's add-ons);
  4. the checkout the zip was built from (``_build_info.json``, written by
     ``build.py``), when that folder exists on this machine.

Engine Python (an interpreter that can ``import engine``: torch and friends):
  1. Preferences > Engine Python;
  2. ``$MOTIONGPT_ENGINE_PYTHON``;
  3. the virtual environment made by Preferences > Install Engine;
  4. ``<engine folder>/.venv`` (what ``./setup.sh`` creates);
  5. the Python recorded in ``_build_info.json`` when it exists.

Model folder: ``<engine folder>/models/default`` (the shipped model),
``<engine folder>/models/official`` (a converted official checkpoint) or a
custom folder.

Files of our own outside Blender's user folders (logs, when Blender gives no
config folder) go to :func:`private_temp_dir`: a folder of this user's only.
"""
from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ENV_ROOT = "MOTIONGPT_ENGINE_ROOT"
ENV_PYTHON = "MOTIONGPT_ENGINE_PYTHON"
BUILD_INFO = "_build_info.json"
PACKAGE_DIR = Path(__file__).resolve().parent
MODEL_CHOICES = {"DEFAULT": "models/default", "OFFICIAL": "models/official"}


def venv_python(venv: str | Path) -> Path:
    venv = Path(venv)
    return venv / "Scripts" / "python.exe" if sys.platform == "win32" else venv / "bin" / "python"


def is_engine_root(path: str | Path | None) -> bool:
    return bool(path) and (Path(path) / "engine" / "__init__.py").is_file()


def build_info() -> dict:
    try:
        return json.loads((PACKAGE_DIR / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _expand(p: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(p.strip())))


def find_engine_root(pref: str = "", environ=None) -> tuple[Path | None, str]:
    """(folder, where it came from) or (None, why not)."""
    env = os.environ if environ is None else environ
    if pref and pref.strip():
        p = _expand(pref)
        return p, "Preferences"
    if env.get(ENV_ROOT):
        return _expand(env[ENV_ROOT]), f"${ENV_ROOT}"
    if is_engine_root(PACKAGE_DIR.parent):
        return PACKAGE_DIR.parent, "the checkout the add-on runs from"
    hint = build_info().get("engine_root")
    if hint and is_engine_root(hint):
        return Path(hint), "the checkout the extension was built from"
    return None, "not found"


def find_engine_python(pref: str = "", root: Path | None = None, install_venv: str | Path | None = None,
                       environ=None) -> tuple[Path | None, str]:
    env = os.environ if environ is None else environ
    if pref and pref.strip():
        return _expand(pref), "Preferences"
    if env.get(ENV_PYTHON):
        return _expand(env[ENV_PYTHON]), f"${ENV_PYTHON}"
    if install_venv and venv_python(install_venv).is_file():
        return venv_python(install_venv), "Install Engine"
    if root is not None and venv_python(Path(root) / ".venv").is_file():
        return venv_python(Path(root) / ".venv"), "the engine folder's .venv"
    hint = build_info().get("engine_python")
    if hint and Path(hint).is_file():
        return Path(hint), "the environment the extension was built with"
    return None, "not found"


def model_folder(choice: str, custom: str = "", root: Path | None = None) -> Path | None:
    if choice == "CUSTOM":
        return _expand(custom) if custom and custom.strip() else None
    if root is None:
        return None
    return Path(root) / MODEL_CHOICES.get(choice, MODEL_CHOICES["DEFAULT"])


@dataclass
class Resolved:
    root: Path | None
    root_source: str
    python: Path | None
    python_source: str
    model: Path | None
    problems: list[str] = field(default_factory=list)


def resolve(root_pref: str = "", python_pref: str = "", model_choice: str = "DEFAULT", model_custom: str = "",
            install_venv: str | Path | None = None, environ=None) -> Resolved:
    """All three paths and, in ``problems``, what is wrong in an animator's
    words (empty: the engine can be started)."""
    root, root_src = find_engine_root(root_pref, environ)
    python, py_src = find_engine_python(python_pref, root, install_venv, environ)
    model = model_folder(model_choice, model_custom, root)
    problems = []
    if root is not None and not is_engine_root(root):
        problems.append(f"The engine folder {root} (from {root_src}) has no engine/ package. Set Preferences > "
                        "MotionGPT > Engine Folder to your MotionGPT-for-Blender checkout.")
    if python is None:
        problems.append("No Python for the engine was found. Click Preferences > MotionGPT > Install Engine, or set "
                        "Engine Python to a Python that has the engine installed (e.g. <checkout>/.venv/bin/python "
                        "after ./setup.sh test).")
    elif python.is_dir():
        problems.append(f"The engine Python {python} (from {py_src}) is a folder, not a Python executable. Point "
                        "Preferences > MotionGPT > Engine Python at the python file itself (e.g. "
                        f"{python / 'bin' / 'python'}) or click Install Engine.")
    elif not python.is_file():
        problems.append(f"The engine Python {python} (from {py_src}) does not exist. Fix Preferences "
                        "> MotionGPT > Engine Python or click Install Engine.")
    if model is None:
        if model_choice == "CUSTOM":
            problems.append("Choose a model folder in Preferences > MotionGPT > Model.")
        else:
            problems.append("The engine folder was not found, so neither is its model. Set Preferences > MotionGPT "
                            "> Engine Folder to your MotionGPT-for-Blender checkout (or set $MOTIONGPT_ENGINE_ROOT).")
    else:
        problem = check_model(model)
        if problem:
            problems.append(problem)
    return Resolved(root, root_src, python, py_src, model, problems)


def check_model(folder: Path) -> str | None:
    if not (Path(folder) / "model.json").is_file():
        return (f"No model at {folder} (model.json is missing). Train one (motiongpt train-vq, then "
                "motiongpt train-lm), convert the official checkpoint (motiongpt convert-official), or choose "
                "another model folder in Preferences > MotionGPT > Model.")
    return None


def private_temp_dir(*parts: str) -> Path:
    """``<system temp>/motiongpt-<user>/<parts...>``, each level created
    with mode 0700. Why not a fixed ``/tmp/motiongpt-logs``: on a shared
    machine anyone can create that name first -- as a folder they can read,
    or as a symlink to a file of yours -- and the engine's log would go
    there. Raises OSError when a level is a symlink, not a folder, or (POSIX)
    belongs to another user; a folder of ours that others can read is
    tightened to 0700."""
    path = Path(tempfile.gettempdir()) / f"motiongpt-{_user_tag()}"
    _make_private(path)
    for part in parts:
        path = path / part
        _make_private(path)
    return path


def _user_tag() -> str:
    if hasattr(os, "getuid"):
        return str(os.getuid())
    name = os.environ.get("USERNAME") or os.environ.get("USER") or "user"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _make_private(path: Path) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{path} is not a folder of its own (a symlink or a file); remove it and try again")
    if hasattr(os, "getuid"):
        if info.st_uid != os.getuid():
            raise OSError(f"{path} belongs to another user; remove it or set a log folder")
        if info.st_mode & 0o077:
            os.chmod(path, 0o700)


def open_private_log(path: str | Path):
    """Append to a log file we own, never through a symlink (O_NOFOLLOW
    where the system has it), created 0600."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(path, flags, 0o600), "a", encoding="utf-8")

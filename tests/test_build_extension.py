"""build.py: the extension zip from Blender's own builder (``blender_ext.py``
in the bpy wheel), the project's import check, and the plain-zip fallback."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("mgpt_build", REPO / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build = _load()
needs_blender = pytest.mark.skipif(build.blender_tool() is None,
                                   reason="Blender's extension builder (the bpy module) is not installed")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build.build(out_dir=tmp_path_factory.mktemp("dist"), quiet=True)


def _entries(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_the_zip_has_the_addon_at_its_root(built):
    assert built.name == "motiongpt-0.1.0.zip"
    entries = _entries(built)
    info = json.loads(entries["_build_info.json"])
    assert "__init__.py" in entries and entries["blender_manifest.toml"] == (REPO / "blender_manifest.toml").read_bytes()
    expected = {p.name for p in (REPO / "motiongpt_blender").glob("*.py")}
    assert expected <= set(entries)
    assert not any("__pycache__" in n or n.endswith(".pyc") or "/" in n for n in entries)
    assert info["version"] == "0.1.0" and info["engine_root"] == str(REPO)


def test_builds_are_reproducible(built, tmp_path):
    again = build.build(out_dir=tmp_path, quiet=True)
    assert again.read_bytes() == built.read_bytes()


@needs_blender
def test_blender_builds_it_and_its_validator_accepts_it(built, capsys):
    ok, text = build.run_blender_validator(built)
    assert ok, text
    build.build(out_dir=built.parent / "again", quiet=False)
    assert "with Blender's extension builder (" in capsys.readouterr().out


def test_the_network_permission_says_where_it_connects():
    data = build.load_manifest(REPO / "blender_manifest.toml")
    assert data["permissions"] == {"files": "Read and write motion files and the engine's model folder",
                                   "network": "Talk to a local or remote engine; Install Engine gets packages"}


BROKEN = [   # (replace, with, a piece of Blender's own message)
    ('tagline = "Type a prompt and get an animation on your own rig"',
     'tagline = "Type a prompt and get an animation on your own rig."', 'key "tagline" invalid'),
    ('version = "0.1.0"', 'version = "0.1"', "to be a semantic-version, found '0.1'"),
    ('id = "motiongpt"', 'id = "motion-gpt"', 'key "id" invalid: Not a valid identifier'),
    ('id = "motiongpt"\n', '', 'missing "id"'),
    ('network = "Talk to a local or remote engine; Install Engine gets packages"', 'network = ""',
     'value of "network": a non-empty string expected'),
    ('license = ["SPDX:GPL-3.0-or-later"]', 'license = "GPL"', '"license" must be a list'),
    ('tags = ["Animation", "Rigging"]', 'tags = ["Animation", "Robots"]', 'found invalid tag "Robots"'),
    ('type = "add-on"', 'type = "addon"', 'key "type" invalid'),
]


@needs_blender
@pytest.mark.parametrize("old,new,expected", BROKEN, ids=[b[2][:30] for b in BROKEN])
def test_blender_catches_a_broken_manifest(tmp_path, old, new, expected):
    text = (REPO / "blender_manifest.toml").read_text()
    assert old in text
    path = tmp_path / "blender_manifest.toml"
    path.write_text(text.replace(old, new, 1))
    for check_only in (True, False):
        with pytest.raises(build.BuildError) as err:
            build.build(manifest_path=path, out_dir=tmp_path / "dist", check_only=check_only, quiet=True)
        problems = "\n".join(err.value.problems)
        assert expected in problems and str(path) in problems, problems   # names the real manifest
        assert "motiongpt_ext_" not in problems                            # not the staged copy
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


def test_a_manifest_that_is_not_toml_is_caught(tmp_path):
    path = tmp_path / "blender_manifest.toml"
    path.write_text((REPO / "blender_manifest.toml").read_text().replace('name = "MotionGPT"', 'name = ['))
    with pytest.raises(build.BuildError, match="is not valid TOML"):
        build.build(manifest_path=path, out_dir=tmp_path / "dist", quiet=True)


def test_the_addon_must_not_import_torch_or_the_engine(tmp_path):
    addon = tmp_path / "motiongpt_blender"
    shutil.copytree(REPO / "motiongpt_blender", addon, ignore=shutil.ignore_patterns("__pycache__"))
    (addon / "sneaky.py").write_text("import numpy\nimport torch.nn as nn\nfrom engine.pipeline import jobs\n"
                                     "import importlib\nimportlib.import_module('engine.server')\n")
    (addon / "broken.py").write_text("def f(:\n")
    with pytest.raises(build.BuildError) as err:
        build.build(addon=addon, out_dir=tmp_path / "dist", quiet=True)
    problems = "\n".join(err.value.problems)
    assert "sneaky.py:2: imports 'torch.nn'" in problems and "sneaky.py:3: imports 'engine.pipeline'" in problems
    assert "sneaky.py:5: imports 'engine.server' dynamically" in problems
    assert "broken.py: does not parse" in problems
    assert "numpy" not in problems
    assert not (tmp_path / "dist").exists()


def test_without_blender_the_plain_zip_has_the_same_files_and_says_so(built, tmp_path, capsys):
    plain = build.build(out_dir=tmp_path, use_blender=False)
    out = capsys.readouterr().out
    assert "--no-blender: wrote the zip without Blender's manifest validation" in out
    assert "with build.py's plain zip" in out
    assert _entries(plain) == _entries(built)              # same files, same bytes, as Blender packs them
    if build.blender_tool() is not None:
        ok, text = build.run_blender_validator(plain)
        assert ok, text


def test_no_bpy_falls_back_and_says_why(tmp_path):
    """A Python without bpy (and no $BLENDER_EXT_TOOL): the plain zip, with a note."""
    env_python = [sys.executable, "-I", "-c",
                  "import importlib.util, runpy, sys; importlib.util.find_spec = lambda name, *a: None; "
                  f"sys.argv = ['build.py', '--out', {str(tmp_path)!r}]; runpy.run_path({str(REPO / 'build.py')!r}, "
                  "run_name='__main__')"]
    proc = subprocess.run(env_python, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "Blender's extension builder was not found (no bpy module in this Python, no $BLENDER_EXT_TOOL)" \
        in proc.stdout
    assert (tmp_path / "motiongpt-0.1.0.zip").is_file()


def test_a_wrong_tool_path_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("BLENDER_EXT_TOOL", str(tmp_path / "nowhere.py"))
    with pytest.raises(build.BuildError, match="BLENDER_EXT_TOOL is .*nowhere.py, which is not a file"):
        build.build(out_dir=tmp_path / "dist", quiet=True)


def test_the_cli_lists_problems_and_exits_2(tmp_path):
    (tmp_path / "motiongpt_blender").mkdir()
    (tmp_path / "motiongpt_blender" / "__init__.py").write_text("import torch\n")
    proc = subprocess.run([sys.executable, str(REPO / "build.py"), "--addon", str(tmp_path / "motiongpt_blender"),
                           "--out", str(tmp_path / "dist")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "the extension is not valid" in proc.stderr and "__init__.py:1: imports 'torch'" in proc.stderr

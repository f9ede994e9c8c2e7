"""build.py: the extension zip and the manifest / source checks (no Blender needed,
except for the cross-check with Blender's own validator)."""
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


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build.build(out_dir=tmp_path_factory.mktemp("dist"), blender_check=False, quiet=True)


def test_the_zip_has_the_addon_at_its_root(built):
    assert built.name == "motiongpt-0.1.0.zip"
    with zipfile.ZipFile(built) as zf:
        names = zf.namelist()
        info = json.loads(zf.read("_build_info.json"))
        manifest = zf.read("blender_manifest.toml")
    assert "__init__.py" in names and "blender_manifest.toml" in names
    assert manifest == (REPO / "blender_manifest.toml").read_bytes()
    expected = {p.name for p in (REPO / "motiongpt_blender").glob("*.py")}
    assert expected <= set(names)
    assert not any("__pycache__" in n or n.endswith(".pyc") or "/" in n for n in names)
    assert info["version"] == "0.1.0" and info["engine_root"] == str(REPO)


def test_builds_are_reproducible(built, tmp_path):
    again = build.build(out_dir=tmp_path, blender_check=False, quiet=True)
    assert again.read_bytes() == built.read_bytes()


def test_the_real_manifest_is_valid():
    data = build.load_manifest(REPO / "blender_manifest.toml")
    assert build.validate_manifest(data) == []
    assert data["permissions"] == {"files": "Read and write motion files and the engine's model folder",
                                   "network": "Talk to the local MotionGPT engine on 127.0.0.1"}


BROKEN = [
    ('tagline = "Type a prompt and get an animation on your own rig"',
     'tagline = "Type a prompt and get an animation on your own rig."', "'tagline' must end with a letter or digit"),
    ('tagline = "Type a prompt and get an animation on your own rig"', 'tagline = "' + "x" * 70 + '"',
     "'tagline' must be at most 64 characters (it has 70)"),
    ('version = "0.1.0"', 'version = "0.1"', "'version' '0.1' is not a semantic version"),
    ('id = "motiongpt"', 'id = "motion-gpt"', "'id' 'motion-gpt' must be a Python identifier"),
    ('id = "motiongpt"', 'id = "_motiongpt"', "must not start or end with '_'"),
    ('id = "motiongpt"\n', '', "missing required key 'id'"),
    ('network = "Talk to the local MotionGPT engine on 127.0.0.1"', 'network = ""',
     "the reason for permission 'network' must not be empty"),
    ('network = "Talk to the local MotionGPT engine on 127.0.0.1"', 'network = true',
     "permission 'network' needs a reason (a string)"),
    ('files = "Read and write motion files and the engine\'s model folder"\n', '',
     "permission 'files' is missing"),
    ('blender_version_min = "4.2.0"', 'blender_version_min = "4.1.0"', "must be at least 4.2.0"),
    ('license = ["SPDX:GPL-3.0-or-later"]', 'license = "GPL"', "'license' must be a list"),
    ('tags = ["Animation", "Rigging"]', 'tags = ["Animation", "Robots"]', "unknown tag 'Robots'"),
    ('type = "add-on"', 'type = "addon"', "'type' must be \"add-on\" or \"theme\""),
    ('schema_version = "1.0.0"', 'schema_version = "1.0.0"\nauthor = "me"', "unknown key 'author'"),
    ('name = "MotionGPT"', 'name = [', "is not valid TOML"),
]


@pytest.mark.parametrize("old,new,expected", BROKEN, ids=[b[2][:40] for b in BROKEN])
def test_a_broken_manifest_is_caught(tmp_path, old, new, expected):
    text = (REPO / "blender_manifest.toml").read_text()
    assert old in text
    path = tmp_path / "blender_manifest.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(build.BuildError) as err:
        build.build(manifest_path=path, out_dir=tmp_path / "dist", blender_check=False, quiet=True)
    assert any(expected in p for p in err.value.problems), err.value.problems
    assert not (tmp_path / "dist").exists()                    # nothing written


def test_the_addon_must_not_import_torch_or_the_engine(tmp_path):
    addon = tmp_path / "motiongpt_blender"
    shutil.copytree(REPO / "motiongpt_blender", addon, ignore=shutil.ignore_patterns("__pycache__"))
    (addon / "sneaky.py").write_text("import numpy\nimport torch.nn as nn\nfrom engine.pipeline import jobs\n"
                                     "import importlib\nimportlib.import_module('engine.server')\n")
    (addon / "broken.py").write_text("def f(:\n")
    with pytest.raises(build.BuildError) as err:
        build.build(addon=addon, out_dir=tmp_path / "dist", blender_check=False, quiet=True)
    problems = "\n".join(err.value.problems)
    assert "sneaky.py:2: imports 'torch.nn'" in problems and "sneaky.py:3: imports 'engine.pipeline'" in problems
    assert "sneaky.py:5: imports 'engine.server' dynamically" in problems
    assert "broken.py: does not parse" in problems
    assert "numpy" not in problems


def test_the_cli_lists_problems_and_exits_2(tmp_path):
    text = (REPO / "blender_manifest.toml").read_text().replace('version = "0.1.0"', 'version = "one"')
    (tmp_path / "blender_manifest.toml").write_text(text)
    proc = subprocess.run([sys.executable, str(REPO / "build.py"), "--manifest", str(tmp_path / "blender_manifest.toml"),
                           "--out", str(tmp_path / "dist"), "--no-blender-check"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "the extension is not valid" in proc.stderr and "'version' 'one' is not a semantic version" in proc.stderr


@pytest.mark.skipif(_load().blender_validator() is None, reason="Blender's extension validator (bpy) not installed")
def test_blenders_own_validator_accepts_the_zip(built):
    ok, text = build.run_blender_validator(built)
    assert ok, text

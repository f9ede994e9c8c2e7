#!/usr/bin/env python3
"""Build the MotionGPT Blender extension: ``python build.py``.

1. Validates ``blender_manifest.toml`` (required keys and their types, id,
   semantic version, tagline and permission-reason rules as Blender's
   extension validator applies them, known tags and permissions, licence,
   build excludes).
2. Scans the add-on's source (``motiongpt_blender/``): every file must parse,
   ``__init__.py`` must define ``register`` and ``unregister``, and nothing
   may import torch, the engine or other heavy engine dependencies -- the
   add-on runs inside Blender's Python.
3. Writes ``dist/motiongpt-<version>.zip``: the manifest and the add-on's
   modules at the zip root (``__init__.py`` at the root), plus
   ``_build_info.json`` (version; the checkout and venv Python it was built
   from, used as a fallback default for Preferences > Engine Folder / Engine
   Python when they exist on the machine). Entries are sorted with fixed
   timestamps, so the same sources give the same zip.
4. When Blender's own validator is at hand (the ``bpy`` module in this
   Python, or ``$BLENDER_EXT_VALIDATOR`` pointing at ``blender_ext.py``), runs
   it on the zip too.

Install: Blender > Preferences > Get Extensions > (menu) Install from Disk.
Exit status 0 on success, 2 with every problem listed otherwise. Standard
library only (Python 3.11+).
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "blender_manifest.toml"
ADDON = ROOT / "motiongpt_blender"
DIST = ROOT / "dist"

REQUIRED: dict[str, type] = {
    "schema_version": str, "id": str, "version": str, "name": str, "tagline": str, "maintainer": str,
    "type": str, "blender_version_min": str, "license": list,
}
OPTIONAL: dict[str, type] = {
    "website": str, "tags": list, "blender_version_max": str, "copyright": list, "permissions": dict,
    "platforms": list, "wheels": list, "build": dict,
}
PERMISSIONS = ("files", "network", "clipboard", "camera", "microphone")
NEEDED_PERMISSIONS = ("files", "network")          # what this add-on does: read model folders, talk HTTP
TAGS = {
    "3D View", "Add Curve", "Add Mesh", "Animation", "Bake", "Camera", "Compositing", "Development", "Game Engine",
    "Geometry Nodes", "Grease Pencil", "Import-Export", "Lighting", "Material", "Mesh", "Modeling", "Node", "Object",
    "Paint", "Physics", "Pipeline", "Render", "Rigging", "Scene", "Sculpt", "Sequencer", "System", "Text Editor",
    "Tracking", "User Interface", "UV",
}
TERSE_MAX = 64
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
BLENDER_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
FORBIDDEN_IMPORTS = ("torch", "engine", "transformers", "tokenizers", "safetensors", "torchvision")
BUILD_INFO = "_build_info.json"
ZIP_DATE = (2024, 1, 1, 0, 0, 0)


class BuildError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# ---------------------------------------------------------------------------
# manifest

def _terse(value: str) -> str | None:
    """Blender's rule for one-line texts (tagline, permission reasons)."""
    if not value.strip():
        return "must not be empty"
    if value != value.strip():
        return "must not start or end with spaces"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "must not contain control characters"
    if len(value) > TERSE_MAX:
        return f"must be at most {TERSE_MAX} characters (it has {len(value)})"
    if not (value[-1].isalnum() or value[-1] in ")]}"):
        return f"must end with a letter or digit, not {value[-1]!r} (no trailing period)"
    return None


def validate_manifest(data: dict) -> list[str]:
    """Every problem of a parsed manifest (empty list: valid)."""
    problems: list[str] = []
    for key, typ in REQUIRED.items():
        if key not in data:
            problems.append(f"missing required key {key!r}")
        elif not isinstance(data[key], typ):
            problems.append(f"{key!r} must be a {typ.__name__}, got {type(data[key]).__name__}")
    for key, typ in OPTIONAL.items():
        if key in data and not isinstance(data[key], typ):
            problems.append(f"{key!r} must be a {typ.__name__}, got {type(data[key]).__name__}")
    for key in data:
        if key not in REQUIRED and key not in OPTIONAL:
            problems.append(f"unknown key {key!r}")

    def ok(key: str, typ: type = str) -> bool:
        return isinstance(data.get(key), typ)

    if ok("schema_version") and data["schema_version"] != "1.0.0":
        problems.append(f"'schema_version' must be \"1.0.0\", got {data['schema_version']!r}")
    if ok("id"):
        ident = data["id"]
        if not ident.isidentifier() or not ident.isascii():
            problems.append(f"'id' {ident!r} must be a Python identifier (letters, digits, underscores)")
        elif "__" in ident or ident.startswith("_") or ident.endswith("_"):
            problems.append(f"'id' {ident!r} must not start or end with '_' or contain '__'")
    if ok("version") and not SEMVER.match(data["version"]):
        problems.append(f"'version' {data['version']!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    if ok("name") and not data["name"].strip():
        problems.append("'name' must not be empty")
    if ok("maintainer") and not data["maintainer"].strip():
        problems.append("'maintainer' must not be empty")
    if ok("tagline") and (err := _terse(data["tagline"])):
        problems.append(f"'tagline' {err}")
    if ok("type") and data["type"] not in ("add-on", "theme"):
        problems.append(f"'type' must be \"add-on\" or \"theme\", got {data['type']!r}")
    for key in ("blender_version_min", "blender_version_max"):
        if ok(key) and not BLENDER_VERSION.match(data[key]):
            problems.append(f"{key!r} must be three numbers like \"4.2.0\", got {data[key]!r}")
    if ok("blender_version_min") and BLENDER_VERSION.match(data["blender_version_min"]):
        if tuple(int(x) for x in data["blender_version_min"].split(".")) < (4, 2, 0):
            problems.append("'blender_version_min' must be at least 4.2.0 (extensions need Blender 4.2+)")
    if ok("license", list):
        if not data["license"]:
            problems.append("'license' must list at least one licence")
        for lic in data["license"]:
            if not isinstance(lic, str) or not lic.startswith("SPDX:") or len(lic) <= 5:
                problems.append(f"'license' entries must look like \"SPDX:GPL-3.0-or-later\", got {lic!r}")
    if ok("website") and not re.match(r"^https?://\S+$", data["website"]):
        problems.append(f"'website' must be an http(s) URL, got {data['website']!r}")
    if ok("tags", list):
        for tag in data["tags"]:
            if tag not in TAGS:
                problems.append(f"unknown tag {tag!r}; Blender's add-on tags are: {', '.join(sorted(TAGS))}")
    if ok("permissions", dict):
        perms = data["permissions"]
        for key, reason in perms.items():
            if key not in PERMISSIONS:
                problems.append(f"unknown permission {key!r}; known: {', '.join(PERMISSIONS)}")
            if not isinstance(reason, str):
                problems.append(f"permission {key!r} needs a reason (a string), got {type(reason).__name__}")
            elif err := _terse(reason):
                problems.append(f"the reason for permission {key!r} {err}")
        for key in NEEDED_PERMISSIONS:
            if key not in perms:
                problems.append(f"permission {key!r} is missing; the add-on needs it (with a reason)")
    elif "permissions" not in data:
        problems.append("'permissions' is missing; the add-on needs files and network (each with a reason)")
    if ok("build", dict):
        for key, value in data["build"].items():
            if key not in ("paths", "paths_exclude_pattern"):
                problems.append(f"unknown [build] key {key!r}")
            elif not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                problems.append(f"[build] {key!r} must be a list of non-empty strings")
    return problems


def load_manifest(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise BuildError([f"cannot read {path}: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise BuildError([f"{path} is not valid TOML: {exc}"]) from None


# ---------------------------------------------------------------------------
# source scan

def _excluded(rel: str, patterns: list[str]) -> bool:
    """gitignore-style subset: 'name/' matches a directory anywhere, other
    patterns match the file name or the relative path."""
    parts = rel.split("/")
    for pat in patterns:
        if pat.endswith("/"):
            if any(fnmatch.fnmatch(p, pat[:-1]) for p in parts[:-1]):
                return True
        elif pat.startswith("/"):
            if fnmatch.fnmatch(rel, pat[1:]):
                return True
        elif any(fnmatch.fnmatch(p, pat) for p in parts) or fnmatch.fnmatch(rel, pat):
            return True
    return False


def addon_files(addon: Path, patterns: list[str]) -> list[Path]:
    files = []
    for path in sorted(addon.rglob("*")):
        if path.is_file() and not _excluded(path.relative_to(addon).as_posix(), patterns):
            files.append(path)
    return files


def scan_sources(addon: Path, files: list[Path]) -> list[str]:
    problems = []
    if not (addon / "__init__.py").is_file():
        return [f"{addon} has no __init__.py"]
    for path in files:
        if path.suffix != ".py":
            continue
        rel = path.relative_to(addon).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError) as exc:
            problems.append(f"{rel}: does not parse: {exc}")
            continue
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in FORBIDDEN_IMPORTS:
                    problems.append(f"{rel}:{node.lineno}: imports {name!r}; the add-on must not import torch or "
                                    "the engine (it runs in Blender's Python and talks to the engine over HTTP)")
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                    "__import__", "import_module") and node.args and isinstance(node.args[0], ast.Constant) \
                    and str(node.args[0].value).split(".")[0] in FORBIDDEN_IMPORTS:
                problems.append(f"{rel}:{node.lineno}: imports {node.args[0].value!r} dynamically; not allowed")
        if rel == "__init__.py":
            defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            for fn in ("register", "unregister"):
                if fn not in defined:
                    problems.append(f"__init__.py must define {fn}()")
    return problems


# ---------------------------------------------------------------------------
# zip

def _build_info(version: str) -> dict:
    from_venv = ROOT / ".venv" / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    return {"version": version, "engine_root": str(ROOT),
            "engine_python": str(from_venv) if from_venv.is_file() else None}


def write_zip(out: Path, manifest_path: Path, addon: Path, files: list[Path], version: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.part")
    entries = [("blender_manifest.toml", manifest_path.read_bytes())]
    entries += [(p.relative_to(addon).as_posix(), p.read_bytes()) for p in files
                if p.relative_to(addon).as_posix() not in ("blender_manifest.toml", BUILD_INFO)]
    entries.append((BUILD_INFO, (json.dumps(_build_info(version), indent=2) + "\n").encode()))
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    os.replace(tmp, out)
    return out


def blender_validator() -> Path | None:
    env = os.environ.get("BLENDER_EXT_VALIDATOR")
    if env:
        return Path(env) if Path(env).is_file() else None
    spec = importlib.util.find_spec("bpy")              # located, never imported
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        for cand in sorted(Path(base).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py")):
            return cand
    return None


def run_blender_validator(zip_path: Path) -> tuple[bool, str] | None:
    tool = blender_validator()
    if tool is None:
        return None
    proc = subprocess.run([sys.executable, str(tool), "validate", str(zip_path)], capture_output=True, text=True,
                          timeout=120)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def build(manifest_path: Path = MANIFEST, addon: Path = ADDON, out_dir: Path = DIST, check_only: bool = False,
          blender_check: bool = True, quiet: bool = False) -> Path | None:
    """Validate and write the zip; its path (None with check_only).
    Raises BuildError listing every problem."""
    data = load_manifest(manifest_path)
    problems = [f"{manifest_path.name}: {p}" for p in validate_manifest(data)]
    patterns = list((data.get("build") or {}).get("paths_exclude_pattern") or [])
    if not addon.is_dir():
        problems.append(f"the add-on folder {addon} does not exist")
        raise BuildError(problems)
    files = addon_files(addon, patterns)
    problems += [f"{addon.name}/{p}" for p in scan_sources(addon, files)]
    if problems:
        raise BuildError(problems)
    if check_only:
        return None
    out = write_zip(out_dir / f"{data['id']}-{data['version']}.zip", manifest_path, addon, files, data["version"])
    if blender_check:
        checked = run_blender_validator(out)
        if checked is not None and not checked[0]:
            raise BuildError([f"Blender's extension validator rejected {out.name}: {checked[1]}"])
        if not quiet:
            print("Blender's extension validator: " + ("passed" if checked else "not available (no bpy module); "
                                                                                  "skipped"))
    if not quiet:
        with zipfile.ZipFile(out) as zf:
            n = len(zf.namelist())
        print(f"wrote {out} ({n} files, {out.stat().st_size / 1024:.0f} KB); install it with Blender > Preferences "
              "> Get Extensions > Install from Disk")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, default=MANIFEST)
    p.add_argument("--addon", type=Path, default=ADDON, help="the add-on package folder (default motiongpt_blender)")
    p.add_argument("--out", type=Path, default=DIST, help="output folder (default dist/)")
    p.add_argument("--check", action="store_true", help="validate only, write nothing")
    p.add_argument("--no-blender-check", action="store_true", help="skip Blender's own validator")
    args = p.parse_args(argv)
    try:
        build(args.manifest, args.addon, args.out, check_only=args.check, blender_check=not args.no_blender_check)
    except BuildError as exc:
        print("build.py: the extension is not valid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.manifest.name} and {args.addon.name}/ are valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())

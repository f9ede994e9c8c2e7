#!/usr/bin/env python3
"""Build the MotionGPT Blender extension: ``python build.py``.

Blender validates and packs extensions with its own builder, ``blender_ext.py
build`` (what ``blender --command extension build`` runs). It ships inside
every Blender and inside the ``bpy`` wheel (``bpy/<version>/scripts/
addons_core/bl_pkg/cli/blender_ext.py``) and runs with a plain Python 3.11,
so this script uses it rather than re-implementing Blender's manifest rules:

1. The one project-specific check: nothing in ``motiongpt_blender/`` may
   import torch, the engine or other heavy engine dependencies -- the add-on
   runs inside Blender's Python and talks to the engine over HTTP.
2. Stages the extension in a temporary folder: ``blender_manifest.toml`` (it
   sits at the repository root), the add-on's files at the root, and
   ``_build_info.json`` (version; the checkout and venv Python it was built
   from, used as a fallback default for Preferences > Engine Folder / Engine
   Python when they exist on the machine). Files get a fixed timestamp, so
   the same sources give the same zip.
3. Runs Blender's builder on it: ``dist/motiongpt-<version>.zip``. Its
   manifest validation is Blender's own; its messages are passed on.

Blender's builder is found in the ``bpy`` module of this Python (the dev
venv has it), else at ``$BLENDER_EXT_TOOL`` (the ``blender_ext.py`` of any
Blender install). With neither, the zip is written by this script with the
same layout and excludes and WITHOUT Blender's manifest validation, and the
script says so.

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
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "blender_manifest.toml"
ADDON = ROOT / "motiongpt_blender"
DIST = ROOT / "dist"

FORBIDDEN_IMPORTS = ("torch", "engine", "transformers", "tokenizers", "safetensors", "torchvision")
BUILD_INFO = "_build_info.json"
TOOL_ENV = "BLENDER_EXT_TOOL"
FIXED_MTIME = 1704067200        # 2024-01-01: staged files' timestamps, so builds are reproducible
DEFAULT_EXCLUDES = ["__pycache__/", ".*", "/*.zip"]     # Blender's own when a manifest has no [build]
NO_BLENDER_NOTE = ("Blender's extension builder was not found (no bpy module in this Python, no "
                   f"${TOOL_ENV}): {{what}} without Blender's manifest validation")
FORCED_NOTE = "--no-blender: {what} without Blender's manifest validation"


class BuildError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def load_manifest(path: Path) -> dict:
    """The manifest as TOML (Blender checks its content; this reads the id,
    version and build excludes)."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise BuildError([f"cannot read {path}: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise BuildError([f"{path} is not valid TOML: {exc}"]) from None


# ---------------------------------------------------------------------------
# the project's own check

def scan_sources(addon: Path) -> list[str]:
    """Every import of torch / the engine in the add-on (and every file that
    does not parse, since it cannot be checked)."""
    if not (addon / "__init__.py").is_file():
        return [f"{addon} has no __init__.py"]
    problems = []
    for path in sorted(addon.rglob("*.py")):
        rel = path.relative_to(addon).as_posix()
        if "__pycache__" in path.parts:
            continue
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
                if name.split(".")[0] in FORBIDDEN_IMPORTS:
                    problems.append(f"{rel}:{node.lineno}: imports {name!r}; the add-on must not import torch or "
                                    "the engine (it runs in Blender's Python and talks to the engine over HTTP)")
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                    "__import__", "import_module") and node.args and isinstance(node.args[0], ast.Constant) \
                    and str(node.args[0].value).split(".")[0] in FORBIDDEN_IMPORTS:
                problems.append(f"{rel}:{node.lineno}: imports {node.args[0].value!r} dynamically; not allowed")
    return problems


# ---------------------------------------------------------------------------
# staging and Blender's builder

def _build_info(version: str) -> dict:
    from_venv = ROOT / ".venv" / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    return {"version": version, "engine_root": str(ROOT),
            "engine_python": str(from_venv) if from_venv.is_file() else None}


def stage(stage_dir: Path, manifest_path: Path, addon: Path, version: str) -> None:
    """The extension's source folder as Blender's builder expects it."""
    shutil.copytree(addon, stage_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(manifest_path, stage_dir / "blender_manifest.toml")
    (stage_dir / BUILD_INFO).write_text(json.dumps(_build_info(version), indent=2) + "\n", encoding="utf-8")
    for path in [stage_dir, *stage_dir.rglob("*")]:
        if path.is_file():
            path.chmod(0o644)
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def blender_tool() -> Path | None:
    """Blender's ``blender_ext.py``: from $BLENDER_EXT_TOOL, else the bpy
    module of this Python (located, never imported)."""
    env = os.environ.get(TOOL_ENV)
    if env:
        if not Path(env).is_file():
            raise BuildError([f"${TOOL_ENV} is {env}, which is not a file; point it at blender_ext.py "
                              "(<blender>/<version>/scripts/addons_core/bl_pkg/cli/blender_ext.py) or unset it"])
        return Path(env)
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        for cand in sorted(Path(base).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py")):
            return cand
    return None


def valid_tags_file(tool: Path) -> Path | None:
    """The tag list Blender passes to its builder (``blender --command
    extension build`` does the same), so unknown tags are caught too."""
    tags = tool.parents[3] / "modules" / "_bpy_internal" / "extensions" / "tags.py"
    return tags if tags.is_file() else None


def _run_tool(tool: Path, *args: str) -> tuple[bool, str]:
    proc = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True, timeout=120)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def _tool_problems(text: str, staged: Path, manifest_path: Path) -> list[str]:
    """Blender's error lines, naming the real manifest instead of its staged copy."""
    text = text.replace(str(staged / "blender_manifest.toml"), str(manifest_path)).replace(str(staged), "the add-on")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("building:")]
    return lines or ["Blender's builder failed without a message"]


def _tags_args(tool: Path) -> list[str]:
    tags = valid_tags_file(tool)
    return [] if tags is None else ["--valid-tags", str(tags)]


def run_blender_validator(zip_path: Path) -> tuple[bool, str] | None:
    """Blender's ``validate`` on a built zip; None when no Blender is at hand."""
    tool = blender_tool()
    return None if tool is None else _run_tool(tool, "validate", *_tags_args(tool), str(zip_path))


# ---------------------------------------------------------------------------
# the fallback zip (no Blender at hand)

def _excluded(rel: str, patterns: list[str]) -> bool:
    """gitignore-style subset of Blender's paths_exclude_pattern: 'name/'
    matches a directory anywhere, '/pattern' the path from the root, other
    patterns the file name or the relative path."""
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


def write_plain_zip(out: Path, source: Path, patterns: list[str]) -> Path:
    """The staged folder as a zip with Blender's layout (the manifest and the
    add-on at the root), sorted entries and fixed timestamps."""
    files = sorted(p for p in source.rglob("*")
                   if p.is_file() and not _excluded(p.relative_to(source).as_posix(), patterns))
    tmp = out.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    os.replace(tmp, out)
    return out


# ---------------------------------------------------------------------------

def build(manifest_path: Path = MANIFEST, addon: Path = ADDON, out_dir: Path = DIST, check_only: bool = False,
          use_blender: bool = True, quiet: bool = False) -> Path | None:
    """Check, stage and build; the zip's path (None with check_only: the
    checks and Blender's validation of the staged folder, no zip).
    ``use_blender=False`` forces the plain zip. Raises BuildError listing
    every problem."""
    data = load_manifest(manifest_path)
    if not addon.is_dir():
        raise BuildError([f"the add-on folder {addon} does not exist"])
    problems = [f"{addon.name}/{p}" for p in scan_sources(addon)]
    if problems:
        raise BuildError(problems)
    ident, version = str(data.get("id", "")), str(data.get("version", ""))
    tool = blender_tool() if use_blender else None
    note = NO_BLENDER_NOTE if use_blender else FORCED_NOTE
    if tool is None and not (ident and version):
        raise BuildError([f"{manifest_path.name}: needs 'id' and 'version' (Blender's builder, which checks the "
                          "rest, is not at hand)"])
    with tempfile.TemporaryDirectory(prefix="motiongpt_ext_") as tmp:
        source = Path(tmp) / "extension"
        stage(source, manifest_path, addon, version)
        if check_only:
            if tool is not None:
                ok, text = _run_tool(tool, "validate", *_tags_args(tool), str(source))
                if not ok:
                    raise BuildError(_tool_problems(text, source, manifest_path))
            elif not quiet:
                print(note.format(what="checked the add-on's imports only"))
            return None
        out_dir.mkdir(parents=True, exist_ok=True)
        if tool is not None:
            built = Path(tmp) / "built.zip"
            ok, text = _run_tool(tool, "build", "--source-dir", str(source), "--output-filepath", str(built),
                                 *_tags_args(tool))
            if not ok:
                raise BuildError(_tool_problems(text, source, manifest_path))
            out = out_dir / f"{ident}-{version}.zip"
            shutil.move(built, out)
        else:
            patterns = list((data.get("build") or {}).get("paths_exclude_pattern") or DEFAULT_EXCLUDES)
            out = write_plain_zip(out_dir / f"{ident}-{version}.zip", source, patterns)
            if not quiet:
                print(note.format(what="wrote the zip"))
    if not quiet:
        with zipfile.ZipFile(out) as zf:
            n = len(zf.namelist())
        how = f"Blender's extension builder ({tool})" if tool is not None else "build.py's plain zip"
        print(f"wrote {out} ({n} files, {out.stat().st_size / 1024:.0f} KB) with {how}; install it with Blender > "
              "Preferences > Get Extensions > Install from Disk")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, default=MANIFEST)
    p.add_argument("--addon", type=Path, default=ADDON, help="the add-on package folder (default motiongpt_blender)")
    p.add_argument("--out", type=Path, default=DIST, help="output folder (default dist/)")
    p.add_argument("--check", action="store_true", help="validate only, write nothing")
    p.add_argument("--no-blender", action="store_true",
                   help="write the plain zip even when Blender's builder is at hand (no manifest validation)")
    args = p.parse_args(argv)
    try:
        build(args.manifest, args.addon, args.out, check_only=args.check, use_blender=not args.no_blender)
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

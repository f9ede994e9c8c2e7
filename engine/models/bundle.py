"""A model folder: everything the engine needs to generate, in one place.

    model.json     manifest: name, codebook size, fps, sub-folders, licence
    vq/            motion tokenizer (MotionTokenizer.save layout)
    lm/            language model (model.safetensors + config.json) and
    lm/tokenizer/  its text tokenizer with the motion tokens added
    MODEL_CARD.md  provenance, licence, recipe and metrics (shipped models)

``models/default/`` (the shipped model) and a converted official checkpoint
use this same layout, so the engine loads either with ``--model DIR``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import MotionFileError
from ..motion import skeleton

MANIFEST = "model.json"
FORMAT = "motiongpt-bundle"
FORMAT_VERSION = 1
SUBFOLDERS = {"vq": "vq", "lm": "lm"}
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "default"


def write_bundle_manifest(folder: str | Path, name: str, codebook_size: int, **extra: Any) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name,
                "codebook_size": int(codebook_size), "fps": skeleton.FPS, "joints": skeleton.NUM_JOINTS,
                "engine_version": __version__, **SUBFOLDERS, **extra}
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def read_bundle_manifest(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise MotionFileError(folder, "model folder not found; pass --model with a folder holding model.json")
    if not path.is_file():
        raise MotionFileError(path, "not found; this folder is not a MotionGPT model (expected model.json, vq/ and lm/)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MotionFileError(path, f"is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if manifest.get("format") != FORMAT:
        raise MotionFileError(path, f"is not a {FORMAT} manifest")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise MotionFileError(path, f"was written by a newer engine (format {manifest['format_version']}); update the add-on")
    for key in SUBFOLDERS:
        if not (folder / manifest.get(key, key)).is_dir():
            raise MotionFileError(folder / manifest.get(key, key), "is missing from the model folder")
    return manifest

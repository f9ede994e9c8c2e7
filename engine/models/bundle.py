"""A model folder: everything the engine needs to generate, in one place.

    model.json     manifest: name, codebook size, fps, sub-folders, licence
    vq/            motion tokenizer (MotionTokenizer.save layout)
    lm/            language model (model.safetensors + config.json) and
    lm/tokenizer/  its text tokenizer with the motion tokens added
    prompts/       what the model knows, for reading prompts (engine.prompts.vocabulary;
                   motiongpt build-vocabulary)
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


INFERENCE_FILES = ("model.safetensors", "config.json", "mean.npy", "std.npy")


def export_bundle(source: str | Path, dest: str | Path, half: bool = True, **manifest_extra: Any) -> Path:
    """Copy what inference needs from a training output folder (no optimizer
    state, caches or logs), with weights in float16 when ``half`` — the form a
    model is shipped in. Loading casts back to the model's float32."""
    import shutil

    import torch

    from ..checkpoint import load_weights, save_weights
    source, dest = Path(source), Path(dest)
    manifest = read_bundle_manifest(source)
    dest.mkdir(parents=True, exist_ok=True)
    for sub in SUBFOLDERS:
        src_dir, dst_dir = source / manifest.get(sub, sub), dest / sub
        dst_dir.mkdir(parents=True, exist_ok=True)
        for name in INFERENCE_FILES:
            if not (src_dir / name).is_file():
                continue
            if name == "model.safetensors":
                save_weights(dst_dir / name, load_weights(src_dir / name), {"format": "pt"},
                             dtype=torch.float16 if half else None)
            else:
                shutil.copy2(src_dir / name, dst_dir / name)
        if (src_dir / "tokenizer").is_dir():
            shutil.rmtree(dst_dir / "tokenizer", ignore_errors=True)
            shutil.copytree(src_dir / "tokenizer", dst_dir / "tokenizer")
    if (source / "prompts").is_dir():              # the prompt vocabulary travels with the model
        shutil.rmtree(dest / "prompts", ignore_errors=True)
        shutil.copytree(source / "prompts", dest / "prompts")
    kept = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "codebook_size", "fps",
                                                            "joints", "engine_version", *SUBFOLDERS)}
    kept.update(manifest_extra, weights_dtype="float16" if half else "float32")
    write_bundle_manifest(dest, name=kept.pop("name", dest.name), codebook_size=manifest["codebook_size"], **kept)
    return dest

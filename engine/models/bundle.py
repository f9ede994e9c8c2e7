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

Integrity: model.json's ``"sha256"`` maps every file of the sub-folders
(path relative to the model folder, with ``/``) to its SHA-256, written when
the folder is exported (or converted) and checked by every load
(:func:`verify_files`), so damaged tensor bytes -- which safetensors reads
without complaint -- stop the load with a message instead of producing NaN
motion. A folder without the entry (a training run in progress) is loaded
unchecked. :func:`file_hashes` and :func:`verify_files` know nothing of this
layout: another layout only has to say which files to hash.
"""
from __future__ import annotations

import hashlib
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


HASHES_KEY = "sha256"
_HASH_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(folder: str | Path, relative_paths: list[str]) -> dict[str, str]:
    """{relative path: SHA-256 hex} of files inside ``folder``."""
    folder = Path(folder)
    return {rel: file_sha256(folder / rel) for rel in sorted(relative_paths)}


def verify_files(folder: str | Path, expected: dict[str, str], record: str = MANIFEST) -> None:
    """Raise MotionFileError naming the first file of ``expected`` that is
    missing or whose SHA-256 differs (``record`` names where the sums come from)."""
    folder = Path(folder)
    if not isinstance(expected, dict):
        raise MotionFileError(folder / record, f'has an unreadable "{HASHES_KEY}" entry; expected '
                                               '{"path": "hex digest", ...}')
    for rel, digest in expected.items():
        path = folder / rel
        if not path.is_file():
            raise MotionFileError(path, f"is missing; {record} lists it as part of the model. Reinstall the "
                                        "model folder")
        if file_sha256(path) != str(digest).lower():
            raise MotionFileError(path, f"is damaged or was changed: its SHA-256 differs from the one {record} "
                                        "recorded when the model was exported. Reinstall the model folder (or "
                                        "export it again with 'motiongpt export-model')")


def bundle_files(folder: str | Path, manifest: dict[str, Any] | None = None) -> list[str]:
    """Every file in the model's sub-folders (vq/, lm/ and lm/tokenizer/),
    relative to ``folder`` with '/'."""
    folder = Path(folder)
    manifest = manifest or {}
    out = []
    for key in SUBFOLDERS:
        sub = folder / manifest.get(key, key)
        out += [p.relative_to(folder).as_posix() for p in sub.rglob("*") if p.is_file()]
    return sorted(out)


def bundle_hashes(folder: str | Path, manifest: dict[str, Any] | None = None) -> dict[str, str]:
    """The ``"sha256"`` entry for a finished model folder."""
    return file_hashes(folder, bundle_files(folder, manifest))


def verify_bundle(folder: str | Path, manifest: dict[str, Any]) -> None:
    """Check the files model.json lists against their SHA-256 (nothing
    when it lists none)."""
    if HASHES_KEY in manifest:
        verify_files(folder, manifest[HASHES_KEY])


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
                                                            "joints", "engine_version", HASHES_KEY, *SUBFOLDERS)}
    kept.update(manifest_extra, weights_dtype="float16" if half else "float32")
    kept[HASHES_KEY] = bundle_hashes(dest)
    write_bundle_manifest(dest, name=kept.pop("name", dest.name), codebook_size=manifest["codebook_size"], **kept)
    return dest

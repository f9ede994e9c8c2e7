"""A model folder: everything the engine needs to generate, in one place.

    model.json     manifest: name, codebook size, fps, sub-folders, licence,
                   SHA-256 of every file of vq/ and lm/
    vq/            motion tokenizer: config.json + model.safetensors
                   (``MotionVQVAE.from_pretrained``) + mean.npy, std.npy
    lm/            language model: a Hugging Face T5 folder (config.json,
                   generation_config.json, model.safetensors, tokenizer.json,
                   tokenizer_config.json) + the engine's motiongpt.json and
                   motion_tokenizer.json (engine/lm/config.py)
    prompts/       what the model knows, for reading prompts (engine.prompts.vocabulary;
                   motiongpt build-vocabulary)
    MODEL_CARD.md  provenance, licence, recipe and metrics (shipped models)

``models/default/`` (the shipped model) and a converted official checkpoint
use this same layout, so the engine loads either with ``--model DIR``.
Format 1 folders (LMConfig fields in lm/config.json, the tokenizer in
lm/tokenizer/, sampling in model.json) still load; :func:`export_bundle`
(``motiongpt export-model``) rewrites one in this layout with the same
weights.

Integrity: model.json's ``"sha256"`` maps every file of the sub-folders
(path relative to the model folder, with ``/``) to its SHA-256, written when
the folder is exported (or converted) and checked by every load
(:func:`verify_files`), so damaged tensor bytes -- which safetensors reads
without complaint -- stop the load with a message instead of producing NaN
motion. A folder without the entry (a training run in progress) is loaded
unchecked. :func:`file_hashes` and :func:`verify_files` know nothing of this
layout: another layout only has to say which files to hash.

Which folder is "the default" (:func:`default_model_dir`): ``$MOTIONGPT_MODEL``
when set; else ``models/default`` of the checkout the engine runs from; else,
for an engine installed from a wheel (no checkout), a per-user folder
(:func:`user_model_dir`) -- and when nothing is there, :func:`no_model_message`
says where to put one.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import MotionFileError, MotionGPTError
from ..motion import skeleton

MANIFEST = "model.json"
FORMAT = "motiongpt-bundle"
FORMAT_VERSION = 2
"""2: lm/ is a Hugging Face T5 folder and vq/config.json is flat; 1 (still
read): the engine's own lm/ layout."""
SUBFOLDERS = {"vq": "vq", "lm": "lm"}
CHECKOUT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_DIR = CHECKOUT_ROOT / "models" / "default"
"""The shipped model of the checkout the engine runs from."""
ENV_MODEL = "MOTIONGPT_MODEL"


def runs_from_checkout() -> bool:
    """True when the engine runs from the repository (an editable install or
    ``python -m engine`` in a checkout), False when installed from a wheel."""
    return (CHECKOUT_ROOT / "pyproject.toml").is_file() and (CHECKOUT_ROOT / "engine" / "__init__.py").is_file()


def user_model_dir(environ: dict[str, str] | None = None) -> Path:
    """Where an engine installed without the repository looks for its
    default model: the platform's per-user data folder + motiongpt/models/default."""
    env = os.environ if environ is None else environ
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "motiongpt" / "models" / "default"


def default_model_dir(environ: dict[str, str] | None = None) -> tuple[Path, str]:
    """(folder, where the choice came from) of the model used without --model."""
    env = os.environ if environ is None else environ
    if env.get(ENV_MODEL):
        return Path(os.path.expanduser(env[ENV_MODEL])), f"${ENV_MODEL}"
    if runs_from_checkout():
        return DEFAULT_MODEL_DIR, "checkout"
    return user_model_dir(env), "user"


MAKE_A_MODEL = ("make one: train it ('motiongpt train-vq', then 'motiongpt train-lm --out DIR') or convert the "
                "official checkpoint ('motiongpt convert-official ... --out DIR')")


def no_model_message(folder: Path, origin: str) -> str:
    """What to do when the default model folder holds no model."""
    if origin.startswith("$"):
        return (f"no model at {folder} (named by {origin}). Point {origin} at a model folder (model.json, vq/, "
                f"lm/) or pass --model DIR; or {MAKE_A_MODEL}")
    if origin == "user":
        return (f"no model installed. This engine was installed without the MotionGPT for Blender repository, so "
                f"its default model folder is {folder}: put a model folder there (model.json, vq/, lm/; e.g. a copy "
                f"of the repository's models/default), set ${ENV_MODEL} to one, or pass --model DIR; or "
                f"{MAKE_A_MODEL}")
    return (f"no model installed at {folder} (the default). Pass --model DIR with a model folder (model.json, vq/, "
            f"lm/) or set ${ENV_MODEL}, or {MAKE_A_MODEL}; a folder copied to models/default is used without --model")


def write_bundle_manifest(folder: str | Path, name: str, codebook_size: int, **extra: Any) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name,
                "codebook_size": int(codebook_size), "fps": skeleton.FPS, "joints": skeleton.NUM_JOINTS,
                "engine_version": __version__, **SUBFOLDERS, **extra}
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


CONFIG_MAX_BYTES = 1024 * 1024
"""Largest model.json / config.json read (real ones are a few kB)."""


def read_bundle_manifest(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise MotionFileError(folder, "model folder not found; pass --model with a folder holding model.json")
    if not path.is_file():
        raise MotionFileError(path, "not found; this folder is not a MotionGPT model (expected model.json, vq/ and lm/)")
    from ..jsonfile import read_json_file
    manifest = read_json_file(path, max_bytes=CONFIG_MAX_BYTES, want=dict)
    if manifest.get("format") != FORMAT:
        raise MotionFileError(path, f"is not a {FORMAT} manifest")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise MotionFileError(path, f"was written by a newer engine (format {manifest['format_version']}); update "
                                    "the engine and the add-on")
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
    """Every file in the model's sub-folders (vq/ and lm/, recursively),
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


def check_same_codes(reference: str | Path, candidate: str | Path) -> None:
    """A MotionGPTError unless ``candidate`` writes every motion with the
    same tokens as ``reference``: the same config, statistics, encoder and
    codebook (compared at float16, the shipped precision); the decoder may
    differ."""
    import numpy as np
    import torch

    from ..checkpoint import MODEL_FILE, load_weights
    from .motion_tokenizer import load_stats
    from .vqvae import read_vq_config
    reference, candidate = Path(reference), Path(candidate)
    config = read_vq_config(reference)
    if read_vq_config(candidate) != config:
        raise MotionGPTError(f"{candidate}: its tokenizer config differs from {reference}'s; only a decoder "
                             f"fine-tuned from it (train-vq --init-from {reference} --decoder-only) can replace it")
    if not all(np.array_equal(a, b) for a, b in zip(load_stats(reference, config.nfeats),
                                                    load_stats(candidate, config.nfeats))):
        raise MotionGPTError(f"{candidate}: its Mean/Std differ from {reference}'s, so its tokens would too")
    ours, theirs = load_weights(reference / MODEL_FILE), load_weights(candidate / MODEL_FILE)
    for name, value in ours.items():
        if name.startswith("decoder."):
            continue
        other = theirs.get(name)
        if other is None or not torch.equal(value.to(torch.float16), other.to(torch.float16)):
            raise MotionGPTError(f"{candidate}: {name} differs from {reference}'s, so motions would get other "
                                 f"tokens than the language model learned; fine-tune with --decoder-only")


def export_bundle(source: str | Path, dest: str | Path, half: bool = True, sampling: dict[str, Any] | None = None,
                  vq: str | Path | None = None, **manifest_extra: Any) -> Path:
    """Write what inference needs from a model folder (a training output, or
    a shipped folder of either format) in the current layout: no optimizer
    state, caches or logs, weights in float16 when ``half`` (the form a model
    is shipped in; loading casts back to float32). ``sampling`` (top_k /
    top_p / temperature) goes to lm/generation_config.json; without it the
    source's defaults are kept. ``dest`` may be ``source`` (convert in place):
    everything is read before anything is written, files of the folder other
    than vq/, lm/ and model.json are left alone, and only the format-1
    tokenizer folder (lm/tokenizer/) is removed. ``vq``: take the motion
    tokenizer from this folder instead (``train-vq --decoder-only`` output):
    only its decoder may differ from the source's, since the language model
    was trained on the source's tokens (:func:`check_same_codes`)."""
    import shutil

    import torch

    from ..checkpoint import MODEL_FILE, load_weights, save_weights, write_json
    from ..lm import config as lm_files
    from ..lm.tokenizer import HF_TOKENIZER_CONFIG, META_FILE, TOKENIZER_FILE, TokenizerFile
    from .motion_tokenizer import MEAN_FILE, STD_FILE
    from .vqvae import read_vq_config
    source, dest = Path(source), Path(dest)
    manifest = read_bundle_manifest(source)
    src_vq, src_lm = source / manifest.get("vq", "vq"), source / manifest.get("lm", "lm")
    if vq is not None:
        check_same_codes(src_vq, vq)
        src_vq = Path(vq)
    vq_config = read_vq_config(src_vq)
    lm_config = lm_files.read_config(src_lm)
    weights = {"vq": load_weights(src_vq / MODEL_FILE), "lm": load_weights(src_lm / MODEL_FILE)}
    stats = {name: (src_vq / name).read_bytes() for name in (MEAN_FILE, STD_FILE) if (src_vq / name).is_file()}
    tok_dir = lm_files.tokenizer_folder(src_lm)
    if tok_dir is None:
        raise MotionFileError(src_lm, "has no text tokenizer (tokenizer.json); export a complete model folder")
    tok_files = {name: (tok_dir / name).read_bytes() for name in (TOKENIZER_FILE, META_FILE)}
    from ..lm.caption_words import WORDS_FILE
    if (src_lm / WORDS_FILE).is_file():
        tok_files[WORDS_FILE] = (src_lm / WORDS_FILE).read_bytes()
    tok_config = TokenizerFile.read_config(tok_dir)
    # options given override the source's own, one by one
    sampling = {**(lm_files.read_sampling(src_lm) or manifest.get("sampling") or {}), **(sampling or {})} or None

    dst_vq, dst_lm = dest / SUBFOLDERS["vq"], dest / SUBFOLDERS["lm"]
    dtype = torch.float16 if half else None
    for sub, folder in (("vq", dst_vq), ("lm", dst_lm)):
        folder.mkdir(parents=True, exist_ok=True)
        save_weights(folder / MODEL_FILE, weights[sub], {"format": "pt"}, dtype=dtype)
    write_json(dst_vq / "config.json", vq_config.to_json_dict())
    for name, data in stats.items():
        (dst_vq / name).write_bytes(data)
    lm_files.write_config(dst_lm, lm_config)
    lm_files.write_generation_config(dst_lm, sampling)
    for name, data in tok_files.items():
        (dst_lm / name).write_bytes(data)
    write_json(dst_lm / TokenizerFile.CONFIG_FILE, {**tok_config, **HF_TOKENIZER_CONFIG})
    if (dst_lm / lm_files.LEGACY_TOKENIZER_DIR).is_dir():
        shutil.rmtree(dst_lm / lm_files.LEGACY_TOKENIZER_DIR)

    if (source / "prompts").is_dir() and source.resolve() != dest.resolve():   # the prompt vocabulary travels along
        shutil.rmtree(dest / "prompts", ignore_errors=True)
        shutil.copytree(source / "prompts", dest / "prompts")
    kept = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "codebook_size", "fps",
                                                            "joints", "engine_version", "sampling", HASHES_KEY,
                                                            *SUBFOLDERS)}
    kept.update(manifest_extra, weights_dtype="float16" if half else "float32")
    kept[HASHES_KEY] = bundle_hashes(dest)
    write_bundle_manifest(dest, name=kept.pop("name", dest.name), codebook_size=manifest["codebook_size"], **kept)
    return dest

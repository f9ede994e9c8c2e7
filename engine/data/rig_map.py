"""Which bone of a foreign skeleton plays which of the 22 joints.

The add-on already knows how to recognise rigs by their bone names (presets
for Mixamo, CMU, Rigify, CC/iClone-style names through its pattern detector,
...) in ``motiongpt_blender/bone_maps.py``, a pure-Python module. The add-on
may never import the engine, so that module is the one source of truth and
the engine loads it by path from beside its own package -- the checkout, or
site-packages, where the wheel puts ``motiongpt_blender`` too (importing the
add-on package would register nothing, but loading one file keeps the
engine from depending on anything else in it).
"""
from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Sequence

from ..errors import MotionGPTError

BONE_MAPS_FILE = Path(__file__).resolve().parents[2] / "motiongpt_blender" / "bone_maps.py"
_MODULE_NAME = "motiongpt_bone_maps"


@lru_cache(maxsize=1)
def bone_maps() -> ModuleType:
    """The add-on's bone_maps module, loaded once from this checkout."""
    if not BONE_MAPS_FILE.is_file():
        raise MotionGPTError(f"{BONE_MAPS_FILE} is missing: the engine reads bone-name presets from the "
                             f"add-on's bone_maps.py in the same checkout; use a complete checkout")
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, BONE_MAPS_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE_NAME] = module      # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def detect_bone_map(names: Sequence[str], parents: Sequence[int]) -> tuple[dict[str, str], str]:
    """(joint -> bone, where the map came from) for a skeleton given by bone
    names and parent indices, the way the add-on auto-detects a rig."""
    bm = bone_maps()
    bones = [bm.RigBone(str(n), str(names[p]) if p >= 0 else None) for n, p in zip(names, parents)]
    detection = bm.auto_detect(bones)
    return dict(detection.mapping), detection.source


def load_bone_map_file(path: str | Path) -> dict[str, str]:
    """A bone-map JSON as the add-on saves it (``{"joints": {...}}``)."""
    bm = bone_maps()
    try:
        return bm.load_bone_map(path)
    except bm.BoneMapError as exc:
        raise MotionGPTError(f"{path}: {exc}") from None

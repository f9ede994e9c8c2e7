"""Any biped BVH as the engine's 22-joint motion: the take's own skeleton
mapped the way ``build-data --bvh-library`` maps a library.

A studio's takes are on their own skeletons (Mixamo, CMU, Poser, DeepMimic,
...). The bones that play the 22 joints come from, in order: a bone map
given by the user (``--bone-map``, as the add-on's Bone Map panel saves
it), a ``bone_map.json`` beside the file or in a folder above it (up to
:data:`BONE_MAP_SEARCH_DEPTH` levels: a library's root) when the file has
the bones it names, or the add-on's bone-name detection. Lengths become metres (unit guessed from the body's
size), the up axis +Y (found from where the head is), and the frame rate
stays the file's. A file that cannot be mapped names the joints it could
not find and says how to give a bone map.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import bvh_library, rig_map
from ..errors import MotionFileError
from ..motion import bvh
from ..motion import skeleton as sk

BONE_MAP_FILE = bvh_library.LIBRARY_BONE_MAP
BONE_MAP_SEARCH_DEPTH = 3
"""How many folders up from a file a ``bone_map.json`` is looked for."""


def is_engine_skeleton(parsed: bvh.BvhMotion) -> bool:
    """The 22 SMPL joints by name (the engine's own BVH)."""
    return len(parsed.names) == sk.NUM_JOINTS and set(parsed.names) == set(sk.JOINT_NAMES)


def find_bone_map(path: Path) -> Path | None:
    """The nearest ``bone_map.json`` beside ``path`` or in a folder above it."""
    folder = path.resolve().parent
    for _ in range(BONE_MAP_SEARCH_DEPTH):
        candidate = folder / BONE_MAP_FILE
        if candidate.is_file():
            return candidate
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def bone_mapping(parsed: bvh.BvhMotion, path: Path, bone_map: dict[str, str] | None = None
                 ) -> tuple[dict[str, str], str]:
    """(joint -> bone, where the mapping came from) for a file's skeleton."""
    if bone_map is not None:
        return bvh_library.mapping_for(parsed, bone_map, "--bone-map", given=True)
    found = find_bone_map(path)
    loaded = rig_map.load_bone_map_file(found) if found is not None else None
    mapping, source = bvh_library.mapping_for(parsed, loaded, str(found))
    return mapping, source if loaded is not None and source == str(found) else f"bone names ({source})"


def joint_positions(path: str | Path, bone_map: dict[str, str] | None = None,
                    up: str = "auto") -> tuple[np.ndarray, float, str]:
    """((T, 22, 3) positions in metres, Y up; the file's fps; where the bone
    mapping came from) of any biped BVH."""
    path = Path(path)
    parsed = bvh.read_bvh(path)
    mapping, source = bone_mapping(parsed, path, bone_map)
    try:
        positions = bvh_library.mapped_positions(parsed, mapping, path)
    except MotionFileError as exc:
        if "no bone for" in exc.problem:
            raise MotionFileError(path, f"{exc.problem}, or put a {BONE_MAP_FILE} (the add-on's Bone Map panel "
                                        "saves one) beside the file (bones were found by "
                                        f"{source})") from None
        raise
    up = bvh_library.detect_up_axis(positions, path) if up == "auto" else up
    return bvh_library.stand_up(positions, up), parsed.fps, source

"""A BVH written by `motiongpt generate` imports through Blender's own BVH
importer and lands on the engine's joint positions (bpy in a subprocess)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from engine.cli import main
from engine.motion import skeleton
from test_bvh import BLENDER_SCRIPT, Y_UP_TO_Z_UP


def test_generated_bvh_matches_engine_positions_in_blender(tmp_path, tiny_bundle):
    args = ["generate", "a person walks forward", "--seconds", "2", "--seed", "5", "--fps", "30",
            "--model", str(tiny_bundle), "--device", "cpu", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "walk.bvh")]) == 0
    assert main(args + ["--out", str(tmp_path / "walk.json")]) == 0
    data = json.loads((tmp_path / "walk.json").read_text())
    motion = data["motions"][0] if "motions" in data else data
    expected = np.asarray(motion["joint_positions"])
    frames = [0, 13, len(expected) - 1]
    (tmp_path / "request.json").write_text(json.dumps([{"path": str(tmp_path / "walk.bvh"), "scale": 0.01,
                                                        "frames": frames}]))
    script = tmp_path / "blender_check.py"
    script.write_text(BLENDER_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "request.json"), str(tmp_path / "out.json")],
                          capture_output=True, text=True, timeout=180)
    if proc.returncode == 77:
        pytest.skip("bpy is not importable")
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads((tmp_path / "out.json").read_text())["files"][0]
    errors = [np.linalg.norm(np.array(got[str(f)][name]) - Y_UP_TO_Z_UP @ expected[f, j])
              for f in frames for j, name in enumerate(skeleton.JOINT_NAMES)]
    print(f"motiongpt generate BVH in Blender vs engine joint positions: max {1000 * max(errors):.4f} mm")
    assert 1000 * max(errors) < 1.0

"""What Preferences > Install Engine does, for real, timed end to end.

    python benchmarks/install_engine.py                      # into a temporary folder, removed afterwards
    python benchmarks/install_engine.py --venv /tmp/mgpt-venv --keep --python /path/to/python3.11

Runs the add-on's own installer (``motiongpt_blender.installer``: venv, then
``pip install -e <this checkout>`` with the pinned torch) with a real pip,
then starts the engine from the new environment through the add-on's engine
manager (as the N-panel's first click does) and generates 4 s of motion on
the default model. Prints the time of each stage. Needs the package index
(or a pip cache / ``PIP_FIND_LINKS``) for torch and transformers.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from motiongpt_blender.engine_manager import EngineManager, EngineSettings  # noqa: E402
from motiongpt_blender.installer import DONE, EngineInstaller  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", help="where to create the environment (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the environment afterwards")
    parser.add_argument("--python", default=sys.executable, help="base Python 3.11 for the venv (Blender's own in "
                                                                 "the add-on; default: this one)")
    parser.add_argument("--model", default=str(REPO / "models" / "default"))
    args = parser.parse_args(argv)

    tmp = None if args.venv else tempfile.mkdtemp(prefix="mgpt_install_")
    venv = Path(args.venv) if args.venv else Path(tmp) / "engine-venv"
    t0 = time.perf_counter()
    inst = EngineInstaller(REPO, venv, base_python=args.python, log_path=venv.parent / "install-engine.log").start()
    last = ""
    while not inst.wait(1.0):
        if inst.status_text() != last:
            last = inst.status_text()
            print(f"{time.perf_counter() - t0:7.1f} s  {last[:140]}", flush=True)
    install_s = time.perf_counter() - t0
    print(f"install: {inst.state} in {install_s:.1f} s ({inst.status_text()})")
    if inst.state != DONE:
        return 1
    try:
        mgr = EngineManager()
        settings = EngineSettings(python=str(inst.python), root=str(REPO), model=args.model, device="auto",
                                  log_dir=str(venv.parent / "logs"))
        t = time.perf_counter()
        client = mgr.connect(settings)
        health = client.health()
        print(f"engine from the new environment: ready in {time.perf_counter() - t:.1f} s "
              f"(model {health['model']!r}, device {health['device']})")
        t = time.perf_counter()
        job = client.submit("generate", {"text": "a person walks forward", "seconds": 4, "seed": 2, "fps": 24})
        while (st := client.status(job["id"]))["status"] not in ("done", "failed", "cancelled"):
            time.sleep(0.02)
        frames = st["result"]["motions"][0]["num_frames"] if st["status"] == "done" else None
        print(f"generate 4 s: {st['status']} in {time.perf_counter() - t:.2f} s ({frames} frames at 24 fps)")
        mgr.stop()
        return 0 if st["status"] == "done" else 1
    finally:
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

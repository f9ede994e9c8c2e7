"""The repository must travel whole to a lent GPU machine: the device tool
sends at most 64 MiB (tracked files included), and a training call also
carries the compact data (scripts/compact_data.py, about 2.3 MB). A snapshot
that copies weights models/default already holds, or a second training run
committed beside the first, would stop every GPU session (docs/training.md)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEVICE_LIMIT = 64 * 2 ** 20
CARRIED = 3 * 2 ** 20


def test_tracked_files_leave_room_for_the_compact_data():
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = [REPO / p for p in listed.stdout.decode("utf-8", "replace").split("\0") if p]
    sizes = {f: f.stat().st_size for f in files if f.is_file()}
    total = sum(sizes.values())
    largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
    assert total <= DEVICE_LIMIT - CARRIED, (
        f"tracked files take {total / 2 ** 20:.1f} MiB; a GPU call can send {DEVICE_LIMIT / 2 ** 20:.0f} MiB with "
        f"the compact data: snapshot runs with scripts/snapshot_run.py (it leaves out the shipped weights) or take "
        f"old runs out of the tree. Largest: " + ", ".join(f"{f.relative_to(REPO)} {s / 2 ** 20:.1f} MiB"
                                                           for f, s in largest))

"""Training opens no door without saying so (issue 22): the rendezvous
warnings under torchrun, and the README's torchrun lines."""
from __future__ import annotations

import re
import socket
from pathlib import Path

from engine.train.distributed import TRUSTED_NETWORK_ENV, rendezvous_warnings

README = Path(__file__).resolve().parents[1] / "README.md"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_a_guessable_run_id_and_an_open_store_are_named():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:          # a listener on every interface
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        warnings = rendezvous_warnings({"TORCHELASTIC_RUN_ID": "none", "MASTER_PORT": str(port)})
        assert len(warnings) == 2
        assert "--rdzv_id" in warnings[0] and "every network interface" in warnings[1]
        assert rendezvous_warnings({"TORCHELASTIC_RUN_ID": "none", "MASTER_PORT": str(port),
                                    TRUSTED_NETWORK_ENV: "1"}) == []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:          # loopback only: no warning
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert rendezvous_warnings({"TORCHELASTIC_RUN_ID": "a1b2c3", "MASTER_PORT": str(port)}) == []


def _torchrun_lines() -> list[str]:
    texts = [README.read_text(encoding="utf-8")] + [p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")]
    joined = [re.sub(r"\\\n\s*", " ", t) for t in texts]
    return [line for t in joined for line in t.splitlines() if line.strip().startswith("torchrun --")]


def test_documented_torchrun_lines_are_safe_by_default():
    lines = _torchrun_lines()
    assert lines, "the README documents torchrun"
    for line in lines:
        assert "--rdzv_id" in line or "--rdzv-id" in line, line
        assert "secrets.token_hex" in line or "$RDZV_ID" in line, line

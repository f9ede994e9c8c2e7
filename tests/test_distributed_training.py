"""Training with torchrun (issue 14, part 2), on the CPU with gloo: two
processes follow the one-process run with the same global batch, and a
two-process run stopped halfway and resumed ends bit for bit where the
uninterrupted one does -- for train-vq and train-lm, through the CLI.

Tolerance for "the same loss curve": every step's loss within 1e-5 relative
(measured: at most 5e-7 absolute for the LM, equal to the log's 6 decimals
for the VQ), final weights within 1e-4 (measured 1.6e-6 and 3e-7). The runs
differ only in the order floating-point sums are taken in."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.cli import main

WORKER = Path(__file__).with_name("distributed_worker.py")
STEPS, HALF = 8, 4
LOSS_RTOL, WEIGHT_ATOL = 1e-5, 1e-4


def _vq_args(data: Path, out: Path, steps: int = STEPS, *extra: str) -> list[str]:
    return ["train-vq", "--data", str(data), "--out", str(out), "--preset", "tiny", "--steps", str(steps),
            "--batch-size", "8", "--window", "32", "--lr", "2e-3", "--warmup", "2", "--val-every", "1",
            "--val-max-clips", "4", "--device", "cpu", "--quiet", *extra]


def _lm_args(data: Path, vq: Path, out: Path, *extra: str) -> list[str]:
    return ["train-lm", "--data", str(data), "--vq", str(vq), "--out", str(out), "--preset", "tiny",
            "--stage1-steps", str(HALF), "--stage2-steps", str(STEPS - HALF), "--batch-size", "8", "--lr", "3e-3",
            "--warmup", "2", "--val-every", "1", "--max-tokens", "20", "--device", "cpu", "--quiet", *extra]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, built_sample, tiny_vq_dir):
    root = tmp_path_factory.mktemp("torchrun")
    two = [_vq_args(built_sample, root / "vq2"),
           _vq_args(built_sample, root / "vq2_resumed", HALF),
           _vq_args(built_sample, root / "vq2_resumed", STEPS, "--resume"),
           _lm_args(built_sample, tiny_vq_dir, root / "lm2"),
           _lm_args(built_sample, tiny_vq_dir, root / "lm2_resumed", "--stop-after", str(HALF)),
           _lm_args(built_sample, tiny_vq_dir, root / "lm2_resumed", "--resume")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(WORKER), json.dumps(two)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for argv in (_vq_args(built_sample, root / "vq1"), _lm_args(built_sample, tiny_vq_dir, root / "lm1"),
                     _lm_args(built_sample, tiny_vq_dir, root / "lm1_accum", "--grad-accum", "2")):
            assert main(argv) == 0
    finally:
        torch.set_num_threads(torch_threads)
    return root, proc.stdout


def _vq_losses(folder: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (folder / "train_log.jsonl").read_text().splitlines()]


def _lm_losses(folder: Path) -> list[float]:
    return [h["train_loss"] for h in json.loads((folder / "lm" / "trainer_state.json").read_text())["history"]]


def _assert_same_curve(a: list[float], b: list[float]) -> None:
    assert len(a) == len(b) == STEPS
    for step, (x, y) in enumerate(zip(a, b), 1):
        assert abs(x - y) <= LOSS_RTOL * max(1.0, abs(x)), (step, x, y)


def _max_weight_difference(a: Path, b: Path) -> float:
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    return max(float((wa[k].double() - wb[k].double()).abs().max()) for k in wa)


def test_two_processes_train_the_vq_like_one(runs):
    root, _ = runs
    _assert_same_curve(_vq_losses(root / "vq1"), _vq_losses(root / "vq2"))
    assert _max_weight_difference(root / "vq1" / "model.safetensors", root / "vq2" / "model.safetensors") < WEIGHT_ATOL
    state = json.loads((root / "vq2" / "trainer_state.json").read_text())
    assert state["step"] == STEPS and state["args"]["processes"] == 2


def test_two_processes_train_the_lm_like_one_and_like_accumulation(runs):
    root, stdout = runs
    one, two, accum = _lm_losses(root / "lm1"), _lm_losses(root / "lm2"), _lm_losses(root / "lm1_accum")
    _assert_same_curve(one, two)
    _assert_same_curve(one, accum)
    assert two[-1] < two[0]
    for other in ("lm2", "lm1_accum"):
        diff = _max_weight_difference(root / "lm1" / "lm" / "model.safetensors", root / other / "lm" / "model.safetensors")
        assert diff < WEIGHT_ATOL, other
    # rank 0 alone reports: one summary line per run
    assert stdout.count("finished 8 steps") == 2 and stdout.count("finished 4 steps") == 1


def test_a_resumed_two_process_run_continues_bit_exactly(runs):
    root, _ = runs
    for straight, resumed in (("vq2", "vq2_resumed"), ("lm2/lm", "lm2_resumed/lm")):
        names = ["model.safetensors", "optimizer.safetensors"] + (["quantizer_ema.safetensors"] if "vq" in straight else [])
        for name in names:
            a, b = load_file(str(root / straight / name)), load_file(str(root / resumed / name))
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), (straight, name)
    assert _vq_losses(root / "vq2_resumed") == _vq_losses(root / "vq2")
    assert _lm_losses(root / "lm2_resumed") == _lm_losses(root / "lm2")


def test_settings_that_cannot_work_are_explained(built_sample, tiny_vq_dir, tmp_path, capsys):
    assert main(_lm_args(built_sample, tiny_vq_dir, tmp_path / "a", "--grad-accum", "3")) == 2
    assert "--batch-size 8 does not split into 1 process(es) x 3 accumulation step(s)" in capsys.readouterr().err
    assert main(_vq_args(built_sample, tmp_path / "b", STEPS, "--precision", "bf16")) == 2
    assert "--precision bf16 needs a CUDA GPU; this run is on the cpu" in capsys.readouterr().err


def test_the_with_block_leaves_the_group_waiting_only_when_the_run_succeeded(monkeypatch):
    from engine.train.distributed import Distributed
    waits: list[bool] = []
    monkeypatch.setattr(Distributed, "close", lambda self, wait=True: waits.append(wait))
    with Distributed(device=torch.device("cpu")) as dist:
        assert dist.is_main and not dist.enabled
    with pytest.raises(RuntimeError, match="failing"):
        with Distributed(device=torch.device("cpu")):
            raise RuntimeError("failing")
    assert waits == [True, False]

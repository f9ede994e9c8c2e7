"""Training on several processes, GPUs or machines with torch's own tools.

``torchrun --nproc_per_node N motiongpt train-lm ...`` (or ``train-vq``;
multi-node with torchrun's usual ``--nnodes``/``--node_rank``/``--rdzv_*``
flags) starts N copies of the command. torchrun tells each its place
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and where to meet); :func:`setup`
reads them and joins the process group -- NCCL between CUDA GPUs, gloo on
the CPU -- and the trainers wrap the model in
``torch.nn.parallel.DistributedDataParallel``, which averages the gradients
of every backward pass over the processes. Started without torchrun, the
same code runs as one process and none of this is used.

How the work is shared, so that N processes train the same model as one
process with the same settings would (the trainers' tests compare them):

* ``--batch-size`` is the *global* batch of one optimizer step. Every
  process draws that whole batch from the step's seeded generator (cheap:
  clip indices and crops) and keeps its own contiguous share
  (:meth:`Distributed.shard`), like ``DistributedSampler`` splitting an
  epoch; ``--grad-accum K`` splits the share again into K micro-batches
  run one after the other before the step (:meth:`Distributed.micro_batches`).
  So the examples of a step are the same whatever N and K are, and a resumed
  run sees exactly what the uninterrupted one would have.
* Losses are normalised by the global count of what they average over
  (label tokens, valid frames), summed with :meth:`Distributed.all_sum`, so
  a step's gradient is the gradient of the whole batch's loss, not an average
  of per-process averages.
* Only rank 0 writes: checkpoints, validation, logs, the progress bar
  (:attr:`Distributed.is_main`). The others wait for it at the next
  collective call.

Files: every process reads the data and, with ``--resume``, the checkpoint,
so on several machines ``--data`` must exist on each and ``--out`` should be
on a shared filesystem (rank 0 writes it; the others read it to resume).
"""
from __future__ import annotations

import contextlib
import datetime
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..device import pick_device
from ..errors import MotionGPTError

TIMEOUT = datetime.timedelta(minutes=60)
"""How long a process waits at a collective call: long enough for rank 0 to
validate and write a checkpoint while the others wait."""

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass
class Distributed:
    """This process's place in the run (rank 0 of 1 without torchrun)."""
    device: torch.device
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False
    """True when :func:`setup` started the process group (and :meth:`close` ends it)."""

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- the batch --------------------------------------------------------------
    def check_batch(self, batch_size: int, grad_accum: int) -> None:
        """Raise a MotionGPTError unless the global batch splits evenly."""
        if grad_accum < 1:
            raise MotionGPTError(f"--grad-accum must be at least 1, got {grad_accum}")
        parts = self.world * grad_accum
        if batch_size % parts:
            raise MotionGPTError(f"--batch-size {batch_size} does not split into {self.world} process(es) x "
                                 f"{grad_accum} accumulation step(s); use a multiple of {parts}")

    def shard(self, size: int) -> slice:
        """This process's contiguous share of a global batch of ``size``."""
        per = size // self.world
        return slice(self.rank * per, (self.rank + 1) * per)

    def micro_batches(self, size: int, grad_accum: int) -> list[slice]:
        """The slices of a global batch of ``size`` this process runs, one per
        accumulation step, in order."""
        share = self.shard(size)
        per = (share.stop - share.start) // grad_accum
        return [slice(share.start + i * per, share.start + (i + 1) * per) for i in range(grad_accum)]

    # -- talking to the other processes ------------------------------------------
    def all_sum(self, values: Sequence[float] | torch.Tensor) -> torch.Tensor:
        """The element-wise sum over every process (float64 on this device;
        the values themselves with one process)."""
        tensor = torch.as_tensor(values, dtype=torch.float64).to(self.device).reshape(-1).clone()
        if self.enabled:
            torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
        return tensor

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is True in any process (a stop request seen by one
        process stops all of them at the same step)."""
        return bool(self.all_sum([1.0 if flag else 0.0])[0] > 0) if self.enabled else bool(flag)

    def barrier(self) -> None:
        if self.enabled:
            if self.device.type == "cuda":
                torch.distributed.barrier(device_ids=[self.device.index or 0])
            else:
                torch.distributed.barrier()

    def gather_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Every process's ``rows`` (N_i, D), concatenated in rank order: each
        process gets the whole global set (for the VQ codebook's statistics)."""
        if not self.enabled:
            return rows
        count = torch.tensor([rows.shape[0]], device=rows.device, dtype=torch.long)
        counts = [torch.zeros_like(count) for _ in range(self.world)]
        torch.distributed.all_gather(counts, count)
        most = int(max(int(c) for c in counts))
        padded = torch.zeros((most, *rows.shape[1:]), dtype=rows.dtype, device=rows.device)
        padded[: rows.shape[0]] = rows
        parts = [torch.empty_like(padded) for _ in range(self.world)]
        torch.distributed.all_gather(parts, padded.contiguous())
        return torch.cat([p[: int(c)] for p, c in zip(parts, counts)])

    # -- the model ------------------------------------------------------------------
    def wrap(self, model: torch.nn.Module, broadcast_buffers: bool = True) -> torch.nn.Module:
        """``model`` in DistributedDataParallel (the model itself with one
        process). Keep using the unwrapped module to save and validate.
        ``broadcast_buffers`` False: rank 0's buffers are not copied to the
        others before every forward pass (for buffers kept equal otherwise)."""
        if not self.enabled:
            return model
        import inspect

        from torch.nn.parallel import DistributedDataParallel
        ids = [self.device.index] if self.device.type == "cuda" else None
        if broadcast_buffers:
            return DistributedDataParallel(model, device_ids=ids)
        # torch 2.13 renamed it (and still syncs buffers once at construction: harmless for equal copies)
        name = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                else "broadcast_buffers")
        return DistributedDataParallel(model, device_ids=ids, **{name: False})

    def no_sync(self, wrapped: torch.nn.Module, last: bool):
        """Skip DDP's gradient all-reduce for all but the last micro-batch of a
        step (the gradients accumulate locally and are averaged once)."""
        if self.enabled and not last:
            return wrapped.no_sync()
        return contextlib.nullcontext()

    def __enter__(self) -> "Distributed":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        """Leave the group; without waiting for the others when the run is
        failing (they may be gone)."""
        self.close(wait=exc_type is None)

    def close(self, wait: bool = True) -> None:
        """Wait for every process (unless this one is failing: the others may
        be gone), then leave the group (if :func:`setup` joined it)."""
        if self.owns_group and torch.distributed.is_initialized():
            if wait:
                self.barrier()
            torch.distributed.destroy_process_group()
            self.owns_group = False


def launched_by_torchrun(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return all(name in env for name in ENV_VARS) and int(env["WORLD_SIZE"]) > 1


TRUSTED_NETWORK_ENV = "MOTIONGPT_TRUSTED_NETWORK"
"""Set to 1 to say the machines train on a trusted network (silences the warning)."""


def _wildcard_listeners(port: int, tables: Sequence[str] = ("/proc/net/tcp", "/proc/net/tcp6")) -> bool:
    """Whether something listens on ``port`` on every interface (0.0.0.0 or ::)."""
    for table in tables:
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":                  # 0A: LISTEN
                continue
            address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) == port and set(address) == {"0"}:
                return True
    return False


def rendezvous_warnings(env: dict[str, str] | os._Environ, tables: Sequence[str] | None = None) -> list[str]:
    """What makes this torchrun start unsafe on an untrusted network, in words.

    torch's rendezvous store listens on every interface without any
    authentication (whatever --rdzv_endpoint says) and unpickles what is
    written to it, so anyone who reaches its port can run code in the
    training processes. The run id is the store's key prefix: torchrun's
    default "none" is guessable. Nothing here can close the port; the
    warning says so and how to train safely."""
    if env.get(TRUSTED_NETWORK_ENV) == "1":
        return []
    out = []
    if env.get("TORCHELASTIC_RUN_ID", "none") == "none":
        out.append("the rendezvous id is torchrun's default 'none', which anyone can guess: pass "
                   "--rdzv_id \"$(python -c 'import secrets; print(secrets.token_hex(16))')\"")
    port = env.get("MASTER_PORT", "")
    if port.isdigit() and _wildcard_listeners(int(port), tables or ("/proc/net/tcp", "/proc/net/tcp6")):
        out.append(f"torch's rendezvous store listens on port {port} on every network interface, without a "
                   "password; anyone who can reach this machine can run code in this training. Train on a "
                   f"trusted network or behind a firewall (set {TRUSTED_NETWORK_ENV}=1 to say you do)")
    return out


def setup(device: str = "auto", environ: dict[str, str] | None = None) -> Distributed:
    """This process's :class:`Distributed`: one process without torchrun;
    under torchrun, the process group joined (or the one already joined) and
    this process's GPU (``cuda:LOCAL_RANK``) when training on CUDA. Use it as
    ``with setup(device) as dist:``, which leaves the group at the end."""
    env = os.environ if environ is None else environ
    if not launched_by_torchrun(env):
        return Distributed(device=pick_device(device))
    import torch.distributed as dist
    rank, world, local_rank = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"])
    if rank == 0:
        for warning in rendezvous_warnings(env):
            print(f"WARNING (training security): {warning}", file=sys.stderr, flush=True)
    dev = pick_device(device)
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise MotionGPTError(f"process {rank} has local rank {local_rank} but this machine has "
                                 f"{torch.cuda.device_count()} GPU(s); start at most that many per machine "
                                 "(torchrun --nproc_per_node)")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    elif dev.type != "cpu":
        raise MotionGPTError(f"training on several processes needs CUDA GPUs or the CPU, not {dev.type}; "
                             "pass --device cpu or start one process")
    owns = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=TIMEOUT)
        owns = True
    return Distributed(device=dev, rank=rank, world=world, local_rank=local_rank, owns_group=owns)


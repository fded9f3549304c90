"""Several processes, one training run: ``torch.distributed`` as ``torchrun`` launches it.

``torchrun --nproc_per_node N -m musicvideo train ...`` starts N copies with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and ``MASTER_ADDR``/``MASTER_PORT`` in their environment. Each rank takes ``batch / N`` images per
step, computes its gradients, and the gradients are averaged over the ranks (one flat all-reduce per network
and phase, as NVlabs' training loop does, rather than DDP: the loss runs G and D in several phases with
different parameters trainable, which DDP's hooks handle badly). Every rank then takes the same optimiser step,
so the weights stay identical without being broadcast again. Only rank 0 writes files and shows progress.

NCCL on CUDA (one GPU per rank: ``cuda:LOCAL_RANK``), gloo on the CPU. A single process without those variables
is world size 1 and nothing here does any communication.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable

import torch

from ..errors import MusicVideoError


@dataclass(frozen=True)
class RankInfo:
    """Where this process sits in the run."""

    rank: int = 0           # global rank, 0 writes files
    world_size: int = 1     # number of processes
    local_rank: int = 0     # rank on this machine (its GPU index on CUDA)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def rank_from_env(env: dict[str, str] | None = None) -> RankInfo:
    """Read torchrun's variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); world size 1 when absent."""
    env = os.environ if env is None else env
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise MusicVideoError("RANK, WORLD_SIZE or LOCAL_RANK is not a number (launch with torchrun)") from None
    if world < 1 or not 0 <= rank < world:
        raise MusicVideoError(f"rank {rank} is outside world size {world} (launch with torchrun)")
    return RankInfo(rank=rank, world_size=world, local_rank=local)


def split_batch(batch: int, world_size: int) -> int:
    """Images per rank and step; the batch must divide evenly so every rank does the same work."""
    if batch < 1:
        raise MusicVideoError(f"--batch must be at least 1 (got {batch})")
    if batch % world_size:
        raise MusicVideoError(f"--batch {batch} does not split over {world_size} processes "
                              f"(use a multiple of {world_size}, e.g. {world_size * max(1, batch // world_size)})")
    return batch // world_size


def setup(info: RankInfo, device: torch.device) -> None:
    """Join the process group (NCCL for CUDA, gloo otherwise); nothing for a single process."""
    if not info.distributed or not torch.distributed.is_available():
        return
    if torch.distributed.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)


def teardown(info: RankInfo) -> None:
    """Leave the process group (if this module joined one)."""
    if info.distributed and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def average_gradients(params: Iterable[torch.nn.Parameter], info: RankInfo) -> None:
    """Average the gradients of ``params`` over the ranks, in place; NaN/inf become finite (as NVlabs does, so one
    overflowing fp16 step cannot poison the weights)."""
    params = [p for p in params if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params])
    if info.distributed:
        torch.distributed.all_reduce(flat)
        flat /= info.world_size
    torch.nan_to_num(flat, nan=0.0, posinf=1e5, neginf=-1e5, out=flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n


def any_rank(flag: bool, info: RankInfo, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any (so all ranks stop at the same step)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(values: torch.Tensor, info: RankInfo) -> torch.Tensor:
    """The mean of a tensor over the ranks (the same on every rank)."""
    if not info.distributed:
        return values
    values = values.clone()
    torch.distributed.all_reduce(values)
    return values / info.world_size


def gather_objects(obj: Any, info: RankInfo) -> list[Any]:
    """Every rank's ``obj`` as a list indexed by rank (on every rank); ``[obj]`` for a single process."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


def barrier(info: RankInfo) -> None:
    """Wait for every rank."""
    if info.distributed:
        torch.distributed.barrier()


__all__ = ["RankInfo", "any_rank", "average_gradients", "barrier", "gather_objects", "mean_over_ranks",
           "rank_from_env", "setup", "split_batch", "teardown"]

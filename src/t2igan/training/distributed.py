"""Data-parallel training under `torchrun`: one process per device, gradients averaged every step.

Launched by `torchrun --nproc-per-node N t2igan train` (the env vars RANK, WORLD_SIZE, MASTER_ADDR... are
torchrun's), each rank takes its share of every global batch and the ranks average gradients before each
optimizer step, so all of them hold the same weights throughout. Gloo on CPU, NCCL on GPU.

Gradients are averaged explicitly (one flattened all-reduce per network per step) rather than through the
`DistributedDataParallel` wrapper: a GAN step calls the discriminator's parts separately (features, then the
sentence head several times) and takes a double backward through it for the matching-aware penalty, which
DDP's forward-bound hooks do not follow. NVIDIA's StyleGAN2-ADA/StyleGAN3 training loops average gradients
the same way for the same reason. Batch-norm statistics stay per rank during a step (as DDP's do) and are
broadcast from rank 0 after it, as DDP's `broadcast_buffers` does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from t2igan.config import TrainParams
from t2igan.devices import resolve_device


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_world(device_type: str, timeout_s: int = 600) -> World:
    """Join the process group torchrun set up, or run alone when not launched by it.

    The timeout bounds every collective: a rank that died or hangs fails the others instead of stalling them.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    return World(
        rank=dist.get_rank(), size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", 0))
    )


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def average_gradients(module: nn.Module, world: World) -> None:
    if not world.distributed:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(world.size)
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def broadcast_buffers(module: nn.Module, world: World) -> None:
    if world.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def average_scalars(values: torch.Tensor, world: World) -> list[float]:
    """The mean over ranks of a few scalars (the losses), so every rank sees and judges the same numbers.

    One tensor in, one device-to-host copy out: on a GPU every `float(loss)` is a synchronisation.
    """
    values = values.detach().to(torch.float64)
    if world.distributed:
        dist.all_reduce(values)
        values = values / world.size
    return values.tolist()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def weights_digest(module: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def ranks_agree(module: nn.Module, world: World) -> bool:
    """True when every rank holds the same weights for `module` (checked once, at the end of training)."""
    if not world.distributed:
        return True
    gathered: list[str | None] = [None] * world.size
    dist.all_gather_object(gathered, weights_digest(module))
    return len(set(gathered)) == 1


@contextlib.contextmanager
def training_process(params: TrainParams) -> Iterator[tuple[torch.device, World]]:
    """This process's device and its place among torchrun's ranks (alone when torchrun did not start it).

    `train.threads` holds only while training: torch's thread count is process-wide, and a caller that goes on
    (evaluation in the same process, a test session) gets its own count back.
    """
    threads_before = torch.get_num_threads()
    if params.threads:
        torch.set_num_threads(params.threads)
    try:
        device = torch.device(resolve_device(params.device))
        world = init_world(device.type, params.dist_timeout_s)
        if world.distributed and device.type == "cuda":
            device = torch.device("cuda", world.local_rank)
            torch.cuda.set_device(device)
        try:
            yield device, world
        finally:
            shutdown(world)
    finally:
        torch.set_num_threads(threads_before)

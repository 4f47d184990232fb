"""torchrun / gloo helpers shared by the trainers, and RNG states as JSON text.

A trainer launched by ``torchrun --nproc_per_node N`` (environment
``WORLD_SIZE``) joins the gloo process group with :func:`init_distributed`;
with one process every helper is a no-op, so the same loop runs both ways.
RNG states (``torch.get_rng_state()``, ``torch.Generator.get_state()``: uint8
tensors) are stored in ``state.json`` as base64 text
(:func:`encode_rng_state` / :func:`decode_rng_state`).

Model code: no spaCy or Thinc import here.
"""

import base64
import os
from typing import Any, List, Tuple

import torch
import torch.distributed as dist


def init_distributed() -> Tuple[int, int, bool]:
    """``(rank, world_size, created)``: joins the gloo group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return 0, 1, False
    created = False
    if not dist.is_initialized():
        dist.init_process_group("gloo")
        created = True
    return dist.get_rank(), dist.get_world_size(), created


def barrier(world_size: int) -> None:
    if world_size > 1:
        dist.barrier()


def all_reduce(tensor: torch.Tensor, world_size: int) -> None:
    """Sum ``tensor`` over the processes, in place."""
    if world_size > 1:
        dist.all_reduce(tensor)


def gather_objects(value: Any, world_size: int) -> List[Any]:
    """Every process's ``value`` (picklable, small), in rank order, on every process."""
    if world_size == 1:
        return [value]
    gathered: List[Any] = [None] * world_size
    dist.all_gather_object(gathered, value)
    return gathered


def encode_rng_state(state: torch.Tensor) -> str:
    """A uint8 RNG state tensor as base64 text (for JSON)."""
    return base64.b64encode(state.numpy().tobytes()).decode("ascii")


def decode_rng_state(text: str) -> torch.Tensor:
    """The uint8 tensor :func:`encode_rng_state` encoded."""
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


__all__ = ["init_distributed", "barrier", "all_reduce", "gather_objects", "encode_rng_state", "decode_rng_state"]

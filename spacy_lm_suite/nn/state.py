"""State dicts with tied tensors saved once."""

from typing import TYPE_CHECKING, Dict

if TYPE_CHECKING:
    import torch


def unique_state(state: Dict[str, "torch.Tensor"]) -> Dict[str, "torch.Tensor"]:
    """``state`` without the aliases of tied tensors (the first name of each is kept):
    safetensors refuses shared memory, and a rebuilt module ties them again."""
    seen = set()
    tensors: Dict[str, "torch.Tensor"] = {}
    for name, tensor in state.items():
        key = (tensor.data_ptr(), tensor.numel())
        if tensor.numel() and key in seen:
            continue
        seen.add(key)
        tensors[name] = tensor
    return tensors

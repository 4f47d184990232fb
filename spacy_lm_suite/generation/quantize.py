"""Dynamic int8 quantization for CPU inference (``quantize = "int8"``).

Every ``nn.Linear`` (GPT-2's ``Conv1D`` projections are turned into
``nn.Linear`` first, or they would stay float) gets int8 weights with one
scale per output channel (``per_channel_dynamic_qconfig``: per-tensor scales
were faster but broke greedy outputs on SmolLM2) and activations quantized
on the fly. Applied in place to a loaded float32 model, never saved: a saved
pipeline keeps float weights and quantizes again when it is loaded.

``torch.ao.quantization`` warns that it is deprecated (in favour of torchao,
which is not a dependency: slow without ``torch.compile``); the warning is
silenced here only.
"""

import warnings

import torch
from transformers.pytorch_utils import Conv1D

from ..errors import UserError


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Quantize ``model``'s linear layers to int8 in place and return it."""
    if any(p.dtype != torch.float32 for p in model.parameters()):
        raise UserError("int8 quantization needs a float32 model (dtype = \"float32\")")
    conv1d_to_linear(model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*deprecated.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao\..*")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        quantize_dynamic(
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True
        )
    return model


def conv1d_to_linear(model: torch.nn.Module) -> int:
    """Replace every transformers ``Conv1D`` (``y = x W + b``, ``W: [in, out]``) by the
    equal ``nn.Linear`` (``W.T: [out, in]``); returns how many were replaced."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                n_in, n_out = child.weight.shape
                linear = torch.nn.Linear(n_in, n_out, bias=child.bias is not None)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    if child.bias is not None:
                        linear.bias.copy_(child.bias)
                setattr(parent, name, linear)
                replaced += 1
    return replaced


def is_quantized(model: torch.nn.Module) -> bool:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    return any(isinstance(m, DynamicLinear) for m in model.modules())

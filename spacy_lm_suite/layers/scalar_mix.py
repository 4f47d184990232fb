"""A Thinc layer that mixes an encoder's layers per token: ``γ · Σ_j softmax(s)_j · h_j``.

It wraps :class:`spacy_lm_suite.nn.ScalarMix` (built at ``initialize`` once the
number of layers is known). Input: one array ``[n_layers, n_tokens, width]``
per doc; output: one array ``[n_tokens, width]`` per doc. With ``layer_norm``,
each layer is normalised over the tokens of its own doc, so a doc's output
never depends on the other docs of its batch.
"""

from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Tuple

import numpy
from thinc.api import Model
from thinc.types import Floats2d, Floats3d

from .torch_shim import LateTorchShim

if TYPE_CHECKING:
    import torch

    from ..nn import ScalarMix

BLOCK_TOKENS = 8192  # tokens mixed at once at inference


def build_scalar_mix(config: dict) -> "ScalarMix":
    from ..nn import ScalarMix

    return ScalarMix(n_layers=config["n_layers"], do_layer_norm=config["do_layer_norm"])


def ScalarMixLayer(
    *, n_layers: Optional[int] = None, nO: Optional[int] = None, layer_norm: bool = False, dropout: float = 0.0
) -> Model[List[Floats3d], List[Floats2d]]:
    """n_layers: layers per input array (``nL``; set at initialize if None).
    nO: their width. dropout: rate on the mixed output in training (a fixed
    rate of this layer; spaCy's ``[training] dropout`` does not change it).
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"scalar mix dropout must be in [0, 1), got {dropout}")
    return Model(
        "lm_scalar_mix",
        forward,
        init=init,
        dims={"nL": n_layers, "nO": nO},
        attrs={"layer_norm": layer_norm, "mix_dropout": dropout},
        shims=[LateTorchShim(build_scalar_mix, what="scalar mix")],
    )


def init(model: Model, X: Optional[List[Floats3d]] = None, Y=None) -> Model:
    shapes = [x.shape for x in X or []]
    if shapes:
        model.set_dim("nL", shapes[0][0])
        model.set_dim("nO", shapes[0][2])
    if not model.has_dim("nL"):
        raise ValueError("the scalar mix needs its number of layers (nL) before initialize")
    config = {"n_layers": model.get_dim("nL"), "do_layer_norm": bool(model.attrs["layer_norm"])}
    model.shims[0].set_module(build_scalar_mix(config), config)
    return model


def weights(model: Model) -> Tuple[numpy.ndarray, float]:
    """The mix's layer weights ``softmax(s)`` ``[nL]`` and its scale ``γ``."""
    import torch

    mix = model.shims[0].module
    with torch.no_grad():
        return torch.softmax(mix.scalar_parameters, dim=0).numpy().copy(), float(mix.gamma)


def forward(
    model: Model[List[Floats3d], List[Floats2d]], layers: List[Floats3d], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    import torch

    mix: ScalarMix = model.shims[0].module
    nO = model.get_dim("nO")
    lengths = [x.shape[1] for x in layers]
    if not sum(lengths):
        return [model.ops.alloc2f(n, nO) for n in lengths], lambda d_outputs: [
            model.ops.alloc3f(x.shape[0], x.shape[1], x.shape[2]) for x in layers
        ]
    if not is_train:
        return _predict(mix, layers, nO, layer_norm=model.attrs["layer_norm"]), lambda d_outputs: []
    with torch.enable_grad():
        if model.attrs["layer_norm"]:
            inputs = [_tensor(x, True) for x in layers]
            mixed = [mix(x) if x.shape[1] else x.new_zeros((0, nO)) for x in inputs]
            output = torch.cat(mixed, dim=0)
        else:
            inputs = [_tensor(numpy.concatenate(layers, axis=1), True)]
            output = mix(inputs[0])
    Y = output.detach().numpy().copy()
    rate = model.attrs["mix_dropout"]
    mask = model.ops.get_dropout_mask(Y.shape, rate) if rate else None
    if mask is not None:
        Y *= mask
    ends = numpy.cumsum(lengths)[:-1]
    outputs = numpy.split(Y, ends, axis=0)

    def backprop(d_outputs: List[Floats2d]) -> List[Floats3d]:
        dY = numpy.concatenate(d_outputs, axis=0).astype("float32", copy=False)
        if mask is not None:
            dY = dY * mask
        torch.autograd.backward(output, torch.from_numpy(numpy.ascontiguousarray(dY)))
        grads = [x.grad.numpy() if x.grad is not None else numpy.zeros(x.shape, "float32") for x in inputs]
        if len(grads) == 1:
            return numpy.split(grads[0], ends, axis=1)
        return grads

    return outputs, backprop


def _predict(mix: "ScalarMix", layers: List[Floats3d], nO: int, *, layer_norm: bool) -> List[Floats2d]:
    """The mix without autograd, in blocks of at most ``BLOCK_TOKENS`` tokens (a
    whole doc with ``layer_norm``, which needs the doc's statistics), so the
    memory beyond the output stays bounded."""
    import torch

    outputs = [numpy.empty((x.shape[1], nO), dtype="float32") for x in layers]
    with torch.no_grad():
        if layer_norm:
            for x, output in zip(layers, outputs):
                if x.shape[1]:
                    output[:] = mix(_tensor(x, False)).numpy()
            return outputs
        for pieces in _blocks([x.shape[1] for x in layers], BLOCK_TOKENS):
            mixed = mix(_tensor(numpy.concatenate([layers[i][:, a:b] for i, a, b in pieces], axis=1), False)).numpy()
            offset = 0
            for i, a, b in pieces:
                outputs[i][a:b] = mixed[offset : offset + b - a]
                offset += b - a
    return outputs


def _blocks(lengths: List[int], size: int) -> Iterator[List[Tuple[int, int, int]]]:
    """Consecutive ``(doc index, start, end)`` pieces, at most ``size`` tokens per group."""
    group: List[Tuple[int, int, int]] = []
    room = size
    for i, length in enumerate(lengths):
        start = 0
        while start < length:
            end = min(length, start + room)
            group.append((i, start, end))
            room -= end - start
            start = end
            if not room:
                yield group
                group, room = [], size
    if group:
        yield group


def _tensor(array: numpy.ndarray, requires_grad: bool) -> "torch.Tensor":
    import torch

    tensor = torch.from_numpy(numpy.ascontiguousarray(array, dtype="float32"))
    return tensor.requires_grad_(requires_grad)

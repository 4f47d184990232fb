"""Load AllenNLP's published ELMo weights (``options.json`` + ``weights.hdf5``).

The hdf5 files come from the TensorFlow ``bilm-tf`` trainer, whose
conventions differ from ours:

- character embeddings: ``char_embed`` has no row for id 0 (batch padding);
  a zero row is prepended.
- convolutions ``CNN/W_cnn_i``: ``[1, width, char_dim, n_filters]``.
- highway ``CNN_high_k``: TensorFlow computes ``t ⊙ relu(x W_T + b_T) +
  (1 − t) ⊙ x`` with ``t = σ(x W_carry + b_carry)``; our gate ``g`` carries the
  input, so ``g = 1 − t = σ(−x W_carry − b_carry)``.
- LSTM ``RNN_d/RNN/MultiRNNCell/Cell{l}/LSTMCell``: ``W_0`` is
  ``[input + proj, 4H]`` acting on ``[x, h]``, gates in the order (i, j, f, o)
  with ``j`` the candidate; TensorFlow adds 1 to the forget gate at run time;
  ``W_P_0`` is the ``[H, P]`` projection; the cell and the projected output
  are clipped (``cell_clip``/``proj_clip``, 3 in the published models).

The resulting :class:`ELMo` runs these models with the clipping cell.
"""

import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy
import torch

from ..errors import InputFormatError, UserError
from ..extras import require
from .config import ELMoConfig
from .modules import ELMo, LSTMPLayer

PathLike = Union[str, Path]


def allennlp_config(options: Dict[str, Any], *, n_chars: int = 262) -> ELMoConfig:
    """Our :class:`ELMoConfig` for an AllenNLP ``options.json`` dictionary."""
    lstm, cnn = options["lstm"], options["char_cnn"]
    return ELMoConfig(
        filters=[tuple(pair) for pair in cnn["filters"]],
        n_highway=cnn["n_highway"],
        proj_dim=lstm["projection_dim"],
        hidden_dim=lstm["dim"],
        n_layers=lstm["n_layers"],
        char_dim=cnn["embedding"]["dim"],
        n_chars=n_chars,
        max_chars=cnn.get("max_characters_per_token", 50),
        activation=cnn.get("activation", "tanh"),
        residual=bool(lstm.get("use_skip_connections", False)),
        cell_clip=lstm.get("cell_clip"),
        proj_clip=lstm.get("proj_clip"),
        dropout=0.0,
    )


def load_allennlp_elmo(options_file: PathLike, weight_file: PathLike, *, cache_size: int = 50_000) -> ELMo:
    """An :class:`ELMo` (eval mode) with AllenNLP's weights and clipping LSTM cell."""
    h5py = require("h5py", "elmo")

    options_file, weight_file = Path(options_file), Path(weight_file)
    if not options_file.is_file():
        raise UserError(f"{options_file}: no such file (expected AllenNLP's ELMo options.json)")
    if not weight_file.is_file():
        raise UserError(f"{weight_file}: no such file (expected AllenNLP's ELMo weights.hdf5)")
    try:
        options = json.loads(options_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputFormatError(options_file, f"expected AllenNLP's ELMo options as JSON ({err})") from None
    try:
        file = h5py.File(weight_file, "r")
    except OSError as err:
        raise InputFormatError(weight_file, f"not a readable hdf5 file ({err})") from None
    with file:
        reader = _Reader(file, weight_file)
        char_embed = reader.get("char_embed", ndim=2)
        try:
            config = allennlp_config(options, n_chars=max(262, char_embed.shape[0] + 1))
        except (KeyError, TypeError) as err:
            raise InputFormatError(
                options_file, f"expected AllenNLP's ELMo options with 'lstm' and 'char_cnn' sections (missing {err})"
            ) from None
        model = ELMo(config, cache_size=cache_size)
        with torch.no_grad():
            _load_char_cnn(model, reader, char_embed)
            for depth in range(config.n_layers):
                for direction, layers in enumerate((model.lstm.forward_layers, model.lstm.backward_layers)):
                    _load_lstm(layers[depth], reader, f"RNN_{direction}/RNN/MultiRNNCell/Cell{depth}/LSTMCell")
    return model.eval()


class _Reader:
    def __init__(self, file: Any, path: Path) -> None:
        self.file = file
        self.path = path

    def get(self, name: str, *, shape: Optional[Tuple[int, ...]] = None, ndim: Optional[int] = None) -> numpy.ndarray:
        if name not in self.file:
            raise InputFormatError(self.path, f"missing dataset {name!r}: not an AllenNLP ELMo weight file for these options")
        array = numpy.asarray(self.file[name][...], dtype=numpy.float32)
        if (shape is not None and tuple(array.shape) != tuple(shape)) or (ndim is not None and array.ndim != ndim):
            expected = list(shape) if shape is not None else f"{ndim} dimensions"
            raise InputFormatError(
                self.path, f"dataset {name!r} has shape {list(array.shape)}, expected {expected} (from options.json)"
            )
        return array


def _copy(target: torch.Tensor, value: numpy.ndarray) -> None:
    target.copy_(torch.from_numpy(numpy.ascontiguousarray(value)))


def _load_char_cnn(model: ELMo, reader: _Reader, char_embed: numpy.ndarray) -> None:
    encoder = model.char_encoder
    config = model.config
    if char_embed.shape[1] != config.char_dim:
        raise InputFormatError(
            reader.path, f"'char_embed' has width {char_embed.shape[1]}, options.json says {config.char_dim}"
        )
    embedding = numpy.zeros(tuple(encoder.embedding.weight.shape), dtype=numpy.float32)
    embedding[1 : char_embed.shape[0] + 1] = char_embed
    _copy(encoder.embedding.weight, embedding)
    for i, (conv, (width, count)) in enumerate(zip(encoder.convs, config.filters)):
        weight = reader.get(f"CNN/W_cnn_{i}", shape=(1, width, config.char_dim, count))
        _copy(conv.weight, numpy.transpose(weight[0], (2, 1, 0)))
        _copy(conv.bias, reader.get(f"CNN/b_cnn_{i}", shape=(count,)))
    n = config.n_filters
    for k, layer in enumerate(encoder.highway.layers):
        group = f"CNN_high_{k}"
        w_transform = reader.get(f"{group}/W_transform", shape=(n, n))
        w_carry = reader.get(f"{group}/W_carry", shape=(n, n))
        _copy(layer.weight, numpy.concatenate([w_transform.T, -w_carry.T]))
        b_transform = reader.get(f"{group}/b_transform", shape=(n,))
        b_carry = reader.get(f"{group}/b_carry", shape=(n,))
        _copy(layer.bias, numpy.concatenate([b_transform, -b_carry]))
    _copy(encoder.projection.weight, reader.get("CNN_proj/W_proj", shape=(n, config.proj_dim)).T)
    _copy(encoder.projection.bias, reader.get("CNN_proj/b_proj", shape=(config.proj_dim,)))


def _load_lstm(layer: LSTMPLayer, reader: _Reader, group: str) -> None:
    h, p, n_in = layer.hidden_dim, layer.proj_dim, layer.input_dim
    weight = reader.get(f"{group}/W_0", shape=(n_in + p, 4 * h)).T  # [4H, in + P], gates i, j, f, o
    bias = reader.get(f"{group}/B", shape=(4 * h,)).copy()
    bias[2 * h : 3 * h] += 1.0  # TensorFlow's forget_bias
    order = numpy.concatenate([numpy.arange(0, h), numpy.arange(2 * h, 3 * h), numpy.arange(h, 2 * h), numpy.arange(3 * h, 4 * h)])
    _copy(layer.weight_ih, weight[order, :n_in])
    _copy(layer.weight_hh, weight[order, n_in:])
    _copy(layer.bias, bias[order])
    _copy(layer.weight_proj, reader.get(f"{group}/W_P_0", shape=(h, p)).T)

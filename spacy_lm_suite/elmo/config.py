"""The shape of an ELMo model: a dataclass with named presets, saved as JSON."""

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from ..errors import InputFormatError, UserError

PRESETS = ("tiny", "small", "medium")
DEFAULT_PRESET = "medium"
"""The shape ``pretrain-elmo`` trains unless told otherwise: the one pretrained
and shipped here (``tiny`` is for tests)."""


@dataclass
class ELMoConfig:
    """Architecture of the character CNN and the bidirectional LSTM stack.

    filters: ``(width, n_filters)`` per convolution over character embeddings.
    n_highway: highway layers after the CNN.
    proj_dim: size of the context-free token vector and of each LSTM
        direction's projected output; ELMo's layers have ``2 * proj_dim``.
    hidden_dim: LSTM cell size (projected down to ``proj_dim``).
    n_layers: LSTM layers per direction (ELMo returns ``n_layers + 1`` layers).
    cell_clip, proj_clip: clip the LSTM cell / projected output to
        ``[-clip, clip]`` (None: no clipping; AllenNLP's published models use 3).
    residual: add each LSTM layer's input to its output, above the first layer.
    dropout: dropout on LSTM inputs and on the LM's softmax input, in training.

    The defaults are the ``tiny`` preset.
    """

    filters: List[Tuple[int, int]] = field(default_factory=lambda: [(1, 8), (2, 8), (3, 16)])
    n_highway: int = 1
    proj_dim: int = 16
    hidden_dim: int = 32
    n_layers: int = 2
    char_dim: int = 4
    n_chars: int = 262
    max_chars: int = 50
    activation: str = "relu"
    residual: bool = True
    cell_clip: Optional[float] = None
    proj_clip: Optional[float] = None
    dropout: float = 0.1

    def __post_init__(self) -> None:
        self.filters = [(int(width), int(count)) for width, count in self.filters]
        if not self.filters:
            raise UserError("ELMoConfig.filters is empty: expected (width, n_filters) pairs")
        for width, count in self.filters:
            if not 1 <= width <= self.max_chars or count < 1:
                raise UserError(
                    f"ELMoConfig.filters has ({width}, {count}): expected 1 <= width <= max_chars "
                    f"({self.max_chars}) and n_filters >= 1"
                )
        if self.activation not in ("relu", "tanh"):
            raise UserError(f"ELMoConfig.activation is {self.activation!r}, expected 'relu' or 'tanh'")
        for name in ("proj_dim", "hidden_dim", "n_layers", "char_dim"):
            if getattr(self, name) < 1:
                raise UserError(f"ELMoConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.max_chars < 3:
            raise UserError(f"ELMoConfig.max_chars must be at least 3, got {self.max_chars}")
        if self.n_chars < 262:
            raise UserError(f"ELMoConfig.n_chars must be at least 262 (bytes + markers), got {self.n_chars}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"ELMoConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def n_filters(self) -> int:
        """Width of the CNN output (sum of all filter counts)."""
        return sum(count for _, count in self.filters)

    @property
    def output_dim(self) -> int:
        """Width of every ELMo layer: ``2 * proj_dim``."""
        return 2 * self.proj_dim

    @classmethod
    def preset(cls, name: str) -> "ELMoConfig":
        """``tiny`` (tests), ``small`` (AllenNLP's ``elmo_2x1024_128_2048cnn_1xhighway``
        shape, without clipping) or ``medium`` (about 24 MB of weights, pretrainable
        on a few million tokens on a 2-core CPU in under two hours)."""
        if name == "tiny":
            return cls()
        if name == "small":
            return cls(
                filters=[(1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024)],
                n_highway=1,
                proj_dim=128,
                hidden_dim=1024,
                n_layers=2,
                char_dim=16,
            )
        if name == "medium":
            return cls(
                filters=[(1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 256)],
                n_highway=1,
                proj_dim=256,
                hidden_dim=512,
                n_layers=2,
                char_dim=16,
            )
        raise UserError(f"unknown ELMo preset {name!r}, expected one of {', '.join(PRESETS)}")

    def to_dict(self) -> Dict[str, Any]:
        data = dataclasses.asdict(self)
        data["filters"] = [list(pair) for pair in self.filters]
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ELMoConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"unknown ELMo config key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except UserError:
            raise
        except (TypeError, ValueError) as err:
            raise UserError(f"invalid ELMo config: {err}") from None

    def to_json(self, path: Union[str, Path]) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, path: Union[str, Path]) -> "ELMoConfig":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no such file (expected an ELMo config.json)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputFormatError(path, f"expected a JSON object with the ELMo config ({err})") from None
        if not isinstance(data, dict):
            raise InputFormatError(path, "expected a JSON object with the ELMo config")
        try:
            return cls.from_dict(data)
        except UserError as err:
            raise InputFormatError(path, str(err)) from None

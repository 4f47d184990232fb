"""Decoding settings: the whitelist of options we accept, checked once, up front.

:class:`DecodingSettings` is what a caller may choose about decoding; every
other ``GenerationConfig`` field is left at transformers' default. Unknown
options are refused (``GenerationConfig(top_kk=5)`` would silently store
``top_kk``), values are range-checked here (transformers accepts
``top_p=1.5``), then ``GenerationConfig(...).validate(strict=True)`` catches
contradictions such as a temperature without sampling.

No torch at import time: transformers is imported inside
:meth:`DecodingSettings.generation_config` only.
"""

import difflib
import logging
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Sequence, Tuple

from ..errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from transformers import GenerationConfig

DTYPES = ("float32", "bfloat16", "float16")
QUANTIZE = (None, "int8")


@dataclass(frozen=True)
class DecodingSettings:
    """How to decode.

    max_new_tokens: the most tokens generated per prompt (``>= 1``).
    min_new_tokens: the model's end-of-sequence token is suppressed until this
        many tokens were generated (stop strings still end generation).
    do_sample: sample (``True``) or take the most likely token (greedy).
    temperature, top_k, top_p: sampling only (``validate(strict=True)``
        refuses them with ``do_sample = false`` unless at their defaults
        ``1.0``, ``50``, ``1.0``). ``top_k = 0`` turns top-k off.
    repetition_penalty: ``> 0``; ``1.0`` is off (CTRL's penalty, greedy or sampled).
    stop: strings that end generation; the text ends right before the first
        one found in the generated text (see :mod:`.stopping`).
    seed: with sampling, the random stream of a generation batch is seeded
        from ``seed`` and the batch's prompt token ids, so the same prompts in
        the same batch give the same texts; ``None``: torch's global RNG.
    """

    max_new_tokens: int = 64
    min_new_tokens: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    stop: Tuple[str, ...] = field(default_factory=tuple)
    seed: Optional[int] = 0

    def __post_init__(self) -> None:
        _check_int("max_new_tokens", self.max_new_tokens, minimum=1)
        _check_int("min_new_tokens", self.min_new_tokens, minimum=0)
        if self.min_new_tokens > self.max_new_tokens:
            raise UserError(
                f"decoding option min_new_tokens ({self.min_new_tokens}) is larger than "
                f"max_new_tokens ({self.max_new_tokens})"
            )
        if not isinstance(self.do_sample, bool):
            raise UserError(f"decoding option do_sample must be true or false (got {self.do_sample!r})")
        _check_number("temperature", self.temperature, positive=True)
        _check_int("top_k", self.top_k, minimum=0)
        _check_number("top_p", self.top_p, positive=True)
        if self.top_p > 1.0:
            raise UserError(f"decoding option top_p must be in (0, 1] (got {self.top_p!r})")
        _check_number("repetition_penalty", self.repetition_penalty, positive=True)
        stop = (self.stop,) if isinstance(self.stop, str) else self.stop
        if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) and s for s in stop):
            raise UserError(f"decoding option stop must be a list of non-empty strings (got {self.stop!r})")
        object.__setattr__(self, "stop", tuple(stop))
        if self.seed is not None:
            _check_int("seed", self.seed, minimum=0)

    @classmethod
    def from_dict(cls, options: Optional[Mapping[str, Any]] = None) -> "DecodingSettings":
        """Settings from a config section; an unknown option is a :class:`UserError`."""
        options = dict(options or {})
        check_option_names(options)
        return cls(**options)

    def with_options(self, **options: Any) -> "DecodingSettings":
        """A copy with ``options`` changed (``None`` values are ignored)."""
        options = {key: value for key, value in options.items() if value is not None}
        check_option_names(options)
        return replace(self, **options)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able; ``stop`` as a list."""
        values = asdict(self)
        values["stop"] = list(self.stop)
        return values

    def check(self) -> "DecodingSettings":
        """Run transformers' strict validation now (imports transformers); returns ``self``."""
        self.generation_config(eos_token_ids=[0], pad_token_id=0)
        return self

    def generation_config(
        self, *, eos_token_ids: Sequence[int], pad_token_id: int, bos_token_id: Optional[int] = None
    ) -> "GenerationConfig":
        """A validated ``GenerationConfig`` (stop strings and the seed are ours, not in it)."""
        from transformers import GenerationConfig

        values = {
            "max_new_tokens": self.max_new_tokens,
            "min_new_tokens": self.min_new_tokens or None,
            "do_sample": self.do_sample,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "repetition_penalty": self.repetition_penalty,
            "eos_token_id": list(eos_token_ids),
            "pad_token_id": pad_token_id,
            "bos_token_id": bos_token_id,
            "num_beams": 1,
        }
        logger = logging.getLogger("transformers.generation.configuration_utils")
        level = logger.level
        logger.setLevel(logging.ERROR)  # strict validation raises what it would log
        try:
            config = GenerationConfig(**values)
            config.validate(strict=True)
        except ValueError as err:
            raise UserError(f"invalid decoding settings: {_one_line(str(err))}") from None
        finally:
            logger.setLevel(level)
        return config


OPTION_NAMES: Tuple[str, ...] = tuple(f.name for f in fields(DecodingSettings))


def check_option_names(options: Mapping[str, Any]) -> None:
    """Refuse a decoding option we do not accept, suggesting the nearest name."""
    for name in options:
        if name not in OPTION_NAMES:
            close = difflib.get_close_matches(str(name), OPTION_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(
                f"unknown decoding option {name!r}{hint}; accepted: {', '.join(OPTION_NAMES)}"
            )


def check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}, expected one of {', '.join(DTYPES)}")
    return dtype


def check_quantize(quantize: Optional[str], *, dtype: str) -> Optional[str]:
    if quantize not in QUANTIZE:
        raise UserError(f"unknown quantize setting {quantize!r}, expected null or \"int8\"")
    if quantize == "int8" and dtype != "float32":
        raise UserError(f"quantize = \"int8\" needs dtype = \"float32\" (got {dtype!r})")
    return quantize


def check_threads(threads: Optional[int]) -> Optional[int]:
    if threads is not None:
        _check_int("threads", threads, minimum=1, what="setting")
    return threads


def check_batching(*, batch_size: int, sort_window: int) -> None:
    _check_int("batch_size", batch_size, minimum=1, what="setting")
    _check_int("sort_window", sort_window, minimum=1, what="setting")


def _check_int(name: str, value: Any, *, minimum: int, what: str = "decoding option") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{what} {name} must be an integer >= {minimum} (got {value!r})")


def _check_number(name: str, value: Any, *, positive: bool) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or (positive and not value > 0)
    ):
        raise UserError(f"decoding option {name} must be a finite number > 0 (got {value!r})")


def _one_line(text: str) -> str:
    """transformers' multi-line message as one line, without its boilerplate."""
    lines = [line.strip(" -") for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("If you're using a pretrained model")]
    if lines and lines[0].startswith("GenerationConfig is invalid"):
        lines = lines[1:]
    return "; ".join(lines)

"""Text generation with Hugging Face causal LMs (GPT-2, Llama/SmolLM2, GGUF files). No spaCy imports.

- :mod:`.settings`: :class:`DecodingSettings`, the whitelist of decoding options;
- :mod:`.prompts`: :class:`PromptSettings` (the text, a ``{text}`` template, or a chat);
- :mod:`.stopping`: stop strings, trimming, and the hold-back of a stream;
- :mod:`.loading`: :func:`load_causal_lm` (causal check, tokenizer quirks, context length);
- :mod:`.generate`: :class:`Generator` (length-sorted, left-padded batches; streaming);
- :mod:`.quantize`: dynamic int8 for CPU.

The first three are pure Python; the others import torch and transformers,
so they are only imported when their names are used (the ``lm_generator``
entry point is imported by spaCy in every ``Language()``). See ``docs/generator.md``.
"""

from typing import Any

from .prompts import PromptSettings
from .settings import OPTION_NAMES, DecodingSettings
from .stopping import StopStringStream, trim_at_stop

_LAZY = {
    "Generation": "generate",
    "GenerationStream": "generate",
    "Generator": "generate",
    "length_sorted_batches": "generate",
    "LoadedModel": "loading",
    "load_causal_lm": "loading",
    "quantize_int8": "quantize",
}

__all__ = [
    "DecodingSettings",
    "OPTION_NAMES",
    "PromptSettings",
    "StopStringStream",
    "trim_at_stop",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Prompts: a text becomes the prompt, a filled template, or a chat conversation.

- ``template = "{text}"`` (the default): the text itself is the prompt;
- ``template = "Summarize: {text}\\nSummary:"``: ``{text}`` is replaced by the
  text (plain replacement, so other braces in the template or text are kept);
- ``chat = true``: the filled template is the user message of a conversation
  (after a ``system`` message when one is set, else the chat template's own
  default) rendered by the tokenizer's chat template with the generation prompt.

Token ids: a plain prompt is tokenized with the tokenizer's own special
tokens (``add_special_tokens=True``: GPT-2 adds none, Llama-style tokenizers
a BOS); a chat prompt with ``add_special_tokens=False``, because the chat
template already wrote them (SmolLM2 would get a second ``<|im_start|>``).

Pure Python; the tokenizer is duck-typed (a transformers tokenizer).
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ..errors import UserError

TEXT_SLOT = "{text}"
TRUNCATION = ("error", "left")


@dataclass(frozen=True)
class PromptSettings:
    """How a doc's text becomes prompt token ids.

    template: must contain ``{text}``.
    chat: render with the tokenizer's chat template.
    system: the chat's system message (``None``: the template's default, if any).
    truncation: a prompt that leaves no room for ``max_new_tokens`` in the
        model's context is an error (``"error"``), or loses its first tokens
        (``"left"``: the start of the prompt, a chat's system message first).
    """

    template: str = TEXT_SLOT
    chat: bool = False
    system: Optional[str] = None
    truncation: str = "error"

    def __post_init__(self) -> None:
        if not isinstance(self.template, str) or TEXT_SLOT not in self.template:
            raise UserError(f"prompt template must contain {TEXT_SLOT} (got {self.template!r})")
        if self.truncation not in TRUNCATION:
            raise UserError(f"unknown truncation {self.truncation!r}, expected \"error\" or \"left\"")
        if self.system is not None and not self.chat:
            raise UserError("a system prompt needs chat = true")

    def render(self, text: str) -> str:
        """The filled template; a blank ``text`` is a :class:`UserError`."""
        if not text.strip():
            raise UserError(f"empty prompt: the text to generate from is blank ({text!r})")
        return self.template.replace(TEXT_SLOT, text)

    def messages(self, text: str) -> List[Dict[str, str]]:
        """The chat conversation for ``text``: an optional system message, then the user."""
        messages = [{"role": "system", "content": self.system}] if self.system is not None else []
        return messages + [{"role": "user", "content": self.render(text)}]

    def encode(self, text: str, tokenizer: Any) -> List[int]:
        """Prompt token ids of ``text`` (untruncated)."""
        if self.chat:
            if not getattr(tokenizer, "chat_template", None):
                raise UserError("the model's tokenizer has no chat template: set chat = false (or use a template)")
            rendered = tokenizer.apply_chat_template(
                self.messages(text), tokenize=False, add_generation_prompt=True
            )
            return list(tokenizer(rendered, add_special_tokens=False)["input_ids"])
        return list(tokenizer(self.render(text), add_special_tokens=True)["input_ids"])


def fit_to_context(
    ids: List[int], *, context_length: Optional[int], max_new_tokens: int, truncation: str
) -> List[int]:
    """``ids`` if the prompt and ``max_new_tokens`` fit the context, else left-truncated or an error."""
    if context_length is None or len(ids) + max_new_tokens <= context_length:
        return ids
    room = context_length - max_new_tokens
    if room < 1:
        raise UserError(
            f"max_new_tokens ({max_new_tokens}) leaves no room for a prompt in the model's context "
            f"of {context_length} tokens"
        )
    if truncation == "left":
        return ids[len(ids) - room :]
    raise UserError(
        f"the prompt has {len(ids)} tokens: with max_new_tokens = {max_new_tokens} it does not fit the "
        f"model's context of {context_length} tokens (shorten it, lower max_new_tokens, "
        f"or set truncation = \"left\")"
    )

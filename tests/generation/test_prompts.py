"""Prompts: templates, chat templates (one BOS), blank texts and the context limit."""

import pytest

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.generation.prompts import PromptSettings, fit_to_context


def test_template_replaces_text_and_keeps_other_braces():
    prompt = PromptSettings(template='Q: {text} {"json": 1}\nA:')
    assert prompt.render("why?") == 'Q: why? {"json": 1}\nA:'


def test_bad_settings():
    with pytest.raises(UserError, match=r"must contain \{text\}"):
        PromptSettings(template="no slot")
    with pytest.raises(UserError, match="unknown truncation 'right'"):
        PromptSettings(truncation="right")
    with pytest.raises(UserError, match="a system prompt needs chat = true"):
        PromptSettings(system="Be brief.")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_a_blank_text_is_an_empty_prompt(text):
    with pytest.raises(UserError, match="empty prompt"):
        PromptSettings(template="Q: {text}").render(text)


def test_chat_prompt_has_one_bos_and_the_system_message(tiny_generators):
    tokenizer = tiny_generators["llama"].tokenizer
    bos = tokenizer.convert_tokens_to_ids("<|im_start|>")
    ids = PromptSettings(chat=True, system="Be brief.").encode("Hello", tokenizer)
    assert ids[0] == bos and ids[1] != bos
    text = tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n")
    default = tokenizer.decode(PromptSettings(chat=True).encode("Hello", tokenizer))
    assert "You are a tiny helpful assistant" in default
    # a plain prompt gets the tokenizer's own BOS, once
    plain = PromptSettings().encode("Hello", tokenizer)
    assert plain[0] == bos and plain[1] != bos


def test_chat_without_a_chat_template_is_an_error(tiny_generators):
    with pytest.raises(UserError, match="no chat template"):
        PromptSettings(chat=True).encode("Hello", tiny_generators["gpt2"].tokenizer)


def test_fit_to_context():
    ids = list(range(10))
    assert fit_to_context(ids, context_length=None, max_new_tokens=99, truncation="error") == ids
    assert fit_to_context(ids, context_length=14, max_new_tokens=4, truncation="error") == ids
    assert fit_to_context(ids, context_length=12, max_new_tokens=4, truncation="left") == list(range(2, 10))
    with pytest.raises(UserError, match="the prompt has 10 tokens: with max_new_tokens = 4 it does not fit"):
        fit_to_context(ids, context_length=12, max_new_tokens=4, truncation="error")
    with pytest.raises(UserError, match="leaves no room for a prompt"):
        fit_to_context(ids, context_length=12, max_new_tokens=12, truncation="left")

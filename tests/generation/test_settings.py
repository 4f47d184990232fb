"""Decoding settings: the whitelist, range checks and transformers' strict validation, one line each."""

import pytest

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.generation.settings import OPTION_NAMES, DecodingSettings, check_dtype, check_quantize


def test_defaults_are_greedy_and_valid():
    settings = DecodingSettings()
    assert not settings.do_sample and settings.max_new_tokens == 64 and settings.stop == ()
    config = settings.generation_config(eos_token_ids=[2], pad_token_id=2)
    assert config.max_new_tokens == 64 and config.eos_token_id == [2] and config.pad_token_id == 2


def test_an_unknown_option_is_refused_with_a_suggestion():
    with pytest.raises(UserError, match=r"unknown decoding option 'top_kk' \(did you mean 'top_k'\?\)"):
        DecodingSettings.from_dict({"top_kk": 5})
    with pytest.raises(UserError, match="unknown decoding option 'num_beams'"):
        DecodingSettings().with_options(num_beams=4)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "8"])
def test_max_new_tokens_must_be_positive(value):
    with pytest.raises(UserError, match="max_new_tokens must be an integer >= 1"):
        DecodingSettings(max_new_tokens=value)


@pytest.mark.parametrize(
    "options,message",
    [
        ({"top_p": 1.5}, "top_p must be in"),
        ({"top_p": 0.0}, "top_p must be a finite number > 0"),
        ({"temperature": 0}, "temperature must be a finite number > 0"),
        ({"temperature": float("nan")}, "temperature must be a finite number > 0"),
        ({"repetition_penalty": float("inf")}, "repetition_penalty must be a finite number > 0"),
        ({"repetition_penalty": -1.0}, "repetition_penalty must be a finite number > 0"),
        ({"top_k": -1}, "top_k must be an integer >= 0"),
        ({"stop": [""]}, "stop must be a list of non-empty strings"),
        ({"stop": [3]}, "stop must be a list of non-empty strings"),
        ({"min_new_tokens": 9, "max_new_tokens": 8}, "min_new_tokens"),
        ({"seed": -3}, "seed must be an integer >= 0"),
        ({"do_sample": "yes"}, "do_sample must be true or false"),
    ],
)
def test_bad_values_are_one_clear_error(options, message):
    with pytest.raises(UserError, match=message) as info:
        DecodingSettings.from_dict(options)
    assert "\n" not in str(info.value)


def test_sampling_options_without_sampling_fail_strict_validation_in_one_line():
    with pytest.raises(UserError, match="invalid decoding settings: `temperature`") as info:
        DecodingSettings(temperature=0.7).check()
    assert "\n" not in str(info.value) and "generation_config.json" not in str(info.value)
    DecodingSettings(temperature=0.7, do_sample=True).check()


def test_a_single_stop_string_becomes_a_tuple_and_none_overrides_are_ignored():
    settings = DecodingSettings(stop="\n")
    assert settings.stop == ("\n",)
    assert settings.with_options(max_new_tokens=None, top_k=3) == DecodingSettings(stop=("\n",), top_k=3)
    assert settings.to_dict()["stop"] == ["\n"] and set(settings.to_dict()) == set(OPTION_NAMES)


def test_dtype_and_quantize_checks():
    assert check_dtype("bfloat16") == "bfloat16"
    with pytest.raises(UserError, match="unknown dtype 'fp32'"):
        check_dtype("fp32")
    with pytest.raises(UserError, match="needs dtype = \"float32\""):
        check_quantize("int8", dtype="bfloat16")
    with pytest.raises(UserError, match="unknown quantize setting 'int4'"):
        check_quantize("int4", dtype="float32")

"""Batched generation and streaming on tiny random GPT-2 and Llama models."""

import itertools
import os

import pytest
import torch

from spacy_lm_suite.generation import DecodingSettings, Generator, PromptSettings
from spacy_lm_suite.generation.generate import batch_seed, left_pad, length_sorted_batches
from spacy_lm_suite.generation.quantize import conv1d_to_linear, is_quantized
from spacy_lm_suite.generation.tiny import words

KINDS = ["gpt2", "llama"]
GREEDY = DecodingSettings(max_new_tokens=16)


def prompts_of(generator, n=10, *, chat=False):
    prompt = PromptSettings(chat=chat)
    return [generator.encode(text, prompt, max_new_tokens=16) for text in words(n)]


def stop_from(text):
    """A 2-character stop string from the middle of ``text`` that is plain text (no U+FFFD)."""
    for start in range(len(text) // 3, len(text) - 2):
        candidate = text[start : start + 2]
        if "\ufffd" not in candidate and text.find(candidate) == start:
            return candidate
    pytest.skip("no usable stop string in this output")


def test_left_pad():
    input_ids, mask = left_pad([[5, 6, 7], [8]], pad_token_id=0)
    assert input_ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_length_sorted_batches_are_stable():
    assert length_sorted_batches([3, 1, 2, 1, 3], batch_size=2) == [[1, 3], [2, 0], [4]]
    assert length_sorted_batches([], batch_size=2) == []


@pytest.mark.parametrize("kind", KINDS)
def test_greedy_batches_equal_one_at_a_time(kind, tiny_generators):
    generator = tiny_generators[kind]
    prompts = prompts_of(generator, chat=kind == "llama")
    assert len({len(p) for p in prompts}) > 3  # real left padding
    single = [generator.generate_batch([p], GREEDY)[0] for p in prompts]
    for batch_size in (4, 3, 10):
        batched = generator.generate(prompts, GREEDY, batch_size=batch_size)
        assert [r.text for r in batched] == [r.text for r in single]
        assert [r.new_token_ids for r in batched] == [r.new_token_ids for r in single]
        assert [r.prompt_length for r in batched] == [len(p) for p in prompts]


def test_the_model_s_own_generation_defaults_are_not_used(tiny_folders):
    generator = Generator.load(tiny_folders["llama"])
    prompts = prompts_of(generator, 4)
    greedy = [r.new_token_ids for r in generator.generate(prompts, GREEDY, batch_size=2)]
    own = generator.model.generation_config
    own.do_sample, own.temperature, own.top_k, own.repetition_penalty = True, 5.0, 0, 3.0
    assert [r.new_token_ids for r in generator.generate(prompts, GREEDY, batch_size=2)] == greedy


@pytest.mark.parametrize("kind", KINDS)
def test_results_are_well_formed(kind, tiny_generators):
    generator = tiny_generators[kind]
    for result in generator.generate(prompts_of(generator, 4), GREEDY, batch_size=4):
        assert result.finish_reason in ("stop", "length") and result.seconds > 0
        assert 1 <= len(result.new_token_ids) <= 16
        if result.finish_reason == "length":
            assert len(result.new_token_ids) == 16
        assert result.text == generator.decode(result.new_token_ids)
        assert list(result.to_dict()) == ["prompt_length", "new_token_ids", "finish_reason", "seconds"]


@pytest.mark.parametrize("kind", KINDS)
def test_max_new_tokens(kind, tiny_generators):
    generator = tiny_generators[kind]
    prompts = prompts_of(generator, 4)
    forced = DecodingSettings(max_new_tokens=5, min_new_tokens=5)
    for result in generator.generate(prompts, forced, batch_size=2):
        assert len(result.new_token_ids) == 5 and result.finish_reason == "length"
    for result in generator.generate(prompts, DecodingSettings(max_new_tokens=3), batch_size=2):
        assert len(result.new_token_ids) <= 3


@pytest.mark.parametrize("kind", KINDS)
def test_the_end_of_sequence_token_ends_a_row_and_is_kept(kind, tiny_generators):
    generator = tiny_generators[kind]
    eos = generator.loaded.eos_token_ids[0]
    prompts = prompts_of(generator, 6)
    # make eos the likeliest token after the first step: bias the output layer
    head = generator.model.get_output_embeddings()
    bias_before = None if head.bias is None else head.bias.detach().clone()
    with torch.no_grad():
        if head.bias is None:
            head.bias = torch.nn.Parameter(torch.zeros(head.weight.shape[0]))
        head.bias[eos] += 1e4
    try:
        results = generator.generate(prompts, DecodingSettings(max_new_tokens=8, min_new_tokens=2), batch_size=3)
    finally:
        with torch.no_grad():
            head.bias = None if bias_before is None else torch.nn.Parameter(bias_before)
    for result in results:
        assert result.finish_reason == "stop" and len(result.new_token_ids) == 3
        assert result.new_token_ids[-1] == eos and eos not in result.new_token_ids[:-1]


@pytest.mark.parametrize("kind", KINDS)
def test_stop_strings_are_trimmed(kind, tiny_generators):
    generator = tiny_generators[kind]
    prompts = prompts_of(generator, 6)
    plain = generator.generate(prompts, GREEDY, batch_size=3)
    stop = stop_from(max((r.text for r in plain), key=len))
    stopped = generator.generate(prompts, GREEDY.with_options(stop=(stop, "never-there")), batch_size=3)
    found = 0
    for before, after in zip(plain, stopped):
        index = before.text.find(stop)
        if index < 0:
            assert after.text == before.text and after.new_token_ids == before.new_token_ids
            continue
        found += 1
        assert after.text == before.text[:index] and stop not in after.text
        assert after.finish_reason == "stop"
        # the ids keep the tokens that spell the stop string, and end with the one completing it
        ids = after.new_token_ids
        assert ids == before.new_token_ids[: len(ids)]
        assert stop in generator.decode(ids) and stop not in generator.decode(ids[:-1])
    assert found >= 1


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_samples_and_the_global_rng_is_untouched(kind, tiny_generators):
    generator = tiny_generators[kind]
    prompts = prompts_of(generator, 6)
    sampled = DecodingSettings(max_new_tokens=12, do_sample=True, temperature=1.5, top_k=0, seed=7)
    state = torch.random.get_rng_state()
    first = [r.text for r in generator.generate(prompts, sampled, batch_size=3)]
    assert torch.equal(state, torch.random.get_rng_state())
    torch.manual_seed(1234)  # the global RNG does not matter with a seed
    assert [r.text for r in generator.generate(prompts, sampled, batch_size=3)] == first
    other = [r.text for r in generator.generate(prompts, sampled.with_options(seed=8), batch_size=3)]
    assert other != first


def test_batch_seed_depends_on_the_batch():
    assert batch_seed(0, [[1, 2], [3]]) == batch_seed(0, [[1, 2], [3]])
    seeds = {batch_seed(0, [[1, 2], [3]]), batch_seed(0, [[3], [1, 2]]), batch_seed(1, [[1, 2], [3]]), batch_seed(0, [[1], [2, 3]])}
    assert len(seeds) == 4 and all(0 <= s < 2**63 for s in seeds)


@pytest.mark.parametrize("kind", KINDS)
def test_streaming_yields_the_same_text(kind, tiny_generators):
    generator = tiny_generators[kind]
    prompt = prompts_of(generator, 3)[2]
    expected = generator.generate_batch([prompt], GREEDY)[0]
    stream = generator.stream(prompt, GREEDY)
    pieces = list(stream)
    assert "".join(pieces) == expected.text and stream.result.new_token_ids == expected.new_token_ids
    assert stream.first_token_seconds is not None and stream.first_token_seconds <= stream.result.seconds + 0.1
    stop = stop_from(expected.text)
    stopped = generator.stream(prompt, GREEDY.with_options(stop=(stop,)))
    joined = "".join(stopped)
    assert joined == expected.text[: expected.text.find(stop)] == stopped.result.text


def test_leaving_a_stream_early_stops_the_generation(tiny_generators):
    generator = tiny_generators["gpt2"]
    prompt = prompts_of(generator, 1)[0]
    stream = generator.stream(prompt, DecodingSettings(max_new_tokens=100, min_new_tokens=100))
    assert len(list(itertools.islice(iter(stream), 1))) == 1  # the generator's finally joins the worker


def test_errors_in_the_worker_reach_the_stream(tiny_generators):
    generator = tiny_generators["gpt2"]
    with pytest.raises(Exception):
        list(generator.stream([10**6], GREEDY))  # a token id outside the vocabulary


def test_conv1d_to_linear_is_exact(tiny_folders):
    generator = Generator.load(tiny_folders["gpt2"])
    ids = torch.tensor([prompts_of(generator, 3)[2]])
    with torch.no_grad():
        before = generator.model(ids).logits
        assert conv1d_to_linear(generator.model) == 2 * 4  # c_attn, c_proj, c_fc, mlp c_proj per layer
        after = generator.model(ids).logits
    assert torch.allclose(before, after, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_int8_is_applied_before_the_first_generation_and_never_saved(kind, tiny_folders, tmp_path):
    fp32 = Generator.load(tiny_folders[kind])
    int8 = Generator.load(tiny_folders[kind], quantize="int8")
    assert not int8.quantized
    prompts = prompts_of(int8, 4)
    results = int8.generate(prompts, GREEDY, batch_size=2)
    assert int8.quantized and is_quantized(int8.model) and len(results) == 4
    int8.save(tmp_path / "saved")
    reloaded = Generator.load(tmp_path / "saved")
    assert not is_quantized(reloaded.model)
    reference = {k: v for k, v in fp32.model.state_dict().items()}
    assert {k: v.shape for k, v in reloaded.model.state_dict().items()} == {k: v.shape for k, v in reference.items()}
    assert all(torch.equal(v, reference[k]) for k, v in reloaded.model.state_dict().items())


def test_saved_files_respect_the_umask(tiny_generators, tmp_path):
    before = os.umask(0o022)
    try:
        tiny_generators["llama"].save(tmp_path / "saved")
    finally:
        os.umask(before)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "saved").iterdir()}
    assert modes["model.safetensors"] & 0o044 == 0o044  # readable by others under the usual 022 umask
    assert not list((tmp_path / "saved").glob("*.bin")) and not list((tmp_path / "saved").glob("*.pt"))

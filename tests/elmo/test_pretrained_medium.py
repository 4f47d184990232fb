"""The committed ``assets/elmo-medium`` encoder: complete, within budget, and trained."""

import json
from pathlib import Path

import pytest
import spacy
import torch

from spacy_lm_suite.elmo import ELMoConfig, batch_to_char_ids, load_elmo

ASSET = Path(__file__).resolve().parents[2] / "assets" / "elmo-medium"


@pytest.fixture(scope="module")
def elmo():
    return load_elmo(ASSET)


def vectors(elmo, sentence, layer):
    """``[n_words, 2 * proj]`` vectors of one layer for a whitespace-tokenised sentence."""
    with torch.no_grad():
        return elmo(*batch_to_char_ids([sentence.split()]))[layer, 0]


def cosine(a, b):
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_the_asset_is_the_medium_preset_within_25_mb_with_its_provenance():
    assert ELMoConfig.from_json(ASSET / "config.json") == ELMoConfig.preset("medium")
    assert (ASSET / "weights.safetensors").stat().st_size <= 25_000_000
    record = json.loads((ASSET / "pretraining.json").read_text())
    assert record["step"] == record["total_steps"] and record["command"] and record["suite_commit"]
    assert record["dev_perplexity"] < 300
    assert (ASSET / "curves.png").is_file() and (ASSET / "metrics.jsonl").is_file()


def test_context_free_layer_groups_similar_words(elmo):
    word = {w: vectors(elmo, w, 0)[0] for w in ("Monday", "Tuesday", "elephant", "London", "Paris")}
    assert cosine(word["Monday"], word["Tuesday"]) > cosine(word["Monday"], word["elephant"])
    assert cosine(word["London"], word["Paris"]) > cosine(word["London"], word["Tuesday"])


def test_top_layer_is_contextual(elmo):
    river = vectors(elmo, "He sat on the bank of the river .", 2)[4]
    money = vectors(elmo, "She paid the money into the bank account .", 2)[6]
    river_again = vectors(elmo, "They walked along the bank of the river .", 2)[4]
    assert cosine(river, river_again) > cosine(river, money)


@pytest.mark.filterwarnings("ignore:.*W007")  # spaCy notes that similarity comes from doc.tensor: intended
def test_a_pipeline_with_the_asset_gives_contextual_token_vectors():
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_elmo")
    config = nlp.config.copy()
    config["initialize"]["components"] = {"lm_elmo": {"path": str(ASSET)}}
    nlp.config = config
    nlp.initialize()
    river, central = nlp("I like the river bank ."), nlp("I like the central bank .")
    assert river[4].vector.shape == (512,)
    assert not (river[4].vector == central[4].vector).all()
    assert river[0].similarity(central[0]) > river[0].similarity(central[4])

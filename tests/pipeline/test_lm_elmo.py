"""The lm_elmo component: overfit, save/reload, pipe = serial, odd inputs, weights in initialize."""

import json

import h5py
import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_lm_suite.elmo import ELMo as TorchELMo
from spacy_lm_suite.elmo import ELMoConfig, batch_to_char_ids
from spacy_lm_suite.elmo.allennlp import load_allennlp_elmo
from spacy_lm_suite.elmo.checkpoint import save_elmo
from spacy_lm_suite.errors import UserError
from spacy_lm_suite.layers.elmo import torch_elmo
from spacy_lm_suite.layers.scalar_mix import weights

NER_DATA = [
    ("Alice lives in Paris", [(0, 5, "PER"), (15, 20, "LOC")]),
    ("Bob visited London yesterday", [(0, 3, "PER"), (12, 18, "LOC")]),
    ("I like Berlin", [(7, 13, "LOC")]),
]
TEXTCAT_DATA = [
    ("I loved this film", {"POS": 1.0, "NEG": 0.0}),
    ("what a dreadful mess", {"POS": 0.0, "NEG": 1.0}),
    ("great acting and a great story", {"POS": 1.0, "NEG": 0.0}),
    ("boring and far too long", {"POS": 0.0, "NEG": 1.0}),
]
ODD_TEXTS = [
    "",
    "   ",
    "\n\n\t ",
    "Alice lives in Paris",
    "😀 東京 に 行きます \x00 \x07 a\u200bb 🇫🇷👩‍👩‍👧",
    "Bob visited London yesterday. I like Berlin! " * 3,
]
LISTENER = {"@architectures": "spacy-lm-suite.ELMoListener.v1", "upstream": "*", "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def blank_with_elmo(**elmo_model):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_elmo", config={"model": {"preset": "tiny", **elmo_model}})
    return nlp


def add_ner(nlp):
    nlp.add_pipe(
        "ner",
        config={
            "model": {
                "@architectures": "spacy.TransitionBasedParser.v2",
                "state_type": "ner",
                "hidden_width": 32,
                "maxout_pieces": 2,
                "use_upper": True,
                "tok2vec": LISTENER,
            }
        },
    )


def add_textcat(nlp):
    nlp.add_pipe("textcat", config={"model": {"@architectures": "spacy.TextCatEnsemble.v2", "tok2vec": LISTENER}})


def train(nlp, examples, *, steps, learn_rate=0.01):
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = learn_rate
    for step in range(steps):
        nlp.update(examples[step % 2 :] + examples[: step % 2], sgd=optimizer)
    return nlp


@pytest.fixture(scope="module")
def ner_nlp():
    nlp = blank_with_elmo()
    add_ner(nlp)
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in NER_DATA]
    return train(nlp, examples, steps=60)


@pytest.fixture(scope="module")
def textcat_nlp():
    nlp = blank_with_elmo(layer_norm=True)
    add_textcat(nlp)
    examples = [Example.from_dict(nlp.make_doc(text), {"cats": cats}) for text, cats in TEXTCAT_DATA]
    return train(nlp, examples, steps=40)


def entities(doc):
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


def assert_same_docs(first, second, *, atol=1e-5):
    for a, b in zip(first, second, strict=True):
        assert entities(a) == entities(b)
        assert a.cats.keys() == b.cats.keys()
        # spaCy's textcat scores an empty doc 0 when it is alone in its batch,
        # and runs its model on it otherwise: compare non-empty docs only
        for label in a.cats if len(a) else []:
            assert abs(a.cats[label] - b.cats[label]) <= atol
        assert a.tensor.shape == b.tensor.shape == (len(a), 32)
        if a.tensor.size:
            assert numpy.abs(a.tensor - b.tensor).max() <= atol


def test_ner_overfits_through_the_listener(ner_nlp):
    for text, ents in NER_DATA:
        assert entities(ner_nlp(text)) == [(start, end, label) for start, end, label in ents]


def test_textcat_overfits_through_the_listener(textcat_nlp):
    for text, cats in TEXTCAT_DATA:
        predicted = textcat_nlp(text).cats
        assert max(predicted, key=predicted.get) == max(cats, key=cats.get)


@pytest.mark.parametrize("fixture", ["ner_nlp", "textcat_nlp"])
def test_to_disk_and_load_give_the_same_predictions(fixture, request, tmp_path):
    nlp = request.getfixturevalue(fixture)
    nlp.to_disk(tmp_path / "pipeline")
    assert not list((tmp_path / "pipeline").rglob("*.pt")) and not list((tmp_path / "pipeline").rglob("*.pkl"))
    loaded = spacy.load(tmp_path / "pipeline")
    texts = [text for text, _ in NER_DATA + TEXTCAT_DATA] + ODD_TEXTS
    assert_same_docs([nlp(text) for text in texts], [loaded(text) for text in texts])


def test_to_bytes_and_back(ner_nlp):
    loaded = spacy.blank("en")
    loaded.add_pipe("lm_elmo", config={"model": {"preset": "tiny"}})
    add_ner(loaded)
    loaded.from_bytes(ner_nlp.to_bytes())
    texts = [text for text, _ in NER_DATA] + ODD_TEXTS
    assert_same_docs([ner_nlp(text) for text in texts], [loaded(text) for text in texts])


@pytest.mark.parametrize("fixture", ["ner_nlp", "textcat_nlp"])
def test_pipe_with_any_batch_size_equals_calling_one_by_one(fixture, request):
    nlp = request.getfixturevalue(fixture)
    texts = [text for text, _ in NER_DATA + TEXTCAT_DATA] + ODD_TEXTS
    serial = [nlp(text) for text in texts]
    assert_same_docs(serial, list(nlp.pipe(texts, batch_size=1)))
    assert_same_docs(serial, list(nlp.pipe(texts, batch_size=8)))
    assert_same_docs(serial, list(nlp.pipe(texts, batch_size=3)))


def test_pipe_with_two_processes_equals_calling_one_by_one(ner_nlp):
    texts = [text for text, _ in NER_DATA + TEXTCAT_DATA] + ODD_TEXTS
    serial = [ner_nlp(text) for text in texts]
    assert_same_docs(serial, list(ner_nlp.pipe(texts, batch_size=2, n_process=2)))


def test_the_same_doc_always_gets_the_same_vectors(ner_nlp):
    first = ner_nlp("Alice lives in Paris")
    ner_nlp("Something else entirely, to move any state along.")
    again = ner_nlp("Alice lives in Paris")
    assert numpy.array_equal(first.tensor, again.tensor)


@pytest.mark.filterwarnings("ignore:.*W007")  # spaCy: "no word vectors loaded", by design here
def test_contextual_token_vectors_and_similarity(ner_nlp):
    doc1 = ner_nlp("I sat on the river bank")
    doc2 = ner_nlp("I paid cash at the bank")
    assert ner_nlp.vocab.vectors.size == 0
    assert numpy.array_equal(doc1[5].vector, doc1.tensor[5])
    assert not numpy.allclose(doc1[5].vector, doc2[5].vector)  # the same word, two contexts
    assert 0.0 < doc1.similarity(doc2) <= 1.0 + 1e-6


def test_set_tensor_false_leaves_doc_tensor_empty():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_elmo", config={"model": {"preset": "tiny"}, "set_tensor": False})
    nlp.initialize()
    assert nlp("hello world").tensor.size == 0


def test_a_10k_token_doc(ner_nlp):
    text = " ".join(["Alice lives in Paris ."] * 2000)
    doc = ner_nlp(text)
    assert len(doc) == 10_000 and doc.tensor.shape == (10_000, 32) and numpy.isfinite(doc.tensor).all()


@pytest.mark.slow
def test_a_1m_character_doc_is_processed_in_bounded_windows():
    nlp = blank_with_elmo(max_tokens_per_chunk=128, max_batch_tokens=2048)
    nlp.initialize()
    nlp.max_length = 2_000_000
    text = "The quick brown fox jumps over the lazy dog and runs far away . " * 16_000
    doc = nlp(text)
    assert len(text) >= 1_000_000 and doc.tensor.shape == (len(doc), 32)


def test_initialize_loads_a_pretraining_checkpoint(tmp_path):
    fix_random_seed(3)
    elmo = TorchELMo(config=ELMoConfig.preset("tiny")).eval()
    save_elmo(elmo, tmp_path / "elmo")
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_elmo")  # default: preset = null, size from the checkpoint
    initialize_with(nlp, path=str(tmp_path / "elmo"))
    doc = nlp.make_doc("Alice lives in Paris")
    layers = nlp.get_pipe("lm_elmo").predict([doc])[0]
    with torch.no_grad():
        expected = elmo(*batch_to_char_ids([[t.text for t in doc]]))[:, 0].numpy()
    assert numpy.abs(layers - expected).max() <= 1e-5
    s, gamma = weights(nlp.get_pipe("lm_elmo").model.get_ref("mix"))
    assert numpy.abs(nlp(doc.text).tensor - gamma * numpy.tensordot(s, expected, axes=1)).max() <= 1e-5


def initialize_with(nlp, **settings):
    config = nlp.config.copy()
    config["initialize"]["components"] = {"lm_elmo": settings}
    nlp.config = config
    return nlp.initialize()


def test_initialize_settings_from_the_config(tmp_path):
    save_elmo(TorchELMo(config=ELMoConfig.preset("tiny")), tmp_path / "elmo")
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_elmo")
    initialize_with(nlp, path=str(tmp_path / "elmo"))
    assert torch_elmo(nlp.get_pipe("lm_elmo").encoder).config.proj_dim == 16


def test_a_checkpoint_of_another_size_is_a_clear_error(tmp_path):
    config = ELMoConfig.preset("tiny")
    config.hidden_dim = 8
    save_elmo(TorchELMo(config=config), tmp_path / "elmo")
    nlp = blank_with_elmo()
    with pytest.raises(UserError, match=r"hidden_dim 8 \(preset: 32\)"):
        initialize_with(nlp, path=str(tmp_path / "elmo"))


def test_a_corrupt_weights_file_is_a_clear_error(tmp_path):
    save_elmo(TorchELMo(config=ELMoConfig.preset("tiny")), tmp_path / "elmo")
    weights_file = tmp_path / "elmo" / "weights.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:100])
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_elmo")
    with pytest.raises(UserError, match="weights.safetensors"):
        initialize_with(nlp, path=str(tmp_path / "elmo"))


def test_a_missing_checkpoint_is_a_clear_error(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_elmo")
    with pytest.raises(UserError, match="nothing-here"):
        initialize_with(nlp, path=str(tmp_path / "nothing-here"))


def test_path_and_allennlp_files_together_are_a_clear_error(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_elmo")
    with pytest.raises(UserError, match="not both"):
        initialize_with(nlp, path="a", allennlp_options="b", allennlp_weights="c")
    with pytest.raises(UserError, match="both allennlp_options and allennlp_weights"):
        initialize_with(nlp, allennlp_options="b")


def test_corrupt_pipeline_weights_are_a_clear_error(ner_nlp, tmp_path):
    ner_nlp.to_disk(tmp_path / "pipeline")
    model_file = tmp_path / "pipeline" / "lm_elmo" / "model"
    data = bytearray(model_file.read_bytes())
    start = data.index(b'{"__metadata__"') if b'{"__metadata__"' in data else data.index(b"__metadata__")
    data[start : start + 40] = b"\xff" * 40
    model_file.write_bytes(bytes(data))
    with pytest.raises(UserError, match="corrupt"):
        spacy.load(tmp_path / "pipeline")


def write_allennlp_files(directory, *, seed=0):
    """A small ELMo in AllenNLP's options.json + weights.hdf5 layout (bilm-tf names)."""
    rng = numpy.random.default_rng(seed)
    d, p, h, filters = 4, 6, 10, [[1, 4], [2, 5]]
    options = {
        "lstm": {"use_skip_connections": True, "projection_dim": p, "cell_clip": 3, "proj_clip": 3, "dim": h, "n_layers": 2},
        "char_cnn": {"activation": "relu", "filters": filters, "n_highway": 1, "embedding": {"dim": d},
                     "n_characters": 262, "max_characters_per_token": 50},
    }
    n = sum(count for _, count in filters)
    weights = {"char_embed": rng.normal(size=(261, d)), "CNN_proj/W_proj": rng.normal(size=(n, p)), "CNN_proj/b_proj": rng.normal(size=(p,))}
    for i, (width, count) in enumerate(filters):
        weights[f"CNN/W_cnn_{i}"] = rng.normal(size=(1, width, d, count))
        weights[f"CNN/b_cnn_{i}"] = rng.normal(size=(count,))
    for name in ("carry", "transform"):
        weights[f"CNN_high_0/W_{name}"] = rng.normal(size=(n, n))
        weights[f"CNN_high_0/b_{name}"] = rng.normal(size=(n,))
    for direction in range(2):
        for layer in range(2):
            group = f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
            weights[f"{group}/W_0"] = rng.normal(size=(2 * p, 4 * h))
            weights[f"{group}/B"] = rng.normal(size=(4 * h,))
            weights[f"{group}/W_P_0"] = rng.normal(size=(h, p))
    (directory / "options.json").write_text(json.dumps(options))
    with h5py.File(directory / "weights.hdf5", "w") as file:
        for name, value in weights.items():
            file.create_dataset(name, data=value.astype("float32"))
    return directory / "options.json", directory / "weights.hdf5"


def test_initialize_loads_allennlp_files_and_saves_them_with_the_pipeline(tmp_path):
    options, weights_file = write_allennlp_files(tmp_path)
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_elmo")
    initialize_with(nlp, allennlp_options=str(options), allennlp_weights=str(weights_file))
    doc = nlp("Alice lives in Paris")
    elmo = load_allennlp_elmo(options, weights_file)
    with torch.no_grad():
        expected = elmo(*batch_to_char_ids([[t.text for t in doc]]))[:, 0].numpy()
    assert numpy.abs(nlp.get_pipe("lm_elmo").predict([doc])[0] - expected).max() <= 1e-5
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert torch_elmo(loaded.get_pipe("lm_elmo").encoder).config.cell_clip == 3
    assert numpy.abs(loaded(doc.text).tensor - doc.tensor).max() <= 1e-5


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_pipe_with_two_processes_under_spawn_equals_calling_one_by_one(ner_nlp, start_method, tmp_path, monkeypatch):
    """spawn/forkserver pickle the pipeline into each worker (fork does not).
    spaCy takes Process/Queue/Pipe from its module ``mp``; a context stands in.
    The pipeline is saved and loaded first, as users run it: one just updated
    in memory holds its listeners' backprop closures, which stock spaCy cannot
    pickle either."""
    import multiprocessing

    import spacy.language

    ner_nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    monkeypatch.setattr(spacy.language, "mp", multiprocessing.get_context(start_method))
    texts = [text for text, _ in NER_DATA + TEXTCAT_DATA] + ODD_TEXTS
    serial = [loaded(text) for text in texts]
    assert_same_docs(serial, list(loaded.pipe(texts, batch_size=2, n_process=2)), atol=1e-4)

"""The lm_transformer component: overfit, save/reload, pipe = serial (fork, spawn), contextual vectors, bad input."""

import subprocess
import sys
import warnings

import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.layers.transformer import hf_encoder
from spacy_lm_suite.vectors.contextual import ContextualVectors

NER_DATA = [
    ("Alice lives in Paris", [(0, 5, "PER"), (15, 20, "LOC")]),
    ("Bob visited London yesterday", [(0, 3, "PER"), (12, 18, "LOC")]),
    ("I like Berlin", [(7, 13, "LOC")]),
]
ODD_TEXTS = ["", "   ", "\n\n\t ", "🙂🙂🙂", "Café naïve 北京 don't", "Bob visited London yesterday. I like Berlin! " * 6]
LISTENER = {"@architectures": "spacy-lm-suite.TransformerListener.v1", "upstream": "*"}
TINY = {"window": 48, "stride": 32}  # the tiny models take 64 positions


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def blank_with_transformer(folder, **model):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_transformer", config={"model": {"name": str(folder), **TINY, **model}})
    return nlp


def add_ner(nlp):
    nlp.add_pipe("ner", config={"model": {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "hidden_width": 32,
        "maxout_pieces": 2, "use_upper": True, "tok2vec": LISTENER,
    }})


def entities(doc):
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


def assert_same_docs(first, second, *, atol=1e-5):
    for a, b in zip(first, second, strict=True):
        assert entities(a) == entities(b)
        assert a.tensor.shape == b.tensor.shape == (len(a), 32)
        if a.tensor.size:
            assert numpy.abs(a.tensor - b.tensor).max() <= atol


@pytest.fixture(scope="module")
def ner_nlp(tiny_bert_dir):
    nlp = blank_with_transformer(tiny_bert_dir)
    add_ner(nlp)
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in NER_DATA]
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.005
    for step in range(80):
        nlp.update(examples[step % 3 :] + examples[: step % 3], sgd=optimizer, drop=0.0)
    return nlp


def test_ner_overfits_through_the_listener(ner_nlp):
    for text, ents in NER_DATA:
        assert entities(ner_nlp(text)) == [tuple(e) for e in ents]


def test_to_disk_and_load_give_the_same_predictions(ner_nlp, tmp_path):
    ner_nlp.to_disk(tmp_path / "pipeline")
    assert not list((tmp_path / "pipeline").rglob("pytorch_model.bin")) and not list((tmp_path / "pipeline").rglob("*.pkl"))
    loaded = spacy.load(tmp_path / "pipeline")
    assert isinstance(loaded.vocab.vectors, ContextualVectors)
    texts = [text for text, _ in NER_DATA] + ODD_TEXTS
    assert_same_docs([ner_nlp(t) for t in texts], [loaded(t) for t in texts])


def test_to_bytes_and_back(ner_nlp):
    loaded = spacy.blank("en", config={"nlp": {"vectors": {"@vectors": "spacy-lm-suite.ContextualVectors.v1"}}})
    loaded.add_pipe("lm_transformer", config={"model": TINY})  # no name: the weights come from the bytes
    add_ner(loaded)
    loaded.from_bytes(ner_nlp.to_bytes())
    texts = [text for text, _ in NER_DATA] + ODD_TEXTS
    assert_same_docs([ner_nlp(t) for t in texts], [loaded(t) for t in texts])
    stock = spacy.blank("en")  # spaCy's own (empty) vectors table reads the bytes too
    stock.add_pipe("lm_transformer", config={"model": TINY})
    add_ner(stock)
    stock.from_bytes(ner_nlp.to_bytes())
    assert_same_docs([ner_nlp(t) for t in texts], [stock(t) for t in texts])


def test_pipe_with_any_batch_size_equals_calling_one_by_one(ner_nlp):
    texts = [text for text, _ in NER_DATA] + ODD_TEXTS
    serial = [ner_nlp(t) for t in texts]
    for batch_size in (1, 3, 16):
        assert_same_docs(serial, list(ner_nlp.pipe(texts, batch_size=batch_size)), atol=1e-4)


def test_the_encoder_runs_once_per_batch_when_the_parser_predicts_sub_batches(ner_nlp, monkeypatch):
    """spaCy's parser predicts length-sorted sub-batches of a quarter of the batch: the
    listener gets their layers from the batch's, without running the encoder again."""
    component = ner_nlp.get_pipe("lm_transformer")
    calls = []
    predict_layers = component.predict_layers
    monkeypatch.setattr(component, "predict_layers", lambda docs: calls.append(len(docs)) or predict_layers(docs))
    texts = [text for text, _ in NER_DATA] * 30
    docs = list(ner_nlp.pipe(texts, batch_size=40))
    assert calls == [40, 40, 10]
    assert [entities(d) for d in docs] == [entities(ner_nlp(t)) for t in texts]


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_pipe_with_two_processes_equals_calling_one_by_one(ner_nlp, start_method, tmp_path, monkeypatch):
    """spawn pickles the pipeline into each worker (fork does not); a loaded pipeline, as users run it."""
    import multiprocessing

    import spacy.language

    ner_nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    monkeypatch.setattr(spacy.language, "mp", multiprocessing.get_context(start_method))
    texts = [text for text, _ in NER_DATA] + ODD_TEXTS
    serial = [loaded(t) for t in texts]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no W007 in the workers' docs either
        docs = list(loaded.pipe(texts, batch_size=2, n_process=2))
        assert_same_docs(serial, docs, atol=1e-4)
        assert 0.0 < docs[0].similarity(docs[1]) <= 1.0 + 1e-6


def test_frozen_weights_do_not_change_and_log_no_loss(tiny_bert_dir):
    nlp = blank_with_transformer(tiny_bert_dir, grad=False)
    add_ner(nlp)
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in NER_DATA]
    optimizer = nlp.initialize(lambda: examples)
    model = hf_encoder(nlp.get_pipe("lm_transformer").encoder).model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = {}
    for _ in range(3):
        nlp.update(examples, sgd=optimizer, losses=losses)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    assert losses["lm_transformer"] == 0.0 and losses["ner"] > 0.0


def test_tensor_layer_choices(tiny_bert_dir):
    nlp = blank_with_transformer(tiny_bert_dir)
    nlp.initialize()
    component = nlp.get_pipe("lm_transformer")
    doc = nlp("Alice lives in Paris")
    layers = component.encoder.predict([nlp.make_doc(doc.text)])[0]
    assert numpy.abs(doc.tensor - layers[-1]).max() <= 1e-5  # the default: the last layer
    component.cfg["tensor_layer"] = 1
    assert numpy.abs(nlp(doc.text).tensor - layers[1]).max() <= 1e-5
    component.cfg["tensor_layer"] = "mix"
    assert nlp(doc.text).tensor.shape == (4, 32)
    component.cfg["tensor_layer"] = 7
    with pytest.raises(UserError, match="tensor_layer = 7 but the encoder has 3 layers"):
        nlp(doc.text)


def test_contextual_vectors_without_w007(tiny_bert_dir):
    nlp = blank_with_transformer(tiny_bert_dir)
    nlp.initialize()
    assert isinstance(nlp.vocab.vectors, ContextualVectors)
    assert nlp.meta["vectors"]["keys"] == 1 and nlp.meta["vectors"]["name"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = nlp("the river bank"), nlp("the bank account")
        assert numpy.array_equal(a[2].vector, a.tensor[2])
        assert not numpy.allclose(a[1].vector, b[1].vector)
        assert 0.0 < a.similarity(b) <= 1.0 + 1e-6 and a[1:].similarity(b[:2]) > 0


def test_roberta_runs_end_to_end(tiny_roberta_dir):
    nlp = blank_with_transformer(tiny_roberta_dir)
    nlp.initialize()
    docs = list(nlp.pipe(ODD_TEXTS))
    assert all(d.tensor.shape == (len(d), 32) and numpy.isfinite(d.tensor).all() for d in docs)


def test_bad_model_folders_are_clear_errors(tmp_path, tiny_bert_dir):
    import shutil

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_bert_dir, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    slow = tmp_path / "slow"
    shutil.copytree(tiny_bert_dir, slow)
    (slow / "tokenizer.json").unlink()
    (slow / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n", encoding="utf8")
    (slow / "tokenizer_config.json").write_text('{"tokenizer_class": "BertTokenizer"}', encoding="utf8")
    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    shutil.copy(tiny_bert_dir / "config.json", no_tokenizer)
    shutil.copy(tiny_bert_dir / "model.safetensors", no_tokenizer)
    cases = [
        (tmp_path / "missing", "no such model folder"),
        (pickled, "holds only pickle weights"),
        (no_tokenizer, "no tokenizer files"),
        (tiny_bert_dir / "config.json", "not a folder"),
    ]
    for folder, message in cases:
        nlp = blank_with_transformer(folder)
        with pytest.raises(UserError, match=message):
            nlp.initialize()
    nlp = blank_with_transformer(tiny_bert_dir, window=200, stride=100)
    with pytest.raises(UserError, match="over the model's limit of 64"):
        nlp.initialize()


@pytest.mark.slow
def test_minilm_bank_senses_and_no_w007(minilm_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_transformer", config={"model": {"name": str(minilm_dir), "grad": False}})
    nlp.initialize()

    def bank(text, layer):
        nlp.get_pipe("lm_transformer").cfg["tensor_layer"] = layer
        doc = nlp(text)
        vector = [t for t in doc if t.text == "bank"][0].vector
        return vector / numpy.linalg.norm(vector)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for layer, margin in (("last", 0.0), (1, 0.03)):
            river, account, stream = (bank(t, layer) for t in ("river bank", "bank account", "muddy bank of the stream"))
            assert river @ account < river @ stream - margin, layer


SENSES = [  # (word, anchor sentence, same sense, other sense)
    ("bank", "we walked along the river bank", "the muddy bank of the stream", "she opened a bank account"),
    ("bat", "the bat flew out of the cave", "a bat hangs upside down at night", "he swung the baseball bat"),
    ("spring", "flowers bloom in spring", "the warm days of spring", "water from a mountain spring"),
    ("plant", "the plant needs water and sun", "a green plant in a pot", "the car plant closed"),
    ("bark", "the dog began to bark", "I heard the dogs bark loudly", "the bark of the old tree"),
    ("match", "he lit a match", "a box of match sticks", "we won the football match"),
    ("cell", "the prisoner sat in his cell", "a locked cell in the jail", "a cell divides in biology"),
    ("fair", "the judge was fair", "a fair and honest decision", "we rode rides at the county fair"),
]


@pytest.mark.slow
def test_minilm_token_vectors_separate_word_senses_in_sentences(minilm_dir):
    """On token.vector (the default last layer): the same sense is closer than the other
    (measured: mean margin 0.099, 7 of 8; the embedding layer alone: 0.012, 4 of 8)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_transformer", config={"model": {"name": str(minilm_dir), "grad": False}})
    nlp.initialize()

    def vector(text, word):
        v = [t for t in nlp(text) if t.text == word][0].vector
        return v / numpy.linalg.norm(v)

    margins = []
    for word, anchor, same, other in SENSES:
        a, b, c = vector(anchor, word), vector(same, word), vector(other, word)
        margins.append(float(a @ b - a @ c))
    assert numpy.mean(margins) >= 0.05 and sum(m > 0 for m in margins) >= 7, margins


@pytest.mark.slow
def test_a_1m_character_doc_under_an_rss_ceiling(tiny_bert_dir, tmp_path):
    """Prediction with no listener keeps one layer per batch: the peak stays near the
    output (~210k tokens x 32 floats) plus the doc, far below all layers of it."""
    script = f"""
import resource, spacy, torch
torch.set_num_threads(1)
nlp = spacy.blank("en")
nlp.max_length = 2_000_000
nlp.add_pipe("lm_transformer", config={{"model": {{"name": {str(tiny_bert_dir)!r}, "window": 48, "stride": 32}}}})
nlp.initialize()
text = ("Alice lives in Paris . " * 50_000)[:1_000_000]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
doc = nlp(text)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(doc), doc.tensor.shape[1], before, after)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    n_tokens, width, before, after = map(int, out.stdout.split())
    assert n_tokens > 200_000 and width == 32
    output_kib = n_tokens * width * 4 / 1024
    assert after - before < 40 * output_kib, (before, after, output_kib)


def test_the_encoder_optimizer_updates_only_the_encoder(tiny_bert_dir):
    from thinc.api import Adam

    nlp = spacy.blank("en")
    nlp.add_pipe("lm_transformer", config={"model": {"name": str(tiny_bert_dir), **TINY}, "optimizer": {"@optimizers": "Adam.v1", "learn_rate": 0.01}})
    add_ner(nlp)
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in NER_DATA]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(3):  # move the NER head off its zero-initialised output layer, so gradients flow
        nlp.update(examples, sgd=optimizer)
    model = hf_encoder(nlp.get_pipe("lm_transformer").encoder).model
    encoder_before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ner_before = nlp.get_pipe("ner").model.to_bytes()
    # spaCy calls the encoder's finish_update right after its own update, before the
    # listeners backpropagate into it (as for its Tok2Vec): gradients land one update later
    for _ in range(2):
        nlp.update(examples, sgd=Adam(0.0))  # the global optimizer moves nothing
    assert any(not torch.equal(encoder_before[n], p) for n, p in model.named_parameters())
    assert nlp.get_pipe("ner").model.to_bytes() == ner_before


@pytest.mark.parametrize("start_method", ["spawn"])
def test_a_pipeline_with_an_encoder_optimizer_pickles_and_runs_under_spawn(tiny_bert_dir, start_method, tmp_path, monkeypatch):
    """The component's own optimizer (a warmup_linear schedule: a Python generator) is
    not pickled; the unpickled copy predicts, and refuses to train rather than silently
    switching to spaCy's optimizer."""
    import multiprocessing
    import pickle

    import spacy.language

    schedule = {"@schedules": "warmup_linear.v1", "warmup_steps": 2, "total_steps": 10, "initial_rate": 1e-3}
    nlp = blank_with_transformer(tiny_bert_dir)
    nlp.get_pipe("lm_transformer").optimizer = spacy.util.registry.resolve(
        {"o": {"@optimizers": "Adam.v1", "learn_rate": schedule}})["o"]
    add_ner(nlp)
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in NER_DATA]
    optimizer = nlp.initialize(lambda: examples)
    nlp.update(examples, sgd=optimizer)
    copy = pickle.loads(pickle.dumps(nlp))
    texts = [text for text, _ in NER_DATA] + ODD_TEXTS
    assert_same_docs([nlp(t) for t in texts], [copy(t) for t in texts], atol=1e-5)
    with pytest.raises(UserError, match="unpickled, which drops the component's own optimizer"):
        copy.update(examples, sgd=copy.resume_training())
    monkeypatch.setattr(spacy.language, "mp", multiprocessing.get_context(start_method))
    assert_same_docs([nlp(t) for t in texts], list(nlp.pipe(texts, batch_size=2, n_process=2)), atol=1e-4)
    assert nlp.get_pipe("lm_transformer").optimizer is not None  # the original keeps it


def test_an_optimizer_on_a_frozen_encoder_is_an_error(tiny_bert_dir):
    nlp = spacy.blank("en")
    with pytest.raises(UserError, match="an optimizer is set but the encoder is frozen"):
        nlp.add_pipe("lm_transformer", config={"model": {"name": str(tiny_bert_dir), "grad": False, **TINY}, "optimizer": {"@optimizers": "Adam.v1"}})


def test_a_listener_width_that_does_not_match_is_an_error(tiny_bert_dir):
    nlp = blank_with_transformer(tiny_bert_dir)
    nlp.initialize()
    with pytest.raises(UserError, match="has width = 384, but its upstream component 'lm_transformer' gives 32"):
        nlp.add_pipe("ner", config={"model": {
            "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "hidden_width": 32,
            "maxout_pieces": 2, "use_upper": True, "tok2vec": {**LISTENER, "width": 384},
        }})


@pytest.mark.parametrize("with_listener", [False, True])
def test_piece_outputs_on_request(tiny_bert_dir, with_listener, tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_transformer", config={"model": {"name": str(tiny_bert_dir), **TINY}, "piece_outputs": True})
    if with_listener:
        add_ner(nlp)
    nlp.initialize(lambda: [Example.from_dict(nlp.make_doc("Alice lives in Paris"), {"entities": [(0, 5, "PER")]})])
    text = "Alice lives in Paris, don't you? " * 3
    doc = nlp(text)
    record = doc._.lm_pieces
    tokenizer = hf_encoder(nlp.get_pipe("lm_transformer").encoder).tokenizer
    assert record["ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]
    assert record["vectors"].shape == (len(record["ids"]), 32) and numpy.isfinite(record["vectors"]).all()
    alice = [i for i, (start, end) in enumerate(record["offsets"]) if end <= 5]  # the pieces of "Alice"
    assert record["offsets"][0][0] == 0 and alice
    assert numpy.abs(record["vectors"][alice].mean(axis=0) - doc.tensor[0]).max() <= 1e-5  # mean pooling
    assert spacy.tokens.Doc(nlp.vocab).from_bytes(doc.to_bytes())._.lm_pieces["ids"] == record["ids"]
    plain = blank_with_transformer(tiny_bert_dir)
    plain.initialize()
    assert plain(text)._.lm_pieces is None  # off by default

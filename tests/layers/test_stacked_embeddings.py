"""StackedEmbeddings.v1: static + ELMo + transformer parts in one tok2vec (mix and concat modes)."""

import multiprocessing

import numpy
import pytest
import spacy
import spacy.language
from spacy.training import Example
from thinc.api import Model, fix_random_seed

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.layers.stacked_embeddings import StackedEmbeddings, _norms, _split, mix_weights

NER_DATA = [
    ("Alice lives in Paris", [(0, 5, "PER"), (15, 20, "LOC")]),
    ("Bob visited London yesterday", [(0, 3, "PER"), (12, 18, "LOC")]),
    ("I like Berlin", [(7, 13, "LOC")]),
]
TEXTS = [text for text, _ in NER_DATA] + ["", "Café naïve 北京 don't", "Bob visited London yesterday. I like Berlin! " * 4]
STATIC = {"@architectures": "spacy.Tok2VecListener.v1", "width": 16, "upstream": "tok2vec"}
TRANSFORMER = {"@architectures": "spacy-lm-suite.TransformerListener.v1", "upstream": "*"}
ELMO = {"@architectures": "spacy-lm-suite.ELMoListener.v1", "upstream": "*", "dropout": 0.0}
PARTS = {"static": STATIC, "transformer": TRANSFORMER, "elmo": ELMO}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build(tiny_bert_dir, *, parts=("static", "transformer", "elmo"), mode="mix", configs=None, **stacked):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    if "static" in parts:
        nlp.add_pipe("tok2vec", config={"model": {
            "@architectures": "spacy.Tok2Vec.v2",
            "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 16, "attrs": ["NORM", "SHAPE"],
                      "rows": [500, 50], "include_static_vectors": False},
            "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 16, "depth": 1,
                       "window_size": 1, "maxout_pieces": 2},
        }})
    if "transformer" in parts:
        nlp.add_pipe("lm_transformer", config={"set_tensor": "static" not in parts, "model": {
            "name": str(tiny_bert_dir), "window": 48, "stride": 32}})
    if "elmo" in parts:
        nlp.add_pipe("lm_elmo", config={"set_tensor": "static" not in parts, "model": {"preset": "tiny"}})
    nlp.add_pipe("ner", config={"model": {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "hidden_width": 32,
        "maxout_pieces": 2, "use_upper": True,
        "tok2vec": {"@architectures": "spacy-lm-suite.StackedEmbeddings.v1", "width": 24, "mode": mode,
                    "parts": {name: {**PARTS, **(configs or {})}[name] for name in parts}, **stacked},
    }})
    return nlp


def examples(nlp):
    return [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in NER_DATA]


def train(nlp, steps):
    data = examples(nlp)
    optimizer = nlp.initialize(lambda: data)
    optimizer.learn_rate = 0.01
    for step in range(steps):
        nlp.update(data[step % 3 :] + data[: step % 3], sgd=optimizer, drop=0.0)
    return nlp


def stacked(nlp):
    return next(node for node in nlp.get_pipe("ner").model.walk() if node.name == "lm_stacked_embeddings")


def ents(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


@pytest.fixture(scope="module", params=["mix", "concat", "mix-normalize", "concat-normalize"])
def trained(request, tiny_bert_dir):
    mode, _, normalize = request.param.partition("-")
    return train(build(tiny_bert_dir, mode=mode, part_dropout=0.1, normalize=bool(normalize)), 60)


def test_overfits_and_reloads_with_every_kind_of_part(trained, tmp_path):
    for text, gold in NER_DATA:
        assert ents(trained(text)) == [tuple(e) for e in gold]
    trained.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    for text in TEXTS:
        assert ents(loaded(text)) == ents(trained(text))
    weights = mix_weights(stacked(loaded))
    if stacked(loaded).attrs["mode"] == "mix":
        assert set(weights) == {"static", "transformer", "elmo"} and sum(weights.values()) == pytest.approx(1.0)
        assert weights == pytest.approx(mix_weights(stacked(trained)))
    else:
        assert weights == {}


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_pipe_with_two_processes_equals_serial(trained, start_method, tmp_path, monkeypatch):
    trained.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    serial = [ents(loaded(text)) for text in TEXTS]
    assert [ents(doc) for doc in loaded.pipe(TEXTS, batch_size=2)] == serial
    monkeypatch.setattr(spacy.language, "mp", multiprocessing.get_context(start_method))
    assert [ents(doc) for doc in loaded.pipe(TEXTS, batch_size=2, n_process=2)] == serial


@pytest.mark.parametrize("normalize", [False, True])
def test_the_mix_gradient_reaches_every_part_projection(tiny_bert_dir, normalize):
    nlp = build(tiny_bert_dir, normalize=normalize)
    data = examples(nlp)
    optimizer = nlp.initialize(lambda: data)
    for _ in range(3):  # the parser's output layer starts at zero: no gradient below it at step 1
        nlp.update(data, sgd=optimizer)
    nlp.update(data, sgd=False)  # gradients kept, not applied
    model = stacked(nlp)
    names, _, projections = _split(model)
    for name, projection, norm in zip(names, projections, _norms(model)):
        assert numpy.abs(projection.get_grad("W")).sum() > 0, name
        assert (norm is not None) == normalize
        if norm is not None:
            assert numpy.abs(norm.get_grad("G")).sum() > 0, name
    assert numpy.abs(model.get_grad("s")).sum() > 0 and numpy.abs(model.get_grad("gamma")).sum() > 0


def test_normalize_puts_every_part_on_one_scale(tiny_bert_dir):
    nlp = build(tiny_bert_dir, parts=("static", "elmo"), normalize=True)
    nlp.initialize(lambda: examples(nlp))
    docs = list(nlp.get_pipe("lm_elmo").pipe(nlp.get_pipe("tok2vec").pipe(nlp.make_doc(t) for t in TEXTS[:3])))
    model = stacked(nlp)
    names, parts, _ = _split(model)
    for name, part, norm in zip(names, parts, _norms(model)):
        raw = numpy.concatenate(part.predict(docs))
        normed = norm.predict(raw)
        assert numpy.abs(normed.mean(axis=1)).max() < 1e-3, name
        assert numpy.allclose(normed.std(axis=1), 1.0, atol=1e-2), name


def test_mix_init_starts_from_the_parts_strength(tiny_bert_dir):
    nlp = build(tiny_bert_dir, parts=("static", "transformer"), mix_init={"static": 3.0, "transformer": 1.0})
    nlp.initialize(lambda: examples(nlp))
    assert mix_weights(stacked(nlp)) == pytest.approx({"static": 0.75, "transformer": 0.25})


def test_a_zero_width_part_is_an_error():
    empty = Model("empty", lambda model, X, is_train: ([model.ops.alloc2f(len(d), 0) for d in X], lambda d: []),
                  dims={"nO": 0})
    other = Model("other", lambda model, X, is_train: ([model.ops.alloc2f(len(d), 4) for d in X], lambda d: []),
                  dims={"nO": 4})
    model = StackedEmbeddings(parts={"empty": empty, "other": other}, width=8)
    with pytest.raises(UserError, match="part 'empty' has width 0"):
        model.initialize(X=[spacy.blank("en")("a b")])


def test_a_listener_without_its_upstream_is_an_error(tiny_bert_dir):
    nlp = build(tiny_bert_dir, parts=("static", "transformer"), configs={"transformer": {**TRANSFORMER, "upstream": "encoder"}})
    with pytest.raises(UserError, match="does not know its upstream's layers yet"):
        nlp.initialize(lambda: examples(nlp))


def test_a_static_listener_whose_doc_tensor_is_overwritten_is_an_error(tiny_bert_dir):
    nlp = build(tiny_bert_dir, parts=("static", "transformer"))
    nlp.get_pipe("lm_transformer").cfg["set_tensor"] = True  # writes doc.tensor after the tok2vec
    nlp.initialize(lambda: examples(nlp))
    with pytest.raises(UserError, match="part 'static' gave vectors of width 32, expected 16.*set_tensor = false"):
        nlp("Alice lives in Paris")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"mode": "sum"}, "mode must be"),
        ({"width": 0}, "width must be a positive integer"),
        ({"part_dropout": 1.0}, "part_dropout must be in"),
        ({"mix_init": {"glove": 1.0}}, "mix_init names glove"),
        ({"mix_init": {"static": 0.0}}, "strengths must be positive"),
        ({"mode": "concat", "mix_init": {"static": 1.0}}, "mix_init applies to mode"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, message):
    parts = {name: Model(name, lambda m, X, t: (X, lambda d: d), dims={"nO": 4}) for name in ("static", "elmo")}
    with pytest.raises(UserError, match=message):
        StackedEmbeddings(parts=parts, **{"width": 8, **kwargs})


def test_one_part_is_an_error():
    with pytest.raises(UserError, match="at least two"):
        StackedEmbeddings(parts={"static": Model("static", lambda m, X, t: (X, lambda d: d))}, width=8)

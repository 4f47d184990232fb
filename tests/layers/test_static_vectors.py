import numpy
import pytest
import spacy
from numpy.testing import assert_allclose
from thinc.api import Adam, Softmax, chain, with_array

from spacy_lm_suite.layers.static_vectors import StaticVectors, bind_tables
from spacy_lm_suite.vectors.table import LMVectors

WORDS = ["paris", "london", "the", "a"]


@pytest.fixture
def table():
    data = numpy.arange(len(WORDS) * 3, dtype="float32").reshape(len(WORDS), 3) + 1
    return LMVectors.from_arrays(WORDS, data, fallback=["exact", "lower"])


@pytest.fixture
def nlp(table):
    nlp = spacy.blank("en")
    nlp.vocab.vectors = table
    return nlp


def test_raw_vectors_use_the_fallback_chain(nlp, table):
    docs = [nlp("Paris the xyz"), nlp("LONDON")]
    model = StaticVectors()
    model.initialize(X=docs)
    assert model.get_dim("nO") == 3
    outputs = model.predict(docs)
    assert [output.shape for output in outputs] == [(3, 3), (1, 3)]
    assert_allclose(outputs[0][0], table.data[0])
    assert_allclose(outputs[0][1], table.data[2])
    assert_allclose(outputs[0][2], numpy.zeros(3))
    assert_allclose(outputs[1][0], table.data[1])


def test_projection_and_empty_docs(nlp):
    docs = [nlp("Paris"), nlp("")]
    model = StaticVectors(nO=5, dropout=0.2)
    model.initialize(X=docs)
    outputs = model.predict(docs)
    assert [output.shape for output in outputs] == [(1, 5), (0, 5)]
    empty, backprop = model.begin_update([nlp("")])
    assert empty[0].shape == (0, 5) and backprop([empty[0]]) == []


def test_learned_oov_vector_gets_gradient(nlp):
    docs = [nlp("xyz Paris")]
    model = StaticVectors(nO=4, oov="learned")
    model.initialize(X=docs)
    outputs, backprop = model.begin_update(docs)
    backprop([numpy.ones_like(outputs[0])])
    assert numpy.abs(model.get_grad("oov")).sum() > 0
    assert numpy.abs(model.get_grad("W")).sum() > 0


def test_overfit_then_save_and_reload(nlp):
    docs = [nlp("Paris the London a xyz"), nlp("the Paris a")]
    truths = [numpy.eye(2, dtype="float32")[[0, 1, 0, 1, 0]], numpy.eye(2, dtype="float32")[[1, 0, 1]]]
    model = chain(StaticVectors(nO=8, oov="learned"), with_array(Softmax(nO=2)))
    model.initialize(X=docs, Y=truths)
    optimizer = Adam(0.05)
    for _ in range(200):
        guesses, backprop = model.begin_update(docs)
        backprop([guess - truth for guess, truth in zip(guesses, truths)])
        model.finish_update(optimizer)
    guesses = model.predict(docs)
    assert all((guess.argmax(axis=1) == truth.argmax(axis=1)).all() for guess, truth in zip(guesses, truths))
    reloaded = chain(StaticVectors(nO=8, oov="learned"), with_array(Softmax(nO=2)))
    reloaded.initialize(X=docs, Y=truths)
    reloaded.from_bytes(model.to_bytes())
    for before, after in zip(guesses, reloaded.predict(docs)):
        assert_allclose(before, after)


def test_named_table_must_be_bound(nlp, table):
    model = StaticVectors(table="glove")
    with pytest.raises(ValueError, match="'glove' is not loaded"):
        model.initialize(X=[nlp("Paris")])
    with pytest.raises(ValueError, match="asks for table 'glove'"):
        bind_tables(model, {"w2v": table})
    bind_tables(model, {"glove": table})
    model.initialize(X=[nlp("Paris")])


def test_bad_oov_mode():
    with pytest.raises(ValueError, match="oov must be one of"):
        StaticVectors(oov="random")

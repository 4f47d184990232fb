import multiprocessing
import subprocess
import sys

import numpy
import pytest
import spacy
import spacy.language
from numpy.testing import assert_allclose
from spacy.training import Example

from spacy_lm_suite.vectors.loading import install_vectors
from spacy_lm_suite.vectors.table import LMVectors

VECTORS = {"paris": [1.0, 0.0, 0.5], "london": [0.9, 0.1, 0.4], "went": [0.0, 1.0, 0.0], "to": [0.1, 0.9, 0.2]}
TRAIN = [
    ("I went to Paris", [(10, 15, "LOC")]),
    ("London is far", [(0, 6, "LOC")]),
    ("She went to London today", [(12, 18, "LOC")]),
]
LISTENER_NER = {
    "model": {
        "@architectures": "spacy.TransitionBasedParser.v2",
        "state_type": "ner",
        "hidden_width": 32,
        "maxout_pieces": 2,
        "use_upper": True,
        "tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "width": 3, "upstream": "lm_vectors"},
    }
}


@pytest.fixture
def vectors_file(tmp_path):
    path = tmp_path / "tiny.vec"
    lines = [f"{len(VECTORS)} 3"] + [f"{word} " + " ".join(map(str, row)) for word, row in VECTORS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def _trained_nlp(vectors_file):
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_vectors")
    nlp.add_pipe("ner", config=LISTENER_NER)
    nlp.config["initialize"]["components"]["lm_vectors"] = {"tables": {"main": str(vectors_file)}}
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in TRAIN]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(120):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    return nlp


@pytest.mark.filterwarnings("ignore:.W007")
def test_token_vector_comes_from_the_table(vectors_file):
    nlp = _trained_nlp(vectors_file)
    doc = nlp("Paris to nowhere")
    assert_allclose(doc[0].vector, VECTORS["paris"])
    assert_allclose(doc[2].vector, numpy.zeros(3))
    assert doc[0].similarity(nlp("London")[0]) > 0.9


def test_overfit_save_reload_and_pipe(vectors_file, tmp_path):
    nlp = _trained_nlp(vectors_file)
    texts = [text for text, _ in TRAIN]
    predicted = [[(ent.start_char, ent.end_char, ent.label_) for ent in nlp(text).ents] for text in texts]
    assert predicted == [ents for _, ents in TRAIN]

    nlp.to_disk(tmp_path / "pipeline")
    reloaded = spacy.load(tmp_path / "pipeline")
    assert reloaded.get_pipe("lm_vectors").cfg["tables"] == ["main"]
    for text, ents in zip(texts, predicted):
        doc = reloaded(text)
        assert [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents] == ents
        assert_allclose(doc.tensor, nlp(text).tensor)
    piped = list(reloaded.pipe(texts, n_process=2, batch_size=1))
    for doc, text in zip(piped, texts):
        assert_allclose(doc.tensor, reloaded(text).tensor)
        assert_allclose(doc[0].vector, reloaded(text)[0].vector)

    from_bytes = spacy.blank("en")
    from_bytes.add_pipe("lm_vectors")
    from_bytes.add_pipe("ner", config=LISTENER_NER)
    from_bytes.from_bytes(nlp.to_bytes())
    assert [ent.text for ent in from_bytes(texts[0]).ents] == ["Paris"]


def test_reload_in_a_new_process(vectors_file, tmp_path):
    nlp = _trained_nlp(vectors_file)
    nlp.to_disk(tmp_path / "pipeline")
    code = (
        "import spacy, sys; nlp = spacy.load(sys.argv[1]); doc = nlp('I went to Paris');"
        "print(doc[3].vector.tolist(), [e.text for e in doc.ents])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "pipeline")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"{VECTORS['paris']} ['Paris']"


def test_missing_table_is_a_clear_error():
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_vectors")
    with pytest.raises(ValueError, match="asks for table 'main', but the component has no tables"):
        nlp.initialize()


# -- nlp.pipe(n_process=2) under every start method equals nlp() (issue 9 §2) ----------

START_METHODS = ["fork", "spawn", "forkserver"]
PIPE_TEXTS = [text for text, _ in TRAIN] + ["PARIS and london", "went to paris", "nowhere at all"]


@pytest.fixture(params=START_METHODS)
def start_method(request, monkeypatch):
    """Make spaCy's ``Language.pipe(n_process=...)`` start its workers with one
    start method: spaCy takes Process/Queue/Pipe from the module ``mp`` it
    imported, so a multiprocessing context stands in for it (spawn and
    forkserver pickle the pipeline into each worker, fork does not)."""
    monkeypatch.setattr(spacy.language, "mp", multiprocessing.get_context(request.param))
    return request.param


def annotations(doc):
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents], doc.tensor, [t.vector for t in doc]


def assert_same_as_serial(nlp, texts):
    serial = [annotations(nlp(text)) for text in texts]
    parallel = [annotations(doc) for doc in nlp.pipe(texts, n_process=2, batch_size=1)]
    assert len(parallel) == len(serial)
    for (ents, tensor, vectors), (p_ents, p_tensor, p_vectors) in zip(serial, parallel):
        assert p_ents == ents
        numpy.testing.assert_array_equal(p_tensor, tensor)
        numpy.testing.assert_array_equal(numpy.asarray(p_vectors), numpy.asarray(vectors))
    return serial


@pytest.fixture(scope="module")
def lm_vectors_nlp(tmp_path_factory):
    path = tmp_path_factory.mktemp("vec") / "tiny.vec"
    lines = [f"{len(VECTORS)} 3"] + [f"{word} " + " ".join(map(str, row)) for word, row in VECTORS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return _reloaded(_trained_nlp(path), path.parent / "pipeline")


def _reloaded(nlp, path):
    """The pipeline as users run it: saved and loaded. (A pipeline just updated
    in memory cannot go to a spawn worker in stock spaCy either: its
    Tok2VecListeners hold the last update's backprop closure, which does not
    pickle.)"""
    nlp.to_disk(path)
    return spacy.load(path)


@pytest.mark.filterwarnings("ignore:.*W007")
def test_lm_vectors_pipe_with_two_processes_equals_serial(lm_vectors_nlp, start_method):
    serial = assert_same_as_serial(lm_vectors_nlp, PIPE_TEXTS)
    assert serial[0][0] == TRAIN[0][1]
    # "PARIS": the table has only "paris", found through the lower step in the worker too
    assert_allclose(serial[3][1][0], lm_vectors_nlp.get_pipe("lm_vectors").model.predict([lm_vectors_nlp.make_doc("paris")])[0][0])


STATIC_TOK2VEC = {
    "model": {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {
            "@architectures": "spacy.MultiHashEmbed.v2",
            "width": 8,
            "attrs": ["NORM"],
            "rows": [50],
            "include_static_vectors": True,
        },
        "encode": {
            "@architectures": "spacy.MaxoutWindowEncoder.v2",
            "width": 8,
            "depth": 1,
            "window_size": 1,
            "maxout_pieces": 2,
        },
    }
}
TOK2VEC_NER = {
    "model": {
        **LISTENER_NER["model"],
        "tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "width": 8, "upstream": "tok2vec"},
    }
}


@pytest.fixture(scope="module")
def nlp_vectors_pipeline(tmp_path_factory):
    """Our table in ``[nlp.vectors]`` (lower-cased words only), read by spaCy's
    own ``StaticVectors`` inside a ``tok2vec`` that writes ``doc.tensor``."""
    nlp = spacy.blank("en")
    install_vectors(nlp, LMVectors.from_arrays(list(VECTORS), numpy.array(list(VECTORS.values()), dtype="float32")))
    nlp.add_pipe("tok2vec", config=STATIC_TOK2VEC)
    nlp.add_pipe("ner", config=TOK2VEC_NER)
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in TRAIN]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(80):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    return _reloaded(nlp, tmp_path_factory.mktemp("nlp-vectors") / "pipeline")


def test_nlp_vectors_pipe_with_two_processes_equals_serial(nlp_vectors_pipeline, start_method):
    nlp = nlp_vectors_pipeline
    serial = assert_same_as_serial(nlp, PIPE_TEXTS)
    paris = nlp("I went to Paris")[3]
    assert_allclose(paris.vector, VECTORS["paris"])  # "Paris": the table has only "paris"
    assert serial[0][0] == TRAIN[0][1]


def test_nlp_vectors_pipe_from_bytes(nlp_vectors_pipeline, start_method):
    nlp = spacy.blank("en", config={"nlp": {"vectors": {"@vectors": "spacy-lm-suite.Vectors.v1"}}})
    nlp.add_pipe("tok2vec", config=STATIC_TOK2VEC)
    nlp.add_pipe("ner", config=TOK2VEC_NER)
    nlp.from_bytes(nlp_vectors_pipeline.to_bytes())
    assert_same_as_serial(nlp, PIPE_TEXTS)

import subprocess
import sys

import numpy
import pytest
import spacy
from numpy.testing import assert_allclose
from spacy.training import Example

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

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.util import registry
from spacy.vectors import Vectors

from spacy_lm_suite.errors import InputFormatError, UserError
from spacy_lm_suite.vectors.formats import VectorsWarning, write_word2vec
from spacy_lm_suite.runs.outputs import MANIFEST_FILE, atomic_output_dir
from spacy_lm_suite.vectors.loading import (
    load_vectors,
    save_vectors_pipeline,
)
from spacy_lm_suite.vectors.table import LMVectors

WORDS = ["the", "paris", "london", "good", "bad", "1999"]


def data(n=len(WORDS), dim=4):
    return np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)


@pytest.fixture
def glove(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("".join(f"{w} {' '.join(map(repr, row.tolist()))}\n" for w, row in zip(WORDS, data())))
    return path


def test_load_raw_file(glove):
    table = load_vectors(glove)
    assert isinstance(table, LMVectors) and table.words == WORDS and table.name == "glove.txt"
    assert table.fallback == ("exact", "lower", "shape")
    np.testing.assert_allclose(table["PARIS"], data()[1])
    table = load_vectors(glove, truncate=2, normalize=True, fallback=["lower"], name="g")
    assert table.words == WORDS[:2] and table.fallback == ("lower",) and table.name == "g"
    np.testing.assert_allclose(np.linalg.norm(table.data, axis=1), 1, rtol=1e-6)


def test_load_prune(glove):
    table = load_vectors(glove, prune=3)
    assert table.shape == (3, 4) and table.find(key="Bad") >= 0 and set(table.aliases) == set(WORDS[3:])


def test_load_table_dir_keeps_saved_fallback(glove, tmp_path):
    load_vectors(glove, fallback=["exact", "lower"]).to_disk(tmp_path / "t")
    assert load_vectors(tmp_path / "t").fallback == ("exact", "lower")
    assert load_vectors(tmp_path / "t", fallback=["exact"]).fallback == ("exact",)
    assert load_vectors(tmp_path / "t", truncate=3).shape == (3, 4)


def test_load_spacy_pipeline_dirs(glove, tmp_path):
    save_vectors_pipeline(load_vectors(glove), tmp_path / "ours")
    assert load_vectors(tmp_path / "ours").words == WORDS
    nlp = spacy.blank("en")
    keys = [nlp.vocab.strings.add(w) for w in WORDS]
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=data(), keys=keys)
    nlp.to_disk(tmp_path / "theirs")
    table = load_vectors(tmp_path / "theirs")
    assert table.words == WORDS and len(list(table.strings)) == 0
    np.testing.assert_array_equal(table["Good"], data()[3])


def test_a_pipeline_without_vectors_is_a_clear_error(tmp_path):
    # it would load as an empty table, and spaCy's StaticVectors would then fail with an IndexError
    spacy.blank("en").to_disk(tmp_path / "blank")
    with pytest.raises(InputFormatError, match="blank.*has no vector rows"):
        load_vectors(tmp_path / "blank")


def test_load_errors(tmp_path, glove):
    with pytest.raises(InputFormatError, match="no such file"):
        load_vectors(tmp_path / "missing")
    with pytest.raises(UserError, match="format"):
        load_vectors(glove, format="xml")
    with pytest.raises(UserError, match="fallback"):
        load_vectors(glove, fallback=["upper"])
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputFormatError, match="expected a folder"):
        load_vectors(tmp_path / "folder")


def test_callback_sets_vectors_and_config(glove, tmp_path):
    make = registry.callbacks.get("spacy-lm-suite.load_vectors.v1")
    nlp = spacy.blank("en")
    make(path=str(glove), fallback=["exact", "lower"])(nlp)
    assert isinstance(nlp.vocab.vectors, LMVectors)
    assert nlp.config["nlp"]["vectors"] == {"@vectors": "spacy-lm-suite.Vectors.v1", "fallback": ["exact", "lower"]}
    nlp.to_disk(tmp_path / "p")
    reloaded = spacy.load(tmp_path / "p")
    assert isinstance(reloaded.vocab.vectors, LMVectors) and reloaded.vocab.vectors.fallback == ("exact", "lower")
    np.testing.assert_allclose(reloaded("London")[0].vector, data()[2])


def test_callback_in_config_before_init(glove):
    config = {
        "initialize": {"before_init": {"@callbacks": "spacy-lm-suite.load_vectors.v1", "path": str(glove), "truncate": 3}}
    }
    nlp = spacy.blank("en", config=config)
    nlp.initialize()
    assert nlp.vocab.vectors.shape == (3, 4)
    np.testing.assert_allclose(nlp("Paris")[0].vector, data()[1])


def test_callback_with_null_path_loads_nothing():
    nlp = spacy.blank("en", config={"initialize": {"before_init": {"@callbacks": "spacy-lm-suite.load_vectors.v1", "path": None}}})
    with pytest.warns(VectorsWarning, match="path is null"):
        nlp.initialize()
    assert nlp.vocab.vectors.shape[0] == 0


def test_initialize_vectors_path_with_our_class(glove, tmp_path):
    """`[initialize] vectors = "path"` loads a saved table into a config that selects our class."""
    save_vectors_pipeline(load_vectors(glove, fallback=["exact", "lower"]), tmp_path / "vp")
    config = {"nlp": {"vectors": {"@vectors": "spacy-lm-suite.Vectors.v1"}}, "initialize": {"vectors": str(tmp_path / "vp")}}
    nlp = spacy.blank("en", config=config)
    nlp.initialize()
    assert isinstance(nlp.vocab.vectors, LMVectors) and nlp.vocab.vectors.fallback == ("exact", "lower")
    np.testing.assert_allclose(nlp("Paris")[0].vector, data()[1])
    assert nlp.vocab["paris"].rank == 1  # spaCy sets lexeme ranks from key2row


def test_save_vectors_pipeline_is_atomic(glove, tmp_path):
    table = load_vectors(glove)
    out = tmp_path / "out"
    save_vectors_pipeline(table, out)
    assert (out / "config.cfg").exists() and (out / "vocab" / "lm_vectors.npy").exists()
    with pytest.raises(UserError, match="--overwrite"):
        save_vectors_pipeline(table, out)  # an earlier output is replaced only when asked
    (out / "notes.txt").write_text("mine")
    save_vectors_pipeline(table, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and (out / MANIFEST_FILE).is_file()
    with pytest.raises(RuntimeError):
        with atomic_output_dir(tmp_path / "broken", command="test") as tmp:
            (tmp / "half-written").write_text("x")
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["glove.txt", "out"]


def test_gensim_warning_passes_through(tmp_path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(4)
    kv.add_vectors(WORDS, data())
    kv.save(str(tmp_path / "v.kv"))
    with pytest.warns(VectorsWarning, match="pickle"):
        assert load_vectors(tmp_path / "v.kv").words == WORDS


TRAIN_CONFIG = """
[paths]
train = null
dev = null
vectors_file = null

[system]
seed = 0
gpu_allocator = null

[nlp]
lang = "en"
pipeline = ["tok2vec", "textcat"]

[components]

[components.tok2vec]
factory = "tok2vec"

[components.tok2vec.model]
@architectures = "spacy.Tok2Vec.v2"

[components.tok2vec.model.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 8
attrs = ["NORM"]
rows = [100]
include_static_vectors = true

[components.tok2vec.model.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 8
depth = 1
window_size = 1
maxout_pieces = 2

[components.textcat]
factory = "textcat"

[components.textcat.model]
@architectures = "spacy.TextCatCNN.v2"
exclusive_classes = true

[components.textcat.model.tok2vec]
@architectures = "spacy.Tok2VecListener.v1"
width = 8

[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${paths.train}

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}

[training]
seed = ${system.seed}
gpu_allocator = ${system.gpu_allocator}
max_epochs = 2
eval_frequency = 2

[initialize]

[initialize.before_init]
@callbacks = "spacy-lm-suite.load_vectors.v1"
path = ${paths.vectors_file}
fallback = ["exact", "lower"]
"""

CHECK_SCRIPT = """
import json, sys, spacy
nlp = spacy.load(sys.argv[1])
doc = nlp("Paris is GOOD")
print(json.dumps({"cls": type(nlp.vocab.vectors).__name__, "fallback": list(nlp.vocab.vectors.fallback),
                  "Paris": doc[0].vector.tolist(), "cats": sorted(doc.cats)}))
"""


@pytest.mark.slow
def test_spacy_train_with_before_init_then_load_in_new_process(glove, tmp_path):
    """`python -m spacy train` with the callback and the default [nlp.vectors]:
    the trained pipeline reloads (new process, plain spaCy) with our table."""
    nlp = spacy.blank("en")
    bin_ = DocBin()
    for text, label in [("Paris is good", "POS"), ("London is bad", "NEG"), ("the good", "POS"), ("the bad", "NEG")]:
        doc = nlp(text)
        doc.cats = {"POS": float(label == "POS"), "NEG": float(label == "NEG")}
        bin_.add(doc)
    bin_.to_disk(tmp_path / "train.spacy")
    (tmp_path / "config.cfg").write_text(textwrap.dedent(TRAIN_CONFIG))
    args = [
        sys.executable, "-m", "spacy", "train", str(tmp_path / "config.cfg"), "--output", str(tmp_path / "out"),
        "--paths.train", str(tmp_path / "train.spacy"), "--paths.dev", str(tmp_path / "train.spacy"),
        "--paths.vectors_file", str(glove),
    ]
    subprocess.run(args, check=True, capture_output=True, cwd=tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", CHECK_SCRIPT, str(tmp_path / "out" / "model-last")],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["cls"] == "LMVectors" and result["fallback"] == ["exact", "lower"]
    np.testing.assert_allclose(result["Paris"], data()[1], rtol=1e-6)
    assert result["cats"] == ["NEG", "POS"]


def test_word2vec_export_reloads(tmp_path, glove):
    table = load_vectors(glove)
    write_word2vec(tmp_path / "v.bin", table.words, table.data, binary=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_vectors(tmp_path / "v.bin")
    assert again.words == table.words
    np.testing.assert_array_equal(again.data, table.data)

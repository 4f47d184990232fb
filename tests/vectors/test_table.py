import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import spacy
from spacy.attrs import ORTH
from spacy.strings import get_string_id
from spacy.vectors import Vectors

from spacy_lm_suite.errors import InputFormatError, UserError
from spacy_lm_suite.vectors.formats import VectorsWarning
from spacy_lm_suite.vectors.loading import install_vectors
from spacy_lm_suite.vectors.table import LMVectors, create_lm_vectors

WORDS = ["the", "paris", "Paris", "london", "2000", "cat", "dog"]


def make_data(n=len(WORDS), dim=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


@pytest.fixture
def table():
    return LMVectors.from_arrays(WORDS, make_data(), name="tiny")


@pytest.fixture
def lower_table():
    words = ["the", "paris", "london", "2000", "cat", "dog", "city"]
    return LMVectors.from_arrays(words, make_data(len(words), seed=1), name="lower")


def row(table, word):
    return table.words.index(word)


def test_sizes(table):
    assert table.shape == (7, 4)
    assert len(table) == 7 and table.vectors_length == 4 and table.size == 28
    assert table.n_keys == 7
    assert table.data.dtype == np.float32
    assert table.is_full is False
    assert table.attr == ORTH and table.mode == "default"


def test_fallback_order(table):
    # exact wins over lower: "Paris" has its own row
    assert table.find(key="Paris") == row(table, "Paris")
    assert table.find(key="paris") == row(table, "paris")
    # "PARIS": no exact row; lower matches the first row whose lower form is "paris"
    assert table.find(key="PARIS") == row(table, "paris")
    # shape: digits -> '#', an unseen number finds "2000"
    assert table.find(key="1984") == row(table, "2000")
    assert table.find(key="12") == -1
    assert table.find(key="unicorn") == -1
    steps = table.lookup_steps(["Paris", "PARIS", "1984", "unicorn"])
    assert steps.tolist() == [0, 1, 2, -1]


def test_fallback_setting_changes_lookup(table):
    table.fallback = ["exact"]
    assert table.find(key="PARIS") == -1
    table.fallback = ["lower"]
    assert table.find(key="Paris") == row(table, "paris")  # first row lowering to "paris"
    assert table.find(key="1984") == -1
    with pytest.raises(UserError):
        table.fallback = ["nope"]


def test_find_hashes_and_batch(table):
    keys = np.array([get_string_id(w) for w in ["Paris", "cat", "unicorn"]], dtype=np.uint64)
    table.strings.add("Paris"), table.strings.add("cat"), table.strings.add("unicorn")
    assert table.find(keys=keys).tolist() == [row(table, "Paris"), row(table, "cat"), -1]
    assert table.find_rows_for_words(["cat", "CAT"]).tolist() == [row(table, "cat")] * 2
    batch = table.get_batch(keys)
    assert batch.shape == (3, 4)
    np.testing.assert_array_equal(batch[1], table.data[row(table, "cat")])
    np.testing.assert_array_equal(batch[2], np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError):
        table.find()


def test_getitem_contains(table):
    np.testing.assert_array_equal(table["DOG"], table.data[row(table, "dog")])
    assert "DOG" in table and "unicorn" not in table
    with pytest.raises(KeyError):
        table["unicorn"]


def test_key2row_is_exact_only(table):
    assert table.key2row[get_string_id("paris")] == row(table, "paris")
    assert get_string_id("PARIS") not in table.key2row
    assert set(table.keys()) == {get_string_id(w) for w in WORDS}


def test_from_arrays_duplicates_and_errors():
    with pytest.warns(VectorsWarning, match="1 duplicate"):
        t = LMVectors.from_arrays(["a", "b", "a"], np.eye(3, dtype=np.float32))
    assert t.words == ["a", "b"]
    np.testing.assert_array_equal(t["a"], [1, 0, 0])
    with pytest.raises(UserError, match="one word per row"):
        LMVectors.from_arrays(["a"], np.eye(2, dtype=np.float32))
    with pytest.raises(UserError, match="finite"):
        LMVectors.from_arrays(["a", "b"], np.array([[1.0, np.nan], [0, 1]]))
    with pytest.raises(UserError, match="2-D"):
        LMVectors.from_arrays(["a"], np.ones(3))
    with pytest.raises(UserError, match="duplicate"):
        LMVectors(words=["a", "a"], data=np.eye(2, dtype=np.float32))


def test_bytes_roundtrip(table):
    table.fallback = ["exact", "lower"]
    loaded = LMVectors().from_bytes(table.to_bytes())
    assert loaded.words == table.words and loaded.name == "tiny"
    assert loaded.fallback == ("exact", "lower")
    np.testing.assert_array_equal(loaded.data, table.data)
    assert loaded.find(key="PARIS") == table.find(key="PARIS")


def test_disk_roundtrip(table, tmp_path):
    table.to_disk(tmp_path / "t")
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["lm_vectors.json", "lm_vectors.npy", "vectors"]
    loaded = LMVectors().from_disk(tmp_path / "t")
    assert loaded.words == table.words
    np.testing.assert_array_equal(loaded.data, table.data)
    # the npy holds no pickle
    np.load(tmp_path / "t" / "lm_vectors.npy", allow_pickle=False)


def test_from_bytes_garbage():
    with pytest.raises(UserError, match="expected"):
        LMVectors().from_bytes(b"not a table")


def test_pickle(table):
    loaded = pickle.loads(pickle.dumps(table))
    assert loaded.words == table.words
    np.testing.assert_array_equal(loaded["PARIS"], table["PARIS"])


def test_add_truncate_prune():
    words = ["a", "b", "c", "d"]
    data = np.array([[1, 0], [0, 1], [0.9, 0.1], [0.1, 0.9]], dtype=np.float32)
    t = LMVectors.from_arrays(words, data)
    assert t.add("e", vector=np.array([1, 1])) == 4
    assert t.add("a", vector=np.array([2, 0])) == 0
    np.testing.assert_array_equal(t["A"], [2, 0])
    assert t.add("aa", row=1) == 1 and t.find(key="aa") == 1 and t.n_keys == 6
    remap = t.prune(2)
    assert t.shape == (2, 2)
    assert remap["c"][0] == "a" and remap["d"][0] == "b" and remap["e"][0] in ("a", "b")
    assert t.find(key="C") == 0 and t.find(key="d") == 1 and t.find(key="aa") == 1
    t.truncate(1)
    assert t.words == ["a"] and t.find(key="c") == 0 and t.find(key="d") == -1
    with pytest.raises(UserError):
        t.add("z", vector=np.ones(3))


def test_most_similar_words_and_similarity():
    t = LMVectors.from_arrays(["x", "y", "z"], np.array([[1, 0], [0.9, 0.1], [-1, 0]], dtype=np.float32))
    result = t.most_similar_words("X", topn=2)
    assert [w for w, _ in result] == ["y", "z"]
    assert result[0][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert [w for w, _ in t.most_similar_words(positive=["y"], negative=["z"], topn=5)] == ["x"]
    assert t.similarity("X", "y") == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert t.similarity("x", "z") == pytest.approx(-1.0)
    with pytest.raises(KeyError, match="'nope' is not in the table, even after the fallback chain"):
        t.most_similar_words("nope")
    with pytest.raises(KeyError, match="'nope' is not in the table"):
        t.similarity("x", "nope")
    with pytest.raises(UserError, match="give at least one word"):
        t.most_similar_words()


def test_from_spacy_vectors():
    nlp = spacy.blank("en")
    vectors = Vectors(strings=nlp.vocab.strings, data=np.eye(3, dtype=np.float32), keys=["a", "b", "c"])
    vectors.add(nlp.vocab.strings.add("bee"), row=1)
    vectors.add(get_string_id("no-string"), row=2)
    with pytest.warns(VectorsWarning, match="1 key"):
        t = LMVectors.from_spacy_vectors(vectors)
    assert t.words == ["a", "b", "c"] and t.aliases == {"bee": 1}
    np.testing.assert_array_equal(t["BEE"], [0, 1, 0])


def test_spacy_token_vectors_and_similarity(lower_table):
    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    doc = nlp("Paris THE 1999 unicorn")
    np.testing.assert_array_equal(doc[0].vector, lower_table.data[row(lower_table, "paris")])
    np.testing.assert_array_equal(doc[1].vector, lower_table.data[row(lower_table, "the")])
    np.testing.assert_array_equal(doc[2].vector, lower_table.data[row(lower_table, "2000")])
    assert [t.has_vector for t in doc] == [True, True, True, False]
    assert not doc[3].vector.any()
    assert -1.0 <= nlp("Paris").similarity(nlp("London")) <= 1.0
    assert nlp("Paris")[0].similarity(nlp("paris")[0]) == pytest.approx(1.0)
    assert nlp.vocab.get_vector("PARIS").tolist() == lower_table["paris"].tolist()
    assert nlp.meta["vectors"]["width"] == 4 and nlp.meta["vectors"]["keys"] == 7


def test_spacy_static_vectors_layer_uses_fallback(lower_table):
    from spacy.ml.staticvectors import StaticVectors

    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    docs = [nlp("Paris London"), nlp("the Cat")]
    model = StaticVectors(nO=3, nM=4)
    model.initialize(X=docs)
    W = model.get_param("W")
    out = model.predict(docs)
    np.testing.assert_allclose(out.data[0], W @ lower_table["paris"], rtol=1e-5)
    np.testing.assert_allclose(out.data[3], W @ lower_table["cat"], rtol=1e-5)


def test_vocab_set_vector_adds_row(lower_table):
    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    nlp.vocab.set_vector("Berlin", np.ones(4, dtype=np.float32))
    assert nlp("Berlin")[0].vector.tolist() == [1.0] * 4
    assert lower_table.shape == (8, 4)


def test_pipeline_save_reload_bytes(lower_table):
    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    nlp2 = spacy.blank("en", config={"nlp": {"vectors": {"@vectors": "spacy-lm-suite.Vectors.v1"}}})
    nlp2.from_bytes(nlp.to_bytes())
    assert isinstance(nlp2.vocab.vectors, LMVectors)
    np.testing.assert_array_equal(nlp2("Paris")[0].vector, lower_table["paris"])


def test_configured_fallback_overrides_saved(lower_table, tmp_path):
    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    nlp.to_disk(tmp_path / "p")
    assert spacy.load(tmp_path / "p").vocab.vectors.fallback == ("exact", "lower", "shape")
    exact_only = spacy.load(tmp_path / "p", config={"nlp": {"vectors": {"fallback": ["exact"]}}})
    assert exact_only.vocab.vectors.fallback == ("exact",)
    assert not exact_only("Paris")[0].has_vector
    assert create_lm_vectors(None)(spacy.blank("en").vocab).pinned_fallback is None


RELOAD_SCRIPT = """
import sys, json, spacy
nlp = spacy.load(sys.argv[1])
vectors = nlp.vocab.vectors
print(json.dumps({
    "cls": type(vectors).__name__,
    "Paris": nlp("Paris")[0].vector.tolist(),
    "PARIS": nlp.vocab.get_vector("PARIS").tolist(),
    "sim": float(nlp("Paris city").similarity(nlp("London"))),
}))
"""


def test_new_process_reload(lower_table, tmp_path):
    """A lower-cased table saved with a pipeline, loaded by plain spaCy in a new process
    (our class found through the entry point, no import of spacy_lm_suite)."""
    import json

    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    nlp.to_disk(tmp_path / "p")
    out = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(tmp_path / "p")],
        capture_output=True, text=True, check=True, cwd=tmp_path,  # as a user would, outside the checkout
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["cls"] == "LMVectors"
    expected = lower_table.data[row(lower_table, "paris")].tolist()
    assert result["Paris"] == expected and result["PARIS"] == expected
    assert result["sim"] == pytest.approx(nlp("Paris city").similarity(nlp("London")), abs=1e-6)


def test_pipe_n_process_equals_serial(lower_table, tmp_path):
    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    nlp.to_disk(tmp_path / "p")
    nlp = spacy.load(tmp_path / "p")
    texts = ["Paris and London", "THE CAT 1984", "dog City unicorn"] * 4
    serial = [doc.vector for doc in nlp.pipe(texts)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel = [doc.vector for doc in nlp.pipe(texts, n_process=2, batch_size=2)]
    token_vectors = [[t.vector.tolist() for t in doc] for doc in nlp.pipe(texts, n_process=2, batch_size=2)]
    assert token_vectors == [[t.vector.tolist() for t in doc] for doc in nlp.pipe(texts)]
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)
    assert serial[0].any()


def test_reading_spacy_vectors_dir_into_our_class(tmp_path):
    """A pipeline made with spaCy's own Vectors loads into LMVectors (converted)."""
    nlp = spacy.blank("en")
    keys = [nlp.vocab.strings.add(word) for word in ["paris", "rome"]]  # as `spacy init vectors` does
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=np.eye(2, dtype=np.float32), keys=keys)
    nlp.to_disk(tmp_path / "p")
    ours = spacy.load(tmp_path / "p", config={"nlp": {"vectors": {"@vectors": "spacy-lm-suite.Vectors.v1"}}})
    assert isinstance(ours.vocab.vectors, LMVectors)
    assert ours("Rome")[0].vector.tolist() == [0.0, 1.0]


# -- pickling keeps the whole fallback chain for hash lookups (issue 9 §2) ------------


def test_pickle_round_trip_finds_hashes_through_the_fallback(lower_table):
    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    nlp("Paris")  # "Paris" is now in the vocab's StringStore
    loaded = pickle.loads(pickle.dumps(lower_table))
    assert loaded.find(key=get_string_id("Paris")) == row(lower_table, "paris")
    keys = np.array([get_string_id("Paris"), get_string_id("paris")], dtype=np.uint64)
    np.testing.assert_array_equal(loaded.get_batch(keys), lower_table.data[[row(lower_table, "paris")] * 2])


def test_pickled_vocab_resolves_strings_added_after_unpickling(lower_table):
    """What a spawn worker does: spaCy's unpickle_vocab attaches a throwaway
    StringStore to the table, then the worker's tokenizer adds new strings to
    the restored vocab.strings; the table must still see them."""
    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    vocab = pickle.loads(pickle.dumps(nlp.vocab))
    assert isinstance(vocab.vectors, LMVectors)
    assert vocab.vectors.find(key=get_string_id("LONDON")) == -1  # no store knows "LONDON" yet
    doc = spacy.tokens.Doc(vocab, words=["LONDON", "Paris", "unicorn"])  # adds the strings to vocab.strings
    assert [vocab.vectors.find(key=t.orth) for t in doc] == [row(lower_table, "london"), row(lower_table, "paris"), -1]
    np.testing.assert_array_equal(doc[0].vector, lower_table["london"])


def test_pickled_language_gives_the_same_vectors(lower_table):
    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    copy = pickle.loads(pickle.dumps(nlp))
    texts = ["Paris and LONDON", "The Cat 1984 unicorn"]
    assert [[t.vector.tolist() for t in copy(text)] for text in texts] == [
        [t.vector.tolist() for t in nlp(text)] for text in texts
    ]


def test_own_words_resolve_hashes_without_a_string_store():
    table = LMVectors.from_arrays(["Paris", "rome"], np.eye(2, dtype=np.float32), fallback=["lower"])
    assert len(table.strings) == 0
    assert table.find(key=get_string_id("Paris")) == 0  # lower("Paris") -> "paris" -> row 0
    assert table.text_of(get_string_id("rome")) == "rome" and table.text_of(get_string_id("ROME")) is None


def test_a_miss_on_an_unknown_hash_is_not_cached(lower_table):
    key = get_string_id("Dog")
    assert lower_table.find(key=key) == -1
    lower_table.strings.add("Dog")
    assert lower_table.find(key=key) == row(lower_table, "dog")


def test_pickle_keeps_the_configured_fallback(lower_table):
    nlp = spacy.blank("en", config={"nlp": {"vectors": {"@vectors": "spacy-lm-suite.Vectors.v1", "fallback": ["exact"]}}})
    nlp.vocab.vectors.from_bytes(lower_table.to_bytes())
    loaded = pickle.loads(pickle.dumps(nlp.vocab.vectors))
    assert loaded.pinned_fallback == ("exact",) and loaded.fallback == ("exact",)


# -- spaCy's Vectors API (issue 11 §2) --------------------------------------------------


def test_most_similar_returns_what_spacy_returns():
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(20)]
    data = rng.standard_normal((20, 5)).astype(np.float32)
    ours = LMVectors.from_arrays(words, data)
    theirs = Vectors(data=data.copy(), keys=words)
    queries = rng.standard_normal((7, 5)).astype(np.float32)
    before = queries.copy()
    keys, rows, scores = ours.most_similar(queries, n=4, batch_size=3)
    np.testing.assert_array_equal(queries, before)  # the queries are not changed
    spacy_keys, spacy_rows, spacy_scores = theirs.most_similar(queries.copy(), n=4, batch_size=3)
    assert keys.shape == rows.shape == scores.shape == (7, 4)
    assert (keys.dtype, rows.dtype, scores.dtype) == (spacy_keys.dtype, spacy_rows.dtype, spacy_scores.dtype)
    np.testing.assert_array_equal(rows, spacy_rows)
    np.testing.assert_array_equal(keys, spacy_keys)
    np.testing.assert_allclose(scores, spacy_scores, atol=1e-4)
    assert [ours.strings[int(k)] for k in keys[0]] == [words[r] for r in rows[0]]
    one_keys, one_rows, _ = ours.most_similar(queries[0], n=1)  # one vector is one query
    assert one_rows.shape == (1, 1) and one_rows[0, 0] == rows[0, 0]


def test_most_similar_on_a_pipeline_table_as_spacy_code_calls_it(lower_table):
    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    query = nlp("PARIS")[0].vector[None, :]
    keys, rows, scores = nlp.vocab.vectors.most_similar(query, n=1)
    assert nlp.vocab.strings[int(keys[0, 0])] == "paris" and rows[0, 0] == row(lower_table, "paris")
    assert scores[0, 0] == pytest.approx(1.0)


def test_most_similar_bad_arguments(table):
    with pytest.raises(TypeError, match=r"for words use most_similar_words\(positive="):
        table.most_similar(["paris"])
    with pytest.raises(UserError, match=r"expected query vectors of shape \[n_queries, 4\], found \(2, 3\)"):
        table.most_similar(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(UserError, match="n must be between 1 and the table's 7 rows, found 8"):
        table.most_similar(np.ones((1, 4), dtype=np.float32), n=8)


def test_vocab_prune_vectors_error_points_at_prune(lower_table):
    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    with pytest.raises(ValueError, match=r"E849.*not LMVectors.*use nlp\.vocab\.vectors\.prune\(n_rows\) instead of Vocab\.prune_vectors"):
        nlp.vocab.prune_vectors(2)
    assert lower_table.shape == (7, 4)  # nothing changed
    assert repr(LMVectors) == "<class 'spacy_lm_suite.vectors.table.LMVectors'>"
    assert "prune()" in LMVectors.__doc__ or "prune(n)" in LMVectors.__doc__


# -- saved tables go through the loader checks (issue 9 §4) -------------------------------


def _saved(table, tmp_path):
    path = tmp_path / "saved"
    table.to_disk(path)
    return path


def _edit_meta(path, edit):
    import json

    meta = json.loads((path / "lm_vectors.json").read_text())
    edit(meta)
    (path / "lm_vectors.json").write_text(json.dumps(meta))


def _table_unchanged(target):
    assert target.words == ["kept"] and target.shape == (1, 4) and target.name == "target"


@pytest.fixture
def target():
    return LMVectors.from_arrays(["kept"], np.ones((1, 4), dtype=np.float32), name="target")


def test_saved_table_with_nan_rows(table, tmp_path, target):
    path = _saved(table, tmp_path)
    data = np.load(path / "lm_vectors.npy")
    data[3, 1] = np.nan
    np.save(path / "lm_vectors.npy", data)
    with pytest.raises(InputFormatError, match=r"saved: expected finite numbers; 1 row\(s\) hold NaN/inf, first row 3 \(found 'london'\)"):
        target.from_disk(path)
    _table_unchanged(target)


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda m: m["words"].__setitem__(2, "the"), r"lm_vectors.json: expected each word once; 1 duplicate word\(s\) \(found 'the'\)"),
        (lambda m: m["words"].__setitem__(0, 5), r"expected a non-empty string as word of row 0 \(found '5'\)"),
        (lambda m: m["words"].pop(), r"expected one word per row of the 7 rows \(found '6 words'\)"),
        (lambda m: m.__setitem__("words", "the paris"), r"expected 'words': a list with one string per row \(found 'str'\)"),
        (lambda m: m["cfg"].__setitem__("fallback", ["nope"]), r"lm_vectors.json: bad cfg.fallback \(fallback: unknown step"),
        (lambda m: m.__setitem__("aliases", {"x": 99}), r"expected 'aliases': an object of word -> row in \[0, 7\)"),
        (lambda m: m["cfg"].__setitem__("shape", [7, 5]), r"the matrix has shape \(7, 4\) but the metadata says \(7, 5\)"),
        (lambda m: m["cfg"].__setitem__("version", "1"), r"expected an integer cfg.version"),
        (lambda m: m.pop("cfg"), r"expected a JSON object with 'cfg', 'words' and 'aliases'"),
    ],
)
def test_saved_table_with_bad_metadata(table, tmp_path, target, edit, fragment):
    path = _saved(table, tmp_path)
    _edit_meta(path, edit)
    with pytest.raises(InputFormatError, match=fragment):
        target.from_disk(path)
    _table_unchanged(target)


def test_saved_table_with_corrupt_files(table, tmp_path, target):
    path = _saved(table, tmp_path)
    (path / "lm_vectors.json").write_text('{"cfg": {"format": ')
    with pytest.raises(InputFormatError, match=r"lm_vectors.json: expected the table's JSON metadata"):
        target.from_disk(path)
    path = _saved(table, tmp_path / "b")
    (path / "lm_vectors.npy").write_bytes((path / "lm_vectors.npy").read_bytes()[:60])
    with pytest.raises(InputFormatError, match=r"lm_vectors.npy: expected a float matrix saved by numpy"):
        target.from_disk(path)
    (path / "lm_vectors.npy").unlink()
    with pytest.raises(InputFormatError, match=r"lm_vectors.npy: missing: a saved table needs lm_vectors.npy beside lm_vectors.json"):
        target.from_disk(path)
    _table_unchanged(target)


def test_table_bytes_go_through_the_same_checks(table, target):
    import io

    import srsly

    message = srsly.msgpack_loads(table.to_bytes())
    data = np.load(io.BytesIO(message["data"]))
    data[0, 0] = np.inf
    buffer = io.BytesIO()
    np.save(buffer, data)
    message["data"] = buffer.getvalue()
    with pytest.raises(InputFormatError, match=r"<bytes>: expected finite numbers; 1 row\(s\) hold NaN/inf, first row 0"):
        target.from_bytes(srsly.msgpack_dumps(message))
    message = srsly.msgpack_loads(table.to_bytes())
    message["meta"]["words"][1] = "the"
    with pytest.raises(InputFormatError, match=r"<bytes>: expected each word once"):
        target.from_bytes(srsly.msgpack_dumps(message))
    _table_unchanged(target)


def test_spacy_load_of_a_pipeline_with_a_corrupt_table(lower_table, tmp_path):
    nlp = spacy.blank("en")
    install_vectors(nlp, lower_table)
    nlp.to_disk(tmp_path / "p")
    _edit_meta(tmp_path / "p" / "vocab", lambda m: m["words"].__setitem__(1, "the"))
    with pytest.raises(InputFormatError, match=r"vocab/lm_vectors.json: expected each word once"):
        spacy.load(tmp_path / "p")

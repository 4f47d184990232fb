"""Raw text streams: plain lines, blank-line paragraphs, JSONL and ``.spacy``
files, from a file, a folder (recursive), a glob, or a list of those.

The line reader here is shared by every data reader: it streams a file
(gzipped or not) as ``(line_number, text)`` pairs and turns a decoding error,
a NUL byte or a truncated ``.gz`` into an
:class:`~spacy_lm_suite.errors.InputFormatError` naming the line. The option
checks shared by every reader (:func:`check_encoding`, :func:`check_count`)
live here too, so a bad setting fails when the reader is made.
"""

import codecs
import glob
import gzip
import json
import warnings
import zlib
from pathlib import Path
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from ..errors import InputFormatError, UserError

PathLike = Union[str, Path]
Source = Union[PathLike, Sequence[PathLike]]

FORMATS = ("auto", "lines", "paragraphs", "jsonl", "spacy")
_GLOB_CHARS = frozenset("*?[")
_GZIP_MAGIC = b"\x1f\x8b"


def existing_file(path: PathLike) -> Path:
    """Return ``path`` as a ``Path``, or raise ``UserError`` if it is not a file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected a file")
    return path


AUTO_ENCODING = "utf-8-or-latin-1"
"""``encoding`` value for mixed corpora: each line is read as UTF-8, or as
Latin-1 where it is not valid UTF-8 (counted, with one warning per file)."""

ENCODING_HINT = (
    'set the encoding option to the file\'s encoding (in a config: encoding = "latin-1", '
    'on the command line: --encoding latin-1; "utf-8-or-latin-1" reads files that mix both)'
)
"""How a user changes the encoding, in both the spellings they may need."""

_LATIN_1 = codecs.lookup("latin-1").name


def check_encoding(encoding: str) -> str:
    """Return the codec's canonical name (or :data:`AUTO_ENCODING`).

    Raises ``UserError`` for a name Python does not know, and for an encoding
    the line-based readers can never read: one in which a newline is not the
    single byte 0x0a (UTF-16, UTF-32, EBCDIC) or that is not a text encoding.
    """
    if encoding == AUTO_ENCODING:
        return encoding
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise UserError(
            f'encoding = "{encoding}": unknown encoding; expected a Python codec name such as "utf-8" '
            f'or "latin-1", or "{AUTO_ENCODING}"'
        ) from None
    if not getattr(info, "_is_text_encoding", True) or not _newline_is_one_byte(info.name):
        raise UserError(
            f'encoding = "{encoding}": the readers read files line by line and a newline is not the byte 0x0a '
            f"in this encoding; convert the file to UTF-8 first (e.g. iconv -f {encoding} -t utf-8 FILE > FILE.utf8) "
            'and read it with encoding = "utf-8"'
        )
    return info.name


def _newline_is_one_byte(codec: str) -> bool:
    """Whether ASCII text and its line endings encode as themselves in ``codec``."""
    sample = "ab 1\n\r\n"
    try:
        return sample.encode(codec) == sample.encode("ascii")
    except (UnicodeError, LookupError):
        return False


def check_count(value: Optional[int], option: str, *, zero: str) -> int:
    """Return ``value`` (None as 0), or raise ``UserError`` unless it is an
    integer >= 0. option: the setting's name in a config (``limit``); zero:
    what 0 means (``"no limit"``)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserError(f"{option} = {value!r}: expected a whole number >= 0 (0: {zero})")
    return value


def _open_text(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it starts with the gzip magic bytes."""
    with path.open("rb") as file:
        gzipped = file.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]


def _raw_lines(path: Path) -> Iterator[Tuple[int, bytes]]:
    """``(line_number, raw bytes)`` of a plain or gzipped file; a truncated or
    corrupt gzip stream raises ``InputFormatError`` at the line it breaks."""
    number = 0
    with _open_text(path) as file:
        try:
            for number, raw in enumerate(file, start=1):
                yield number, raw
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise InputFormatError(
                path, f"the gzip data ends or breaks here (truncated or corrupt file? {err})", line=number + 1
            ) from None


def read_lines(path: PathLike, *, encoding: str = "utf-8") -> Iterator[Tuple[int, str]]:
    """Stream a text file (plain or gzipped) as ``(line_number, line)`` with
    line endings removed.

    Line numbers start at 1. A UTF-8 byte-order mark at the start of the file
    is dropped. A line that does not decode, or holds a NUL byte (a binary
    file), raises ``InputFormatError`` with its line number. With
    ``encoding="utf-8-or-latin-1"`` a line that is not UTF-8 is read as
    Latin-1. With ``latin-1``, lines that are valid UTF-8 with non-ASCII
    characters (mojibake if the file is UTF-8) are counted in one warning.
    """
    path = existing_file(path)
    codec = check_encoding(encoding)
    n_latin1 = 0
    looks_utf8: List[int] = []
    for number, raw in _raw_lines(path):
        if b"\x00" in raw:
            raise InputFormatError(
                path, "found a NUL byte: this looks like a binary file, expected text", line=number
            )
        try:
            text = raw.decode("utf-8" if codec == AUTO_ENCODING else codec)
        except UnicodeDecodeError as err:
            if codec != AUTO_ENCODING:
                raise InputFormatError(
                    path, f"byte 0x{raw[err.start]:02x} at column {err.start + 1} is not valid {encoding}; {ENCODING_HINT}",
                    line=number,
                ) from None
            text = raw.decode("latin-1")
            n_latin1 += 1
        if codec == _LATIN_1 and not raw.isascii() and _is_utf8(raw):
            looks_utf8.append(number)
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield number, text.rstrip("\r\n")
    if n_latin1:
        warnings.warn(f"{path}: {n_latin1} line(s) are not UTF-8 and were read as Latin-1")
    if looks_utf8:
        warnings.warn(
            f"{path}: {len(looks_utf8)} line(s) read as Latin-1 are valid UTF-8 (first: line {looks_utf8[0]}), "
            'which gives mojibake such as "Ã©" if the file is UTF-8: then read it with encoding = "utf-8" '
            "(--encoding utf-8)"
        )


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def iter_jsonl(path: PathLike, *, encoding: str = "utf-8") -> Iterator[Tuple[int, Dict[str, Any]]]:
    """Stream a JSONL file as ``(line_number, object)``; blank lines are skipped.

    A line that is not a JSON object raises ``InputFormatError``.
    """
    for number, line in read_lines(path, encoding=encoding):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputFormatError(
                path, f"expected a JSON object per line, invalid JSON ({err.msg})", line=number, found=line
            ) from None
        if not isinstance(record, dict):
            raise InputFormatError(path, "expected a JSON object per line", line=number, found=line)
        yield number, record


def expand_source(source: Source) -> List[Path]:
    """The files named by ``source``: a file, a folder (all files below it,
    recursive, sorted, hidden ones skipped), a glob pattern (sorted), or a list
    of those, in the order given.

    A missing path or a glob matching no file raises ``UserError``.
    """
    items: Iterable[PathLike] = [source] if isinstance(source, (str, Path)) else source
    files: List[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise UserError(f"{path}: the folder holds no files")
            files.extend(found)
        elif path.exists():
            files.append(path)
        elif _GLOB_CHARS & set(str(item)):
            matches = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            if not matches:
                raise UserError(f"{item}: the pattern matches no file")
            files.extend(matches)
        else:
            raise UserError(f"{path}: no such file or folder")
    if not files:
        raise UserError("no input given: expected a file, a folder or a glob pattern")
    return files


def check_format(fmt: str) -> str:
    """Return ``fmt``, or raise ``UserError`` if it is not one of ``FORMATS``."""
    if fmt not in FORMATS:
        raise UserError(f"unknown text format {fmt!r}, expected one of {', '.join(FORMATS)}")
    return fmt


def format_of(path: Path, fmt: str = "auto") -> str:
    """The format used for ``path``: ``fmt`` itself, or for ``auto`` one chosen
    by extension (``.jsonl`` -> jsonl, ``.spacy`` -> spacy, else lines; a
    ``.gz`` ending is looked through: ``x.jsonl.gz`` -> jsonl)."""
    if check_format(fmt) != "auto":
        return fmt
    name = path.name[: -len(".gz")] if path.suffix.lower() == ".gz" else path.name
    return {".jsonl": "jsonl", ".spacy": "spacy"}.get(Path(name).suffix.lower(), "lines")


def iter_texts(
    source: Source,
    *,
    fmt: str = "auto",
    limit: Optional[int] = None,
    encoding: str = "utf-8",
    field: str = "text",
) -> Iterator[str]:
    """Stream texts from ``source`` (see :func:`expand_source`).

    fmt: ``lines`` (one text per non-empty line, stripped), ``paragraphs``
        (blank-line separated blocks, their lines stripped and joined by one
        space), ``jsonl`` (the ``field`` of each object), ``spacy`` (the text
        of each doc in a DocBin), or ``auto`` (by extension, per file).
    limit: stop after this many texts (None or 0: no limit).

    Raises ``UserError`` if the source yields no text at all.
    """
    check_format(fmt)
    check_encoding(encoding)
    limit = check_count(limit, "limit", zero="no limit")
    files = expand_source(source)
    count = 0
    for path in files:
        for text in _texts_of_file(path, format_of(path, fmt), encoding=encoding, field=field):
            yield text
            count += 1
            if limit and count >= limit:
                return
    if count == 0:
        shown = ", ".join(str(p) for p in files[:3]) + (", ..." if len(files) > 3 else "")
        raise UserError(f"{shown}: no text found (all files empty)")


def _texts_of_file(path: Path, fmt: str, *, encoding: str, field: str) -> Iterator[str]:
    if fmt == "lines":
        for _, line in read_lines(path, encoding=encoding):
            if line.strip():
                yield line.strip()
    elif fmt == "paragraphs":
        block: List[str] = []
        for _, line in read_lines(path, encoding=encoding):
            if line.strip():
                block.append(line.strip())
            elif block:
                yield " ".join(block)
                block = []
        if block:
            yield " ".join(block)
    elif fmt == "jsonl":
        for number, record in iter_jsonl(path, encoding=encoding):
            text = record.get(field)
            if not isinstance(text, str):
                raise InputFormatError(
                    path, f"expected an object with a string field {field!r}", line=number, found=json.dumps(record)
                )
            if text.strip():
                yield text
    else:
        for doc in _read_docbin(path):
            if doc.text.strip():
                yield doc.text


def _read_docbin(path: Path) -> Iterator[Any]:
    """The docs of a ``.spacy`` file (spaCy is imported here only)."""
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    data = existing_file(path).read_bytes()
    try:
        doc_bin = DocBin().from_bytes(data)
    except Exception as err:  # zlib / msgpack / KeyError: any of them means "not a DocBin"
        raise InputFormatError(
            path, f"expected a spaCy DocBin (.spacy) file, could not read it ({type(err).__name__})"
        ) from None
    yield from doc_bin.get_docs(Vocab())

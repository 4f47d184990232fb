"""Text-classification files: SST-2 TSV, TREC question labels, JSONL.

Each reader streams :class:`TextcatRow` objects whose ``cats`` hold every
label of the task (1.0 for the row's class, 0.0 for the others), in a fixed
label order, so train and dev files give the same keys.
"""

import hashlib
import heapq
import json
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ..errors import InputFormatError, UserError
from .rawtext import PathLike, check_count, check_encoding, existing_file, iter_jsonl, read_lines

SST2_LABELS = ("NEGATIVE", "POSITIVE")
TREC_COARSE = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
TREC_FINE = (
    "ABBR:abb", "ABBR:exp",
    "DESC:def", "DESC:desc", "DESC:manner", "DESC:reason",
    "ENTY:animal", "ENTY:body", "ENTY:color", "ENTY:cremat", "ENTY:currency", "ENTY:dismed",
    "ENTY:event", "ENTY:food", "ENTY:instru", "ENTY:lang", "ENTY:letter", "ENTY:other",
    "ENTY:plant", "ENTY:product", "ENTY:religion", "ENTY:sport", "ENTY:substance",
    "ENTY:symbol", "ENTY:techmeth", "ENTY:termeq", "ENTY:veh", "ENTY:word",
    "HUM:desc", "HUM:gr", "HUM:ind", "HUM:title",
    "LOC:city", "LOC:country", "LOC:mount", "LOC:other", "LOC:state",
    "NUM:code", "NUM:count", "NUM:date", "NUM:dist", "NUM:money", "NUM:ord", "NUM:other",
    "NUM:perc", "NUM:period", "NUM:speed", "NUM:temp", "NUM:volsize", "NUM:weight",
)


@dataclass(frozen=True)
class TextcatRow:
    """One labelled text. cats: every label of the task -> score; line: its line number."""

    text: str
    cats: Dict[str, float]
    line: int


def one_hot(labels: Sequence[str], label: str) -> Dict[str, float]:
    """``{label: 1.0, every other label: 0.0}`` in the order of ``labels``."""
    return {name: 1.0 if name == label else 0.0 for name in labels}


def sample_rank(index: int, seed: int) -> int:
    """The sampling key of data row ``index`` (0-based): the first 8 bytes of
    BLAKE2b(``"{seed}:{index}"``) as a big-endian integer. Independent of
    Python/NumPy versions, so a sample never changes."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest(), "big")


def read_sst2(
    path: PathLike,
    *,
    labels: Sequence[str] = SST2_LABELS,
    text_column: str = "sentence",
    label_column: str = "label",
    encoding: str = "utf-8",
    sample: Optional[int] = None,
    seed: int = 0,
    complement: bool = False,
    limit: Optional[int] = None,
) -> Iterator[TextcatRow]:
    """Stream an SST-2 (GLUE) TSV file with a header line.

    labels: class names for the integer label values 0, 1, ... (SST-2: 0 is
        negative, 1 positive).
    text_column, label_column: header names of the two columns used.
    sample: keep only this many rows: the ``sample`` data rows with the
        smallest :func:`sample_rank` for ``seed``, yielded in file order
        (None or 0: all rows). Reading a sample streams the whole file and
        keeps ``sample`` rows in memory. ``sample=2000, seed=0`` is the fixed
        checkpoint-selection slice of SST-2 train.
    complement: yield every row *not* in the sample instead (the training
        rows that go with a held-out sample), in file order.
    limit: stop after this many rows (applied after sampling).
    """
    labels, sample, limit = check_sample_options(labels=labels, sample=sample, complement=complement, limit=limit)
    check_encoding(encoding)
    read = partial(_read_tsv, path, labels=labels, text_column=text_column, label_column=label_column, encoding=encoding)
    yield from select_rows(path, read, sample=sample, seed=seed, complement=complement, limit=limit)


def select_rows(
    path: PathLike, read: Callable[[], Iterator[TextcatRow]], *, sample: int, seed: int, complement: bool, limit: int
) -> Iterator[TextcatRow]:
    """The rows of ``read()`` (a fresh stream per call): all of them, the fixed
    ``sample`` chosen by ``seed`` (:func:`sample_rank`), or with ``complement`` every
    row not in that sample; at most ``limit`` (0: no limit), in file order."""
    rows = read()
    if sample and complement:
        held_out = {row.line for row in _sample(path, read(), sample, seed)}
        rows = (row for row in rows if row.line not in held_out)
    elif sample:
        rows = _sample(path, rows, sample, seed)
    for count, row in enumerate(rows, start=1):
        yield row
        if limit and count >= limit:
            return


def check_sample_options(
    *, labels: Sequence[str], sample: Optional[int], complement: bool, limit: Optional[int]
) -> Tuple[List[str], int, int]:
    """The checked ``(labels, sample, limit)`` of an SST-2 or TREC read, or ``UserError``."""
    labels = check_labels(labels)
    sample = check_count(sample, "sample", zero="all rows")
    if complement and not sample:
        raise UserError("complement = true needs a sample size: set sample to the number of held-out rows (> 0)")
    return labels, sample, check_count(limit, "limit", zero="no limit")


def _read_tsv(
    path: PathLike, *, labels: Sequence[str], text_column: str, label_column: str, encoding: str
) -> Iterator[TextcatRow]:
    lines = read_lines(existing_file(path), encoding=encoding)
    header = next(lines, None)
    if header is None or not header[1].strip():
        raise InputFormatError(path, f"expected a header line naming the columns {text_column!r} and {label_column!r}, the file is empty", line=1)
    names = [name.strip() for name in header[1].split("\t")]
    for option, name in (("text_column", text_column), ("label_column", label_column)):
        if name not in names:
            raise InputFormatError(
                path,
                f"the header has no column {name!r}; set {option} to one of the header's columns {names}",
                line=1,
                found=header[1],
            )
    text_at, label_at = names.index(text_column), names.index(label_column)
    values = [str(i) for i in range(len(labels))]
    count = 0
    for number, line in lines:
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(names):
            raise InputFormatError(
                path, f"expected {len(names)} tab-separated columns as in the header, got {len(fields)}", line=number, found=line
            )
        text, value = fields[text_at].strip(), fields[label_at].strip()
        if value not in values:
            raise InputFormatError(
                path, f"expected a label in {', '.join(values)} (one per name in `labels`)", line=number, found=value
            )
        if not text:
            raise InputFormatError(path, "expected a text, found an empty one", line=number, found=line)
        yield TextcatRow(text, one_hot(labels, labels[int(value)]), number)
        count += 1
    if count == 0:
        raise InputFormatError(path, "no data row after the header")


def _sample(path: PathLike, rows: Iterator[TextcatRow], sample: int, seed: int) -> Iterator[TextcatRow]:
    # Max-heap (negated rank) of the `sample` smallest ranks seen so far.
    heap: List[Tuple[int, int, TextcatRow]] = []
    n_rows = 0
    for index, row in enumerate(rows):
        n_rows += 1
        item = (-sample_rank(index, seed), index, row)
        if len(heap) < sample:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)
    if n_rows < sample:
        warnings.warn(f"{path}: sample={sample} but the file has only {n_rows} rows; using all of them")
    for _, _, row in sorted(heap, key=lambda item: item[1]):
        yield row


def read_trec(
    path: PathLike,
    *,
    fine: bool = False,
    encoding: str = "latin-1",
    limit: Optional[int] = None,
    sample: Optional[int] = None,
    seed: int = 0,
    complement: bool = False,
) -> Iterator[TextcatRow]:
    """Stream a TREC question-classification file (``COARSE:fine question``
    per line). fine: use the 50 fine labels (``LOC:city``) instead of the 6
    coarse ones (``LOC``). encoding: the original files are ISO-8859-1
    (``latin-1``, the default); a copy converted to UTF-8 needs
    ``encoding="utf-8"`` (read as Latin-1 it would give mojibake, which
    :func:`~spacy_lm_suite.data.rawtext.read_lines` warns about).
    sample, seed, complement: a fixed held-out slice and the rows beside it, as
    for :func:`read_sst2` (TREC has no dev file: ``sample=500, seed=0`` is the
    slice the project scores on, ``complement=True`` the training rows)."""
    labels = TREC_FINE if fine else TREC_COARSE
    check_encoding(encoding)
    _, sample, limit = check_sample_options(labels=labels, sample=sample, complement=complement, limit=limit)
    read = partial(_read_trec, path, labels=labels, fine=fine, encoding=encoding)
    yield from select_rows(path, read, sample=sample, seed=seed, complement=complement, limit=limit)


def _read_trec(path: PathLike, *, labels: Sequence[str], fine: bool, encoding: str) -> Iterator[TextcatRow]:
    count = 0
    for number, line in read_lines(path, encoding=encoding):
        if not line.strip():
            continue
        label, _, text = line.partition(" ")
        if label not in TREC_FINE:
            raise InputFormatError(
                path, "expected 'COARSE:fine question' with a TREC label such as 'LOC:city'", line=number, found=line
            )
        if not text.strip():
            raise InputFormatError(path, "expected a question after the label, found none", line=number, found=line)
        yield TextcatRow(text.strip(), one_hot(labels, label if fine else label.partition(":")[0]), number)
        count += 1
    if count == 0:
        raise InputFormatError(path, "no question found: the file is empty")


def read_textcat_jsonl(
    path: PathLike,
    *,
    labels: Optional[Sequence[str]] = None,
    encoding: str = "utf-8",
    limit: Optional[int] = None,
) -> Iterator[TextcatRow]:
    """Stream a JSONL file of ``{"text": ..., "label": ...}`` (one class) or
    ``{"text": ..., "cats": {label: score}}`` objects.

    labels: every label of the task, in order. None: the sorted set of labels
        found in the file (read once more to collect them; pass ``labels`` so
        train and dev files give the same keys). Labels missing from a
        ``cats`` object get 0.0.
    """
    check_encoding(encoding)
    limit = check_count(limit, "limit", zero="no limit")
    if labels is None:
        labels = sorted({name for _, _, names in _jsonl_records(path, encoding) for name in names})
    labels = check_labels(labels)
    known = set(labels)
    count = 0
    for number, text, names in _jsonl_records(path, encoding):
        unknown = [name for name in names if name not in known]
        if unknown:
            raise InputFormatError(path, f"unknown label {unknown[0]!r}, expected one of {list(labels)}", line=number)
        cats = {name: float(names.get(name, 0.0)) for name in labels}
        yield TextcatRow(text, cats, number)
        count += 1
        if limit and count >= limit:
            return


def _jsonl_records(path: PathLike, encoding: str) -> Iterator[Tuple[int, str, Dict[str, float]]]:
    """``(line, text, {label: score})`` per object, validated."""
    count = 0
    for number, record in iter_jsonl(path, encoding=encoding):
        shown = json.dumps(record)
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InputFormatError(path, "expected a non-empty string field 'text'", line=number, found=shown)
        if ("label" in record) == ("cats" in record):
            raise InputFormatError(path, "expected exactly one of the fields 'label' or 'cats'", line=number, found=shown)
        if "label" in record:
            label = record["label"]
            if isinstance(label, bool) or not isinstance(label, (str, int)):
                raise InputFormatError(path, "expected 'label' to be a string or an integer", line=number, found=shown)
            names = {str(label): 1.0}
        else:
            cats = record["cats"]
            if not isinstance(cats, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0 for v in cats.values()
            ):
                raise InputFormatError(path, "expected 'cats' to map labels to scores in [0, 1]", line=number, found=shown)
            names = {str(k): float(v) for k, v in cats.items()}
        yield number, text, names
        count += 1
    if count == 0:
        raise InputFormatError(path, "no JSON object found: the file is empty")


def check_labels(labels: Sequence[str]) -> List[str]:
    """The labels as strings, or ``UserError`` unless there are >= 2 distinct ones."""
    labels = [str(name) for name in labels]
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise UserError(f"labels must name at least 2 distinct classes, got {labels}")
    return labels

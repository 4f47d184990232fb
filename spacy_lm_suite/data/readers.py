"""Registered spaCy ``@readers`` for the ``[corpora]`` block of a config.

Each returns a callable ``(nlp) -> Iterator[Example]`` like ``spacy.Corpus.v1``
that re-reads its file on every call (one call per epoch), so nothing is held
in memory. ``limit`` counts yielded examples; 0 means no limit.
"""

from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Union

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import registry

from ..errors import UserError
from .conll import NERSentence, group_sentences, read_conll2003, read_wnut17
from .rawtext import check_count, check_encoding, check_format, iter_texts
from .textcat import SST2_LABELS, TREC_COARSE, TextcatRow, check_labels, check_sample_options, read_sst2, read_textcat_jsonl, read_trec

ExampleReader = Callable[[Language], Iterator[Example]]
NO_LIMIT = "no limit"


class NERCorpus:
    """Examples from NER sentences: words as given (no re-tokenisation),
    ``reference.ents`` from the spans (every other token ``O``), sentence
    starts set on the reference. n_sents: sentences per doc (0: one doc per
    ``-DOCSTART-`` document)."""

    def __init__(self, read: Callable[[], Iterable[NERSentence]], *, n_sents: int = 1, limit: int = 0) -> None:
        self.read = read
        self.n_sents = check_count(n_sents, "n_sents", zero="one doc per -DOCSTART- document")
        self.limit = check_count(limit, "limit", zero=NO_LIMIT)

    def __call__(self, nlp: Language) -> Iterator[Example]:
        for count, group in enumerate(group_sentences(self.read(), self.n_sents), start=1):
            yield ner_example(nlp, group)
            if self.limit and count >= self.limit:
                return


def ner_example(nlp: Language, sentences: List[NERSentence]) -> Example:
    """One ``Example`` from consecutive sentences: predicted and reference docs share the words."""
    words = [word for sentence in sentences for word in sentence.words]
    spaces = [True] * len(words)
    spaces[-1] = False
    sent_starts: List[bool] = []
    for sentence in sentences:
        sent_starts.extend([True] + [False] * (len(sentence.words) - 1))
    reference = Doc(nlp.vocab, words=words, spaces=spaces, sent_starts=sent_starts)
    entities = []
    offset = 0
    for sentence in sentences:
        entities.extend(Span(reference, offset + start, offset + end, label=label) for start, end, label in sentence.spans)
        offset += len(sentence.words)
    reference.set_ents(entities, default="outside")
    return Example(Doc(nlp.vocab, words=words, spaces=spaces), reference)


class TextcatCorpus:
    """Examples from labelled texts: ``nlp.make_doc(text)`` with ``cats`` on the reference."""

    def __init__(self, read: Callable[[], Iterable[TextcatRow]], *, limit: int = 0) -> None:
        self.read = read
        self.limit = check_count(limit, "limit", zero=NO_LIMIT)

    def __call__(self, nlp: Language) -> Iterator[Example]:
        for count, row in enumerate(self.read(), start=1):
            yield Example.from_dict(nlp.make_doc(row.text), {"cats": row.cats})
            if self.limit and count >= self.limit:
                return


class RawTextCorpus:
    """Unlabelled examples (reference = predicted) from a raw text stream,
    as ``spacy.JsonlCorpus.v1``; docs shorter than ``min_length`` or longer
    than ``max_length`` tokens (0: no bound) are skipped."""

    def __init__(
        self, read: Callable[[], Iterable[str]], *, min_length: int = 0, max_length: int = 0, limit: int = 0
    ) -> None:
        self.read = read
        self.min_length = check_count(min_length, "min_length", zero="no lower bound")
        self.max_length = check_count(max_length, "max_length", zero="no upper bound")
        self.limit = check_count(limit, "limit", zero=NO_LIMIT)
        if self.max_length and self.min_length > self.max_length:
            raise UserError(
                f"min_length = {min_length} is greater than max_length = {max_length}, so no doc could pass; "
                "lower min_length or raise max_length (0: no upper bound)"
            )

    def __call__(self, nlp: Language) -> Iterator[Example]:
        count = 0
        for text in self.read():
            doc = nlp.make_doc(text)
            if len(doc) < self.min_length or (self.max_length and len(doc) > self.max_length):
                continue
            yield Example(doc, doc.copy())
            count += 1
            if self.limit and count >= self.limit:
                return


# Every reader checks its options when it is made (a config is resolved), not
# when the first epoch reads the file. New options go last, with a default, so
# the released signatures keep working.


@registry.readers("spacy-lm-suite.CoNLL2003Reader.v1")
def conll2003_reader(path: Path, limit: int = 0, n_sents: int = 1, encoding: str = "utf-8") -> ExampleReader:
    """CoNLL-2003 NER (4 columns, IOB1 or IOB2; ``-DOCSTART-`` lines are
    boundaries, not sentences). n_sents: sentences per doc, 0: one doc per
    ``-DOCSTART-`` document. encoding: of the file (``"utf-8-or-latin-1"``:
    Latin-1 where a line is not UTF-8); a ``.gz`` file is read as well."""
    check_encoding(encoding)
    return NERCorpus(partial(read_conll2003, path, encoding=encoding), n_sents=n_sents, limit=limit)


@registry.readers("spacy-lm-suite.WNUT17Reader.v1")
def wnut17_reader(path: Path, limit: int = 0, encoding: str = "utf-8") -> ExampleReader:
    """WNUT-17 NER (``word<TAB>tag``, BIO), one doc per sentence. encoding: as
    for the CoNLL-2003 reader."""
    check_encoding(encoding)
    return NERCorpus(partial(read_wnut17, path, encoding=encoding), limit=limit)


@registry.readers("spacy-lm-suite.SST2Reader.v1")
def sst2_reader(
    path: Path,
    limit: int = 0,
    sample: Optional[int] = None,
    seed: int = 0,
    labels: Optional[List[str]] = None,
    complement: bool = False,
    encoding: str = "utf-8",
    text_column: str = "sentence",
    label_column: str = "label",
) -> ExampleReader:
    """SST-2 TSV (header ``sentence<TAB>label``); cats ``NEGATIVE``/``POSITIVE``
    unless ``labels`` names the classes of label values 0, 1, ... sample: a
    fixed subset of this many rows chosen by ``seed`` (see
    :func:`spacy_lm_suite.data.textcat.read_sst2`); complement: every row
    *not* in that subset, for training beside a held-out sample.
    text_column, label_column: the header names of the two columns read."""
    labels, sample, limit = check_sample_options(labels=labels or SST2_LABELS, sample=sample, complement=complement, limit=limit)
    check_encoding(encoding)
    read = partial(
        read_sst2,
        path,
        labels=labels,
        sample=sample,
        seed=seed,
        complement=complement,
        encoding=encoding,
        text_column=text_column,
        label_column=label_column,
    )
    return TextcatCorpus(read, limit=limit)


@registry.readers("spacy-lm-suite.TRECReader.v1")
def trec_reader(
    path: Path,
    fine: bool = False,
    limit: int = 0,
    encoding: str = "latin-1",
    sample: Optional[int] = None,
    seed: int = 0,
    complement: bool = False,
) -> ExampleReader:
    """TREC questions (``COARSE:fine text``): 6 coarse classes, or 50 with
    ``fine``. encoding: the original files are Latin-1 (the default); set
    ``encoding = "utf-8"`` for a copy converted to UTF-8. sample, seed,
    complement: a fixed held-out slice of the file and the rows beside it, as
    for ``SST2Reader.v1`` (TREC has no dev file), so a textcat config's
    ``[corpora]`` switch readers by ``@readers`` alone."""
    _, sample, limit = check_sample_options(labels=TREC_COARSE, sample=sample, complement=complement, limit=limit)
    check_encoding(encoding)
    read = partial(read_trec, path, fine=fine, encoding=encoding, sample=sample, seed=seed, complement=complement)
    return TextcatCorpus(read, limit=limit)


@registry.readers("spacy-lm-suite.JsonlTextcatReader.v1")
def jsonl_textcat_reader(
    path: Path, limit: int = 0, labels: Optional[List[str]] = None, encoding: str = "utf-8"
) -> ExampleReader:
    """JSONL of ``{"text", "label"}`` or ``{"text", "cats"}`` objects. labels:
    every class, in order (default: the labels found in the file)."""
    check_encoding(encoding)
    labels = check_labels(labels) if labels is not None else None
    return TextcatCorpus(partial(read_textcat_jsonl, path, labels=labels, encoding=encoding), limit=limit)


@registry.readers("spacy-lm-suite.RawText.v1")
def raw_text_reader(
    path: Union[str, Path, List[Union[str, Path]]],
    fmt: str = "auto",
    min_length: int = 0,
    max_length: int = 0,
    limit: int = 0,
    encoding: str = "utf-8",
) -> ExampleReader:
    """Unlabelled docs for pretraining from a file, folder, glob or list of
    those (``.gz`` files too); fmt: ``auto``, ``lines``, ``paragraphs``,
    ``jsonl`` or ``spacy``. Docs outside [min_length, max_length] tokens are
    skipped (0: no bound)."""
    check_encoding(encoding)
    read = partial(iter_texts, path, fmt=check_format(fmt), encoding=encoding)
    return RawTextCorpus(read, min_length=min_length, max_length=max_length, limit=limit)

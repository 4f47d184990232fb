"""Data readers: labelled corpora (NER, text classification) and raw text streams.

The parsers here import no spaCy; the registered ``@readers`` that turn them
into ``Example`` streams live in :mod:`spacy_lm_suite.data.readers`.
"""

from .conll import NERSentence, group_sentences, iob_to_spans, read_conll2003, read_iob, read_wnut17
from .rawtext import expand_source, iter_jsonl, iter_texts, read_lines
from .textcat import TextcatRow, read_sst2, read_textcat_jsonl, read_trec, sample_rank

__all__ = [
    "NERSentence",
    "TextcatRow",
    "expand_source",
    "group_sentences",
    "iob_to_spans",
    "iter_jsonl",
    "iter_texts",
    "read_conll2003",
    "read_iob",
    "read_lines",
    "read_sst2",
    "read_textcat_jsonl",
    "read_trec",
    "read_wnut17",
    "sample_rank",
]

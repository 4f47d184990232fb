"""``annotate``: stream a corpus through a spaCy pipeline into a folder of
``.spacy`` or JSONL shards, resumable and memory-bounded, on one machine
(``nlp.pipe``, ``n_process``) or on Ray Data (the ``distributed`` extra).

See ``docs/annotate.md``; :mod:`.run` (the run and its kill safety),
:mod:`.shards` (what a shard holds), :mod:`.state` (what resume compares),
:mod:`.ray_backend` (the Ray path).
"""

from .run import AnnotateSummary, annotate
from .shards import OUTPUT_FORMATS, doc_record

__all__ = ["annotate", "AnnotateSummary", "OUTPUT_FORMATS", "doc_record"]

"""What one shard file holds, and how docs become it.

A shard is either a spaCy ``DocBin`` (``.spacy``: every token attribute,
entities, cats, spans and ``doc._`` values) or JSONL (``.jsonl``: one object
per doc, :func:`doc_record`). :class:`ShardEncoder` turns docs into the
bytes of one shard (or of one part of a shard: parts made by several workers
are joined with :func:`join_parts`, in order, into the same shard).
"""

import json
from typing import Any, Callable, Dict, Iterable, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc, DocBin

from ..errors import UserError

OUTPUT_FORMATS = ("spacy", "jsonl")
SHARD_PATTERN = "shard-{index:05d}.{suffix}"


def check_output_format(output_format: str) -> str:
    """Return ``output_format``, or raise ``UserError`` unless it is one of :data:`OUTPUT_FORMATS`."""
    if output_format not in OUTPUT_FORMATS:
        raise UserError(f"--format {output_format!r}: expected one of {', '.join(OUTPUT_FORMATS)}")
    return output_format


def shard_name(index: int, *, output_format: str) -> str:
    """``shard-00000.spacy`` / ``shard-00000.jsonl``."""
    return SHARD_PATTERN.format(index=index, suffix=output_format)


def doc_record(doc: Doc, *, index: int, generated: bool) -> Dict[str, Any]:
    """One JSONL object: ``id`` (the doc's position in the corpus), ``text``,
    ``ents`` (``start``/``end`` character offsets, ``label``, ``text``), ``cats``
    and, with ``generated`` (the pipeline has an ``lm_generator``), ``generated``."""
    record: Dict[str, Any] = {
        "id": index,
        "text": doc.text,
        "ents": [
            {"start": ent.start_char, "end": ent.end_char, "label": ent.label_, "text": ent.text} for ent in doc.ents
        ],
        "cats": dict(doc.cats),
    }
    if generated:
        record["generated"] = doc._.generated
    return record


class ShardEncoder:
    """Collects docs (in corpus order) into the bytes of one shard or shard part.

    Everything a doc holds is copied out in :meth:`add`, so the docs (and the
    strings of a memory zone) may be freed right after; call :meth:`to_bytes`
    inside the zone too.
    """

    def __init__(self, *, output_format: str, generated: bool) -> None:
        self.output_format = check_output_format(output_format)
        self.generated = generated
        self.n_docs = 0
        self._doc_bin = DocBin(store_user_data=True) if output_format == "spacy" else None
        self._lines: List[str] = []

    def add(self, doc: Doc, *, index: int) -> None:
        """Add the doc at position ``index`` of the corpus."""
        if self._doc_bin is not None:
            self._doc_bin.add(doc)
        else:
            record = doc_record(doc, index=index, generated=self.generated)
            self._lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        self.n_docs += 1

    def to_bytes(self) -> bytes:
        """The shard (part) as the bytes of its file."""
        if self._doc_bin is not None:
            return self._doc_bin.to_bytes()
        return "".join(self._lines).encode("utf-8")


def annotate_texts(
    nlp: Language,
    texts: Iterable[str],
    *,
    first: int,
    output_format: str,
    generated: bool,
    batch_size: int,
    n_process: int = 1,
    advance: Callable[[int], None] = lambda n: None,
) -> bytes:
    """Run ``nlp`` over ``texts`` (the docs ``first``, ``first + 1``, ... of the
    corpus) and return them as the bytes of one shard (part).

    The whole pass runs in one ``nlp.memory_zone()``: the strings the docs add
    to the vocab are freed when it ends, after the docs have been encoded, so
    memory stays bounded by one shard however long the corpus is. (With
    ``n_process > 1``, spaCy's worker processes live for this one call too.)
    ``advance(1)`` is called after each doc (progress).
    """
    encoder = ShardEncoder(output_format=output_format, generated=generated)
    with nlp.memory_zone():
        for offset, doc in enumerate(nlp.pipe(texts, batch_size=batch_size, n_process=n_process)):
            encoder.add(doc, index=first + offset)
            advance(1)
        return encoder.to_bytes()


def join_parts(parts: Sequence[bytes], *, output_format: str) -> bytes:
    """One shard from the bytes of its consecutive parts (in order)."""
    if check_output_format(output_format) == "jsonl":
        return b"".join(parts)
    merged = DocBin(store_user_data=True)
    for part in parts:
        merged.merge(DocBin(store_user_data=True).from_bytes(part))
    return merged.to_bytes()


def has_generator(nlp: Language) -> bool:
    """Whether the pipeline has an ``lm_generator`` (its docs then carry ``doc._.generated``)."""
    return any(nlp.get_pipe_meta(name).factory == "lm_generator" for name in nlp.pipe_names)

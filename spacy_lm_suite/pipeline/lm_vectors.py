"""The ``lm_vectors`` component: named static vector tables carried inside a pipeline.

It embeds every token with its tables (``spacy-lm-suite.StaticVectors.v1``
layers), writes the result to ``doc.tensor`` (so ``token.vector`` and
``doc.similarity`` use it when the vocab has no vectors of its own, and it
survives ``Doc.to_bytes`` and ``nlp.pipe(n_process=...)``), and feeds
downstream components through ``spacy.Tok2VecListener.v1`` like a ``tok2vec``.
The tables are loaded in ``initialize`` and saved with the pipeline.
"""

from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Sequence, Union

import srsly
from spacy.language import Language
from spacy.pipeline import Tok2Vec
from spacy.training import Example
from spacy.util import ensure_path
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..layers.static_vectors import bind_tables
from ..vectors.table import LMVectors

DEFAULT_CONFIG = """
[model]
@architectures = "spacy-lm-suite.StaticVectors.v1"
nO = null
table = "main"
dropout = 0.0
oov = "zeros"
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_CONFIG)["model"]


@Language.factory(
    "lm_vectors",
    default_config={"model": DEFAULT_MODEL, "set_tensor": True},
)
def make_lm_vectors(nlp: Language, name: str, model: Model, set_tensor: bool) -> "LMVectorsComponent":
    return LMVectorsComponent(nlp.vocab, model, name=name, set_tensor=set_tensor)


class LMVectorsComponent(Tok2Vec):
    """A tok2vec whose embeddings come from named static vector tables."""

    def __init__(self, vocab: Vocab, model: Model, *, name: str = "lm_vectors", set_tensor: bool = True) -> None:
        super().__init__(vocab, model, name=name)
        self.tables: Dict[str, LMVectors] = {}
        self.cfg = {"set_tensor": set_tensor, "tables": []}

    def set_annotations(self, docs, tokvecses) -> None:
        if self.cfg["set_tensor"]:
            super().set_annotations(docs, tokvecses)

    def add_table(self, name: str, table: LMVectors) -> None:
        """Add (or replace) a named table and bind it to the model's layers."""
        table.strings = self.vocab.strings
        self.tables[name] = table
        self.cfg["tables"] = sorted(self.tables)
        bind_tables(self.model, self.tables)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        tables: Optional[Dict[str, Union[str, Path]]] = None,
        format: str = "auto",
        truncate: int = 0,
        normalize: bool = False,
        fallback: Sequence[str] = ("exact", "lower", "shape"),
    ) -> None:
        """Load the tables (name -> vectors file or table directory), then the model.

        Settings come from ``[initialize.components.<name>]``; ``format``,
        ``truncate``, ``normalize`` and ``fallback`` apply to every table.
        """
        from ..vectors.loading import load_vectors

        for table_name, path in (tables or {}).items():
            table = load_vectors(
                path, format=format, truncate=truncate, normalize=normalize, fallback=list(fallback)
            )
            self.add_table(table_name, table)
        bind_tables(self.model, self.tables)
        super().initialize(get_examples, nlp=nlp)

    def to_disk(self, path, *, exclude=tuple()) -> None:
        super().to_disk(path, exclude=exclude)
        path = ensure_path(path)
        for table_name, table in self.tables.items():
            table.to_disk(path / "tables" / table_name)

    def from_disk(self, path, *, exclude=tuple()) -> "LMVectorsComponent":
        path = ensure_path(path)
        cfg = srsly.read_json(path / "cfg")
        for table_name in cfg.get("tables", []):
            table = LMVectors(strings=self.vocab.strings)
            table.from_disk(path / "tables" / table_name)
            self.add_table(table_name, table)
        super().from_disk(path, exclude=exclude)
        return self

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        return srsly.msgpack_dumps(
            {
                "pipe": super().to_bytes(exclude=exclude),
                "tables": {name: table.to_bytes() for name, table in self.tables.items()},
            }
        )

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "LMVectorsComponent":
        msg = srsly.msgpack_loads(bytes_data)
        for table_name, table_bytes in msg["tables"].items():
            table = LMVectors(strings=self.vocab.strings)
            table.from_bytes(table_bytes)
            self.add_table(table_name, table)
        super().from_bytes(msg["pipe"], exclude=exclude)
        return self

"""The Ray Data path of ``annotate`` (``--ray``, ``--ray-address``): the texts
of each shard become a Ray dataset, annotated in batches by a pool of actors
that each load the pipeline once; the driver joins their parts, in order,
into the shard and writes it like the local path does (same shards, same
state, same resume).

Ray is an optional extra (``pip install "spacy-lm-suite[distributed]"``,
which brings ``ray[data]``); it is imported only here, only when asked for.

- The pool is ``compute=ActorPoolStrategy(size=n_actors)`` (``concurrency=``
  is deprecated since Ray 2.51).
- ``DataContext.get_current().execution_options.preserve_order = True`` is
  set before each dataset is built; the parts also carry the index of their
  first doc and are sorted by it, so the order never depends on Ray's.
- ``address=None`` starts (or joins, with ``RAY_ADDRESS`` set) a local Ray;
  ``address="ray://head:10001"`` or ``"auto"`` joins an existing cluster
  through ``ray.init(address=...)``. On a cluster every node must be able to
  ``spacy.load`` the pipeline: an installed package, or a folder at the same
  path on every node (shared storage).
- Each shard is a dataset of its own, so the actors load the pipeline once
  per shard: use a large ``--shard-size`` (say 50 000) with Ray.
"""

from types import ModuleType
from typing import Any, Callable, Dict, List, Optional

from ..extras import require
from .shards import annotate_texts, join_parts

EXTRA = "distributed"


def require_ray() -> ModuleType:
    """``ray`` with Ray Data, or :class:`~spacy_lm_suite.errors.MissingExtraError`
    naming ``pip install "spacy-lm-suite[distributed]"``."""
    ray = require("ray", EXTRA)
    require("ray.data", EXTRA)
    return ray


class BatchAnnotator:
    """A Ray actor's work: load the pipeline once, then turn each batch
    (``{"index": [...], "text": [...]}``) into one row: the index of its
    first doc and the bytes of its part of the shard. (A plain class: Ray
    runs it in its actors; tests may call it directly.)"""

    def __init__(self, *, pipeline: str, output_format: str, generated: bool) -> None:
        import spacy

        self.nlp = spacy.load(pipeline)
        self.output_format = output_format
        self.generated = generated

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        import numpy

        indices = [int(index) for index in batch["index"]]
        texts = [str(text) for text in batch["text"]]
        part = annotate_texts(
            self.nlp, texts, first=indices[0], output_format=self.output_format, generated=self.generated,
            batch_size=max(1, len(texts)),
        )
        return {"first": numpy.array([indices[0]]), "part": numpy.array([part], dtype=object)}


class RayShardAnnotator:
    """Annotates each shard's texts on Ray Data (see the module docstring)."""

    def __init__(
        self,
        pipeline: str,
        *,
        output_format: str,
        generated: bool,
        batch_size: int,
        n_actors: int,
        address: Optional[str],
    ) -> None:
        self.ray = require_ray()
        if not self.ray.is_initialized():
            if address is not None:
                self.ray.init(address=address)
            else:
                self.ray.init()
        self.pipeline = pipeline
        self.output_format = output_format
        self.generated = generated
        self.batch_size = batch_size
        self.n_actors = n_actors

    def __call__(self, texts: List[str], *, first: int, advance: Callable[[int], None]) -> bytes:
        from ray.data import ActorPoolStrategy, DataContext

        DataContext.get_current().execution_options.preserve_order = True
        # consecutive indices, so each batch is a consecutive run of docs
        items = [{"index": first + offset, "text": text} for offset, text in enumerate(texts)]
        dataset = self.ray.data.from_items(items).map_batches(
            BatchAnnotator,
            fn_constructor_kwargs={"pipeline": self.pipeline, "output_format": self.output_format, "generated": self.generated},
            batch_size=self.batch_size,
            batch_format="numpy",
            compute=ActorPoolStrategy(size=self.n_actors),
        )
        parts = sorted((int(row["first"]), bytes(row["part"])) for row in dataset.iter_rows())
        advance(len(texts))
        return join_parts([part for _, part in parts], output_format=self.output_format)

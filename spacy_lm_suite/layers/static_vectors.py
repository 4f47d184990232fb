"""``spacy-lm-suite.StaticVectors.v1``: a frozen vector table as a Thinc embedding layer.

The table is either the pipeline's ``nlp.vocab.vectors`` (``table = null``) or a
named table of an ``lm_vectors`` component, bound to the layer by that component
(:func:`bind_tables`). Vectors are looked up through the table's own normaliser
chain, so a lower-cased GloVe table finds ``Paris`` without added keys.
"""

from typing import Callable, Dict, List, Optional, Tuple

import numpy
from spacy.attrs import ORTH
from spacy.tokens import Doc
from spacy.util import registry
from spacy.vectors import Mode, Vectors
from thinc.api import Model, glorot_uniform_init
from thinc.types import Floats2d

OOV_MODES = ("zeros", "learned")


@registry.architectures("spacy-lm-suite.StaticVectors.v1")
def StaticVectors(
    nO: Optional[int] = None,
    *,
    table: Optional[str] = None,
    dropout: float = 0.0,
    oov: str = "zeros",
) -> Model[List[Doc], List[Floats2d]]:
    """Embed each token with a row of a static vector table.

    nO: width of a learned linear projection of the vectors (no bias); ``None``
        outputs the raw vectors, width ``nM`` (the table's dimension).
    table: name of an ``lm_vectors`` table; ``None`` uses ``doc.vocab.vectors``.
    dropout: dropout rate on the output during training.
    oov: ``"zeros"`` (a miss embeds as zeros) or ``"learned"`` (a trained vector).
    Output: one array per doc, shape ``[n_tokens, nO or nM]``.
    """
    if oov not in OOV_MODES:
        raise ValueError(f"StaticVectors: oov must be one of {OOV_MODES}, got {oov!r}")
    params = {}
    if nO is not None:
        params["W"] = None
    if oov == "learned":
        params["oov"] = None
    return Model(
        "lm_static_vectors",
        forward,
        init=init,
        params=params,
        dims={"nO": nO, "nM": None},
        attrs={"table_name": table, "table": None, "dropout_rate": dropout, "oov": oov},
    )


def bind_tables(model: Model, tables: Dict) -> None:
    """Give every StaticVectors node in ``model`` its named table from ``tables``."""
    for node in model.walk():
        name = node.attrs.get("table_name") if node.name == "lm_static_vectors" else None
        if name is None:
            continue
        if name not in tables:
            raise ValueError(
                f"StaticVectors asks for table {name!r}, but the component has "
                f"{sorted(tables) or 'no tables'}: add it under "
                f"[initialize.components.<name>.tables]"
            )
        node.attrs["table"] = tables[name]


def _table(model: Model, docs: List[Doc]):
    table = model.attrs["table"]
    if table is not None:
        return table
    if model.attrs["table_name"] is not None:
        raise ValueError(
            f"StaticVectors table {model.attrs['table_name']!r} is not loaded: "
            "initialize the lm_vectors component that owns it first"
        )
    return docs[0].vocab.vectors


def lookup(vectors, docs: List[Doc]) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Vectors ``[n_tokens, nM]`` of all tokens of ``docs``, and a miss mask ``[n_tokens]``."""
    attr = getattr(vectors, "attr", ORTH)
    keys = numpy.concatenate([doc.to_array(attr) for doc in docs]).astype("uint64")
    is_plain_vectors = isinstance(vectors, Vectors) and vectors.mode == Mode.default
    if hasattr(vectors, "find") and (is_plain_vectors or not isinstance(vectors, Vectors)):
        rows = numpy.asarray(vectors.find(keys=keys), dtype="int64")
        data = numpy.asarray(vectors.data)
        found = data[numpy.maximum(rows, 0)]
        missing = rows < 0
        found[missing] = 0.0
        return numpy.ascontiguousarray(found, dtype="float32"), missing
    # floret and other subword tables have a vector for every key
    found = numpy.asarray(vectors.get_batch(keys), dtype="float32")
    return found, numpy.zeros(len(keys), dtype=bool)


def forward(
    model: Model[List[Doc], List[Floats2d]], docs: List[Doc], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    ops = model.ops
    lengths = [len(doc) for doc in docs]
    if not sum(lengths):
        return [ops.alloc2f(n, model.get_dim("nO")) for n in lengths], lambda d_out: []
    V, missing = lookup(_table(model, docs), docs)
    V = ops.asarray2f(V)
    missing = ops.asarray(missing)
    learned_oov = "oov" in model.param_names
    projected = "W" in model.param_names
    if learned_oov:
        V[missing] = model.get_param("oov")
    Y = ops.gemm(V, model.get_param("W"), trans2=True) if projected else V
    mask = None
    rate = model.attrs["dropout_rate"]
    if is_train and rate:
        mask = ops.get_dropout_mask(Y.shape, rate)
        Y = Y * mask
    outputs = ops.unflatten(Y, ops.asarray1i(lengths))

    def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
        dY = ops.flatten(d_outputs)
        if mask is not None:
            dY = dY * mask
        if projected:
            model.inc_grad("W", ops.gemm(dY, V, trans1=True))
            if learned_oov and missing.any():
                dV = ops.gemm(dY[missing], model.get_param("W"))
                model.inc_grad("oov", dV.sum(axis=0))
        elif learned_oov and missing.any():
            model.inc_grad("oov", dY[missing].sum(axis=0))
        return []

    return outputs, backprop


def init(
    model: Model[List[Doc], List[Floats2d]],
    X: Optional[List[Doc]] = None,
    Y: Optional[List[Floats2d]] = None,
) -> Model[List[Doc], List[Floats2d]]:
    if X:
        table = _table(model, X)
        nM = table.shape[1]
        if not nM:
            raise ValueError(
                "StaticVectors found an empty vector table: load vectors with "
                "[initialize.before_init] @callbacks = \"spacy-lm-suite.load_vectors.v1\" "
                "or [initialize] vectors = ..."
            )
        model.set_dim("nM", nM)
    if not model.has_dim("nM"):
        raise ValueError("StaticVectors needs sample docs to learn the table's width")
    nM = model.get_dim("nM")
    if "W" in model.param_names:
        if Y:
            model.set_dim("nO", Y[0].shape[1])
        model.set_param("W", glorot_uniform_init(model.ops, (model.get_dim("nO"), nM)))
    else:
        model.set_dim("nO", nM)
    if "oov" in model.param_names:
        model.set_param("oov", model.ops.alloc1f(nM))
    return model

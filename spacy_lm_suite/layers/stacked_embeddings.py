"""``spacy-lm-suite.StackedEmbeddings.v1``: embeddings of different kinds as one tok2vec.

Parts are any ``List[Doc] -> List[Floats2d]`` models: static vectors (our
``StaticVectors.v1``, an ``lm_vectors`` listener), spaCy's ``MultiHashEmbed`` or
``Tok2VecListener``, the ELMo and transformer listeners. Two modes:

- ``"mix"``: each part is projected to ``width`` (a linear layer with bias) and
  the projections are combined by one learned scalar mix, the ELMo paper's
  ``γ · Σ_k softmax(s)_k · P_k``, applied across encoders instead of layers.
  ``mix_init`` starts the weights from the parts' standalone strength
  (``softmax(s)`` proportional to the given values, e.g. their dev scores).
- ``"concat"``: the parts are concatenated and projected to ``width`` (flair's
  way).

spaCy's ``Tok2VecListener`` reads ``doc.tensor`` at prediction time: in a
pipeline that stacks it with a contextual encoder, set ``set_tensor = false``
on ``lm_transformer`` / ``lm_elmo`` (or the tensor they write replaces the
tok2vec's; a width mismatch is then a clear error).

``normalize`` layer-normalises each part's vectors (a learned gain and bias per
part, thinc's ``LayerNorm``) before its projection: parts come at very different
scales (the committed ELMo's context-free layer has a norm near 66, spaCy's
``MultiHashEmbed`` output near 10), and without it the largest part dominates
the projections and the mix from the first step, however weak it is.

``part_dropout`` drops a whole part's vector for a token (per token, per part,
in training only, survivors scaled by ``1 / (1 - p)``), so the model cannot
lean on one part alone. Each part's gradient flows back into it (a listener
passes it on to its encoder).

Output: one array ``[n_tokens, width]`` per doc. :func:`mix_weights` reads the
learned ``softmax(s)`` per part.
"""

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import LayerNorm, Linear, Model
from thinc.types import Floats2d

from ..errors import UserError

MODES = ("mix", "concat")


@registry.architectures("spacy-lm-suite.StackedEmbeddings.v1")
def StackedEmbeddings(
    parts: Dict[str, Any],  # name -> Model[List[Doc], List[Floats2d]] (Any: confection checks nested blocks unresolved)
    width: int,
    mode: str = "mix",
    part_dropout: float = 0.0,
    mix_init: Optional[Dict[str, float]] = None,
    normalize: bool = False,
) -> Model[List[Doc], List[Floats2d]]:
    """parts: name -> a model giving one ``[n_tokens, w_k]`` array per doc (at least two).
    width: the output width. mode: ``"mix"`` (projections + scalar mix) or ``"concat"``
    (concatenation + one projection). part_dropout: the rate at which a part's vector is
    dropped per token in training. mix_init: name -> a positive strength (mix mode;
    parts left out get the mean of the others). normalize: layer-normalise each part's
    vectors before projecting them, so no part dominates by its scale."""
    if not isinstance(parts, dict) or len(parts) < 2:
        raise UserError(f"StackedEmbeddings: parts must name at least two models, got {len(parts or {})}")
    if mode not in MODES:
        raise UserError(f"StackedEmbeddings: mode must be \"mix\" or \"concat\", got {mode!r}")
    if not isinstance(width, int) or width < 1:
        raise UserError(f"StackedEmbeddings: width must be a positive integer, got {width!r}")
    if not 0.0 <= part_dropout < 1.0:
        raise UserError(f"StackedEmbeddings: part_dropout must be in [0, 1), got {part_dropout}")
    names = list(parts)
    initial = initial_logits(names, mix_init) if mode == "mix" else None
    if mix_init and mode != "mix":
        raise UserError("StackedEmbeddings: mix_init applies to mode = \"mix\" only")
    projections = [Linear(nO=width) for _ in names] if mode == "mix" else [Linear(nO=width)]
    norms = [LayerNorm() for _ in names] if normalize else []
    return Model(
        "lm_stacked_embeddings",
        forward,
        init=init,
        layers=[*parts.values(), *projections, *norms],
        dims={"nO": width},
        params={"s": None, "gamma": None},
        attrs={"names": names, "mode": mode, "part_dropout": float(part_dropout), "normalize": bool(normalize),
               "mix_init": initial.tolist() if initial is not None else None},
    )


def initial_logits(names: List[str], mix_init: Optional[Dict[str, float]]) -> numpy.ndarray:
    """``s`` at initialization: zeros (equal weights), or ``log`` of the given strengths."""
    if not mix_init:
        return numpy.zeros((len(names),), dtype="float32")
    unknown = sorted(set(mix_init) - set(names))
    if unknown:
        raise UserError(f"StackedEmbeddings: mix_init names {', '.join(unknown)}, which are not parts ({', '.join(names)})")
    values = [float(v) for v in mix_init.values()]
    if any(not v > 0 for v in values):
        raise UserError(f"StackedEmbeddings: mix_init strengths must be positive, got {mix_init}")
    mean = sum(values) / len(values)
    strengths = numpy.asarray([float(mix_init.get(name, mean)) for name in names], dtype="float32")
    return numpy.log(strengths / strengths.sum()).astype("float32")


def _split(model: Model) -> Tuple[List[str], List[Model], List[Model]]:
    """names, parts, projections (one per part in mix mode, one in concat mode)."""
    names = model.attrs["names"]
    n_projections = len(names) if model.attrs["mode"] == "mix" else 1
    return names, model.layers[: len(names)], model.layers[len(names) : len(names) + n_projections]


def _norms(model: Model) -> List[Optional[Model]]:
    """The per-part LayerNorm of each part (None for every part without ``normalize``)."""
    names = model.attrs["names"]
    n_projections = len(names) if model.attrs["mode"] == "mix" else 1
    norms = model.layers[len(names) + n_projections :]
    return list(norms) if norms else [None] * len(names)


def init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    names, parts, projections = _split(model)
    widths = []
    for name, part in zip(names, parts):
        part.initialize(X=X)
        width = part.maybe_get_dim("nO")
        if width is None:
            raise UserError(
                f"StackedEmbeddings: the width of part {name!r} is unknown after initialize: set its width "
                "in the config (or add its upstream component earlier in the pipeline)"
            )
        if width == 0:
            raise UserError(f"StackedEmbeddings: part {name!r} has width 0: it gives no features; remove it")
        widths.append(int(width))
    model.attrs["widths"] = widths
    for norm, width in zip(_norms(model), widths):
        if norm is not None:
            norm.set_dim("nI", width)
            norm.initialize()
    if model.attrs["mode"] == "mix":
        for projection, width in zip(projections, widths):
            projection.set_dim("nI", width)
            projection.initialize()
        model.set_param("s", model.ops.asarray1f(numpy.asarray(model.attrs["mix_init"], dtype="float32")))
        model.set_param("gamma", model.ops.asarray1f(numpy.ones((1,), dtype="float32")))
    else:
        projections[0].set_dim("nI", sum(widths))
        projections[0].initialize()
        model.set_param("s", model.ops.alloc1f(0))
        model.set_param("gamma", model.ops.alloc1f(0))
    return model


def _softmax(s: numpy.ndarray) -> numpy.ndarray:
    e = numpy.exp(s - s.max())
    return e / e.sum()


def mix_weights(model: Model) -> Dict[str, float]:
    """``softmax(s)`` per part name (mix mode; empty for concat)."""
    if model.attrs["mode"] != "mix":
        return {}
    return dict(zip(model.attrs["names"], _softmax(numpy.asarray(model.get_param("s"))).tolist()))


def _then(backprop_norm: Callable, backprop_part: Callable, ops, lengths: List[int]) -> Callable:
    """The backprop of part -> flatten -> LayerNorm: the norm's, then the part's."""

    def backprop(d_unflat: List[Floats2d]):
        return backprop_part(ops.unflatten(backprop_norm(ops.flatten(d_unflat)), lengths))

    return backprop


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    names, parts, projections = _split(model)
    ops = model.ops
    lengths = [len(doc) for doc in docs]
    n_tokens = sum(lengths)
    width = model.get_dim("nO")
    expected = model.attrs.get("widths")
    features, part_backprops = [], []
    norms = _norms(model)
    for k, (name, part) in enumerate(zip(names, parts)):
        outputs, backprop_part = part(docs, is_train)
        flat = ops.flatten(outputs) if n_tokens else ops.alloc2f(0, expected[k] if expected else 0)
        if flat.ndim != 2 or (expected is not None and flat.shape[1] != expected[k]):
            got = flat.shape[1] if flat.ndim == 2 else f"shape {flat.shape}"
            raise UserError(
                f"StackedEmbeddings: part {name!r} gave vectors of width {got}, expected {expected[k]}. If it is "
                "spaCy's Tok2VecListener: at prediction it reads doc.tensor, so its tok2vec must be in the pipeline "
                "and no later component may overwrite doc.tensor (set set_tensor = false on lm_transformer / lm_elmo)"
            )
        if norms[k] is not None and n_tokens:
            flat, backprop_norm = norms[k](flat, is_train)
            backprop_part = _then(backprop_norm, backprop_part, ops, lengths)
        features.append(flat)
        part_backprops.append(backprop_part)
    rate = model.attrs["part_dropout"] if is_train else 0.0
    masks = [ops.get_dropout_mask((n_tokens, 1), rate) if rate > 0 else None for _ in names]
    kept = [f * m if m is not None else f for f, m in zip(features, masks)]

    if model.attrs["mode"] == "concat":
        Y, backprop_projection = projections[0](ops.xp.hstack(kept), is_train)  # kept: two parts or more

        def backprop_concat(d_outputs: List[Floats2d]) -> List[Doc]:
            d_kept = backprop_projection(ops.flatten(d_outputs) if n_tokens else ops.alloc2f(0, width))
            start = 0
            for k, feature in enumerate(features):
                d = d_kept[:, start : start + feature.shape[1]]
                start += feature.shape[1]
                if masks[k] is not None:
                    d = d * masks[k]
                part_backprops[k](ops.unflatten(ops.xp.ascontiguousarray(d), lengths))
            return []

        return ops.unflatten(Y, lengths), backprop_concat

    s, gamma = model.get_param("s"), float(model.get_param("gamma")[0])
    weights = _softmax(numpy.asarray(s))
    projected, projection_backprops = [], []
    for projection, feature in zip(projections, kept):
        P, backprop_projection = projection(feature, is_train)
        projected.append(P)
        projection_backprops.append(backprop_projection)
    mixed = ops.alloc2f(n_tokens, width)
    for w, P in zip(weights, projected):
        mixed += float(w) * P
    Y = gamma * mixed

    def backprop_mix(d_outputs: List[Floats2d]) -> List[Doc]:
        dY = ops.flatten(d_outputs) if n_tokens else ops.alloc2f(0, width)
        g = numpy.asarray([float((dY * P).sum()) * gamma for P in projected], dtype="float32")  # dL/dw_k
        d_s = weights * (g - float((weights * g).sum()))
        model.inc_grad("s", ops.asarray1f(d_s.astype("float32")))
        model.inc_grad("gamma", ops.asarray1f(numpy.asarray([float((dY * mixed).sum())], dtype="float32")))
        for k, w in enumerate(weights):
            d_feature = projection_backprops[k](dY * (gamma * float(w)))
            if masks[k] is not None:
                d_feature = d_feature * masks[k]
            part_backprops[k](ops.unflatten(d_feature, lengths))
        return []

    return ops.unflatten(Y, lengths), backprop_mix

"""Load vector files into an :class:`LMVectors` table and put it into spaCy.

Two routes into a training config:

1. ``[initialize.before_init]`` (works with any ``[nlp.vectors]``)::

       [initialize.before_init]
       @callbacks = "spacy-lm-suite.load_vectors.v1"
       path = "glove.6B.50d.txt"
       fallback = ["exact", "lower", "shape"]

   The callback sets ``nlp.vocab.vectors`` and points
   ``nlp.config["nlp"]["vectors"]`` at ``spacy-lm-suite.Vectors.v1``, so the
   saved pipeline reloads with our table.

2. ``[initialize] vectors = "path"`` with a directory written by
   :func:`save_vectors_pipeline` (or ``convert-vectors --output-format
   pipeline``). spaCy loads it into the *existing* ``nlp.vocab.vectors``, so
   the config must also select our class (spaCy's own ``Vectors`` would find
   none of our files)::

       [nlp.vectors]
       @vectors = "spacy-lm-suite.Vectors.v1"
"""

import warnings
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import spacy
from spacy.language import Language
from spacy.strings import StringStore
from spacy.util import load_config, registry
from spacy.vectors import Vectors

from ..errors import InputFormatError, UserError
from ..runs.outputs import atomic_output_dir
from .formats import VectorsWarning, detect_format, l2_normalize, read_vectors
from .normalizers import DEFAULT_FALLBACK, validate_fallback
from .table import LMVectors

PathLike = Union[str, Path]
VECTORS_NAME = "spacy-lm-suite.Vectors.v1"


def load_vectors(
    path: PathLike,
    *,
    format: str = "auto",
    truncate: int = 0,
    normalize: bool = False,
    fallback: Optional[Sequence[str]] = None,
    name: Optional[str] = None,
    errors: str = "strict",
    prune: int = 0,
) -> LMVectors:
    """Read any supported vectors file or directory into a table.

    format: ``auto``, a file format of :mod:`.formats`, ``table`` (a saved
    table directory) or ``spacy`` (a spaCy pipeline: its vectors, ours or
    spaCy's). truncate: keep the first N rows. normalize: unit-length rows.
    fallback: the normaliser chain (None: the saved chain for ``table``/
    ``spacy``, else exact, lower, shape). name: the table's name (default:
    the file or folder name). errors: non-UTF-8 words (``strict``/``skip``/
    ``replace``). prune: keep N rows and map the others to their nearest kept
    row (:meth:`LMVectors.prune`).
    """
    path = run_vectors_dir(Path(path))
    if not path.exists():
        raise InputFormatError(path, "no such file or directory")
    chain = validate_fallback(fallback) if fallback is not None else None
    if format == "auto":
        format = detect_format(path)
    if format in ("table", "spacy"):
        table = _load_table_dir(path, format)
        if chain is not None:
            table.fallback = chain
        if truncate:
            table.truncate(truncate)
        if normalize:
            table = LMVectors(
                strings=table.strings, words=table.words, data=l2_normalize(table.data),
                fallback=table.fallback, name=table.name, aliases=table.aliases,
            )
    else:
        words, data = read_vectors(path, format=format, truncate=truncate, normalize=normalize, errors=errors)
        table = LMVectors(words=words, data=data, fallback=chain or DEFAULT_FALLBACK)
    if table.data.shape[0] == 0:
        raise InputFormatError(
            path, "has no vector rows: give a vectors file, a table or a spaCy pipeline that has vectors"
        )
    if name is not None or table.name is None:
        table.name = name if name is not None else path.name
    if prune:
        table.prune(prune)
    return table


def run_vectors_dir(path: Path) -> Path:
    """The table of a ``train-vectors`` run folder (``RUN/vectors``), else ``path``.
    A run that has not finished has no table yet: a ``UserError`` saying so."""
    if not path.is_dir() or (path / "lm_vectors.json").exists() or not (path / "state.json").exists():
        return path
    if not (path / "config.json").exists():
        return path
    if (path / "vectors" / "lm_vectors.json").exists():
        return path / "vectors"
    raise UserError(f"{path}: this train-vectors run has not finished (no vectors/ yet); finish it with --resume")


def _load_table_dir(path: Path, format: str) -> LMVectors:
    if format == "table":
        if not (path / "lm_vectors.json").exists():
            raise InputFormatError(path, "expected a saved table folder with lm_vectors.json")
        return LMVectors().from_disk(path)
    config_path = path / "config.cfg"
    if not config_path.exists():
        raise InputFormatError(path, "expected a spaCy pipeline folder with config.cfg")
    pipeline = load_config(config_path)["nlp"].get("pipeline", [])
    nlp = spacy.load(path, exclude=list(pipeline))
    vectors = nlp.vocab.vectors
    if isinstance(vectors, LMVectors):
        vectors.strings = StringStore()  # don't carry that pipeline's strings along
        return vectors
    if isinstance(vectors, Vectors):
        return LMVectors.from_spacy_vectors(vectors, strings=nlp.vocab.strings, name=vectors.name)
    raise UserError(f"{path}: cannot read vectors of type {type(vectors).__name__}")


def install_vectors(nlp: Language, table: LMVectors) -> Language:
    """Make ``table`` the vectors of ``nlp`` and of its saved config."""
    nlp.vocab.vectors = table
    nlp.config["nlp"]["vectors"] = {"@vectors": VECTORS_NAME, "fallback": list(table.fallback)}
    return nlp


def blank_pipeline(lang: str) -> Language:
    """``spacy.blank(lang)``, with an unknown language code as a ``UserError``
    (call it before long work to check ``--lang``)."""
    try:
        spacy.util.get_lang_class(lang)
    except ImportError as err:
        if "[E048]" not in str(err):  # another import failed: not the user's mistake
            raise
        raise UserError(f"--lang: spaCy has no language {lang!r} (expected a code such as en, de, xx)") from None
    return spacy.blank(lang)


def save_vectors_pipeline(
    table: LMVectors, path: PathLike, *, lang: str = "en", overwrite: bool = False, command: str = "convert-vectors"
) -> Path:
    """Write a pipeline directory holding only ``table`` (no components).

    Load it with ``spacy.load``, or use it as ``[initialize] vectors`` in a
    config whose ``[nlp.vectors]`` selects ``spacy-lm-suite.Vectors.v1``.
    Written by :func:`spacy_lm_suite.runs.outputs.atomic_output_dir`: ``path``
    must be new or empty, or (with ``overwrite``) an earlier output of
    ``command``, and a failure leaves it unchanged.
    """
    nlp = blank_pipeline(lang)
    install_vectors(nlp, table)
    with atomic_output_dir(path, command=command, overwrite=overwrite) as tmp:
        nlp.to_disk(tmp)
    return Path(path)


@registry.callbacks("spacy-lm-suite.load_vectors.v1")
def create_load_vectors_callback(
    path: Optional[str],
    format: str = "auto",
    truncate: int = 0,
    normalize: bool = False,
    fallback: Optional[List[str]] = None,
    name: Optional[str] = None,
    errors: str = "strict",
    prune: int = 0,
) -> Callable[[Language], Language]:
    """``[initialize.before_init]``: load vectors into ``nlp`` as an
    :class:`LMVectors` table (see :func:`load_vectors` for the settings).
    ``path = null`` (e.g. an unset ``${paths.vectors}``) loads nothing, with a
    warning, as spaCy's ``[initialize] vectors = null`` does."""
    if fallback is not None:
        validate_fallback(fallback)

    def load_into(nlp: Language) -> Language:
        if path is None:
            warnings.warn("spacy-lm-suite.load_vectors.v1: path is null, no vectors loaded", VectorsWarning)
            return nlp
        table = load_vectors(
            path, format=format, truncate=truncate, normalize=normalize,
            fallback=fallback, name=name, errors=errors, prune=prune,
        )
        return install_vectors(nlp, table)

    return load_into

"""Raw texts -> one pre-tokenised, normalised corpus file for the vector trainers.

Each text becomes one line of tokens separated by single spaces (a window
never crosses a line). Tokens come from a spaCy tokenizer (``spacy.blank(lang)``
or the tokenizer of a saved pipeline, so training tokens match the pipeline
that will use the vectors) or, for pre-tokenised input, from splitting on
whitespace. Every token then goes through the table's *training normaliser*:
the last step of the fallback chain (see :mod:`.normalizers`), so a table with
``fallback = ["exact", "lower"]`` is trained on lower-cased tokens and a
capitalised word finds its row through the ``lower`` step at lookup time.

spaCy is imported only when a spaCy tokenizer is asked for.
"""

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from tqdm.auto import tqdm

from ..errors import UserError
from .normalizers import DEFAULT_FALLBACK, NORMALIZERS, Normalizer, validate_fallback

PathLike = Union[str, Path]
Tokenizer = Callable[[Iterable[str]], Iterator[List[str]]]
"""Maps a stream of texts to a stream of token lists."""


def training_normalizer(fallback: Sequence[str] = DEFAULT_FALLBACK) -> Normalizer:
    """The normaliser training tokens get for a table with this fallback chain: its last step."""
    return NORMALIZERS[validate_fallback(fallback)[-1]]


def whitespace_tokenizer(texts: Iterable[str]) -> Iterator[List[str]]:
    """Pre-tokenised input: tokens are the whitespace-separated parts."""
    for text in texts:
        yield text.split()


def spacy_tokenizer(name_or_path: str = "en", *, batch_size: int = 1000) -> Tokenizer:
    """The tokenizer of ``spacy.blank(lang)`` (a language code) or of a saved pipeline (a path).

    Whitespace tokens are dropped.
    """
    import spacy
    from spacy.util import load_config

    path = Path(name_or_path)
    if path.exists():
        config_path = path / "config.cfg"
        if not config_path.exists():
            raise UserError(f"{path}: expected a spaCy pipeline folder (with config.cfg) or a language code")
        components = list(load_config(config_path)["nlp"].get("pipeline", []))
        nlp = spacy.load(path, exclude=components)
    else:
        try:
            nlp = spacy.blank(name_or_path)
        except (ImportError, KeyError):
            raise UserError(f"tokenizer {name_or_path!r}: not a spaCy language code nor a pipeline folder") from None
    tokenizer = nlp.tokenizer

    def tokenize(texts: Iterable[str]) -> Iterator[List[str]]:
        for doc in tokenizer.pipe(texts, batch_size=batch_size):
            yield [token.text for token in doc if not token.is_space]

    return tokenize


def describe_tokenizer(tokenizer: str, *, pretokenized: bool, fallback: Sequence[str]) -> str:
    """A one-line record of how the corpus was made (logged with the vectors)."""
    steps = validate_fallback(fallback)
    how = "whitespace split (pre-tokenised input)" if pretokenized else (
        f"spaCy tokenizer of {tokenizer!r}" if Path(tokenizer).exists() else f"spacy.blank({tokenizer!r}).tokenizer"
    )
    return f"{how}; tokens normalised with {steps[-1]!r} (last step of fallback {list(steps)})"


@dataclass
class CorpusFile:
    """A written corpus file and what went into it."""

    path: Path
    n_texts: int
    n_lines: int
    n_tokens: int
    seconds: float
    tokenization: str
    sha1: str

    def to_dict(self) -> Dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def write_corpus_file(
    texts: Iterable[str],
    path: PathLike,
    *,
    tokenizer: Tokenizer = whitespace_tokenizer,
    normalizer: Normalizer = NORMALIZERS["exact"],
    tokenization: str = "",
    progress: bool = True,
    total: Optional[int] = None,
) -> CorpusFile:
    """Tokenise, normalise and write ``texts`` to ``path``, one line per non-empty text.

    Tokens that normalise to an empty string are dropped; whitespace inside a
    normalised token splits it. Raises :class:`UserError` if no token is written.
    total: the number of texts, for the progress bar (None: a count without percentage).
    """
    path = Path(path)
    started = time.perf_counter()
    n_texts = n_lines = n_tokens = 0
    digest = hashlib.sha1()

    def counted(stream: Iterable[str]) -> Iterator[str]:
        nonlocal n_texts
        for text in stream:
            n_texts += 1
            yield text

    with path.open("w", encoding="utf-8", newline="\n") as out, tqdm(
        total=total, unit=" texts", desc="tokenising", disable=not progress
    ) as bar:
        for tokens in tokenizer(counted(texts)):
            bar.update(1)
            line_tokens = " ".join(map(normalizer, tokens)).split()
            if not line_tokens:
                continue
            line = " ".join(line_tokens) + "\n"
            out.write(line)
            digest.update(line.encode("utf-8"))
            n_lines += 1
            n_tokens += len(line_tokens)
    if n_tokens == 0:
        raise UserError(f"the corpus is empty: {n_texts} text(s) but no tokens after tokenisation")
    return CorpusFile(
        path=path, n_texts=n_texts, n_lines=n_lines, n_tokens=n_tokens,
        seconds=time.perf_counter() - started, tokenization=tokenization, sha1=digest.hexdigest(),
    )


def prepare_corpus(
    source,
    path: PathLike,
    *,
    fmt: str = "auto",
    encoding: str = "utf-8",
    limit: Optional[int] = None,
    tokenizer: str = "en",
    pretokenized: bool = False,
    fallback: Sequence[str] = DEFAULT_FALLBACK,
    progress: bool = True,
) -> CorpusFile:
    """Read texts from ``source`` (files, folders, globs: see :func:`~spacy_lm_suite.data.rawtext.iter_texts`)
    and write the corpus file for training.

    tokenizer: a spaCy language code or a pipeline folder (ignored when ``pretokenized``).
    fallback: the table's chain; its last step normalises the training tokens.
    """
    from ..data.rawtext import iter_texts
    from ..runs.progress import count_texts

    texts = iter_texts(source, fmt=fmt, limit=limit, encoding=encoding)
    return write_corpus_file(
        texts,
        path,
        tokenizer=whitespace_tokenizer if pretokenized else spacy_tokenizer(tokenizer),
        normalizer=training_normalizer(fallback),
        tokenization=describe_tokenizer(tokenizer, pretokenized=pretokenized, fallback=fallback),
        progress=progress,
        total=count_texts(source, fmt=fmt, encoding=encoding, limit=limit) if progress else None,
    )


def read_corpus_file(path: PathLike) -> CorpusFile:
    """Describe an existing corpus file (already tokenised and normalised), e.g. a benchmark's shared file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such corpus file")
    digest = hashlib.sha1()
    n_lines = n_tokens = 0
    with path.open("rb") as file_:
        for line in file_:
            digest.update(line)
            n_lines += 1
            n_tokens += len(line.split())
    if n_tokens == 0:
        raise UserError(f"{path}: the corpus file has no tokens")
    return CorpusFile(path, n_lines, n_lines, n_tokens, 0.0, "given pre-tokenised corpus file", digest.hexdigest())

"""``convert-vectors``, ``coverage`` and ``evaluate-vectors``: static-vector tables."""

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from wasabi import msg

from . import app, choice_option
from ..errors import UserError
from ..runs.options import require_at_least, require_non_negative
from ..runs.outputs import (
    atomic_output_dir,
    atomic_write_file,
    check_output_dir,
    check_output_file,
    write_json_atomic,
)

OUTPUT_FORMATS = ("table", "pipeline", "word2vec-text", "word2vec-bin")
# spacy_lm_suite.vectors.formats.FILE_FORMATS + table, spacy (kept here: --help imports no numpy)
INPUT_FORMATS = ("auto", "word2vec-bin", "word2vec-text", "fasttext", "glove", "gensim", "npy", "table", "spacy")
ERRORS = ("strict", "skip", "replace")
# spacy_lm_suite.vectors.coverage.DATA_FORMATS, and auto (detected from the file)
DATA_FORMATS = ("auto", "text", "conll2003", "wnut17", "sst2", "trec", "jsonl")


def config_hint(pipeline: Path, *, run_dir: Optional[Path] = None) -> str:
    """What a spaCy config needs to use ``pipeline`` (both lines: a config from
    ``spacy init config`` selects spaCy's own table, which cannot read ours)."""
    source = run_dir if run_dir is not None else pipeline
    return (
        "In a spaCy config, both lines (spacy init config selects spacy.Vectors.v1, which cannot read it):\n"
        '  [nlp.vectors]\n  @vectors = "spacy-lm-suite.Vectors.v1"\n'
        f'  [initialize]\n  vectors = "{pipeline}"\n'
        "or, with any [nlp.vectors]:\n"
        f'  [initialize.before_init]\n  @callbacks = "spacy-lm-suite.load_vectors.v1"\n  path = "{source}"'
    )
COMMAND = "convert-vectors"


@contextmanager
def _warnings_to_messages() -> Iterator[None]:
    """Show the library's warnings (dropped duplicates, pickles, ...) as wasabi lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for warning in caught:
                if not issubclass(warning.category, DeprecationWarning):
                    msg.warn(str(warning.message))


def _fallback_option(value: Optional[str]) -> Optional[List[str]]:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


@app.command("convert-vectors")
def convert_vectors_command(
    input_path: Path = typer.Argument(..., metavar="INPUT", help="Vectors file or folder (word2vec .bin/.txt, GloVe .txt, fastText .vec, gensim KeyedVectors, .npy + vocabulary, a saved table or spaCy pipeline)", show_default=False),
    output_path: Path = typer.Argument(..., metavar="OUTPUT", help="Output folder (table, pipeline) or file (word2vec-text/-bin)", show_default=False),
    format: str = choice_option("auto", "--format", "-f", choices=INPUT_FORMATS, help="Input format"),
    output_format: str = choice_option("table", "--output-format", "-F", choices=OUTPUT_FORMATS, help="'pipeline' writes a spaCy pipeline folder (for [initialize] vectors with [nlp.vectors] spacy-lm-suite.Vectors.v1)"),
    truncate: int = typer.Option(0, "--truncate", "-t", help="Keep only the first N rows (0: all)"),
    prune: int = typer.Option(0, "--prune", help="Keep N rows; map the other words to their nearest kept row (0: off)"),
    normalize: bool = typer.Option(False, "--normalize/--no-normalize", help="Scale rows to unit length"),
    fallback: Optional[str] = typer.Option(None, "--fallback", help="Normaliser chain, comma-separated (default exact,lower,shape or the saved one)"),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Name of the vectors table"),
    lang: str = typer.Option("en", "--lang", help="Language of the pipeline (--output-format pipeline)"),
    errors: str = choice_option("strict", "--errors", choices=ERRORS, help="Non-UTF-8 words: fail, skip or replace"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier convert-vectors output (only its files; others are kept)"),
) -> None:
    """Convert a vectors file into our table (or a spaCy pipeline, or word2vec).

    A table or pipeline goes into a new or empty folder (or, with --overwrite,
    over an earlier output of this command); a word2vec file must not exist
    (or --overwrite). Everything is written atomically: a failure leaves the
    output as it was.
    """
    from ..vectors.formats import write_word2vec
    from ..vectors.loading import blank_pipeline, load_vectors, save_vectors_pipeline

    if output_format not in OUTPUT_FORMATS:
        raise UserError(f"--output-format: expected one of {', '.join(OUTPUT_FORMATS)}, found {output_format!r}")
    require_non_negative(truncate, option="--truncate")
    require_non_negative(prune, option="--prune")
    if output_format in ("table", "pipeline"):
        check_output_dir(output_path, overwrite=overwrite, command=COMMAND)
    else:
        check_output_file(output_path, overwrite=overwrite, what=f"{output_format} file")
    if output_format == "pipeline":
        blank_pipeline(lang)
    with _warnings_to_messages():
        table = load_vectors(
            input_path, format=format, truncate=truncate, normalize=normalize,
            fallback=_fallback_option(fallback), name=name, errors=errors, prune=prune,
        )
    if output_format == "table":
        with atomic_output_dir(output_path, command=COMMAND, overwrite=overwrite) as tmp:
            table.to_disk(tmp)
    elif output_format == "pipeline":
        save_vectors_pipeline(table, output_path, lang=lang, overwrite=overwrite, command=COMMAND)
    else:
        with atomic_write_file(output_path) as tmp:
            write_word2vec(tmp, table.words, table.data, binary=output_format == "word2vec-bin")
    rows, dim = table.shape
    msg.good(
        f"Wrote {output_format} {output_path}: {rows} rows x {dim} dims, "
        f"{len(table.aliases)} aliases, fallback {','.join(table.fallback)}, name {table.name!r}"
    )
    if output_format == "pipeline":
        print(config_hint(output_path))


@app.command("coverage")
def coverage_command(
    vectors_path: Path = typer.Argument(..., metavar="VECTORS", help="Vectors file or folder (anything convert-vectors reads, or a train-vectors run)", show_default=False),
    data_path: Path = typer.Argument(..., metavar="DATA", help="Corpus file, folder or glob", show_default=False),
    data_format: str = choice_option("auto", "--data-format", "-d", choices=DATA_FORMATS, help="Corpus format (auto: detected from the file, or an error asking for -d)"),
    format: str = choice_option("auto", "--format", "-f", choices=INPUT_FORMATS, help="Vectors format (see convert-vectors)"),
    fallback: Optional[str] = typer.Option(None, "--fallback", help="Normaliser chain, comma-separated (default: the table's)"),
    lang: str = typer.Option("en", "--lang", help="Tokenizer language for text formats"),
    limit: int = typer.Option(0, "--limit", help="Read only the first N texts/sentences (0: all)"),
    top_missed: int = typer.Option(20, "--top-missed", help="List this many of the most frequent missed words"),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="Encoding of the data files (default: the format's own, UTF-8 or Latin-1 for TREC; utf-8-or-latin-1 for mixed files)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report as JSON (replaced if it exists)"),
) -> None:
    """Share of tokens and types found, per fallback step (exact/lower/shape/miss)."""
    from ..vectors.coverage import corpus_tokens, coverage, detect_data_format
    from ..vectors.loading import load_vectors

    require_non_negative(limit, option="--limit")
    require_non_negative(top_missed, option="--top-missed")
    if output is not None:
        check_output_file(output, overwrite=True, what="report file")
    if data_format == "auto":
        data_format = detect_data_format(data_path, encoding=encoding)
        msg.info(f"--data-format {data_format} (detected from {data_path})")

    with _warnings_to_messages():
        table = load_vectors(vectors_path, format=format, fallback=_fallback_option(fallback))
    report = coverage(table, corpus_tokens(data_path, data_format=data_format, lang=lang, limit=limit or None, encoding=encoding), top_missed=top_missed)
    result = report.to_dict()
    rows = []
    for step in result["tokens"]["steps"]:
        tokens, types = result["tokens"]["steps"][step], result["types"]["steps"][step]
        rows.append((step, tokens["count"], f"{tokens['pct']:.2f}", types["count"], f"{types['pct']:.2f}"))
    found_tokens = result["tokens"]["total"] - result["tokens"]["steps"]["miss"]["count"]
    found_types = result["types"]["total"] - result["types"]["steps"]["miss"]["count"]
    rows.append(("found", found_tokens, f"{result['tokens']['found_pct']:.2f}", found_types, f"{result['types']['found_pct']:.2f}"))
    msg.table(rows, header=("step", "tokens", "tokens %", "types", "types %"), divider=True, aligns=("l", "r", "r", "r", "r"))
    if report.missed:
        msg.text("Most frequent missed: " + ", ".join(f"{word} ({count})" for word, count in report.missed))
    if output is not None:
        result.update(vectors=str(vectors_path), data=str(data_path), data_format=data_format)
        write_json_atomic(output, result)
        msg.good(f"Wrote {output}")


@app.command("evaluate-vectors")
def evaluate_vectors_command(
    vectors_path: Path = typer.Argument(..., metavar="VECTORS", help="Vectors file or folder (anything convert-vectors reads, or a train-vectors run)", show_default=False),
    format: str = choice_option("auto", "--format", "-f", choices=INPUT_FORMATS, help="Vectors format (see convert-vectors)"),
    restrict: int = typer.Option(30000, "--restrict", "-r", help="Analogies: only the first N rows (gensim's restrict_vocab)"),
    pairs_restrict: int = typer.Option(300000, "--pairs-restrict", help="Word pairs: only the first N rows"),
    case_sensitive: bool = typer.Option(False, "--case-sensitive", help="Compare words exactly instead of lower-cased"),
    analogies: Optional[Path] = typer.Option(None, "--analogies", help="questions-words file (default: gensim's copy)"),
    wordsim: Optional[Path] = typer.Option(None, "--wordsim", help="WordSim-353 TSV (default: gensim's copy)"),
    simlex: Optional[Path] = typer.Option(None, "--simlex", help="SimLex-999 TSV (default: gensim's copy)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write all results as JSON (replaced if it exists)"),
) -> None:
    """Analogy accuracy (3CosAdd, 3CosMul), WordSim-353 and SimLex-999 Spearman, OOV rates."""
    from ..vectors.evaluate import evaluate_vectors
    from ..vectors.loading import load_vectors

    require_at_least(restrict, 1, option="--restrict")
    require_at_least(pairs_restrict, 1, option="--pairs-restrict")
    if output is not None:
        check_output_file(output, overwrite=True, what="report file")

    with _warnings_to_messages():
        table = load_vectors(vectors_path, format=format)
    result = evaluate_vectors(
        table, restrict=restrict, pairs_restrict=pairs_restrict, case_insensitive=not case_sensitive,
        analogies=analogies, wordsim=wordsim, simlex=simlex,
    )
    analogy = result["analogy"]
    rows = [
        (f"analogy {method} (top {analogy['restrict']})", f"{100 * analogy[method]['accuracy']:.2f}%",
         f"{analogy[method]['correct']}/{analogy[method]['answered']}", f"{100 * analogy['oov_rate']:.1f}%")
        for method in ("3cosadd", "3cosmul")
    ]
    for key, label in (("wordsim353", "WordSim-353"), ("simlex999", "SimLex-999")):
        pairs = result[key]
        rows.append((f"{label} Spearman", f"{pairs['spearman']:.4f}", f"{pairs['pairs'] - pairs['oov']}/{pairs['pairs']} pairs", f"{100 * pairs['oov_rate']:.1f}%"))
    msg.table(rows, header=("benchmark", "score", "answered", "OOV"), divider=True, aligns=("l", "r", "r", "r"))
    if output is not None:
        result["vectors"] = str(vectors_path)
        write_json_atomic(output, result)
        msg.good(f"Wrote {output}")

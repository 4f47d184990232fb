"""``train-vectors word2vec|glove INPUT OUTPUT_DIR``: static vectors from raw text, ready for spaCy."""

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import typer
from wasabi import msg

from . import TEXT_FORMAT_OPTION, app, choice_option
from ..runs.outputs import write_json_atomic

train_vectors_app = typer.Typer(
    help="Train static word vectors on raw text (Word2Vec via gensim, or our GloVe) and write a "
    "spaCy-ready table, word2vec files and a per-epoch log.",
    no_args_is_help=True,
)
app.add_typer(train_vectors_app, name="train-vectors")

_INPUT_HELP = "Text file, folder or glob (plain lines, blank-line paragraphs, .jsonl or .spacy)"
_OUTPUT_HELP = (
    "Run folder: vectors/ (table), pipeline/ (for \\[initialize] vectors), vectors.txt/.bin, "
    "metrics.jsonl/.csv, curves.png, checkpoint/"
)
# Options shared by both trainers (typer reads each OptionInfo afresh per command).
_FALLBACK_OPTION = typer.Option("exact,lower,shape", "--fallback", help="Table normaliser chain; its last step normalises training tokens")
_TOKENIZER_OPTION = typer.Option("en", "--tokenizer", help="spaCy language code (blank tokenizer) or a pipeline folder")
_PRETOKENIZED_OPTION = typer.Option(False, "--pretokenized", help="Input is already tokenised: split on whitespace")
_ENCODING_OPTION = typer.Option("utf-8", "--encoding", help="Encoding of the input files (utf-8-or-latin-1: Latin-1 where a line is not UTF-8)")
_LIMIT_OPTION = typer.Option(0, "--limit", help="Read only the first N texts (0: all)")
_LANG_OPTION = typer.Option("en", "--lang", help="Language of the saved spaCy pipeline")
_OVERWRITE_OPTION = typer.Option(
    False, "--overwrite", help="Replace an earlier train-vectors run in OUTPUT_DIR (only its files; others are kept)"
)


def _fallback(value: str) -> List[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _given(settings: Mapping[str, Any]) -> Dict[str, Any]:
    """The entries of ``settings`` (parameter name -> (field, value)) the user typed
    (not defaults): what a --resume/--extend compares with the saved run."""
    from typer._click.globals import get_current_context  # typer vendors click
    from typer._click.core import ParameterSource

    ctx = get_current_context()
    return {
        field: value for name, (field, value) in settings.items()
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)
    }


def _report(epochs: List[Dict], output_dir: Path, complete: bool) -> None:
    from .vectors import config_hint

    if epochs:
        rows = [(e["epoch"], f"{e['loss']:.5f}", f"{e['seconds']:.2f}") for e in epochs]
        msg.table(rows, header=("epoch", "loss", "seconds"), divider=True, aligns=("r", "r", "r"))
    if complete:
        msg.good(f"Vectors written to {output_dir}")
        print(config_hint(output_dir / "pipeline", run_dir=output_dir))
    else:
        msg.info(f"Stopped before the last epoch; continue with --resume ({output_dir})")


def _evaluate(output_dir: Path) -> None:
    from ..vectors.evaluate import evaluate_vectors
    from ..vectors.table import LMVectors

    table = LMVectors().from_disk(output_dir / "vectors")
    result = evaluate_vectors(table)
    write_json_atomic(output_dir / "evaluation.json", result)
    analogy = result["analogy"]["3cosadd"]
    msg.text(
        f"Evaluation: WS353 rho {result['wordsim353']['spearman']:.3f}, SimLex rho "
        f"{result['simlex999']['spearman']:.3f}, analogy (3CosAdd, top {result['analogy']['restrict']:,}) "
        f"{100 * analogy['accuracy']:.1f}% of {analogy['answered']:,} answered ({output_dir / 'evaluation.json'})"
    )


def _complete(output_dir: Path) -> bool:
    state = output_dir / "state.json"
    return state.exists() and json.loads(state.read_text(encoding="utf-8")).get("complete", False)


@train_vectors_app.command("word2vec")
def word2vec_command(
    input_path: str = typer.Argument(..., metavar="INPUT", help=_INPUT_HELP, show_default=False),
    output_dir: Path = typer.Argument(..., metavar="OUTPUT_DIR", help=_OUTPUT_HELP, show_default=False),
    architecture: str = choice_option("cbow", "--architecture", "-a", choices=("cbow", "skipgram"), help="Word2Vec model"),
    dim: int = typer.Option(100, "--dim", help="Vector size"),
    window: int = typer.Option(5, "--window", help="Context window (words each side)"),
    min_count: int = typer.Option(5, "--min-count", help="Ignore words rarer than this"),
    max_vocab: Optional[int] = typer.Option(None, "--max-vocab", help="Keep at most this many words (gensim max_final_vocab)"),
    sample: float = typer.Option(1e-3, "--sample", help="Down-sampling threshold for frequent words"),
    negative: int = typer.Option(5, "--negative", help="Negative samples (0: off)"),
    hs: bool = typer.Option(False, "--hs", help="Hierarchical softmax"),
    ns_exponent: float = typer.Option(0.75, "--ns-exponent", help="Exponent of the negative-sampling distribution"),
    cbow_mean: bool = typer.Option(True, "--cbow-mean/--cbow-sum", help="CBOW: mean or sum of context vectors"),
    alpha: float = typer.Option(0.025, "--alpha", help="Initial learning rate"),
    min_alpha: float = typer.Option(0.0001, "--min-alpha", help="Final learning rate"),
    epochs: int = typer.Option(5, "--epochs", help="Passes over the corpus"),
    workers: int = typer.Option(2, "--workers", help="Training threads"),
    seed: int = typer.Option(1, "--seed", help="Random seed"),
    loss_sample_size: int = typer.Option(10000, "--loss-sample", help="Examples in the fixed loss sample"),
    fallback: str = _FALLBACK_OPTION,
    tokenizer: str = _TOKENIZER_OPTION,
    pretokenized: bool = _PRETOKENIZED_OPTION,
    text_format: str = TEXT_FORMAT_OPTION,
    encoding: str = _ENCODING_OPTION,
    limit: int = _LIMIT_OPTION,
    lang: str = _LANG_OPTION,
    resume: bool = typer.Option(False, "--resume", help="Continue the unfinished run in OUTPUT_DIR (same INPUT; its saved settings)"),
    extend: bool = typer.Option(False, "--extend", help="Train the finished run in OUTPUT_DIR on INPUT as more text (vocabulary update)"),
    overwrite: bool = _OVERWRITE_OPTION,
    stop_after: Optional[int] = typer.Option(None, "--stop-after", help="Train at most N epochs now (resume later)"),
    evaluate: bool = typer.Option(False, "--evaluate", help="Run analogy/WS353/SimLex at the end (evaluation.json)"),
    tmp_dir: Optional[Path] = typer.Option(None, "--tmp-dir", help="Folder for the temporary corpus file"),
) -> None:
    """Word2Vec (CBOW or skip-gram) with gensim's corpus_file fast path and a correct per-epoch loss."""
    from ..vectors.word2vec import Word2VecSettings, train_word2vec

    settings = Word2VecSettings(
        architecture=architecture, vector_size=dim, window=window, min_count=min_count, max_vocab=max_vocab,
        sample=sample, negative=negative, hs=hs, ns_exponent=ns_exponent, cbow_mean=cbow_mean, alpha=alpha,
        min_alpha=min_alpha, epochs=epochs, workers=workers, seed=seed, loss_sample_size=loss_sample_size,
    )
    changes = None
    if resume or extend:
        changes = _given({
            "architecture": ("architecture", architecture), "dim": ("vector_size", dim), "window": ("window", window),
            "min_count": ("min_count", min_count), "max_vocab": ("max_vocab", max_vocab), "sample": ("sample", sample),
            "negative": ("negative", negative), "hs": ("hs", hs), "ns_exponent": ("ns_exponent", ns_exponent),
            "cbow_mean": ("cbow_mean", cbow_mean), "alpha": ("alpha", alpha), "min_alpha": ("min_alpha", min_alpha),
            "epochs": ("epochs", epochs), "workers": ("workers", workers), "seed": ("seed", seed),
            "loss_sample_size": ("loss_sample_size", loss_sample_size), "fallback": ("fallback", _fallback(fallback)),
            "tokenizer": ("tokenizer", tokenizer), "pretokenized": ("pretokenized", pretokenized),
            "lang": ("lang", lang), "text_format": ("fmt", text_format), "encoding": ("encoding", encoding),
            "limit": ("limit", limit or None),
        })
        applied = "--epochs, --workers" + (", --format, --encoding, --limit" if extend else "")
        msg.info(f"Using the settings saved in the run folder; {applied} may change, other settings must match it")
    result = train_word2vec(
        input_path, output_dir, settings=settings, fallback=_fallback(fallback), tokenizer=tokenizer,
        pretokenized=pretokenized, fmt=text_format, encoding=encoding, limit=limit or None, lang=lang,
        resume=resume, extend=extend, overwrite=overwrite, stop_after=stop_after, tmp_dir=tmp_dir, changes=changes,
    )
    complete = _complete(output_dir)
    _report(result.epochs, output_dir, complete)
    if evaluate and complete:
        _evaluate(output_dir)


@train_vectors_app.command("glove")
def glove_command(
    input_path: str = typer.Argument(..., metavar="INPUT", help=_INPUT_HELP + " (not read with --resume)", show_default=False),
    output_dir: Path = typer.Argument(..., metavar="OUTPUT_DIR", help=_OUTPUT_HELP, show_default=False),
    dim: int = typer.Option(100, "--dim", help="Vector size"),
    window: int = typer.Option(10, "--window", help="Context window (words each side, or left only with --asymmetric)"),
    asymmetric: bool = typer.Option(False, "--asymmetric", help="Count left context only"),
    distance_weighting: bool = typer.Option(True, "--distance-weighting/--no-distance-weighting", help="Weight a pair by 1/distance"),
    min_count: int = typer.Option(5, "--min-count", help="Ignore words rarer than this"),
    max_vocab: Optional[int] = typer.Option(None, "--max-vocab", help="Keep at most this many words"),
    memory: float = typer.Option(2.0, "--memory", help="Memory for counting, in GB (beyond it, sorted shards spill to disk)"),
    max_pairs_in_memory: Optional[int] = typer.Option(None, "--max-pairs-in-memory", help="Buffered pair events before a shard is spilled"),
    x_max: float = typer.Option(100.0, "--x-max", help="Weighting function cutoff"),
    alpha: float = typer.Option(0.75, "--alpha", help="Weighting function exponent"),
    eta: float = typer.Option(0.05, "--eta", help="AdaGrad initial learning rate"),
    epochs: int = typer.Option(15, "--epochs", help="Passes over the non-zeros"),
    threads: int = typer.Option(2, "--threads", help="Hogwild threads (1: exactly reproducible)"),
    seed: int = typer.Option(0, "--seed", help="Random seed (initialisation and shuffles)"),
    sum_context: bool = typer.Option(True, "--sum-context/--word-only", help="Output word + context vectors, or word vectors only"),
    dtype: str = choice_option("float32", "--dtype", choices=("float32", "float64"), help="Parameter precision: float64 as Stanford's code (slower)"),
    fallback: str = _FALLBACK_OPTION,
    tokenizer: str = _TOKENIZER_OPTION,
    pretokenized: bool = _PRETOKENIZED_OPTION,
    text_format: str = TEXT_FORMAT_OPTION,
    encoding: str = _ENCODING_OPTION,
    limit: int = _LIMIT_OPTION,
    lang: str = _LANG_OPTION,
    resume: bool = typer.Option(False, "--resume", help="Continue the unfinished run in OUTPUT_DIR from its checkpoint"),
    overwrite: bool = _OVERWRITE_OPTION,
    stop_after: Optional[int] = typer.Option(None, "--stop-after", help="Train at most N epochs now (resume later)"),
    keep_checkpoint: bool = typer.Option(False, "--keep-checkpoint", help="Keep co-occurrences and AdaGrad state when done"),
    evaluate: bool = typer.Option(False, "--evaluate", help="Run analogy/WS353/SimLex at the end (evaluation.json)"),
    tmp_dir: Optional[Path] = typer.Option(None, "--tmp-dir", help="Folder for the corpus file and spilled shards"),
) -> None:
    """GloVe: bounded-memory co-occurrence counting and AdaGrad training in compiled Hogwild threads."""
    from ..vectors.glove import GloVeSettings, train_glove

    settings = GloVeSettings(
        min_count=min_count, max_vocab=max_vocab, window=window, symmetric=not asymmetric,
        distance_weighting=distance_weighting, memory_limit_gb=memory, max_pairs_in_memory=max_pairs_in_memory,
        dim=dim, epochs=epochs, x_max=x_max, alpha=alpha, eta=eta, threads=threads, seed=seed,
        sum_context=sum_context, dtype=dtype,
    )
    changes = None
    if resume:
        changes = _given({
            "min_count": ("min_count", min_count), "max_vocab": ("max_vocab", max_vocab), "window": ("window", window),
            "asymmetric": ("symmetric", not asymmetric), "distance_weighting": ("distance_weighting", distance_weighting),
            "memory": ("memory_limit_gb", memory), "max_pairs_in_memory": ("max_pairs_in_memory", max_pairs_in_memory),
            "dim": ("dim", dim), "epochs": ("epochs", epochs), "x_max": ("x_max", x_max), "alpha": ("alpha", alpha),
            "eta": ("eta", eta), "threads": ("threads", threads), "seed": ("seed", seed),
            "sum_context": ("sum_context", sum_context), "dtype": ("dtype", dtype),
            "fallback": ("fallback", _fallback(fallback)), "tokenizer": ("tokenizer", tokenizer),
            "pretokenized": ("pretokenized", pretokenized), "lang": ("lang", lang), "text_format": ("fmt", text_format),
            "encoding": ("encoding", encoding), "limit": ("limit", limit or None),
        })
        msg.info("Using the settings and co-occurrences saved in the run folder; --epochs, --threads and "
                 "--sum-context/--word-only may change, other settings must match it (--memory is not used)")
    result = train_glove(
        input_path, output_dir, settings=settings, fallback=_fallback(fallback), tokenizer=tokenizer,
        pretokenized=pretokenized, fmt=text_format, encoding=encoding, limit=limit or None, lang=lang,
        resume=resume, overwrite=overwrite, stop_after=stop_after, keep_checkpoint=keep_checkpoint, tmp_dir=tmp_dir,
        changes=changes,
    )
    if result.cooccurrence:
        c = result.cooccurrence
        msg.text(
            f"Co-occurrences: {c['nnz']:,} non-zeros, {c['vocab_size']:,} words, {c['seconds']:.2f} s, "
            f"{c['pairs_per_second']:,.0f} pairs/s, peak RSS {c['peak_rss_bytes'] / 2**20:,.0f} MB, {c['n_shards']} shard(s)"
        )
    complete = _complete(output_dir)
    _report(result.epochs, output_dir, complete)
    if evaluate and complete:
        _evaluate(output_dir)

"""GloVe, ours: co-occurrence counting (:mod:`.cooccur`) and AdaGrad training (:mod:`.train`).

:func:`train_glove` goes from raw texts to a run folder (see
:mod:`spacy_lm_suite.vectors.training_run`): corpus file, vocabulary,
co-occurrences (kept in ``checkpoint/cooccurrence/`` while the run is
unfinished, written once as a whole), epochs with an atomic checkpoint
(``checkpoint/weights.safetensors``, then ``state.json`` naming it: see
:mod:`spacy_lm_suite.runs.checkpoints`) after each, then the vector exports.
``resume=True`` continues from the last checkpoint; with one thread the
result equals an uninterrupted run exactly, even after a kill while saving.
"""

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ...extras import require

require("numba", "train")  # the clear "install the extra" error, before the imports below

from ...errors import UserError
from ...runs.options import require_finite_loss
from ...runs.outputs import atomic_output_dir
from ..corpus import CorpusFile, prepare_corpus, read_corpus_file
from ..normalizers import DEFAULT_FALLBACK, validate_fallback
from ..training_run import COMMAND, RunDirectory, check_lang, check_run_options, reconcile_settings, remove_failed_run
from .cooccur import Cooccurrence, Vocabulary, build_vocabulary, count_cooccurrences
from .train import EpochRecord, GloVeModel, GloVeSettings, train_model

__all__ = ["GloVeSettings", "GloVeModel", "GloVeResult", "Cooccurrence", "Vocabulary", "train_glove", "count_corpus"]

PathLike = Union[str, Path]
TRAINER = "glove"
WEIGHTS_FILE = "weights.safetensors"
COOCCURRENCE_DIR = "cooccurrence"
# CLI options of the saved settings (the names a --resume error shows).
OPTIONS = {
    "min_count": "--min-count", "max_vocab": "--max-vocab", "window": "--window", "symmetric": "--asymmetric",
    "distance_weighting": "--distance-weighting/--no-distance-weighting", "memory_limit_gb": "--memory",
    "max_pairs_in_memory": "--max-pairs-in-memory", "dim": "--dim", "epochs": "--epochs", "x_max": "--x-max",
    "alpha": "--alpha", "eta": "--eta", "threads": "--threads", "seed": "--seed",
    "sum_context": "--sum-context/--word-only", "dtype": "--dtype", "fallback": "--fallback",
    "tokenizer": "--tokenizer", "pretokenized": "--pretokenized", "lang": "--lang", "fmt": "--format",
    "encoding": "--encoding", "limit": "--limit",
}
# What --resume may change: more or fewer epochs (AdaGrad does not depend on the total),
# threads, and which vectors are exported; counting settings no longer matter.
RESUME_MAY_CHANGE = ("epochs", "threads", "sum_context")
RESUME_IGNORED = ("memory_limit_gb", "max_pairs_in_memory")


def count_corpus(corpus_path: PathLike, settings: GloVeSettings, *, tmp_dir: Optional[PathLike] = None,
                 progress: bool = True) -> Cooccurrence:
    """Vocabulary and co-occurrences of a corpus file, with clear errors for unusable input."""
    vocab, n_tokens = build_vocabulary(corpus_path, min_count=settings.min_count, max_vocab=settings.max_vocab)
    cooc = count_cooccurrences(
        corpus_path, vocab, window=settings.window, symmetric=settings.symmetric,
        distance_weighting=settings.distance_weighting, memory_limit=settings.memory_limit_gb * 2**30,
        max_pairs_in_memory=settings.max_pairs_in_memory, tmp_dir=tmp_dir, progress=progress,
    )
    if cooc.nnz == 0:
        raise UserError(
            f"{corpus_path}: no two in-vocabulary words occur within {settings.window} tokens of each other "
            f"on a line ({n_tokens} tokens, {len(vocab)} words with count >= {settings.min_count})"
        )
    return cooc


@dataclass
class GloVeResult:
    output_dir: Path
    model: GloVeModel
    vocab: Vocabulary
    epochs: List[Dict]  # this call's per-epoch records
    cooccurrence: Optional[Dict]  # counting statistics (see CooccurrenceStats)


def train_glove(
    source,
    output_dir: PathLike,
    *,
    settings: Optional[GloVeSettings] = None,
    fallback: Sequence[str] = DEFAULT_FALLBACK,
    tokenizer: str = "en",
    pretokenized: bool = False,
    fmt: str = "auto",
    encoding: str = "utf-8",
    limit: Optional[int] = None,
    lang: str = "en",
    resume: bool = False,
    overwrite: bool = False,
    stop_after: Optional[int] = None,
    keep_checkpoint: bool = False,
    corpus_file: Optional[PathLike] = None,
    tmp_dir: Optional[PathLike] = None,
    progress: bool = True,
    changes: Optional[Mapping[str, Any]] = None,
) -> GloVeResult:
    """Train GloVe vectors on raw texts and write a run folder.

    source: files/folders/globs read by :func:`~spacy_lm_suite.data.rawtext.iter_texts`
        (not read when resuming: the run's saved co-occurrences are used).
    fallback: the table's normaliser chain; its last step normalises training tokens.
    stop_after: train at most this many epochs in this call (the run stays resumable).
    keep_checkpoint: keep ``checkpoint/`` (co-occurrences, weights with AdaGrad state) when done.
    corpus_file: an already tokenised and normalised corpus file to use instead of ``source``.
    changes: with resume, the settings the user gave (fields of :class:`GloVeSettings`,
        ``fallback``, ``tokenizer``, ``pretokenized``, ``lang``, ``fmt``, ``encoding``,
        ``limit``): ``epochs``, ``threads`` and ``sum_context`` are applied, the counting
        memory is ignored, any other that differs from the saved run is a ``UserError``
        naming its option; so is a ``source`` other than the run's input.
    """
    check_run_options(limit=limit, stop_after=stop_after)
    run = RunDirectory(output_dir, checkpoint_files=(WEIGHTS_FILE,), hint="--resume continues an unfinished run")
    if resume:
        run.check_writable()
        config = run.require_existing(TRAINER)
        state = run.load_state()
        if state["complete"]:
            raise UserError(f"{run.path}: this run is complete; nothing to resume")
        _check_same_input(run.path, config.get("input"), source)
        saved = {**config["settings"], "fallback": list(config["fallback"]), "tokenizer": config["tokenizer"],
                 "pretokenized": config["pretokenized"], "lang": config["lang"], **config["reading"]}
        requested = {key: (list(value) if key == "fallback" else value) for key, value in (changes or {}).items()}
        merged = reconcile_settings(run.path, saved, requested, options=OPTIONS,
                                    may_change=RESUME_MAY_CHANGE, ignored=RESUME_IGNORED)
        settings = GloVeSettings(**{key: merged[key] for key in config["settings"]})
        settings.validate()
        if settings.epochs < state["epochs_done"]:
            raise UserError(f"--epochs: this run in {run.path} has already trained {state['epochs_done']} epochs; "
                            f"give at least {state['epochs_done']}")
        if asdict(settings) != config["settings"]:
            config = {**config, "settings": asdict(settings)}
            run.save_checkpoint(state, config=config)
        cooc = Cooccurrence.from_disk(run.checkpoint / COOCCURRENCE_DIR)
        model = GloVeModel.from_disk(run.checkpoint / WEIGHTS_FILE)
        run.truncate_log(state["epochs_done"])
        return _train(run, cooc, model, settings, config, state, stop_after=stop_after,
                      keep_checkpoint=keep_checkpoint, progress=progress)
    settings = settings or GloVeSettings()
    settings.validate()
    fallback = validate_fallback(fallback)
    check_lang(lang)
    run.check_available(overwrite=overwrite)
    with tempfile.TemporaryDirectory(prefix="train-vectors-", dir=tmp_dir) as tmp:
        if corpus_file is not None:
            corpus: CorpusFile = read_corpus_file(corpus_file)
        else:
            corpus = prepare_corpus(
                source, Path(tmp) / "corpus.txt", fmt=fmt, encoding=encoding, limit=limit,
                tokenizer=tokenizer, pretokenized=pretokenized, fallback=fallback, progress=progress,
            )
        cooc = count_corpus(corpus.path, settings, tmp_dir=tmp, progress=progress)
    created = run.create(overwrite=overwrite)
    try:
        config = {
            "trainer": TRAINER, "settings": asdict(settings), "fallback": list(fallback), "tokenizer": tokenizer,
            "pretokenized": pretokenized, "reading": {"fmt": fmt, "encoding": encoding, "limit": limit},
            "input": None if corpus_file is not None else _input_record(source),
            "lang": lang, "corpus": corpus.to_dict(), "cooccurrence": asdict(cooc.stats), "loss": "mean weighted squared error per non-zero",
        }
        with atomic_output_dir(run.checkpoint / COOCCURRENCE_DIR, command=COMMAND) as cooc_tmp:
            cooc.to_disk(cooc_tmp)
        model = GloVeModel.initialize(len(cooc.vocab), settings.dim, seed=settings.seed, dtype=settings.dtype)
        state = {"epochs_done": 0, "vocab_size": len(cooc.vocab), "nnz": cooc.nnz, "complete": False}
        run.save_checkpoint(state, config=config, files={WEIGHTS_FILE: model.to_disk})
        return _train(run, cooc, model, settings, config, state, stop_after=stop_after,
                      keep_checkpoint=keep_checkpoint, progress=progress)
    except BaseException:
        remove_failed_run(run.path, created)
        raise


def _input_record(source) -> Optional[str]:
    """The input as given (one path or glob), for the --resume check; None for several."""
    return str(source) if isinstance(source, (str, Path)) else None


def _check_same_input(path: Path, saved: Optional[str], source) -> None:
    """Refuse a --resume INPUT other than the run's: its co-occurrences were counted on that one."""
    given = _input_record(source)
    if saved is None or given is None or given == saved:
        return
    if Path(given).exists() and Path(saved).exists() and Path(given).resolve() == Path(saved).resolve():
        return
    raise UserError(
        f"INPUT: this run in {path} was counted on {saved}, not {given}; --resume continues from its saved "
        "co-occurrences, so give the same INPUT (or start a new run for other text)"
    )


def _train(run: RunDirectory, cooc: Cooccurrence, model: GloVeModel, settings: GloVeSettings, config: Dict,
           state: Dict, *, stop_after: Optional[int], keep_checkpoint: bool, progress: bool) -> GloVeResult:
    records: List[Dict] = []
    title = f"GloVe {settings.dim}d, window {settings.window}, x_max {settings.x_max:g}"

    def on_epoch_end(model: GloVeModel, record: EpochRecord) -> None:
        require_finite_loss(record.cost, where=f"in epoch {record.epoch}",
                            advice="earlier checkpoints are kept; try a lower --eta")
        state["epochs_done"] = record.epoch
        entry = {"epoch": record.epoch, "loss": record.cost, "seconds": record.seconds, "cpu_seconds": record.cpu_seconds,
                 "pairs_per_second": cooc.nnz / record.seconds if record.seconds else 0.0,
                 "loss_name": "cost per non-zero", "title": title}
        run.log_epoch(entry)  # before the checkpoint: a resume truncates the log to its state
        run.save_checkpoint(state, files={WEIGHTS_FILE: model.to_disk})
        records.append(entry)

    start = state["epochs_done"]
    stop = None if stop_after is None else start + stop_after
    try:
        train_model(cooc.rows, cooc.cols, cooc.vals, settings=settings, model=model, start_epoch=start,
                    stop_epoch=stop, on_epoch_end=on_epoch_end, progress=progress)
    finally:
        run.plot()
    if state["epochs_done"] == settings.epochs:
        run.export_vectors(cooc.vocab.words, model.vectors(sum_context=settings.sum_context),
                           fallback=config["fallback"], name=f"glove-{settings.dim}d", lang=config["lang"])
        if keep_checkpoint:
            run.save_state({**state, "complete": True})
        else:
            run.save_checkpoint({**state, "complete": True}, remove=[WEIGHTS_FILE])
            run.remove_checkpoint_dir()
    stats = asdict(cooc.stats) if cooc.stats is not None else None
    return GloVeResult(run.path, model, cooc.vocab, records, stats)

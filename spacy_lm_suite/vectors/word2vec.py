"""Word2Vec (CBOW / skip-gram) through gensim's ``corpus_file`` fast path, with a correct loss.

Training runs gensim's compiled per-file workers on the pre-tokenised corpus
file (:mod:`.corpus`); this module only drives epochs, so it adds nothing to
gensim's inner loop. What it adds around each epoch:

* **A loss that is correct.** gensim's ``running_training_loss`` is float32,
  cumulative, and in ``corpus_file`` mode every worker thread overwrites it
  with its own partial sum (gensim issue #2735). Instead, after each epoch we
  compute, in float64, the training objective on a fixed sample of examples
  drawn once from the corpus (seeded): for negative sampling
  ``-log s(h.v_o) - sum_k log s(-h.v_k)`` with ``k`` fixed negatives per
  example drawn from the unigram^``ns_exponent`` distribution; for
  hierarchical softmax ``-sum_d log s((1 - 2 code_d) h.u_d)`` over the output
  word's Huffman path (both are summed when both are on). ``h`` is the input
  word's vector (skip-gram) or the mean/sum of the context vectors (CBOW).
  The examples follow gensim's sampling: out-of-vocabulary tokens removed,
  windows within a line, a reduced window drawn uniformly per example. Unlike
  training, the sample is not frequency-subsampled.
* **Exact resume.** Each epoch is one ``train(epochs=1)`` call whose learning
  rate runs linearly from ``alpha - (alpha - min_alpha) * e / E`` to the value
  at ``(e + 1) / E``: the same schedule as one ``train(epochs=E)`` call, and a
  run resumed after epoch ``k`` makes exactly the calls an uninterrupted run
  makes. The checkpoint is gensim's own ``Word2Vec.save`` into one file (a
  pickle: fine for the user's own checkpoint; every export we write is
  npy/JSON/word2vec), committed atomically with ``state.json``
  (:mod:`spacy_lm_suite.runs.checkpoints`), so even a run killed while saving
  resumes exactly. With one worker a resumed run equals an uninterrupted one
  bit for bit.
* **Extend.** ``extend=True`` loads a finished run, adds the new text's words
  (``build_vocab(update=True)``) and trains ``epochs`` more epochs on it.
"""

import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from tqdm.auto import tqdm

from ..extras import require

require("gensim", "train")  # the clear "install the extra" error, before gensim is used below

from ..errors import UserError
from ..runs.options import require_at_least, require_finite, require_finite_loss, require_non_negative, require_positive
from .corpus import CorpusFile, prepare_corpus, read_corpus_file
from .glove.cooccur import TokenIndex, iter_byte_blocks
from .normalizers import DEFAULT_FALLBACK, validate_fallback
from .training_run import RunDirectory, check_lang, check_run_options, reconcile_settings, remove_failed_run

PathLike = Union[str, Path]
TRAINER = "word2vec"
MODEL_FILE = "word2vec.model"
# CLI options of the saved settings (the names a --resume/--extend error shows).
OPTIONS = {
    "architecture": "--architecture", "vector_size": "--dim", "window": "--window", "min_count": "--min-count",
    "max_vocab": "--max-vocab", "sample": "--sample", "negative": "--negative", "hs": "--hs",
    "ns_exponent": "--ns-exponent", "cbow_mean": "--cbow-mean/--cbow-sum", "alpha": "--alpha",
    "min_alpha": "--min-alpha", "epochs": "--epochs", "workers": "--workers", "seed": "--seed",
    "loss_sample_size": "--loss-sample", "fallback": "--fallback", "tokenizer": "--tokenizer",
    "pretokenized": "--pretokenized", "lang": "--lang", "fmt": "--format", "encoding": "--encoding", "limit": "--limit",
}
# What --resume may change (epochs: the schedule runs to the new total); --extend also reads new text its own way.
RESUME_MAY_CHANGE = ("epochs", "workers")
EXTEND_MAY_CHANGE = ("epochs", "workers", "fmt", "encoding", "limit")
SAMPLE_FILE = "loss_sample.npz"


@dataclass
class Word2VecSettings:
    """gensim's main hyper-parameters (gensim's defaults) plus the loss sample size."""

    architecture: str = "cbow"  # or "skipgram"
    vector_size: int = 100
    window: int = 5
    min_count: int = 5
    max_vocab: Optional[int] = None  # gensim's max_final_vocab
    sample: float = 1e-3
    negative: int = 5
    hs: bool = False
    ns_exponent: float = 0.75
    cbow_mean: bool = True
    alpha: float = 0.025
    min_alpha: float = 0.0001
    epochs: int = 5
    workers: int = 2
    seed: int = 1
    loss_sample_size: int = 10000

    def validate(self) -> None:
        """Reject settings gensim would take but that make no (or a NaN) model."""
        if self.architecture not in ("cbow", "skipgram"):
            raise UserError(f"architecture must be 'cbow' or 'skipgram', got {self.architecture!r}")
        for name, option in (("vector_size", "--dim"), ("window", "--window"), ("min_count", "--min-count"),
                             ("epochs", "--epochs"), ("workers", "--workers"), ("loss_sample_size", "--loss-sample"),
                             ("max_vocab", "--max-vocab")):
            require_at_least(getattr(self, name), 1, option=f"{option} (Word2Vec setting {name})")
        require_non_negative(self.negative, option="--negative")
        require_non_negative(self.sample, option="--sample")
        require_finite(self.ns_exponent, option="--ns-exponent")
        require_positive(self.alpha, option="--alpha")
        require_non_negative(self.min_alpha, option="--min-alpha")
        if not self.hs and self.negative == 0:
            raise UserError("either negative sampling (negative > 0) or hierarchical softmax (hs) must be on")
        if not self.min_alpha <= self.alpha:
            raise UserError(f"expected 0 <= min_alpha <= alpha, got alpha={self.alpha}, min_alpha={self.min_alpha}")

    def gensim_kwargs(self) -> Dict:
        return dict(
            vector_size=self.vector_size, window=self.window, min_count=self.min_count,
            max_final_vocab=self.max_vocab, sample=self.sample, negative=self.negative, hs=int(self.hs),
            ns_exponent=self.ns_exponent, cbow_mean=int(self.cbow_mean), alpha=self.alpha,
            min_alpha=self.min_alpha, epochs=self.epochs, workers=self.workers, seed=self.seed,
            sg=int(self.architecture == "skipgram"),
        )


def epoch_alphas(settings: Word2VecSettings, epoch: int) -> tuple:
    """Learning rate at the start and end of 0-based ``epoch`` (gensim's linear decay)."""
    span = settings.alpha - settings.min_alpha
    return (
        settings.alpha - span * epoch / settings.epochs,
        settings.alpha - span * (epoch + 1) / settings.epochs,
    )


# -- the loss ---------------------------------------------------------------


@dataclass
class ObjectiveSample:
    """Fixed examples on which the training objective is evaluated after each epoch.

    targets: (N,) output word ids. inputs: (N, 2 * window) input word ids,
    -1 padded (skip-gram: one input per example). negatives: (N, negative).
    """

    architecture: str
    targets: np.ndarray
    inputs: np.ndarray
    negatives: np.ndarray
    cbow_mean: bool = True

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def save(self, path: Path) -> None:
        """An ``.npz`` written to exactly ``path`` (numpy would add ``.npz`` to a name without it)."""
        with open(path, "wb") as file_:
            np.savez(file_, targets=self.targets, inputs=self.inputs, negatives=self.negatives,
                     meta=np.array([self.architecture == "skipgram", self.cbow_mean]))

    @classmethod
    def load(cls, path: Path) -> "ObjectiveSample":
        with np.load(path) as data:
            skipgram, cbow_mean = data["meta"].tolist()
            return cls("skipgram" if skipgram else "cbow", data["targets"], data["inputs"], data["negatives"],
                       bool(cbow_mean))

    def hidden(self, vectors: np.ndarray) -> np.ndarray:
        """(N, dim) float64 input representation ``h`` of each example."""
        h = np.zeros((len(self), vectors.shape[1]), dtype=np.float64)
        for column in self.inputs.T:  # one (N, dim) gather at a time keeps memory small
            present = column >= 0
            h[present] += vectors[column[present]]
        if self.architecture == "cbow" and self.cbow_mean:
            h /= np.maximum((self.inputs >= 0).sum(axis=1), 1)[:, None]
        return h

    def evaluate(self, model) -> Dict[str, float]:
        """Mean per-example objective (float64) under a gensim Word2Vec ``model``."""
        h = self.hidden(model.wv.vectors)
        out: Dict[str, float] = {}
        total = np.zeros(len(self))
        if model.negative:
            syn1neg = model.syn1neg
            ns = np.logaddexp(0.0, -_rowwise_dot(h, syn1neg[self.targets]))
            for column in self.negatives.T:
                keep = column != self.targets  # gensim skips a negative equal to the target
                ns += np.logaddexp(0.0, _rowwise_dot(h, syn1neg[column])) * keep
            out["loss_ns"] = float(ns.mean())
            total += ns
        if model.hs:
            codes, points, mask = _huffman_paths(model, self.targets)
            hs = np.zeros(len(self))
            for d in range(codes.shape[1]):
                f = _rowwise_dot(h, model.syn1[points[:, d]])
                hs += np.logaddexp(0.0, -(1.0 - 2.0 * codes[:, d]) * f) * mask[:, d]
            out["loss_hs"] = float(hs.mean())
            total += hs
        out["loss"] = float(total.mean())
        return out


def _rowwise_dot(h: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(N,) float64 dot products of ``h`` (N, dim) float64 with float32 ``rows`` (N, dim)."""
    return np.einsum("nd,nd->n", h, rows.astype(np.float64))


def _huffman_paths(model, targets: np.ndarray):
    """Padded (N, L) codes, points and mask of the targets' Huffman paths."""
    words = model.wv.index_to_key
    codes = [model.wv.get_vecattr(words[t], "code") for t in targets.tolist()]
    points = [model.wv.get_vecattr(words[t], "point") for t in targets.tolist()]
    length = max(len(c) for c in codes)
    out_codes = np.zeros((len(codes), length), dtype=np.float64)
    out_points = np.zeros((len(codes), length), dtype=np.int64)
    mask = np.zeros((len(codes), length), dtype=np.float64)
    for n, (code, point) in enumerate(zip(codes, points)):
        out_codes[n, : len(code)] = code
        out_points[n, : len(point)] = point
        mask[n, : len(code)] = 1.0
    return out_codes, out_points, mask


def draw_objective_sample(
    corpus_path: PathLike, model, settings: Word2VecSettings, *, seed: int
) -> ObjectiveSample:
    """Draw ``settings.loss_sample_size`` examples from the corpus under the model's vocabulary.

    Two streaming passes: count in-vocabulary tokens, then collect the chosen
    positions with their windows (memory stays bounded by the sample).
    """
    rng = np.random.default_rng(seed)
    index = TokenIndex(model.wv.index_to_key)
    total = sum(int(np.count_nonzero(index.ids(block)[0] >= 0)) for block in iter_byte_blocks(corpus_path))
    if total < 2:
        raise UserError(f"{corpus_path}: fewer than two in-vocabulary tokens: nothing to train on")
    n = settings.loss_sample_size
    chosen = np.sort(rng.integers(0, total, size=n))
    W = settings.window
    reduced = W - rng.integers(0, W, size=n)  # gensim's reduced window, 1..W
    # skip-gram: one (input, target) pair per example, distance d with P ~ P(reduced >= d)
    distance_weights = np.arange(W, 0, -1, dtype=np.float64)
    distances = rng.choice(np.arange(1, W + 1), size=n, p=distance_weights / distance_weights.sum())
    sides = rng.integers(0, 2, size=n) * 2 - 1
    targets = np.full(n, -1, dtype=np.int64)
    inputs = np.full((n, 2 * W), -1, dtype=np.int64)
    seen = 0
    k = 0
    for block in iter_byte_blocks(corpus_path):
        ids = index.ids(block)[0]
        known = np.flatnonzero(ids >= 0)
        breaks = np.flatnonzero(ids == -2)
        while k < n and chosen[k] < seen + known.shape[0]:
            i = known[chosen[k] - seen]
            b = np.searchsorted(breaks, i)
            start = breaks[b - 1] + 1 if b > 0 else 0
            end = breaks[b] if b < breaks.shape[0] else ids.shape[0]
            targets[k] = ids[i]
            if settings.architecture == "skipgram":
                j = i + sides[k] * distances[k]
                if start <= j < end:
                    inputs[k, 0] = ids[j]
            else:
                window = np.concatenate([ids[max(start, i - reduced[k]) : i], ids[i + 1 : min(end, i + 1 + reduced[k])]])
                inputs[k, : window.shape[0]] = window
            k += 1
        seen += known.shape[0]
    keep = (inputs >= 0).any(axis=1)
    if not keep.any():
        raise UserError(
            f"{corpus_path}: no line has two in-vocabulary tokens within a window: nothing to train on"
        )
    targets, inputs = targets[keep], inputs[keep]
    if settings.architecture == "skipgram":
        inputs = inputs[:, :1]
    negatives = np.zeros((targets.shape[0], settings.negative), dtype=np.int64)
    if settings.negative:
        counts = np.asarray([model.wv.get_vecattr(w, "count") for w in model.wv.index_to_key], dtype=np.float64)
        p = counts**settings.ns_exponent
        negatives = rng.choice(len(counts), size=negatives.shape, p=p / p.sum())
    return ObjectiveSample(settings.architecture, targets, inputs, negatives, settings.cbow_mean)


# -- training -----------------------------------------------------------------


@dataclass
class Word2VecResult:
    output_dir: Path
    model: object  # gensim.models.Word2Vec
    epochs: List[Dict] = field(default_factory=list)  # this call's per-epoch records
    corpus: Optional[Dict] = None
    train_seconds: float = 0.0  # inside gensim's train() calls
    wrapper_seconds: float = 0.0  # loss, checkpoints and logs between epochs
    cpu_seconds: float = 0.0  # process CPU time (all threads) of both


def train_word2vec(
    source,
    output_dir: PathLike,
    *,
    settings: Optional[Word2VecSettings] = None,
    fallback: Sequence[str] = DEFAULT_FALLBACK,
    tokenizer: str = "en",
    pretokenized: bool = False,
    fmt: str = "auto",
    encoding: str = "utf-8",
    limit: Optional[int] = None,
    lang: str = "en",
    resume: bool = False,
    extend: bool = False,
    overwrite: bool = False,
    stop_after: Optional[int] = None,
    corpus_file: Optional[PathLike] = None,
    tmp_dir: Optional[PathLike] = None,
    progress: bool = True,
    changes: Optional[Mapping[str, Any]] = None,
) -> Word2VecResult:
    """Train Word2Vec on raw texts and write a run folder (see :mod:`.training_run`).

    source: files/folders/globs read by :func:`~spacy_lm_suite.data.rawtext.iter_texts`.
    fallback: the table's normaliser chain; its last step normalises training tokens.
    resume: continue the unfinished run in ``output_dir`` (same input, its saved settings).
    extend: train the finished run in ``output_dir`` on ``source`` as new text.
    stop_after: train at most this many epochs in this call (the run stays resumable).
    corpus_file: an already tokenised and normalised corpus file to train on
        instead of ``source`` (e.g. the benchmark's shared file).
    changes: with resume/extend, the settings the user gave (fields of
        :class:`Word2VecSettings`, ``fallback``, ``tokenizer``, ``pretokenized``,
        ``lang``, ``fmt``, ``encoding``, ``limit``): ``epochs`` and ``workers``
        are applied (and, with extend, how the new text is read); any other that
        differs from the saved run is a ``UserError`` naming its option.
    """
    if resume and extend:
        raise UserError("use either --resume or --extend, not both")
    check_run_options(limit=limit, stop_after=stop_after)
    run = RunDirectory(output_dir, checkpoint_files=(MODEL_FILE, SAMPLE_FILE),
                       hint="--resume continues an unfinished run, --extend trains a finished one on more text")
    if resume or extend:
        run.check_writable()
        config = run.require_existing(TRAINER)
        state = run.load_state()  # verified before the input is read
        saved = {**config["settings"], "fallback": list(config["fallback"]), "tokenizer": config["tokenizer"],
                 "pretokenized": config["pretokenized"], "lang": config["lang"]}
        if resume:
            saved.update(config["reading"])
        requested = {key: (list(value) if key == "fallback" else value) for key, value in (changes or {}).items()}
        merged = reconcile_settings(run.path, saved, requested, options=OPTIONS,
                                    may_change=RESUME_MAY_CHANGE if resume else EXTEND_MAY_CHANGE)
        settings = Word2VecSettings(**{key: merged[key] for key in config["settings"]})
        settings.validate()
        if resume and settings.epochs < state["phase_epochs_done"]:
            raise UserError(f"--epochs: this run in {run.path} has already trained {state['phase_epochs_done']} epochs; "
                            f"give at least {state['phase_epochs_done']}")
        if resume and asdict(settings) != config["settings"]:
            run.save_checkpoint(state, config={**config, "settings": asdict(settings)})
        fallback, tokenizer, pretokenized = config["fallback"], config["tokenizer"], config["pretokenized"]
        lang = config["lang"]
        if resume:  # read the input exactly as the interrupted run did
            fmt, encoding, limit = config["reading"]["fmt"], config["reading"]["encoding"], config["reading"]["limit"]
        else:
            fmt, encoding, limit = merged.get("fmt", fmt), merged.get("encoding", encoding), merged.get("limit", limit)
    else:
        settings = settings or Word2VecSettings()
        settings.validate()
        fallback = validate_fallback(fallback)
        check_lang(lang)
        run.check_available(overwrite=overwrite)
    reading = {"fmt": fmt, "encoding": encoding, "limit": limit}
    with tempfile.TemporaryDirectory(prefix="train-vectors-", dir=tmp_dir) as tmp:
        if corpus_file is not None:
            corpus = read_corpus_file(corpus_file)
        else:
            corpus = prepare_corpus(
                source, Path(tmp) / "corpus.txt", fmt=fmt, encoding=encoding, limit=limit,
                tokenizer=tokenizer, pretokenized=pretokenized, fallback=fallback, progress=progress,
            )
        if resume:
            return _resume(run, corpus, settings, state, stop_after=stop_after, progress=progress)
        if extend:
            return _extend(run, corpus, settings, state, stop_after=stop_after, progress=progress)
        return _new_run(run, corpus, settings, fallback=fallback, tokenizer=tokenizer, pretokenized=pretokenized,
                        reading=reading, lang=lang, overwrite=overwrite, stop_after=stop_after, progress=progress)


def _build_model(corpus: CorpusFile, settings: Word2VecSettings):
    from gensim.models import Word2Vec

    model = Word2Vec(**settings.gensim_kwargs())
    model.build_vocab(corpus_file=str(corpus.path))
    if len(model.wv) == 0:
        raise UserError(
            f"no word occurs at least min_count={settings.min_count} times in the corpus "
            f"({corpus.n_tokens} tokens): lower min_count or give more text"
        )
    return model


def _save_model(model, path: Path) -> None:
    """gensim's pickle, into one file (given a handle, gensim stores no array aside)."""
    with open(path, "wb") as file_:
        model.save(file_)


def _load_model(run: RunDirectory):
    from gensim.models import Word2Vec

    return Word2Vec.load(str(run.checkpoint / MODEL_FILE))


def _new_run(run, corpus, settings, *, fallback, tokenizer, pretokenized, reading, lang, overwrite, stop_after,
             progress):
    model = _build_model(corpus, settings)
    sample = draw_objective_sample(corpus.path, model, settings, seed=settings.seed)
    created = run.create(overwrite=overwrite)
    try:
        config = {
            "trainer": TRAINER, "settings": asdict(settings), "fallback": list(fallback), "tokenizer": tokenizer,
            "pretokenized": pretokenized, "reading": reading, "lang": lang, "corpus": corpus.to_dict(),
            "loss": "float64 objective on a fixed sample (see spacy_lm_suite.vectors.word2vec)",
        }
        state = {"phase": 0, "phase_kind": "train", "phase_epochs_done": 0, "epochs_done": 0,
                 "corpus_sha1": corpus.sha1, "vocab_size": len(model.wv), "complete": False}
        run.save_checkpoint(state, config=config, files={
            MODEL_FILE: lambda tmp: _save_model(model, tmp), SAMPLE_FILE: sample.save,
        })
        return _train_epochs(run, model, sample, corpus, settings, state, stop_after=stop_after, progress=progress)
    except BaseException:
        remove_failed_run(run.path, created)
        raise


def _resume(run, corpus, settings, state, *, stop_after, progress):
    if state["complete"]:
        raise UserError(f"{run.path}: this run is complete; use --extend to train it on more text")
    if corpus.sha1 != state["corpus_sha1"]:
        raise UserError(
            f"{run.path}: the input differs from the one this run was trained on "
            "(its tokenised corpus has another checksum); resume needs the same input"
        )
    model = _load_model(run)
    model.workers = settings.workers
    sample = ObjectiveSample.load(run.checkpoint / SAMPLE_FILE)
    run.truncate_log(state["epochs_done"])
    return _train_epochs(run, model, sample, corpus, settings, state, stop_after=stop_after, progress=progress)


def _extend(run, corpus, settings, state, *, stop_after, progress):
    if not state["complete"]:
        raise UserError(f"{run.path}: the run is not finished; finish it with --resume before extending it")
    model = _load_model(run)
    model.workers = settings.workers
    old_size = len(model.wv)
    model.build_vocab(corpus_file=str(corpus.path), update=True)
    sample = draw_objective_sample(corpus.path, model, settings, seed=settings.seed + state["phase"] + 1)
    state = {**state, "phase": state["phase"] + 1, "phase_kind": "extend", "phase_epochs_done": 0,
             "corpus_sha1": corpus.sha1, "vocab_size": len(model.wv), "new_words": len(model.wv) - old_size,
             "complete": False}
    config = run.require_existing(TRAINER)
    config["settings"] = asdict(settings)  # --epochs/--workers of this phase
    config.setdefault("extended_with", []).append(corpus.to_dict())
    run.save_checkpoint(state, config=config, files={
        MODEL_FILE: lambda tmp: _save_model(model, tmp), SAMPLE_FILE: sample.save,
    })
    return _train_epochs(run, model, sample, corpus, settings, state, stop_after=stop_after, progress=progress)


def _train_epochs(run, model, sample, corpus, settings, state, *, stop_after, progress) -> Word2VecResult:
    result = Word2VecResult(output_dir=run.path, model=model, corpus=corpus.to_dict())
    first = state["phase_epochs_done"]
    last = settings.epochs if stop_after is None else min(settings.epochs, first + stop_after)
    title = f"Word2Vec {settings.architecture}, {settings.vector_size}d, window {settings.window}"
    try:
        _run_epochs(run, model, sample, corpus, settings, state, result, first, last, title, progress)
    finally:
        run.plot()
    if state["phase_epochs_done"] == settings.epochs:
        config = run.require_existing(TRAINER)
        run.export_vectors(model.wv.index_to_key, model.wv.vectors, fallback=config["fallback"],
                           name=f"word2vec-{settings.architecture}-{settings.vector_size}d", lang=config["lang"])
        run.save_state({**state, "complete": True})
    return result


def _run_epochs(run, model, sample, corpus, settings, state, result, first, last, title, progress) -> None:
    with tqdm(total=(last - first) * model.corpus_total_words, unit="word", unit_scale=True,
              desc=f"Word2Vec {settings.architecture}", disable=not progress) as bar:
        for epoch in range(first, last):
            model.alpha, model.min_alpha = epoch_alphas(settings, epoch)
            model.min_alpha_yet_reached = model.alpha  # one epoch per call: no "alpha went up" warning
            started, cpu_started = time.perf_counter(), time.process_time()
            with _quiet_gensim():
                _, raw_words = model.train(corpus_file=str(corpus.path), total_words=model.corpus_total_words,
                                           epochs=1, compute_loss=False)
            seconds = time.perf_counter() - started
            wrapper_started = time.perf_counter()
            losses = sample.evaluate(model)
            require_finite_loss(losses["loss"], where=f"after epoch {state['epochs_done'] + 1}",
                                advice="earlier checkpoints are kept; try a lower --alpha")
            model.alpha, model.min_alpha, model.epochs = settings.alpha, settings.min_alpha, settings.epochs
            state.update(phase_epochs_done=epoch + 1, epochs_done=state["epochs_done"] + 1)
            record = {
                "epoch": state["epochs_done"], "phase": state["phase"], "phase_kind": state["phase_kind"],
                **losses, "seconds": seconds, "words_per_second": raw_words / seconds if seconds else 0.0,
                "loss_name": "objective per example (float64, fixed sample)", "title": title,
            }
            run.log_epoch(record)  # before the checkpoint: a resume truncates the log to its state
            run.save_checkpoint(state, files={MODEL_FILE: lambda tmp: _save_model(model, tmp)})
            result.epochs.append(record)
            result.train_seconds += seconds
            result.wrapper_seconds += time.perf_counter() - wrapper_started
            result.cpu_seconds += time.process_time() - cpu_started
            bar.update(model.corpus_total_words)
            bar.set_postfix(epoch=record["epoch"], loss=f"{losses['loss']:.4f}")


class _quiet_gensim:
    """Keep gensim's per-epoch INFO lines out of the user's log (our progress bar reports)."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("gensim")
        self.level = self.logger.level
        if self.logger.getEffectiveLevel() < logging.WARNING:
            self.logger.setLevel(logging.WARNING)

    def __exit__(self, *exc) -> None:
        self.logger.setLevel(self.level)

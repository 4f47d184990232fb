"""Pretraining ELMo as a bidirectional language model on raw text.

The corpus is tokenised, split into sentences (at ``.``, ``!``, ``?``
tokens and at text ends) and into sequences of at most ``seq_len`` tokens,
each read as ``<S> w_1 .. w_n </S>`` by both directions. Every epoch is a
fixed function of ``(seed, epoch)``: sequences are shuffled, grouped by
length into batches of ``batch_size``, and the batches shuffled. The data
position is therefore just ``(epoch, batch)``, and a resumed run replays
exactly the steps an uninterrupted run would have taken (the RNG state for
dropout and the optimizer state are restored too).

With ``torchrun --nproc_per_node N`` (environment ``WORLD_SIZE``), each
process takes every N-th batch and gradients are averaged with
``DistributedDataParallel`` over the gloo backend; one step consumes N
batches.
"""

import hashlib
import json
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Sized, Tuple, Union

import numpy
import torch
import torch.distributed as dist
from tqdm import tqdm

from ..errors import UserError
from ..runs.provenance import chunk_history
from ..runs.options import (
    require_finite_loss,
    require_fraction,
    require_non_negative,
    require_positive,
)
from ..runs.distributed import all_reduce as _all_reduce
from ..runs.distributed import barrier as _barrier
from ..runs.distributed import gather_objects as _gather_objects
from ..runs.distributed import init_distributed as _init_distributed
from ..runs.metrics import perplexity_panels, plot_curves, read_metrics
from ..runs.metrics import truncate_metrics as _truncate_metrics
from ..runs.progress import count_texts, postfix
from ..runs.outputs import (
    check_writable_dir,
    claim_output_dir,
    read_manifest,
)
from .characters import token_to_char_ids
from .checkpoint import (
    STATE_FILE,
    TRAINING_FILES,
    decode_rng_state,
    encode_rng_state,
    load_training_checkpoint,
    recover_checkpoint,
    save_training_checkpoint,
)
from .config import DEFAULT_PRESET, ELMoConfig
from .modules import BiLanguageModel, BiLMHead, ELMo, default_cutoffs
from .vocab import BOS_ID, EOS_ID, WordVocab

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
COMMAND = "pretrain-elmo"
RUN_FILES = (*TRAINING_FILES, STATE_FILE, METRICS_FILE, CURVES_FILE)
SENTENCE_ENDS = frozenset({".", "!", "?"})
# curves.png: train and dev perplexity, and throughput, against steps
CURVE_PANELS = perplexity_panels(perplexity_label="perplexity (mean of both directions)")

TextSource = Union[str, Path, Iterable[str]]
Tokenizer = Callable[[str], List[str]]


def whitespace_tokenize(text: str) -> List[str]:
    return text.split()


@dataclass
class Corpus:
    """Sequences of token-type ids: ``type_ids[offsets[i]:offsets[i + 1]]`` is sequence ``i``."""

    type_ids: numpy.ndarray  # int32 [n_tokens]
    offsets: numpy.ndarray  # int64 [n_sequences + 1]

    @property
    def n_sequences(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    @property
    def lengths(self) -> numpy.ndarray:
        return numpy.diff(self.offsets)

    def subset(self, indices: numpy.ndarray) -> "Corpus":
        lengths = self.lengths[indices]
        offsets = numpy.concatenate([[0], numpy.cumsum(lengths)]).astype(numpy.int64)
        if len(indices) == 0:
            return Corpus(numpy.zeros(0, dtype=numpy.int32), offsets)
        parts = [self.type_ids[self.offsets[i] : self.offsets[i + 1]] for i in indices]
        return Corpus(numpy.concatenate(parts).astype(numpy.int32), offsets)

    def fingerprint(self, types: Sequence[str]) -> str:
        digest = hashlib.sha1(self.type_ids.tobytes())
        digest.update(self.offsets.tobytes())
        digest.update("\n".join(types).encode("utf-8", "surrogatepass"))
        return digest.hexdigest()


def encode_texts(
    texts: Iterable[str],
    types: Dict[str, int],
    *,
    tokenize: Tokenizer,
    seq_len: int,
    desc: str = "reading",
    progress: bool = True,
    total: Optional[int] = None,
) -> Corpus:
    """Tokenise, split into sentences and ``seq_len`` chunks, and map tokens to
    type ids (new types are added to ``types``); ``total``: the number of texts,
    for the progress bar (None: a count without percentage)."""
    type_ids: List[int] = []
    offsets = [0]

    def close(sentence: List[int]) -> None:
        for start in range(0, len(sentence), seq_len):
            type_ids.extend(sentence[start : start + seq_len])
            offsets.append(len(type_ids))

    for text in tqdm(texts, desc=desc, total=total, unit=" texts", disable=not progress, mininterval=1.0):
        sentence: List[int] = []
        for token in tokenize(text):
            index = types.get(token)
            if index is None:
                index = types[token] = len(types)
            sentence.append(index)
            if token in SENTENCE_ENDS:
                close(sentence)
                sentence = []
        if sentence:
            close(sentence)
    return Corpus(numpy.asarray(type_ids, dtype=numpy.int32), numpy.asarray(offsets, dtype=numpy.int64))


def _texts_of(source: TextSource, *, text_format: str, encoding: str, limit: Optional[int]) -> Iterable[str]:
    if isinstance(source, (str, Path)):
        from ..data.rawtext import iter_texts

        return iter_texts(source, fmt=text_format, limit=limit, encoding=encoding)
    if limit:
        return (text for i, text in enumerate(source) if i < limit)
    return source


def _count_of(source: TextSource, *, text_format: str, encoding: str, limit: Optional[int]) -> Optional[int]:
    """How many texts :func:`_texts_of` yields (the progress bar's total), when it is cheap to know."""
    if isinstance(source, (str, Path)):
        return count_texts(source, fmt=text_format, encoding=encoding, limit=limit)
    if isinstance(source, Sized):
        return min(len(source), limit) if limit else len(source)
    return limit or None


def epoch_batches(lengths: numpy.ndarray, *, batch_size: int, seed: int, epoch: int) -> List[numpy.ndarray]:
    """The batches (sequence indices) of one epoch: a fixed function of its arguments.

    Sequences are shuffled, sorted by length within pools of 50 batches (so a
    batch holds similar lengths), cut into batches, and the batches shuffled.
    """
    rng = numpy.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[numpy.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def make_batch(
    corpus: Corpus, sequences: numpy.ndarray, type_chars: numpy.ndarray, type_words: numpy.ndarray
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Model input for some sequences: ``(type_char_ids [U, C], type_index [B, T],
    mask [B, T], word_ids [B, T])``."""
    lengths = corpus.lengths[sequences]
    tokens = numpy.concatenate([corpus.type_ids[corpus.offsets[i] : corpus.offsets[i + 1]] for i in sequences])
    unique, inverse = numpy.unique(tokens, return_inverse=True)
    rows = numpy.repeat(numpy.arange(len(sequences)), lengths)
    cols = numpy.arange(len(tokens)) - numpy.repeat(numpy.cumsum(lengths) - lengths, lengths)
    shape = (len(sequences), int(lengths.max()))
    type_index = numpy.zeros(shape, dtype=numpy.int64)
    word_ids = numpy.zeros(shape, dtype=numpy.int64)
    mask = numpy.zeros(shape, dtype=bool)
    type_index[rows, cols] = inverse
    word_ids[rows, cols] = type_words[tokens]
    mask[rows, cols] = True
    return (
        torch.from_numpy(type_chars[unique].astype(numpy.int64)),
        torch.from_numpy(type_index),
        torch.from_numpy(mask),
        torch.from_numpy(word_ids),
    )


def learning_rate(step: int, *, lr: float, total_steps: int, warmup_steps: int, min_ratio: float = 0.1) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``min_ratio * lr``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class PretrainResult:
    """What a (possibly partial) pretraining run ended with; ``model`` is the
    trained encoder in this process (identical on every process)."""

    model: ELMo
    output_dir: Path
    step: int
    total_steps: int
    finished: bool
    train_perplexity: Optional[float]
    dev_perplexity: Optional[float]
    tokens_per_second: float


# Arguments that shape the training trajectory: a resumed run must use the same.
_TRAJECTORY_ARGS = (
    "config", "vocab_size", "batch_size", "seq_len", "lr", "warmup_steps", "clip", "seed",
    "dev_fraction", "world_size", "adam_betas", "total_steps", "softmax_cutoffs",
)


def pretrain_elmo(
    *,
    texts: TextSource,
    output_dir: Union[str, Path],
    config: Union[ELMoConfig, str] = DEFAULT_PRESET,
    vocab_size: int = 50_000,
    batch_size: int = 64,
    seq_len: int = 64,
    steps: Optional[int] = None,
    epochs: float = 1.0,
    lr: float = 2e-3,
    warmup_steps: Optional[int] = None,
    clip: float = 1.0,
    seed: int = 0,
    checkpoint_every: int = 500,
    eval_every: Optional[int] = None,
    log_every: int = 50,
    dev_texts: Optional[TextSource] = None,
    dev_fraction: float = 0.01,
    resume: bool = False,
    max_steps_this_run: Optional[int] = None,
    max_minutes: Optional[float] = None,
    tokenize: Optional[Tokenizer] = None,
    text_format: str = "auto",
    encoding: str = "utf-8",
    limit: Optional[int] = None,
    threads: Optional[int] = None,
    progress: bool = True,
) -> PretrainResult:
    """Pretrain an ELMo biLM and write ``output_dir``.

    texts: an iterable of raw texts, or a file / folder / glob read with
        :func:`spacy_lm_suite.data.rawtext.iter_texts` (``text_format``,
        ``encoding``, ``limit``).
    config: an :class:`ELMoConfig` or a preset name (default ``medium``,
        the shape pretrained here; ``tiny`` is for tests).
    vocab_size: softmax vocabulary, including ``<unk>``, ``<s>``, ``</s>``.
    batch_size: sequences per batch (per process); seq_len: tokens per sequence.
    steps: optimizer steps in total (default: ``epochs`` passes over the data).
    lr, warmup_steps, clip: Adam learning rate, warm-up (default 5% of the
        steps, at most 1000), gradient-norm clipping.
    checkpoint_every, eval_every, log_every: in steps (``eval_every`` defaults
        to ``checkpoint_every``; dev perplexity is also computed at each epoch end).
    dev_texts: held-out texts; without them, every ``1/dev_fraction``-th
        sequence is held out (``dev_fraction=0`` for none).
    resume: continue from the checkpoint in ``output_dir`` if there is one.
    max_steps_this_run, max_minutes: stop early (after saving a checkpoint),
        to run a long pretraining in chunks; run again with ``resume=True``.
    tokenize: ``str -> list of tokens`` (default: whitespace split).
    threads: ``torch.set_num_threads`` for this process (default: leave as is;
        torchrun sets one thread per process).

    Writes ``config.json``, ``weights.safetensors``, ``vocab.json`` (enough for
    :func:`load_elmo`), ``head.safetensors``, ``optimizer.safetensors``,
    ``state.json``, ``metrics.jsonl`` and ``curves.png``. ``output_dir`` must
    be new or empty, or hold a run of this command (continued with
    ``resume``); checkpoints are atomic (:mod:`spacy_lm_suite.runs.checkpoints`).
    A loss that becomes NaN or infinite stops the run with ``UserError``.
    """
    started = time.perf_counter()
    if isinstance(config, str):
        config = ELMoConfig.preset(config)
    _check_settings(
        vocab_size=vocab_size, batch_size=batch_size, seq_len=seq_len, steps=steps, epochs=epochs, lr=lr,
        warmup_steps=warmup_steps, clip=clip, checkpoint_every=checkpoint_every, eval_every=eval_every,
        log_every=log_every, dev_fraction=dev_fraction, max_steps_this_run=max_steps_this_run,
        max_minutes=max_minutes, limit=limit, threads=threads,
    )
    output_dir = Path(output_dir)
    if threads is not None:
        torch.set_num_threads(threads)
    rank, world_size, owns_group = _init_distributed()
    try:
        error = None
        if rank == 0:
            try:
                _prepare_output_dir(output_dir, resume=resume)
            except UserError as err:
                error = str(err)
        error = _gather_objects(error, world_size)[0]  # every process stops on rank 0's error
        if error is not None:
            raise UserError(error)
        has_checkpoint = (output_dir / STATE_FILE).exists()
        tokenize = tokenize or whitespace_tokenize
        show = progress and rank == 0

        # Data
        types: Dict[str, int] = {}
        corpus = encode_texts(
            _texts_of(texts, text_format=text_format, encoding=encoding, limit=limit), types, tokenize=tokenize, seq_len=seq_len,
            desc="reading train", progress=show,
            total=_count_of(texts, text_format=text_format, encoding=encoding, limit=limit) if show else None,
        )
        if corpus.n_sequences == 0:
            raise UserError("the training texts hold no tokens")
        if dev_texts is not None:
            dev = encode_texts(
                _texts_of(dev_texts, text_format=text_format, encoding=encoding, limit=None), types, tokenize=tokenize,
                seq_len=seq_len, desc="reading dev", progress=show,
                total=_count_of(dev_texts, text_format=text_format, encoding=encoding, limit=None) if show else None,
            )
            train = corpus
        elif dev_fraction > 0:
            every = max(2, round(1 / dev_fraction))
            indices = numpy.arange(corpus.n_sequences)
            dev = corpus.subset(indices[indices % every == every - 1])
            train = corpus.subset(indices[indices % every != every - 1])
        else:
            dev, train = None, corpus
        type_list = sorted(types, key=types.__getitem__)
        fingerprint = train.fingerprint(type_list)
        if has_checkpoint:
            vocab = WordVocab.from_json(output_dir / "vocab.json")
        else:
            counts = Counter()
            for type_id, count in zip(*numpy.unique(train.type_ids, return_counts=True)):
                counts[type_list[type_id]] = int(count)
            vocab = WordVocab.build(counts, size=vocab_size)
        type_words = numpy.asarray([vocab.index(t) for t in type_list], dtype=numpy.int64)
        type_chars = numpy.asarray(
            [token_to_char_ids(t, max_chars=config.max_chars) for t in type_list], dtype=numpy.int16
        ).reshape(len(type_list), config.max_chars)

        n_batches = math.ceil(train.n_sequences / batch_size)
        steps_per_epoch = n_batches // world_size
        if steps_per_epoch == 0:
            raise UserError(
                f"the training data make {n_batches} batch(es) of {batch_size}, fewer than the {world_size} processes"
            )
        total_steps = steps if steps is not None else max(1, math.ceil(epochs * steps_per_epoch))
        if warmup_steps is None:
            warmup_steps = min(1000, max(1, total_steps // 20))
        eval_every = eval_every or checkpoint_every
        adam_betas = (0.9, 0.999)
        training_args = {
            "config": config.to_dict(), "vocab_size": len(vocab), "batch_size": batch_size, "seq_len": seq_len,
            "lr": lr, "warmup_steps": warmup_steps, "clip": clip, "seed": seed, "dev_fraction": dev_fraction,
            "world_size": world_size, "adam_betas": list(adam_betas), "total_steps": total_steps,
            "softmax_cutoffs": default_cutoffs(len(vocab)),
            "steps_per_epoch": steps_per_epoch, "train_tokens": train.n_tokens,
            "train_sequences": train.n_sequences, "dev_tokens": dev.n_tokens if dev is not None else 0,
        }

        # Model
        torch.manual_seed(seed)
        elmo = ELMo(config)
        head = BiLMHead(input_dim=config.proj_dim, vocab_size=len(vocab), cutoffs=training_args["softmax_cutoffs"])
        lm = BiLanguageModel(elmo, head, bos_id=BOS_ID, eos_id=EOS_ID)
        optimizer = torch.optim.Adam(lm.parameters(), lr=lr, betas=adam_betas)
        state: Dict[str, Any] = {"step": 0, "tokens_seen": 0, "window": [0.0, 0.0, 0], "elapsed_seconds": 0.0}
        if has_checkpoint:
            state = load_training_checkpoint(output_dir, model=elmo, head=head, optimizer=optimizer)
            _check_resume(output_dir, state, training_args, fingerprint)
            torch.set_rng_state(decode_rng_state(state["rng"][rank]))
            if rank == 0:
                _truncate_metrics(output_dir / METRICS_FILE, state["step"])
        else:
            torch.manual_seed(seed * 1000 + rank + 1)  # dropout masks differ between processes
        model: torch.nn.Module = lm
        if world_size > 1:
            model = torch.nn.parallel.DistributedDataParallel(lm, find_unused_parameters=True)

        step = int(state["step"])
        tokens_seen = int(state["tokens_seen"])
        window = list(state["window"])  # forward+backward NLL sum, predictions, tokens since last log
        elapsed_before = float(state["elapsed_seconds"])
        run_start = time.perf_counter()
        run_tokens = 0
        steps_this_run = 0
        last_train_ppl: Optional[float] = state.get("last_train_perplexity")
        last_dev_ppl: Optional[float] = state.get("last_dev_perplexity")

        last_plot = [0.0]
        # the suite commits this run trained at (one per resume that ran other code): export names them
        suite_commits = chunk_history(state, command=None)["suite_commits"]

        def save(final: bool) -> None:
            rngs = _gather_objects(encode_rng_state(torch.get_rng_state()), world_size)
            if rank == 0:
                save_training_checkpoint(
                    output_dir, model=elmo, head=head, optimizer=optimizer, vocab=vocab,
                    state={
                        "step": step, "epoch": step // steps_per_epoch, "batch_in_epoch": (step % steps_per_epoch) * world_size,
                        "tokens_seen": tokens_seen, "window": window, "rng": rngs,
                        "elapsed_seconds": elapsed_before + time.perf_counter() - run_start,
                        "last_train_perplexity": last_train_ppl, "last_dev_perplexity": last_dev_ppl,
                        "training": training_args, "data_fingerprint": fingerprint,
                        "suite_commits": suite_commits,
                    },
                )
                if final or time.perf_counter() - last_plot[0] > 60:  # a plot takes about a second
                    plot_curves(read_metrics(output_dir / METRICS_FILE), output_dir / CURVES_FILE, panels=CURVE_PANELS)
                    last_plot[0] = time.perf_counter()
            _barrier(world_size)

        def log(record: Dict[str, Any]) -> None:
            if rank == 0:
                with (output_dir / METRICS_FILE).open("a", encoding="utf-8") as file:
                    file.write(json.dumps(record) + "\n")

        def evaluate() -> Optional[float]:
            if dev is None or dev.n_sequences == 0:
                return None
            lm.eval()
            totals = torch.zeros(3, dtype=torch.float64)
            order = numpy.argsort(dev.lengths, kind="stable")
            dev_batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
            with torch.no_grad():
                for sequences in dev_batches[rank::world_size]:
                    _, nll = lm(*make_batch(dev, sequences, type_chars, type_words))
                    totals += nll.double()
            _all_reduce(totals, world_size)
            lm.train()
            return math.exp((totals[0] + totals[1]).item() / (2 * max(1.0, totals[2].item())))

        bar = tqdm(total=total_steps, initial=step, desc="pretrain-elmo", unit="step", disable=not show, dynamic_ncols=True)
        lm.train()
        batches: List[numpy.ndarray] = []
        batches_epoch = -1
        stop = False
        while step < total_steps and not stop:
            epoch = step // steps_per_epoch
            if epoch != batches_epoch:
                batches = epoch_batches(train.lengths, batch_size=batch_size, seed=seed, epoch=epoch)
                batches_epoch = epoch
            sequences = batches[(step % steps_per_epoch) * world_size + rank]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, lr=lr, total_steps=total_steps, warmup_steps=warmup_steps)
            batch = make_batch(train, sequences, type_chars, type_words)
            loss, nll = model(*batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lm.parameters(), clip)
            optimizer.step()
            step += 1
            steps_this_run += 1
            counts = torch.tensor([nll[0] + nll[1], nll[2], float(batch[2].sum())], dtype=torch.float64)
            _all_reduce(counts, world_size)
            require_finite_loss(
                counts[0].item(), where=f"at step {step}",
                advice="earlier checkpoints are kept; try a lower --lr",
            )
            window = [window[0] + counts[0].item(), window[1] + counts[1].item(), window[2] + int(counts[2].item())]
            tokens_seen += int(counts[2].item())
            run_tokens += int(counts[2].item())
            rate = run_tokens / max(1e-9, time.perf_counter() - run_start)
            bar.update(1)
            epoch_end = step % steps_per_epoch == 0
            if step % log_every == 0 or epoch_end or step == total_steps:
                last_train_ppl = math.exp(window[0] / (2 * max(1.0, window[1])))
                log({
                    "kind": "train", "step": step, "epoch": step / steps_per_epoch, "lr": optimizer.param_groups[0]["lr"],
                    "train_loss": window[0] / (2 * max(1.0, window[1])), "train_perplexity": last_train_ppl,
                    "tokens": tokens_seen, "tokens_per_second": rate,
                })
                window = [0.0, 0.0, 0]
                bar.set_postfix(_bar_postfix(last_train_ppl, last_dev_ppl, rate))
            if step % eval_every == 0 or epoch_end or step == total_steps:
                dev_ppl = evaluate()
                if dev_ppl is not None:
                    last_dev_ppl = dev_ppl
                    log({"kind": "dev", "step": step, "epoch": step / steps_per_epoch, "dev_perplexity": dev_ppl})
                    bar.set_postfix(_bar_postfix(last_train_ppl, last_dev_ppl, rate))
            if max_steps_this_run is not None and steps_this_run >= max_steps_this_run:
                stop = True
            if max_minutes is not None:
                flag = torch.tensor([float(time.perf_counter() - started > 60 * max_minutes)])
                _all_reduce(flag, world_size)
                stop = stop or bool(flag.item())
            if step % checkpoint_every == 0 or step == total_steps or stop:
                save(final=step == total_steps or stop)
        bar.close()
        elmo.eval()
        return PretrainResult(
            model=elmo,
            output_dir=output_dir, step=step, total_steps=total_steps, finished=step >= total_steps,
            train_perplexity=last_train_ppl, dev_perplexity=last_dev_ppl,
            tokens_per_second=run_tokens / max(1e-9, time.perf_counter() - run_start),
        )
    finally:
        if owns_group:
            dist.destroy_process_group()


def _check_settings(
    *, vocab_size: int, batch_size: int, seq_len: int, steps: Optional[int], epochs: float, lr: float,
    warmup_steps: Optional[int], clip: float, checkpoint_every: int, eval_every: Optional[int], log_every: int,
    dev_fraction: float, max_steps_this_run: Optional[int], max_minutes: Optional[float], limit: Optional[int],
    threads: Optional[int],
) -> None:
    """Reject values that cannot make a run (or would make a silently wrong one),
    named as the ``pretrain-elmo`` options."""
    for option, value in (
        ("--batch-size", batch_size), ("--seq-len", seq_len), ("--steps", steps), ("--epochs", epochs),
        ("--lr", lr), ("--clip", clip), ("--checkpoint-every", checkpoint_every), ("--eval-every", eval_every),
        ("--log-every", log_every), ("--max-steps-this-run", max_steps_this_run), ("--max-minutes", max_minutes),
        ("--threads", threads),
    ):
        require_positive(value, option=option)
    require_non_negative(warmup_steps, option="--warmup-steps")
    require_non_negative(limit, option="--limit")
    require_fraction(dev_fraction, option="--dev-fraction", allow_zero=True)
    if vocab_size < 4:
        raise UserError(f"--vocab-size: expected at least 4 (<unk>, <s>, </s> and one word), found {vocab_size}")


def _prepare_output_dir(output_dir: Path, *, resume: bool) -> None:
    """Check ``output_dir`` before any reading: a new or empty folder starts a
    run; a folder holding a pretrain-elmo checkpoint needs ``resume``;
    anything else (a user's files, another command's output) is refused."""
    state_path = output_dir / STATE_FILE
    manifest = read_manifest(output_dir) if output_dir.is_dir() else None
    ours = manifest is not None and manifest.command == COMMAND
    if not ours and manifest is None and state_path.is_file():
        ours = _is_pretraining_state(state_path)  # a run from before output folders had manifests
    if not ours:
        if resume and state_path.is_file():
            kind = manifest.command if manifest is not None and manifest.command else "another kind of"
            raise UserError(
                f"{output_dir}: holds a {kind} run, not a pretrain-elmo run; --resume continues only pretrain-elmo runs"
            )
        claim_output_dir(output_dir, command=COMMAND, files=RUN_FILES, overwrite_option=None)
        return
    check_writable_dir(output_dir)
    recover_checkpoint(output_dir)
    if not state_path.is_file():  # killed before its first checkpoint
        if not resume:
            raise UserError(
                f"{output_dir}: holds a pretrain-elmo run that stopped before its first checkpoint; "
                "pass --resume to start it again there, or choose another output directory"
            )
        claim_output_dir(output_dir, command=COMMAND, files=RUN_FILES, overwrite=True)
    elif not resume:
        raise UserError(
            f"{output_dir}: holds a pretraining checkpoint ({STATE_FILE}); pass resume=True "
            "(--resume) to continue it, or choose another output directory"
        )


def _is_pretraining_state(path: Path) -> bool:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(state, dict) and "training" in state and "optimizer" in state


def _check_resume(output_dir: Path, state: Dict[str, Any], args: Dict[str, Any], fingerprint: str) -> None:
    saved = state.get("training", {})
    changed = [name for name in _TRAJECTORY_ARGS if saved.get(name) != args.get(name)]
    if changed:
        details = "; ".join(f"{name}: checkpoint {saved.get(name)!r}, now {args.get(name)!r}" for name in changed)
        raise UserError(f"{output_dir / STATE_FILE}: cannot resume with different settings ({details})")
    if state.get("data_fingerprint") != fingerprint:
        raise UserError(
            f"{output_dir / STATE_FILE}: the training data differ from the checkpoint's "
            "(same files, format, tokenizer and limit are needed to resume)"
        )
    if len(state.get("rng", [])) != args["world_size"]:
        raise UserError(f"{output_dir / STATE_FILE}: the checkpoint has no RNG state for {args['world_size']} processes")


def _bar_postfix(train_ppl: Optional[float], dev_ppl: Optional[float], tokens_per_second: float) -> Dict[str, str]:
    """What the progress bar shows after the step: the perplexities logged so far
    (none before the first log step) and the throughput."""
    return postfix(("ppl", train_ppl, ".1f"), ("dev_ppl", dev_ppl, ".1f"), ("tok_s", tokens_per_second, ".0f"))


__all__ = ["PretrainResult", "pretrain_elmo", "epoch_batches", "encode_texts", "learning_rate", "Corpus"]

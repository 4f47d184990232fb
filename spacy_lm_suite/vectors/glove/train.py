"""GloVe training: weighted least squares with AdaGrad, Hogwild threads in compiled code.

For every non-zero ``X[i, j]`` of the co-occurrence matrix the cost is
``f(X_ij) * (w_i . c_j + b_i + b~_j - log X_ij)^2 / 2`` with
``f(x) = min(1, (x / x_max)^alpha)``. Updates follow Stanford's ``glove.c``:
AdaGrad with squared-gradient accumulators starting at 1, parameters
initialised uniformly in ``(-0.5, 0.5) / dim``. The non-zeros are visited in
a new seeded random order each epoch; ``threads`` workers each take a
contiguous share of that order and update the shared parameters without locks
(Hogwild). With one thread a run is exactly reproducible, and a run resumed
from a checkpoint equals an uninterrupted one.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import numba
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file
from tqdm.auto import tqdm

from ...errors import InputFormatError, UserError
from ...runs.options import require_at_least, require_positive
from ...runs.outputs import save_safetensors_atomic

_BLOCK = 1 << 16


@dataclass
class GloVeSettings:
    """Counting and training settings (Stanford's defaults except ``dim``, ``epochs``, ``window``)."""

    # co-occurrence counting
    min_count: int = 5
    max_vocab: Optional[int] = None
    window: int = 10
    symmetric: bool = True
    distance_weighting: bool = True
    memory_limit_gb: float = 2.0
    max_pairs_in_memory: Optional[int] = None  # events buffered before a shard is spilled to disk
    # training
    dim: int = 100
    epochs: int = 15
    x_max: float = 100.0
    alpha: float = 0.75
    eta: float = 0.05
    threads: int = 2
    seed: int = 0
    sum_context: bool = True  # output word + context vectors (Stanford's -model 2)
    dtype: str = "float32"  # parameters and AdaGrad sums; "float64" as in Stanford's code (about 1.8x slower)

    def validate(self) -> None:
        """Reject settings that make no model or a NaN one (named as the CLI options)."""
        if self.dtype not in ("float32", "float64"):
            raise UserError(f"GloVe setting dtype must be 'float32' or 'float64', got {self.dtype!r}")
        for name, option in (("min_count", "--min-count"), ("window", "--window"), ("dim", "--dim"),
                             ("epochs", "--epochs"), ("threads", "--threads"), ("max_vocab", "--max-vocab"),
                             ("max_pairs_in_memory", "--max-pairs-in-memory")):
            require_at_least(getattr(self, name), 1, option=f"{option} (GloVe setting {name})")
        for name, option in (("x_max", "--x-max"), ("eta", "--eta"), ("memory_limit_gb", "--memory"),
                             ("alpha", "--alpha")):
            require_positive(getattr(self, name), option=f"{option} (GloVe setting {name})")


class GloVeModel:
    """Word and context parameters with their AdaGrad accumulators.

    ``word[i, 0]`` is word ``i``'s vector with its bias in the last column
    (dim + 1 values), ``word[i, 1]`` its squared-gradient sums; ``context``
    likewise. Both (V, 2, dim + 1) float32 or float64: a row's parameters
    and accumulators sit next to each other in memory, which the update loop
    (random rows) needs for speed.
    """

    def __init__(self, word: np.ndarray, context: np.ndarray) -> None:
        self.word, self.context = word, context

    @classmethod
    def initialize(cls, vocab_size: int, dim: int, *, seed: int, dtype: str = "float32") -> "GloVeModel":
        rng = np.random.default_rng(seed)
        word = np.ones((vocab_size, 2, dim + 1), dtype=dtype)
        context = np.ones((vocab_size, 2, dim + 1), dtype=dtype)
        word[:, 0] = (rng.random((vocab_size, dim + 1)) - 0.5) / dim
        context[:, 0] = (rng.random((vocab_size, dim + 1)) - 0.5) / dim
        return cls(word, context)

    @property
    def dim(self) -> int:
        return self.word.shape[2] - 1

    @property
    def vocab_size(self) -> int:
        return self.word.shape[0]

    def vectors(self, *, sum_context: bool = True) -> np.ndarray:
        """(V, dim) float32 word vectors (plus context vectors when ``sum_context``)."""
        out = self.word[:, 0, :-1] + self.context[:, 0, :-1] if sum_context else self.word[:, 0, :-1]
        return np.ascontiguousarray(out, dtype=np.float32)

    def to_disk(self, path: Union[str, Path]) -> None:
        """safetensors with ``W``, ``C`` (V, dim + 1) and their accumulators ``GW``, ``GC``
        (written atomically, with the umask's permissions)."""
        arrays = {
            "W": self.word[:, 0], "GW": self.word[:, 1], "C": self.context[:, 0], "GC": self.context[:, 1],
        }
        save_safetensors_atomic(path, arrays)

    @classmethod
    def from_disk(cls, path: Union[str, Path]) -> "GloVeModel":
        try:
            arrays = load_file(str(path))
            return cls(np.stack([arrays["W"], arrays["GW"]], axis=1), np.stack([arrays["C"], arrays["GC"]], axis=1))
        except (OSError, ValueError, KeyError, SafetensorError) as err:
            raise InputFormatError(path, f"expected GloVe weights (safetensors with W, GW, C, GC) ({err})") from None


@numba.njit(nogil=True, cache=True)
def _splitmix64(state):
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(nogil=True, cache=True)
def _below(state, n):
    """A uniform integer in ``[0, n)`` for n < 2**32 (multiply-shift on the high 32 bits)."""
    return np.int64(((_splitmix64(state) >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


@numba.njit(nogil=True, cache=True)
def shuffle_into(seed, rows, cols, fx, logx, out_rows, out_cols, out_fx, out_logx, buckets):
    """Write a uniformly random permutation of the four arrays into the ``out_*`` arrays.

    Each element goes to one of ``2**12`` buckets drawn uniformly (a stable,
    near-sequential scatter), then every bucket is Fisher-Yates shuffled in
    cache; the result is a uniform permutation. ``buckets`` (n,) uint16 scratch.
    """
    n = rows.shape[0]
    n_buckets = 4096
    state = np.zeros(1, dtype=np.uint64)
    state[0] = np.uint64(seed)
    offsets = np.zeros(n_buckets + 1, dtype=np.int64)
    for k in range(n):
        bucket = _below(state, n_buckets)
        buckets[k] = bucket
        offsets[bucket + 1] += 1
    for b in range(n_buckets):
        offsets[b + 1] += offsets[b]
    fill = offsets[:-1].copy()
    for k in range(n):
        dest = fill[buckets[k]]
        fill[buckets[k]] += 1
        out_rows[dest] = rows[k]
        out_cols[dest] = cols[k]
        out_fx[dest] = fx[k]
        out_logx[dest] = logx[k]
    for b in range(n_buckets):
        lo = offsets[b]
        for k in range(offsets[b + 1] - 1, lo, -1):
            other = lo + _below(state, k - lo + 1)
            out_rows[k], out_rows[other] = out_rows[other], out_rows[k]
            out_cols[k], out_cols[other] = out_cols[other], out_cols[k]
            out_fx[k], out_fx[other] = out_fx[other], out_fx[k]
            out_logx[k], out_logx[other] = out_logx[other], out_logx[k]


@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _train_span(start, end, rows, cols, fx, logx, word, context, eta, scratch):
    """One AdaGrad step for each non-zero in ``[start, end)``; returns the summed cost.

    Dot products and the cost are summed in float64 whatever the parameters'
    dtype. ``scratch`` is (2, dim) of the parameters' dtype, private to the
    calling thread. The update is
    split into short loops so that the compiler vectorises them (the numpy
    error model drops the zero-division check that would prevent it).
    """
    dim = word.shape[2] - 1
    t1 = scratch[0]
    t2 = scratch[1]
    cost = 0.0
    for e in range(start, end):
        w = word[rows[e], 0]
        gw = word[rows[e], 1]
        c = context[cols[e], 0]
        gc = context[cols[e], 1]
        diff = 0.0
        for b in range(dim):
            diff += w[b] * c[b]
        diff += w[dim] + c[dim] - logx[e]
        fdiff = fx[e] * diff
        cost += 0.5 * fdiff * diff
        fdiff *= eta
        for b in range(dim):
            t1[b] = fdiff * c[b]
            t2[b] = fdiff * w[b]
        for b in range(dim):
            w[b] -= t1[b] / np.sqrt(gw[b])
            gw[b] += t1[b] * t1[b]
        for b in range(dim):
            c[b] -= t2[b] / np.sqrt(gc[b])
            gc[b] += t2[b] * t2[b]
        w[dim] -= fdiff / np.sqrt(gw[dim])
        c[dim] -= fdiff / np.sqrt(gc[dim])
        fdiff *= fdiff
        gw[dim] += fdiff
        gc[dim] += fdiff
    return cost


class TrainingData:
    """The non-zeros (sorted, as counted) with ``f(x)`` and ``log(x)``, and a buffer for each epoch's shuffled copy."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, *, x_max: float, alpha: float,
                 dtype: str = "float32") -> None:
        vals = np.asarray(vals, dtype=np.float64)
        self.rows = np.ascontiguousarray(rows, dtype=np.int32)
        self.cols = np.ascontiguousarray(cols, dtype=np.int32)
        self.fx = np.minimum(1.0, (vals / x_max) ** alpha).astype(dtype)
        self.logx = np.log(vals).astype(dtype)
        n = self.rows.shape[0]
        self.out = (np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, dtype), np.empty(n, dtype))
        self.buckets = np.empty(n, dtype=np.uint16)

    def __len__(self) -> int:
        return self.rows.shape[0]

    def shuffled(self, seed: int):
        shuffle_into(seed, self.rows, self.cols, self.fx, self.logx, *self.out, self.buckets)
        return self.out


def train_epoch(
    model: GloVeModel,
    data: TrainingData,
    *,
    epoch: int,
    settings: GloVeSettings,
    bar: Optional[tqdm] = None,
) -> float:
    """One pass over the non-zeros in the order seeded by ``(seed, epoch)``; returns the mean cost."""
    n = len(data)
    rows, cols, fx, logx = data.shuffled(_epoch_seed(settings.seed, epoch))
    bounds = np.linspace(0, n, settings.threads + 1).astype(np.int64)
    lock = threading.Lock()

    def work(t: int) -> float:
        scratch = np.empty((2, model.dim), dtype=model.word.dtype)
        eta = model.word.dtype.type(settings.eta)
        cost = 0.0
        for start in range(int(bounds[t]), int(bounds[t + 1]), _BLOCK):
            end = min(start + _BLOCK, int(bounds[t + 1]))
            cost += _train_span(start, end, rows, cols, fx, logx, model.word, model.context, eta, scratch)
            if bar is not None:
                with lock:
                    bar.update(end - start)
        return cost

    if settings.threads == 1:
        total = work(0)
    else:
        with ThreadPoolExecutor(max_workers=settings.threads) as pool:
            total = sum(pool.map(work, range(settings.threads)))
    return total / max(n, 1)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**32)


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    cost: float  # mean weighted squared error per non-zero (as Stanford prints it)
    seconds: float
    cpu_seconds: float  # process CPU time, all threads


def train_model(
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    *,
    settings: GloVeSettings,
    model: GloVeModel,
    start_epoch: int = 0,
    stop_epoch: Optional[int] = None,
    on_epoch_end: Optional[Callable[[GloVeModel, EpochRecord], None]] = None,
    progress: bool = True,
) -> GloVeModel:
    """Train ``model`` on the non-zeros from epoch ``start_epoch`` up to ``stop_epoch`` (default: all).

    ``on_epoch_end`` is called after each epoch (e.g. to log and checkpoint).
    """
    settings.validate()
    if rows.shape[0] == 0:
        raise UserError("the co-occurrence matrix is empty: nothing to train on")
    stop_epoch = settings.epochs if stop_epoch is None else min(stop_epoch, settings.epochs)
    if model.word.dtype != np.dtype(settings.dtype):
        raise UserError(f"the model's parameters are {model.word.dtype}, the settings ask for {settings.dtype}")
    data = TrainingData(rows, cols, vals, x_max=settings.x_max, alpha=settings.alpha, dtype=settings.dtype)
    n = len(data)
    with tqdm(total=n * max(stop_epoch - start_epoch, 0), unit="pair", unit_scale=True, desc="GloVe",
              disable=not progress) as bar:
        for epoch in range(start_epoch, stop_epoch):
            started, cpu_started = time.perf_counter(), time.process_time()
            cost = train_epoch(model, data, epoch=epoch, settings=settings, bar=bar)
            record = EpochRecord(epoch=epoch + 1, cost=cost, seconds=time.perf_counter() - started,
                                 cpu_seconds=time.process_time() - cpu_started)
            bar.set_postfix(epoch=record.epoch, cost=f"{cost:.4f}")
            if on_epoch_end is not None:
                on_epoch_end(model, record)
    return model

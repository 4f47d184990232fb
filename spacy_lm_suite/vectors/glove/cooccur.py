"""GloVe co-occurrence counting with bounded memory.

Reads a pre-tokenised corpus file (one text per line, tokens separated by
single spaces, as written by :mod:`spacy_lm_suite.vectors.corpus`), maps tokens
to frequency-ranked ids, and accumulates distance-weighted co-occurrences the
way Stanford's ``cooccur`` does:

* out-of-vocabulary tokens are dropped before windowing, and a window never
  crosses a line break;
* pairs of frequent words (``(rank_i + 1) * (rank_j + 1) <= max_product``) are
  summed in a dense, row-ragged table;
* all other pairs go to an int64 event buffer (pair key and distance packed in
  one integer); a full buffer is sorted, reduced (duplicates summed) and spilled
  to disk as a sorted ``.npy`` shard;
* at the end the dense table and every shard are k-way merged (duplicates
  summed) into ``rows``/``cols``/``vals`` arrays sorted by ``(row, col)``.

The memory budget (``memory_limit`` in bytes) bounds the dense table (at most
3/4 of it, and by default at most :data:`DEFAULT_DENSE_CELLS` cells) and the
event buffer (the rest); both can also be set explicitly.

Tokens are split on ASCII whitespace only (space, tab, CR, LF, VT, FF), in
the vocabulary count and in the compiled id lookup alike.
"""

import json
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

import numba
import numpy as np
from tqdm.auto import tqdm

from ...errors import UserError


_READ_BLOCK_BYTES = 1 << 20
DEFAULT_DENSE_CELLS = 1 << 23
"""Default dense-table size (64 MB of float64): larger tables cost more in cache misses and page faults than they save."""


@dataclass(frozen=True)
class Vocabulary:
    """Words ranked by frequency (ties by text), with their corpus counts."""

    words: List[str]
    counts: np.ndarray  # (V,) int64

    def __len__(self) -> int:
        return len(self.words)

    def to_disk(self, path: Union[str, Path]) -> None:
        """Write ``word count`` lines, as Stanford's ``vocab_count`` does."""
        with open(path, "w", encoding="utf-8") as out:
            for word, count in zip(self.words, self.counts.tolist()):
                out.write(f"{word} {count}\n")

    @classmethod
    def from_disk(cls, path: Union[str, Path]) -> "Vocabulary":
        words, counts = [], []
        with open(path, encoding="utf-8") as file_:
            for line in file_:
                word, count = line.rstrip("\n").rsplit(" ", 1)
                words.append(word)
                counts.append(int(count))
        return cls(words, np.asarray(counts, dtype=np.int64))


@dataclass
class CooccurrenceStats:
    """What counting did: sizes, time and memory."""

    n_tokens: int
    n_in_vocab_tokens: int
    vocab_size: int
    n_pairs: int  # weighted pair events added (both directions when symmetric)
    nnz: int
    n_shards: int
    max_product: int
    buffer_events: int
    seconds: float
    cpu_seconds: float  # process CPU time (all threads): less sensitive than seconds to other jobs on the machine
    pairs_per_second: float
    peak_rss_bytes: int  # peak resident memory of the whole process while counting
    baseline_rss_bytes: int  # resident memory of the process when counting started


@dataclass
class Cooccurrence:
    """A sparse co-occurrence matrix in COO form, sorted by ``(row, col)``.

    ``rows[k]`` is the word (the one in the window), ``cols[k]`` the centre
    word, ``vals[k]`` the summed weight; ids index :attr:`vocab`.
    """

    rows: np.ndarray  # (nnz,) int32
    cols: np.ndarray  # (nnz,) int32
    vals: np.ndarray  # (nnz,) float64
    vocab: Vocabulary
    stats: Optional[CooccurrenceStats] = None

    @property
    def nnz(self) -> int:
        return int(self.vals.shape[0])

    def to_dense(self) -> np.ndarray:
        """(V, V) float64; only for small vocabularies (tests)."""
        n = len(self.vocab)
        out = np.zeros((n, n), dtype=np.float64)
        out[self.rows, self.cols] = self.vals
        return out

    def to_disk(self, path: Union[str, Path]) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "rows.npy", self.rows)
        np.save(path / "cols.npy", self.cols)
        np.save(path / "vals.npy", self.vals)
        self.vocab.to_disk(path / "vocab.txt")
        if self.stats is not None:
            (path / "stats.json").write_text(json.dumps(asdict(self.stats), indent=2), encoding="utf-8")

    @classmethod
    def from_disk(cls, path: Union[str, Path], *, mmap: bool = False) -> "Cooccurrence":
        path = Path(path)
        mode = "r" if mmap else None
        stats_path = path / "stats.json"
        stats = CooccurrenceStats(**json.loads(stats_path.read_text(encoding="utf-8"))) if stats_path.exists() else None
        return cls(
            rows=np.load(path / "rows.npy", mmap_mode=mode),
            cols=np.load(path / "cols.npy", mmap_mode=mode),
            vals=np.load(path / "vals.npy", mmap_mode=mode),
            vocab=Vocabulary.from_disk(path / "vocab.txt"),
            stats=stats,
        )


def iter_byte_blocks(path: Union[str, Path]) -> Iterator[bytes]:
    """Yield chunks of whole lines as bytes, about ``_READ_BLOCK_BYTES`` bytes each."""
    with open(path, "rb") as file_:
        while True:
            block = file_.read(_READ_BLOCK_BYTES)
            if not block:
                return
            if not block.endswith(b"\n"):
                block += file_.readline()
            yield block


def build_vocabulary(
    corpus_path: Union[str, Path], *, min_count: int = 5, max_vocab: Optional[int] = None
) -> Tuple[Vocabulary, int]:
    """Count the tokens of a pre-tokenised file.

    Returns the vocabulary (count >= ``min_count``, at most ``max_vocab`` most
    frequent words, ties broken by text) and the total number of tokens.
    """
    counter: Counter = Counter()
    for block in iter_byte_blocks(corpus_path):
        counter.update(block.split())
    n_tokens = sum(counter.values())
    if n_tokens == 0:
        raise UserError(f"{corpus_path}: the corpus has no tokens")
    try:
        frequent = [(w.decode("utf-8"), c) for w, c in counter.items() if c >= min_count]
    except UnicodeDecodeError as err:
        raise UserError(f"{corpus_path}: a token is not valid UTF-8 ({err.reason})") from None
    kept = sorted(frequent, key=lambda wc: (-wc[1], wc[0]))
    if max_vocab is not None:
        kept = kept[:max_vocab]
    if not kept:
        raise UserError(
            f"{corpus_path}: no word occurs at least min_count={min_count} times "
            f"(the most frequent occurs {max(counter.values())} times)"
        )
    words = [w for w, _ in kept]
    counts = np.asarray([c for _, c in kept], dtype=np.int64)
    return Vocabulary(words, counts), n_tokens


@numba.njit(nogil=True, cache=True)
def _fnv1a(data, start, end):
    h = np.uint64(14695981039346656037)
    for i in range(start, end):
        h = (h ^ np.uint64(data[i])) * np.uint64(1099511628211)
    return h


@numba.njit(nogil=True, cache=True)
def _build_hash_table(word_bytes, offsets, table):
    """Open addressing: ``table[slot]`` is a word id or -1; ``len(table)`` is a power of two."""
    mask = np.uint64(table.shape[0] - 1)
    for w in range(offsets.shape[0] - 1):
        slot = _fnv1a(word_bytes, offsets[w], offsets[w + 1]) & mask
        while table[slot] >= 0:
            slot = (slot + np.uint64(1)) & mask
        table[slot] = w


@numba.njit(nogil=True, cache=True)
def _bytes_to_ids(data, word_bytes, offsets, table, out):
    """Tokens of ``data`` (split on space, tab, CR, VT, FF; LF ends a line) -> ids in ``out``.

    Unknown tokens are dropped; a line end is written as -2. Returns
    ``(n_written, n_tokens)``.
    """
    mask = np.uint64(table.shape[0] - 1)
    n = data.shape[0]
    m = 0
    n_tokens = 0
    i = 0
    while i < n:
        c = data[i]
        if c == 10:
            out[m] = -2
            m += 1
            i += 1
            continue
        if c == 32 or (c >= 9 and c <= 13):
            i += 1
            continue
        start = i
        while i < n and data[i] != 32 and (data[i] < 9 or data[i] > 13):
            i += 1
        n_tokens += 1
        length = i - start
        slot = _fnv1a(data, start, i) & mask
        while True:
            w = table[slot]
            if w < 0:
                break
            w_start = offsets[w]
            if offsets[w + 1] - w_start == length:
                same = True
                for k in range(length):
                    if word_bytes[w_start + k] != data[start + k]:
                        same = False
                        break
                if same:
                    out[m] = w
                    m += 1
                    break
            slot = (slot + np.uint64(1)) & mask
    return m, n_tokens


class TokenIndex:
    """Maps the UTF-8 bytes of tokens to vocabulary ids in compiled code (no Python strings)."""

    def __init__(self, words: List[str]) -> None:
        encoded = [w.encode("utf-8") for w in words]
        self.word_bytes = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self.offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=self.offsets[1:])
        size = 1 << max(4, (2 * len(encoded)).bit_length())
        self.table = np.full(size, -1, dtype=np.int32)
        _build_hash_table(self.word_bytes, self.offsets, self.table)

    def ids(self, block: bytes) -> Tuple[np.ndarray, int]:
        """(int32 ids with -2 at line ends and unknown tokens dropped, number of tokens read)."""
        data = np.frombuffer(block, dtype=np.uint8)
        # one id per token or line end, and each takes at least one byte ("a\n" is two):
        # the compiled loop does not check bounds, so the buffer must hold one per byte
        out = np.empty(data.shape[0] + 1, dtype=np.int32)
        m, n_tokens = _bytes_to_ids(data, self.word_bytes, self.offsets, self.table, out)
        return out[:m], int(n_tokens)


def dense_row_lengths(vocab_size: int, max_product: int) -> np.ndarray:
    """Row ``i`` of the dense table holds columns ``j < min(V, max_product // (i + 1))``."""
    ranks = np.arange(1, vocab_size + 1, dtype=np.int64)
    return np.minimum(vocab_size, max_product // ranks)


def max_product_for_budget(vocab_size: int, n_entries: int) -> int:
    """The largest ``max_product`` whose dense table has at most ``n_entries`` float64 cells."""
    if vocab_size * vocab_size <= n_entries:
        return vocab_size * vocab_size
    low, high = 0, vocab_size * vocab_size
    while low < high:
        mid = (low + high + 1) // 2
        if int(dense_row_lengths(vocab_size, mid).sum()) <= n_entries:
            low = mid
        else:
            high = mid - 1
    return low


@numba.njit(nogil=True, cache=True)
def _count_kernel(ids, start, window, symmetric, distance_weighting, row_len, row_off, dense, buf, fill, hist, state):
    """Add the windows of ``ids[start:]`` until done or the buffer is nearly full.

    ``hist`` (window,) int64 holds the last in-vocabulary ids of the current
    line, ``state = [tokens_in_line, n_pairs]``. Buffer events pack
    ``(row * V + col) * window + (distance - 1)``. Returns ``(next_start, fill)``.
    """
    V = row_len.shape[0]
    cap = buf.shape[0] - 2 * window
    j = state[0]
    n_pairs = state[1]
    n = ids.shape[0]
    pos = start
    while pos < n:
        if fill > cap:
            break
        w2 = ids[pos]
        pos += 1
        if w2 < 0:
            if w2 == -2:
                j = 0
            continue
        lo = j - window
        if lo < 0:
            lo = 0
        for k in range(j - 1, lo - 1, -1):
            w1 = hist[k % window]
            d = j - k
            weight = 1.0 / d if distance_weighting else 1.0
            if w2 < row_len[w1]:
                dense[row_off[w1] + w2] += weight
            else:
                buf[fill] = (w1 * V + w2) * window + (d - 1)
                fill += 1
            n_pairs += 1
            if symmetric:
                if w1 < row_len[w2]:
                    dense[row_off[w2] + w1] += weight
                else:
                    buf[fill] = (w2 * V + w1) * window + (d - 1)
                    fill += 1
                n_pairs += 1
        hist[j % window] = w2
        j += 1
    state[0] = j
    state[1] = n_pairs
    return pos, fill


@numba.njit(nogil=True, cache=True)
def _reduce_sorted_events(events, window, distance_weighting):
    """Sorted packed events -> unique pair keys (row * V + col) and summed weights."""
    n = events.shape[0]
    keys = np.empty(n, dtype=np.int64)
    vals = np.empty(n, dtype=np.float64)
    m = -1
    last = -1
    for i in range(n):
        key = events[i] // window
        weight = 1.0 / (events[i] % window + 1) if distance_weighting else 1.0
        if key != last:
            m += 1
            keys[m] = key
            vals[m] = weight
            last = key
        else:
            vals[m] += weight
    return keys[: m + 1].copy(), vals[: m + 1].copy()


@numba.njit(nogil=True, cache=True)
def _radix_sort(a, tmp):
    """Sort non-negative int64 ``a`` in place (LSD radix, 11-bit digits); ``tmp`` is scratch of the same size."""
    n = a.shape[0]
    if n == 0:
        return
    top = a.max()
    src = a
    dst = tmp
    swapped = False
    shift = 0
    counts = np.empty(2049, dtype=np.int64)
    while (top >> shift) > 0:
        counts[:] = 0
        for i in range(n):
            counts[((src[i] >> shift) & 2047) + 1] += 1
        for d in range(2048):
            counts[d + 1] += counts[d]
        for i in range(n):
            d = (src[i] >> shift) & 2047
            dst[counts[d]] = src[i]
            counts[d] += 1
        src, dst = dst, src
        swapped = not swapped
        shift += 11
    if swapped:
        a[:] = src


@numba.njit(nogil=True, cache=True)
def _merge(key_lists, val_lists, out_keys, out_vals, write):
    """k-way merge of sorted (key, val) sources with a binary heap, summing duplicates.

    With ``write=False`` only counts the unique keys. Returns that count.
    """
    k = len(key_lists)
    heap_key = np.empty(k, dtype=np.int64)
    heap_src = np.empty(k, dtype=np.int64)
    pos = np.zeros(k, dtype=np.int64)
    size = 0
    for s in range(k):
        if key_lists[s].shape[0] > 0:
            c = size
            heap_key[c] = key_lists[s][0]
            heap_src[c] = s
            size += 1
            while c > 0:
                p = (c - 1) // 2
                if heap_key[p] > heap_key[c]:
                    heap_key[p], heap_key[c] = heap_key[c], heap_key[p]
                    heap_src[p], heap_src[c] = heap_src[c], heap_src[p]
                    c = p
                else:
                    break
    m = -1
    last = -1
    while size > 0:
        key = heap_key[0]
        s = heap_src[0]
        if key != last:
            m += 1
            last = key
            if write:
                out_keys[m] = key
                out_vals[m] = val_lists[s][pos[s]]
        elif write:
            out_vals[m] += val_lists[s][pos[s]]
        pos[s] += 1
        if pos[s] < key_lists[s].shape[0]:
            heap_key[0] = key_lists[s][pos[s]]
        else:
            size -= 1
            heap_key[0] = heap_key[size]
            heap_src[0] = heap_src[size]
        c = 0
        while True:
            best = 2 * c + 1
            if best >= size:
                break
            if best + 1 < size and heap_key[best + 1] < heap_key[best]:
                best += 1
            if heap_key[best] < heap_key[c]:
                heap_key[best], heap_key[c] = heap_key[c], heap_key[best]
                heap_src[best], heap_src[c] = heap_src[c], heap_src[best]
                c = best
            else:
                break
    return m + 1


@numba.njit(nogil=True, cache=True)
def _interleave(dense, row_len, row_off, keys, vals, rows, cols, out):
    """Write the dense table's non-zeros and the sparse (key, val) pairs, sorted by (row, col).

    Sparse entries of row ``i`` all have ``col >= row_len[i]``, so each row is
    its dense part followed by its sparse part.
    """
    V = row_len.shape[0]
    m = 0
    s = 0
    n_sparse = keys.shape[0]
    for i in range(V):
        base = row_off[i]
        for j in range(row_len[i]):
            v = dense[base + j]
            if v != 0.0:
                rows[m] = i
                cols[m] = j
                out[m] = v
                m += 1
        while s < n_sparse and keys[s] // V == i:
            rows[m] = i
            cols[m] = keys[s] % V
            out[m] = vals[s]
            m += 1
            s += 1
    return m


class _PeakRSS:
    """Peak resident memory of this process inside the block (Linux ``VmHWM``, reset on entry)."""

    def __enter__(self) -> "_PeakRSS":
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        self.baseline = self._read("VmRSS:")
        self.peak = 0
        return self

    def __exit__(self, *exc) -> None:
        self.peak = self._read("VmHWM:")

    @staticmethod
    def _read(field: str) -> int:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Accumulator:
    """The dense table, the event buffer and the spilled shards of one counting run."""

    def __init__(self, V: int, *, window: int, symmetric: bool, distance_weighting: bool,
                 max_product: int, max_events: int, shard_dir: Path) -> None:
        self.window = window
        self.symmetric = symmetric
        self.distance_weighting = distance_weighting
        self.row_len = dense_row_lengths(V, max_product)
        self.row_off = np.zeros(V, dtype=np.int64)
        np.cumsum(self.row_len[:-1], out=self.row_off[1:])
        self.dense = np.zeros(int(self.row_len.sum()), dtype=np.float64)
        self.buf = np.empty(max_events + 2 * window, dtype=np.int64)
        self.tmp = np.empty_like(self.buf)
        self.fill = 0
        self.hist = np.zeros(window, dtype=np.int64)
        self.state = np.zeros(2, dtype=np.int64)  # [tokens in the current line, pair events]
        self.shard_dir = shard_dir
        self.shards: List[Tuple[Path, Path]] = []

    def add(self, ids: np.ndarray) -> None:
        pos = 0
        while pos < ids.shape[0]:
            pos, self.fill = _count_kernel(
                ids, pos, self.window, self.symmetric, self.distance_weighting, self.row_len, self.row_off,
                self.dense, self.buf, self.fill, self.hist, self.state,
            )
            if pos < ids.shape[0]:
                keys, vals = self._reduce_buffer()
                stem = self.shard_dir / f"{len(self.shards):05d}"
                key_path, val_path = stem.with_suffix(".keys.npy"), stem.with_suffix(".vals.npy")
                np.save(key_path, keys)
                np.save(val_path, vals)
                self.shards.append((key_path, val_path))

    def _reduce_buffer(self) -> Tuple[np.ndarray, np.ndarray]:
        events = self.buf[: self.fill]
        _radix_sort(events, self.tmp[: self.fill])
        self.fill = 0
        return _reduce_sorted_events(events, self.window, self.distance_weighting)

    def finish(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Merge everything into (rows int32, cols int32, vals float64) sorted by (row, col)."""
        keys, vals = self._reduce_buffer()
        del self.buf, self.tmp
        if self.shards:
            key_lists = numba.typed.List([keys])
            val_lists = numba.typed.List([vals])
            for key_path, val_path in self.shards:
                # copy-on-write maps: paged in as the merge reads them, never written back
                key_lists.append(np.load(key_path, mmap_mode="c").view(np.ndarray))
                val_lists.append(np.load(val_path, mmap_mode="c").view(np.ndarray))
            n = _merge(key_lists, val_lists, _EMPTY_I64, _EMPTY_F64, False)
            keys, vals = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float64)
            _merge(key_lists, val_lists, keys, vals, True)
            del key_lists, val_lists
        nnz = int(np.count_nonzero(self.dense)) + keys.shape[0]
        rows = np.empty(nnz, dtype=np.int32)
        cols = np.empty(nnz, dtype=np.int32)
        out = np.empty(nnz, dtype=np.float64)
        _interleave(self.dense, self.row_len, self.row_off, keys, vals, rows, cols, out)
        del self.dense
        return rows, cols, out


_EMPTY_I64 = np.empty(0, dtype=np.int64)
_EMPTY_F64 = np.empty(0, dtype=np.float64)


def count_cooccurrences(
    corpus_path: Union[str, Path],
    vocab: Vocabulary,
    *,
    window: int = 10,
    symmetric: bool = True,
    distance_weighting: bool = True,
    memory_limit: float = 2.0 * 2**30,
    max_product: Optional[int] = None,
    max_pairs_in_memory: Optional[int] = None,
    tmp_dir: Optional[Union[str, Path]] = None,
    progress: bool = True,
) -> Cooccurrence:
    """Count weighted co-occurrences within ``window`` tokens (weight 1/distance).

    memory_limit: bytes for the dense table (at most 3/4, and by default at
    most :data:`DEFAULT_DENSE_CELLS` cells) and the event buffer (the rest;
    16 bytes per event with the sort's scratch space).
    max_product / max_pairs_in_memory: override the dense table size and the
    number of events buffered before a sorted shard is spilled to ``tmp_dir``.
    Token-to-id conversion runs beside the counting kernel (both compiled,
    without the GIL), one block ahead.
    """
    if window < 1:
        raise UserError(f"window must be at least 1, got {window}")
    V = len(vocab)
    if V * V * window >= 2**62:
        raise UserError(f"a vocabulary of {V} words with window {window} is too large to index")
    dense_cells = min(int(0.75 * memory_limit) // 8, DEFAULT_DENSE_CELLS)
    if max_product is None:
        max_product = max_product_for_budget(V, dense_cells)
    if max_pairs_in_memory is None:
        budget = int(memory_limit - 8 * int(dense_row_lengths(V, max_product).sum())) // 16
        # never more events than the corpus can produce (a token is at least one byte and a space)
        most = 2 * window * (Path(corpus_path).stat().st_size // 2 + 1)
        max_pairs_in_memory = min(budget, most)
    max_pairs_in_memory = max(int(max_pairs_in_memory), 2 * window + 2)

    with _PeakRSS() as peak:
        started, cpu_started = time.perf_counter(), time.process_time()
        shard_dir = Path(tempfile.mkdtemp(prefix="glove-cooccur-", dir=tmp_dir))
        try:
            acc = _Accumulator(
                V, window=window, symmetric=symmetric, distance_weighting=distance_weighting,
                max_product=max_product, max_events=max_pairs_in_memory, shard_dir=shard_dir,
            )
            index = TokenIndex(vocab.words)
            n_in_vocab = n_tokens = 0
            size = Path(corpus_path).stat().st_size
            with ThreadPoolExecutor(max_workers=1) as pool, tqdm(
                total=size, unit="B", unit_scale=True, desc="co-occurrences", disable=not progress
            ) as bar:
                pending = None
                for block in iter_byte_blocks(corpus_path):
                    ids, n_read = index.ids(block)
                    n_tokens += n_read
                    n_in_vocab += int(np.count_nonzero(ids >= 0))
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(acc.add, ids)
                    bar.update(len(block))
                if pending is not None:
                    pending.result()
            rows, cols, vals = acc.finish()
        finally:
            shutil.rmtree(shard_dir, ignore_errors=True)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    n_pairs = int(acc.state[1])
    stats = CooccurrenceStats(
        n_tokens=n_tokens,
        n_in_vocab_tokens=n_in_vocab,
        vocab_size=V,
        n_pairs=n_pairs,
        nnz=int(vals.shape[0]),
        n_shards=len(acc.shards),
        max_product=int(max_product),
        buffer_events=int(max_pairs_in_memory),
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        pairs_per_second=n_pairs / seconds if seconds > 0 else 0.0,
        peak_rss_bytes=int(peak.peak),
        baseline_rss_bytes=int(peak.baseline),
    )
    return Cooccurrence(rows, cols, vals, vocab, stats)

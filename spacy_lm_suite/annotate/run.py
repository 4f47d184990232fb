"""The ``annotate`` run: a corpus through a pipeline into a folder of shards.

Layout of ``OUTPUT_DIR``: ``shard-00000.spacy`` (or ``.jsonl``), ... with
``shard_size`` docs each (the last may hold fewer), ``annotate.json`` (the
state, :mod:`.state`) and our manifest. Shard ``k`` holds the docs
``k * shard_size`` to ``(k + 1) * shard_size - 1`` of the corpus, in order.

Each shard is written the same way, so a run killed at any moment resumes to
the output of an uninterrupted one:

1. the manifest is extended to name the shard (so ``--overwrite`` may remove it);
2. the shard is written to a temporary file, fsynced and renamed into place;
3. the state is replaced (atomically) by one that records the shard's doc
   count, size and SHA-256.

``--resume`` checks the recorded shards and skips their docs (the texts are
read, not annotated); a shard on disk that the state does not record yet
(killed between 2 and 3) is written again.

Fault injection for tests: the points ``renamed:<shard>`` (after 2) and
``committed:<shard>`` (after 3) are reported like a checkpoint's
(:mod:`spacy_lm_suite.runs.checkpoints`: ``fault_hook`` and
``SPACY_LM_SUITE_CHECKPOINT_FAULT``).
"""

import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Protocol

from ..data.rawtext import check_count, check_encoding, check_format, expand_source, iter_texts
from ..errors import UserError
from ..runs import checkpoints
from ..runs.outputs import (
    atomic_write_file,
    check_output_dir,
    check_writable_dir,
    claim_output_dir,
    read_manifest,
    write_json_atomic,
    write_manifest,
)
from ..runs.options import require_at_least
from . import state as run_state
from .shards import annotate_texts, check_output_format, has_generator, shard_name

COMMAND = "annotate"
COUNT_LIMIT_BYTES = 128 * 1024 * 1024
"""Inputs up to this size are counted first (the progress bar gets a total and
an ETA, and a malformed line fails before anything is written)."""

_STALE_TMP = re.compile(r"^\.shard-\d{5}\.(spacy|jsonl)\..*\.tmp\.(spacy|jsonl)$")


class ShardAnnotator(Protocol):
    """Turns the texts of one shard into the bytes of its file (locally or on Ray)."""

    def __call__(self, texts: List[str], *, first: int, advance: Callable[[int], None]) -> bytes: ...


@dataclass(frozen=True)
class AnnotateSummary:
    """What a run did: the docs in the output, the shards, how many of them an
    earlier run had written, and the time taken now."""

    output_dir: Path
    docs: int
    shards: int
    resumed_shards: int
    seconds: float


def annotate(
    pipeline: str,
    source: Any,
    output_dir: Any,
    *,
    output_format: str = "spacy",
    shard_size: int = 10_000,
    batch_size: int = 64,
    n_process: int = 1,
    text_format: str = "auto",
    field: str = "text",
    encoding: str = "utf-8",
    limit: Optional[int] = None,
    resume: bool = False,
    overwrite: bool = False,
    ray: bool = False,
    ray_address: Optional[str] = None,
    progress: bool = True,
) -> AnnotateSummary:
    """Annotate the texts of ``source`` (a file, folder, glob or list of them,
    read by :func:`spacy_lm_suite.data.rawtext.iter_texts`) with the pipeline
    ``pipeline`` (a folder or an installed package) into shards in ``output_dir``.

    Every user mistake (options, pipeline, output folder, empty corpus, Ray
    missing) raises ``UserError`` before the output folder is touched. With
    ``resume``, an earlier run of the same pipeline, input and output settings
    in ``output_dir`` is continued (a missing or empty folder starts a new
    run); ``overwrite`` replaces an earlier ``annotate`` output there. With
    ``ray`` (or ``ray_address``, an existing cluster) the docs are annotated
    on Ray Data by ``n_process`` actors (:mod:`.ray_backend`).
    """
    started = time.perf_counter()
    check_output_format(output_format)
    require_at_least(shard_size, 1, option="--shard-size")
    require_at_least(batch_size, 1, option="--batch-size")
    require_at_least(n_process, 1, option="--n-process")
    limit = check_count(limit, "--limit", zero="no limit")
    check_format(text_format)
    encoding = check_encoding(encoding)
    if resume and overwrite:
        raise UserError("--resume continues the run in OUTPUT_DIR and --overwrite replaces it: give one of them")
    use_ray = ray or ray_address is not None
    if use_ray:
        from .ray_backend import require_ray

        require_ray()
    out = Path(output_dir)
    earlier = _earlier_state(out, resume=resume, overwrite=overwrite)

    ref = run_state.resolve_pipeline(pipeline)
    files = expand_source(source)
    records = {
        "pipeline": run_state.pipeline_record(ref),
        "input": run_state.input_record(files, text_format=text_format, field=field, encoding=encoding, limit=limit),
        "output": {"format": output_format, "shard_size": shard_size},
    }
    done: List[Dict[str, Any]] = []
    if earlier is not None:
        run_state.check_same_run(earlier, folder=out, **records)
        done = run_state.verified_shards(earlier, folder=out)
        if earlier.get("complete"):
            return AnnotateSummary(out, docs=earlier["docs"], shards=len(done), resumed_shards=len(done), seconds=time.perf_counter() - started)

    def read() -> Iterator[str]:
        return iter_texts(files, fmt=text_format, limit=limit, encoding=encoding, field=field)

    texts = read()
    first_text = next(texts)  # a corpus without text fails here, before anything is written
    total = _count(read) if sum(f["size"] for f in records["input"]["files"]) <= COUNT_LIMIT_BYTES else None
    nlp = run_state.load_pipeline(ref)
    generated = has_generator(nlp)
    annotator: ShardAnnotator
    if use_ray:
        from .ray_backend import RayShardAnnotator

        annotator = RayShardAnnotator(
            ref.load_name, output_format=output_format, generated=generated,
            batch_size=batch_size, n_actors=n_process, address=ray_address,
        )
    else:
        def annotator(shard_texts: List[str], *, first: int, advance: Callable[[int], None]) -> bytes:
            return annotate_texts(
                nlp, shard_texts, first=first, output_format=output_format, generated=generated,
                batch_size=batch_size, n_process=n_process, advance=advance,
            )

    if earlier is None:
        claim_output_dir(out, command=COMMAND, files=[run_state.STATE_FILE], overwrite=overwrite,
                         hint="--resume continues an interrupted annotate run")
        current = run_state.new_state(**records)
        write_json_atomic(out / run_state.STATE_FILE, current)
    else:
        current = {**earlier, **records, "shards": list(done), "docs": sum(s["docs"] for s in done)}
    _remove_stale_tmp_files(out)

    stream = itertools.islice(itertools.chain([first_text], texts), current["docs"], None)
    finished = bool(done) and done[-1]["docs"] < shard_size
    bar = _progress_bar(total=total, initial=current["docs"], enabled=progress)
    try:
        while not finished:
            shard_texts = list(itertools.islice(stream, shard_size))
            if not shard_texts:
                break
            _write_shard(out, current, shard_texts, annotator=annotator, advance=bar.update)
            finished = len(shard_texts) < shard_size
    finally:
        bar.close()
    current["complete"] = True
    write_json_atomic(out / run_state.STATE_FILE, current)
    return AnnotateSummary(
        out, docs=current["docs"], shards=len(current["shards"]), resumed_shards=len(done),
        seconds=time.perf_counter() - started,
    )


def _earlier_state(out: Path, *, resume: bool, overwrite: bool) -> Optional[Dict[str, Any]]:
    """The state of the run ``resume`` continues (None: a new run), after the
    checks of the output folder (a new run: :func:`check_output_dir`)."""
    hint = "--resume continues an interrupted annotate run"
    if not resume:
        check_output_dir(out, overwrite=overwrite, command=COMMAND, hint=hint)
        return None
    check_writable_dir(out)
    if not out.is_dir() or not any(out.iterdir()):
        return None
    manifest = read_manifest(out)
    found = run_state.read_state(out) if manifest is not None and manifest.command == COMMAND else None
    if found is None:
        check_output_dir(out, overwrite=False, command=COMMAND, hint=hint)  # raises: not ours, or not a run
        raise UserError(f"{out}: holds no annotate run to resume (no {run_state.STATE_FILE}); use --overwrite to start again")
    return found


def _count(read: Callable[[], Iterator[str]]) -> int:
    """The number of texts ``read()`` yields."""
    return sum(1 for _ in read())


def _write_shard(
    out: Path, current: Dict[str, Any], texts: List[str], *, annotator: ShardAnnotator, advance: Callable[[int], None]
) -> None:
    """Annotate and write the next shard, then record it in the state (see the module docstring)."""
    index = len(current["shards"])
    name = shard_name(index, output_format=current["output"]["format"])
    data = annotator(texts, first=current["docs"], advance=advance)
    names = [run_state.STATE_FILE] + [shard["name"] for shard in current["shards"]] + [name]
    write_manifest(out, command=COMMAND, files=names)
    with atomic_write_file(out / name) as tmp:
        tmp.write_bytes(data)
    checkpoints._reached(f"renamed:{name}")
    current["shards"].append({"name": name, "docs": len(texts), **checkpoints.file_record(out / name)})
    current["docs"] += len(texts)
    write_json_atomic(out / run_state.STATE_FILE, current)
    checkpoints._reached(f"committed:{name}")


def _remove_stale_tmp_files(out: Path) -> None:
    """Delete the temporary shard files a killed run left (ours by name)."""
    for path in out.iterdir():
        if _STALE_TMP.match(path.name) and path.is_file() and not path.is_symlink():
            path.unlink()


def _progress_bar(*, total: Optional[int], initial: int, enabled: bool) -> Any:
    """A tqdm bar over docs (docs/s; an ETA when the total is known)."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="docs", disable=not enabled, dynamic_ncols=True, smoothing=0.1)

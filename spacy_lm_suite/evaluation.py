"""Evaluate trained pipelines on data read by our readers, and convert that data to ``.spacy``.

A spaCy bridge (like :mod:`spacy_lm_suite.data.readers`, whose registered
readers it reuses: nothing is parsed twice). :func:`evaluate_pipelines` runs
each pipeline on the examples of one file and returns one JSON-ready report:

- NER data (CoNLL-2003, WNUT-17): ``ents_p``/``ents_r``/``ents_f`` overall and
  per type (spaCy's :func:`~spacy.scorer.get_ner_prf`, the scorer of ``ner``
  and ``entity_ruler``), after an optional label map (:data:`LABEL_MAPS`);
- text classification (SST-2, TREC, JSONL): ``cats_accuracy`` (the argmax
  class equals the gold class) and the component's own ``score`` (``cats_macro_f``,
  ``cats_micro_f``, per label);
- words/s of the pipeline run (loading excluded), peak RSS, size on disk,
  and the training steps and seconds where they are recorded
  (:func:`training_record`);
- pipelines of one config that differ only in their seeds grouped as
  mean ± std (:func:`group_by_config`).

Scores are fractions in [0, 1], as spaCy writes them (``"scale": "fraction"``).
"""

import csv
import hashlib
import json
import os
import re
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import spacy
from spacy.language import Language
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.util import load_config
from thinc.api import ConfigValidationError
from tqdm.auto import tqdm

from .data.rawtext import check_count, check_encoding, existing_file
from .data.readers import conll2003_reader, jsonl_textcat_reader, sst2_reader, trec_reader, wnut17_reader
from .errors import InputFormatError, UserError
from .report import resolve_run
from .runs.outputs import atomic_write_file, check_output_file

REPORT_FORMAT = "spacy-lm-suite.evaluation"
NER, TEXTCAT = "ner", "textcat"
FORMATS: Dict[str, Tuple[str, Callable[..., Any]]] = {
    "conll2003": (NER, conll2003_reader),
    "wnut17": (NER, wnut17_reader),
    "sst2": (TEXTCAT, sst2_reader),
    "trec": (TEXTCAT, trec_reader),
    "jsonl": (TEXTCAT, jsonl_textcat_reader),
}
"""``--format`` -> (task, registered reader)."""

LabelMap = Dict[str, str]
LABEL_MAPS: Dict[str, LabelMap] = {
    "ontonotes-to-conll": {
        "PERSON": "PER",
        "ORG": "ORG",
        "GPE": "LOC",
        "LOC": "LOC",
        "FAC": "LOC",
        "NORP": "MISC",
        "EVENT": "MISC",
        "WORK_OF_ART": "MISC",
        "LAW": "MISC",
        "LANGUAGE": "MISC",
        "PRODUCT": "MISC",
    },
}
"""Built-in ``--label-map`` names: predicted label -> data type. A label a map
does not name (``ontonotes-to-conll``: DATE, CARDINAL, MONEY, ...) is dropped."""

SEED_KEYS = (("system", "seed"), ("training", "seed"), ("training", "logger"))
"""Config settings ignored when deciding that pipelines share a config: the seeds, and
the logger (where a run writes its log files changes nothing it learns)."""
_SEED_SUFFIX = re.compile(r"[-_]seed\d+$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LOG_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+[-\d.]")
TRAINING_LOGS = ("{output}.log", "{output}/train.log", "{output}/training.log")
"""Where :func:`training_record` looks for the console log of ``spacy train --output {output}``."""
_FINISHED = "Saved pipeline to output directory"  # spaCy's last line of a finished `spacy train`


# -- the data -------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSpec:
    """One data file and how to read it: ``format`` (a key of :data:`FORMATS`),
    ``limit`` (docs to read, 0: all), ``encoding`` (None: the reader's default) and
    ``sample``/``sample_seed`` (the fixed held-out slice of an SST-2 or TREC file, 0: all rows)."""

    path: Path
    format: str
    limit: int = 0
    encoding: Optional[str] = None
    sample: int = 0
    sample_seed: int = 0

    @property
    def task(self) -> str:
        """``ner`` or ``textcat``."""
        return FORMATS[self.format][0]

    def read(self, nlp: Language) -> List[Example]:
        """The examples of the file, made with ``nlp``'s vocab and tokenizer
        (NER files keep their words: no re-tokenisation)."""
        reader = FORMATS[self.format][1]
        options: Dict[str, Any] = {"path": self.path, "limit": self.limit}
        if self.encoding is not None:
            options["encoding"] = self.encoding
        if self.sample:
            options.update(sample=self.sample, seed=self.sample_seed)
        examples = list(reader(**options)(nlp))
        if not examples:
            raise InputFormatError(self.path, f"no {self.format} example found")
        return examples


SAMPLED_FORMATS = ("sst2", "trec")
"""Formats whose readers take a fixed sample (``--sample``)."""


def data_spec(
    path: Union[str, Path], *, format: str, limit: int = 0, encoding: Optional[str] = None, sample: int = 0, sample_seed: int = 0
) -> DataSpec:
    """A checked :class:`DataSpec`: a known ``--format``, an existing file, a
    ``--limit`` >= 0, an encoding Python knows and a ``--sample`` only where the
    format has one (``UserError`` otherwise)."""
    if format not in FORMATS:
        raise UserError(f"--format: expected one of {', '.join(FORMATS)}, found {format!r}")
    check_count(limit, "--limit", zero="all")
    check_count(sample, "--sample", zero="all rows")
    if sample and format not in SAMPLED_FORMATS:
        raise UserError(f"--sample: only the {' and '.join(SAMPLED_FORMATS)} readers take a fixed sample, not {format}")
    if encoding is not None:
        check_encoding(encoding)
    try:
        return DataSpec(existing_file(path), format, limit, encoding, sample, sample_seed)
    except UserError as err:
        raise UserError(f"{err} (the DATA file to evaluate on)") from None


# -- label maps -------------------------------------------------------------------------


def resolve_label_map(value: Union[None, str, Mapping[str, Optional[str]]]) -> Optional[LabelMap]:
    """The label map ``value`` stands for: None, a built-in name (:data:`LABEL_MAPS`),
    a JSON object (``{"PERSON": "PER", "DATE": null}``, given inline or as the
    path of a ``.json`` file) or a mapping. Labels mapped to null, and labels
    the map does not name, are dropped."""
    if value is None:
        return None
    if isinstance(value, str):
        if value in LABEL_MAPS:
            return dict(LABEL_MAPS[value])
        text = value
        if not value.lstrip().startswith("{"):
            if not Path(value).is_file():
                raise UserError(
                    f"--label-map: {value!r} is neither a built-in map ({', '.join(LABEL_MAPS)}), "
                    "a JSON object nor a JSON file"
                )
            text = Path(value).read_text(encoding="utf-8")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"--label-map: expected a JSON object of label -> label or null ({err})") from None
    if not isinstance(value, Mapping) or not all(
        isinstance(key, str) and (target is None or isinstance(target, str)) for key, target in value.items()
    ):
        raise UserError("--label-map: expected a JSON object mapping each predicted label to a data label or null")
    return {key: target for key, target in value.items() if target}


def check_label_map_task(label_map: Optional[LabelMap], data: DataSpec) -> None:
    """A label map is for NER data only."""
    if label_map is not None and data.task != NER:
        raise UserError(f"--label-map: maps NER labels, but {data.format} is text classification data; drop it")


def map_entities(doc: Doc, label_map: LabelMap) -> Doc:
    """``doc`` with each entity relabelled by ``label_map``; entities whose label it does not map are dropped."""
    doc.ents = [Span(doc, ent.start, ent.end, label=label_map[ent.label_]) for ent in doc.ents if ent.label_ in label_map]
    return doc


# -- the pipelines -------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineRef:
    """A pipeline to load: ``source`` as the user gave it, ``folder`` (the
    pipeline's data on disk) and ``name`` (a train output's folder name, the
    package name or the folder name)."""

    source: str
    folder: Path
    name: str
    package: bool = False


def resolve_pipeline(source: Union[str, Path]) -> PipelineRef:
    """The pipeline ``source`` names: a pipeline folder (``config.cfg`` and
    ``meta.json``), a ``spacy train --output`` folder (its ``model-best``), or an
    installed package; ``UserError`` for anything else."""
    shown = str(source)
    path = resolve_run(Path(source))
    if path.is_dir():
        missing = [name for name in ("config.cfg", "meta.json") if not (path / name).is_file()]
        if missing:
            raise UserError(
                f"{shown}: not a spaCy pipeline folder (no {' or '.join(missing)}); "
                "give a folder saved by nlp.to_disk or spacy train (model-best), or an installed package"
            )
        trained = path.name in ("model-best", "model-last")
        return PipelineRef(shown, path, path.parent.name if trained else path.name)
    if not path.exists() and spacy.util.is_package(shown):
        return PipelineRef(shown, Path(spacy.util.get_package_path(shown)), shown, package=True)
    raise UserError(f"{shown}: no such pipeline folder or installed pipeline package (PIPELINE)")


def load_pipeline(pipeline: PipelineRef) -> Language:
    """``spacy.load`` the pipeline."""
    return spacy.load(pipeline.source if pipeline.package else pipeline.folder)


def components_assigning(nlp: Language, attribute: str) -> List[str]:
    """Names of the pipeline's components that set ``attribute`` (``doc.ents``, ``doc.cats``)."""
    return [name for name in nlp.pipe_names if attribute in nlp.get_pipe_meta(name).assigns]


def pipeline_labels(nlp: Language, components: Iterable[str]) -> List[str]:
    """The sorted labels of ``components``."""
    return sorted({label for name in components for label in getattr(nlp.get_pipe(name), "labels", ())})


def check_labels(
    nlp: Language, pipeline: PipelineRef, data: DataSpec, examples: Sequence[Example], label_map: Optional[LabelMap]
) -> Dict[str, Any]:
    """Raise ``UserError`` unless the pipeline can be scored on ``examples``:
    NER data needs a component that sets ``doc.ents`` with a (mapped) label
    among the data's types; text classification a component that sets
    ``doc.cats`` with every class of the data. Returns what was compared."""
    attribute = "doc.ents" if data.task == NER else "doc.cats"
    components = components_assigning(nlp, attribute)
    if not components:
        raise UserError(
            f"{pipeline.source}: no component sets {attribute} (pipeline: {', '.join(nlp.pipe_names) or 'empty'}), "
            f"so it cannot be scored on {data.format} data; give a {data.task} pipeline or the --format of its task"
        )
    labels = pipeline_labels(nlp, components)
    if data.task == NER:
        wanted = sorted({ent.label_ for eg in examples for ent in eg.reference.ents})
        predicted = sorted({label_map[label] for label in labels if label in label_map}) if label_map is not None else labels
        if not set(predicted) & set(wanted):
            through = f", mapped by --label-map to {predicted}," if label_map is not None else ""
            raise UserError(
                f"{pipeline.source}: its NER labels {labels}{through} share none with the {data.format} data's types "
                f"{wanted}; pass --label-map (e.g. ontonotes-to-conll) or evaluate on data of its labels"
            )
    else:
        wanted = sorted({label for eg in examples for label in eg.reference.cats})
        predicted = labels
        absent = [label for label in wanted if label not in labels]
        if absent:
            raise UserError(
                f"{pipeline.source}: its textcat labels {labels} lack the {data.format} data's classes {absent}; "
                "evaluate a pipeline trained on this dataset's labels"
            )
    return {
        "components": components,
        "pipeline": labels,
        "predicted": predicted,
        "data": wanted,
        "unscored": sorted(set(predicted) - set(wanted)),
        "never_predicted": sorted(set(wanted) - set(predicted)),
    }


def run_pipeline(
    nlp: Language, examples: Sequence[Example], *, batch_size: Optional[int] = None
) -> Tuple[List[Example], float]:
    """Run ``nlp`` on copies of the examples' predicted docs: the scored
    examples and the seconds the run took (``nlp.pipe``, loading excluded)."""
    docs = [eg.predicted.copy() for eg in examples]
    started = time.perf_counter()
    # progress on a terminal only (tqdm's disable=None): stderr, so the JSON on stdout stays clean
    done = list(tqdm(nlp.pipe(docs, batch_size=batch_size), total=len(docs), desc="evaluating", unit="doc", disable=None, leave=False))
    seconds = time.perf_counter() - started
    return [Example(doc, eg.reference) for doc, eg in zip(done, examples)], seconds


def score_ner(examples: Sequence[Example]) -> Dict[str, Any]:
    """``ents_p``, ``ents_r``, ``ents_f`` and ``ents_per_type`` (``{type: {p, r, f}}``)."""
    return dict(get_ner_prf(examples))


def score_textcat(nlp: Language, component: str, examples: Sequence[Example]) -> Dict[str, Any]:
    """The component's ``cats_*`` scores plus ``cats_accuracy``: the share of
    docs whose highest-scoring class (among the data's classes) is the gold
    class (a doc without a single gold class is not counted)."""
    scores = dict(nlp.get_pipe(component).score(examples))
    correct = total = 0
    for eg in examples:
        gold = [label for label, value in eg.reference.cats.items() if value == 1.0]
        if len(gold) != 1:
            continue
        predicted = max(eg.reference.cats, key=lambda label: eg.predicted.cats.get(label, 0.0))
        correct += predicted == gold[0]
        total += 1
    scores["cats_accuracy"] = correct / total if total else None
    return scores


# -- resources and provenance ------------------------------------------------------------------


def peak_rss_bytes() -> int:
    """The peak resident set size of this process so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes; Linux: KiB


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path`` (symlinks not followed)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            file_path = os.path.join(root, name)
            if not os.path.islink(file_path):
                total += os.path.getsize(file_path)
    return total


def model_fingerprint(path: Path) -> str:
    """sha256 of the files under ``path`` by relative path, size and modification time: a
    pipeline trained again, or changed in place, gets a new one (so does a copy, which is
    only conservative). Reads no file's content, so it is cheap for a 90 MB model."""
    entries = []
    for root, _, files in os.walk(path):
        for name in files:
            file_path = os.path.join(root, name)
            if not os.path.islink(file_path):
                stat = os.stat(file_path)
                entries.append((os.path.relpath(file_path, path), stat.st_size, stat.st_mtime_ns))
    return hashlib.sha256(json.dumps(sorted(entries)).encode("utf-8")).hexdigest()


def training_record(pipeline: PipelineRef) -> Dict[str, Any]:
    """``steps`` and ``seconds`` of the training that made the pipeline, None where unrecorded.

    Read from ``meta.json``'s ``"training": {"steps", "seconds"}`` when a tool
    wrote it. Otherwise, for a ``model-best``/``model-last`` of a ``spacy train --output``
    folder: ``seconds`` from the benchmarks' ``<output>.seconds`` stamp (spaCy records no
    training time), ``steps`` the steps trained: where spaCy stopped a finished run, by
    its config's ``max_steps`` and ``patience`` replayed on its curve
    (:func:`training_curve`: ``log.csv``, else the console log), or the last scored
    step of a run still training. ``source`` names the files read."""
    record: Dict[str, Any] = {"steps": None, "seconds": None, "source": None}
    meta_path = pipeline.folder / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    training = meta.get("training") if isinstance(meta, dict) else None
    if isinstance(training, dict) and (training.get("steps") is not None or training.get("seconds") is not None):
        return {"steps": training.get("steps"), "seconds": training.get("seconds"), "source": str(meta_path)}
    if pipeline.folder.name not in ("model-best", "model-last"):
        return record
    output = pipeline.folder.parent
    sources = []
    record["seconds"] = stamp_seconds(output)
    if record["seconds"] is not None:
        sources.append(str(output.with_suffix(".seconds")))
    curve, curve_source = _curve_with_source(output)
    if curve:
        record["steps"] = _steps_trained(pipeline.folder, curve) if training_finished(output) else curve[-1]["step"]
        sources.append(str(curve_source))
    return {**record, "source": ", ".join(sources) or None}


def stamp_seconds(output: Path) -> Optional[float]:
    """The seconds in the ``<output>.seconds`` stamp the benchmarks write beside a finished
    ``spacy train --output`` folder; None without a readable one."""
    try:
        return float(Path(output).with_suffix(".seconds").read_text().strip())
    except (OSError, ValueError):
        return None


def _steps_trained(model: Path, curve: Sequence[Mapping[str, Any]]) -> int:
    """The steps a finished run trained: where spaCy's loop stopped it
    (``spacy.training.loop.train_while_improving``: after every step, stop once ``patience``
    steps have passed since the best score so far, the earliest of equal ones, or at
    ``max_steps``), replayed on the scored steps of its ``curve``. spaCy scores no last
    step, so the last scored one alone cannot tell. A run with neither limit (stopped by
    ``max_epochs``) counts its last scored step."""
    last = curve[-1]["step"]
    try:
        training = load_config(model / "config.cfg", interpolate=True).get("training", {})
        max_steps, patience = int(training.get("max_steps") or 0), int(training.get("patience") or 0)
    except (OSError, ValueError, TypeError, ConfigValidationError):
        return last
    best_score, best_step = None, 0
    for i, row in enumerate(curve):
        if best_score is None or row["score"] > best_score:
            best_score, best_step = row["score"], row["step"]
        limits = [limit for limit in (max_steps, best_step + patience if patience else 0) if limit > 0]
        if not limits:
            continue
        stop = max(min(limits), row["step"])
        if i + 1 == len(curve) or stop < curve[i + 1]["step"]:
            return stop
    return last


def training_finished(output: Path) -> bool:
    """Whether the ``spacy train --output`` folder holds a finished run. spaCy writes
    ``model-last`` and ``model-best`` at every evaluation, so they cannot tell: a run is
    finished when the benchmarks' ``<output>.seconds`` stamp exists (written after a run
    returns), or when its console log (:data:`TRAINING_LOGS`) ends with spaCy's "Saved
    pipeline to output directory"; a run with a log that does not is still training (or
    was stopped). A folder with neither (trained elsewhere) counts as finished."""
    output = Path(output)
    if not (output / "model-best" / "meta.json").is_file() and not (output / "meta.json").is_file():
        return False
    if output.with_suffix(".seconds").is_file():
        return True
    for pattern in TRAINING_LOGS:
        log = Path(pattern.format(output=output))
        if log.is_file():
            return _FINISHED in _ANSI.sub("", log.read_text(encoding="utf-8", errors="replace"))[-2000:]
    return True


def log_rows(output: Path) -> List[Dict[str, Any]]:
    """The rows of a run's ``log.csv`` (``spacy-lm-suite.ConsoleLogger.v1`` with
    ``csv_file``): step, seconds (None in logs written before that column) and the
    score as a fraction; empty for a run without one."""
    path = Path(output) / "log.csv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        return [{"step": int(row["step"]), "seconds": float(row["seconds"]) if row.get("seconds") else None,
                 "score": float(row["score"])} for row in csv.DictReader(f) if row.get("score")]


def console_rows(path: Path) -> List[Dict[str, Any]]:
    """The score rows of a ``spacy train`` console log: step (the ``#`` column), seconds
    (None: the console has none) and score (the last column, a fraction)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        line = _ANSI.sub("", line)
        if _LOG_ROW.match(line):
            cells = line.split()
            try:
                rows.append({"step": int(cells[1]), "seconds": None, "score": float(cells[-1])})
            except ValueError:
                continue
    return rows


def _curve_with_source(output: Path) -> Tuple[List[Dict[str, Any]], Optional[Path]]:
    rows = log_rows(output)
    if rows:
        return rows, Path(output) / "log.csv"
    for pattern in TRAINING_LOGS:
        log = Path(pattern.format(output=output))
        if log.is_file():
            rows = console_rows(log)
            if rows:
                return rows, log
    return [], None


def training_curve(output: Path) -> List[Dict[str, Any]]:
    """The dev curve of a ``spacy train --output`` folder, as rows of step, seconds (None
    where unknown) and score (a fraction): its ``log.csv`` (:func:`log_rows`), else its
    console log (:data:`TRAINING_LOGS`, :func:`console_rows`); empty without either."""
    return _curve_with_source(output)[0]


# -- evaluating -----------------------------------------------------------------------------


def evaluate_pipeline(
    pipeline: Union[str, Path, PipelineRef],
    data: DataSpec,
    *,
    label_map: Optional[LabelMap] = None,
    batch_size: Optional[int] = None,
) -> Dict[str, Any]:
    """Evaluate one pipeline on ``data`` in this process (``peak_rss_bytes`` is
    then the process's peak, which includes whatever ran before)."""
    ref = pipeline if isinstance(pipeline, PipelineRef) else resolve_pipeline(pipeline)
    check_label_map_task(label_map, data)
    nlp = load_pipeline(ref)
    examples = data.read(nlp)
    labels = check_labels(nlp, ref, data, examples, label_map)
    scored, seconds = run_pipeline(nlp, examples, batch_size=batch_size)
    if data.task == NER:
        if label_map is not None:
            for eg in scored:
                map_entities(eg.predicted, label_map)
        scores = score_ner(scored)
    else:
        scores = score_textcat(nlp, labels["components"][-1], scored)
    words = sum(len(eg.predicted) for eg in scored)
    return {
        "pipeline": ref.source,
        "name": ref.name,
        "folder": str(ref.folder),
        "task": data.task,
        "label_map": label_map,
        "labels": labels,
        "docs": len(scored),
        "words": words,
        "scores": scores,
        "seconds": seconds,
        "words_per_second": words / seconds if seconds > 0 else None,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_rss_scope": "process",
        "size_bytes": folder_size(ref.folder),
        "training": training_record(ref),
        "fingerprint": model_fingerprint(ref.folder),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _evaluate_isolated(pipeline: PipelineRef, data: DataSpec, label_map: Optional[LabelMap], batch_size: Optional[int]) -> Tuple[str, Any]:
    """:func:`evaluate_pipeline` in a fresh process; a user mistake comes back as its message."""
    try:
        result = evaluate_pipeline(pipeline, data, label_map=label_map, batch_size=batch_size)
    except UserError as err:
        return "error", str(err)
    result["peak_rss_scope"] = "pipeline"
    return "ok", result


def _data_record(data: DataSpec) -> Dict[str, Any]:
    """The report's ``data``: what a result was measured on."""
    return {"path": str(data.path), "format": data.format, "task": data.task, "limit": data.limit, "encoding": data.encoding,
            "sample": data.sample, "sample_seed": data.sample_seed}


def current_results(
    previous: Optional[Mapping[str, Any]], refs: Sequence[PipelineRef], data: DataSpec, *,
    label_map: Optional[LabelMap], batch_size: Optional[int], isolate: bool,
) -> Dict[str, Dict[str, Any]]:
    """folder (as ``refs`` name it) -> the result of ``previous`` (an earlier report) that still holds for it:
    measured on the same data (path, format, limit, encoding, sample), with the same label
    map, batch size and isolation, on a folder whose :func:`model_fingerprint` is unchanged.
    A result without a fingerprint (a report from before they were kept) never holds."""
    if not isinstance(previous, Mapping) or previous.get("format") != REPORT_FORMAT:
        return {}
    same_setting = (previous.get("data") == _data_record(data) and previous.get("batch_size") == batch_size
                    and previous.get("isolate") == isolate)
    if not same_setting:
        return {}
    wanted = {os.path.abspath(ref.folder): str(ref.folder) for ref in refs}  # however each was spelled
    kept: Dict[str, Dict[str, Any]] = {}
    for result in previous.get("pipelines") or ():
        folder = result.get("folder") if isinstance(result, Mapping) else None
        ours = wanted.get(os.path.abspath(folder)) if isinstance(folder, str) else None
        if ours and result.get("fingerprint") and result.get("label_map") == label_map \
                and result["fingerprint"] == model_fingerprint(Path(ours)):
            kept[ours] = dict(result)
    return kept


def evaluate_pipelines(
    pipelines: Sequence[Union[str, Path]],
    data: DataSpec,
    *,
    label_map: Union[None, str, Mapping[str, Optional[str]]] = None,
    batch_size: Optional[int] = None,
    isolate: bool = False,
    previous: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """Evaluate every pipeline on ``data``: the JSON report (see ``docs/evaluate.md``).

    Every pipeline is resolved first, so a bad name fails before any work.
    isolate: run each pipeline in a fresh process, so its ``peak_rss_bytes``
    is its own (``peak_rss_scope: "pipeline"``) rather than this process's.
    previous: an earlier report; its results that still hold (:func:`current_results`)
    are kept as they are instead of measured again (``kept`` in the report names them).
    """
    if not pipelines:
        raise UserError("PIPELINE: give at least one pipeline folder or package name")
    if batch_size is not None and batch_size < 1:
        raise UserError(f"--batch-size: expected at least 1, found {batch_size}")
    resolved_map = resolve_label_map(label_map)
    check_label_map_task(resolved_map, data)
    refs = [resolve_pipeline(pipeline) for pipeline in pipelines]
    kept = current_results(previous, refs, data, label_map=resolved_map, batch_size=batch_size, isolate=isolate)
    todo = [ref for ref in refs if str(ref.folder) not in kept]
    if isolate:
        measured = _run_isolated(todo, data, resolved_map, batch_size)
    else:
        measured = [evaluate_pipeline(ref, data, label_map=resolved_map, batch_size=batch_size) for ref in todo]
    fresh = iter(measured)
    results = [kept[str(ref.folder)] if str(ref.folder) in kept else next(fresh) for ref in refs]
    return {
        "format": REPORT_FORMAT,
        "version": 1,
        "scale": "fraction",
        "data": _data_record(data),
        "batch_size": batch_size,
        "isolate": isolate,
        "kept": [result["name"] for result in results if result["folder"] in kept],
        "pipelines": results,
        "groups": group_by_config(results),
    }


def _run_isolated(
    refs: Sequence[PipelineRef], data: DataSpec, label_map: Optional[LabelMap], batch_size: Optional[int]
) -> List[Dict[str, Any]]:
    """One fresh (spawned) process per pipeline, one after the other."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    results = []
    for ref in refs:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            status, value = pool.submit(_evaluate_isolated, ref, data, label_map, batch_size).result()
        if status == "error":
            raise UserError(value)
        results.append(value)
    return results


# -- seeds ---------------------------------------------------------------------------------


def config_key(folder: Path) -> Optional[str]:
    """The pipeline's ``config.cfg`` (not interpolated) without its seeds
    (:data:`SEED_KEYS`), as canonical JSON; None without a config."""
    path = folder / "config.cfg"
    if not path.is_file():
        return None
    config = spacy.util.load_config(path, interpolate=False)
    for section, key in SEED_KEYS:
        if isinstance(config.get(section), dict):
            config[section].pop(key, None)
    return json.dumps(config, sort_keys=True, default=str)


def flat_scores(result: Mapping[str, Any]) -> Dict[str, float]:
    """The numbers of one result that seeds are averaged over: the headline
    scores, the per-type F scores (``ents_f:PER``) and the words/s."""
    flat: Dict[str, float] = {}
    for key, value in result["scores"].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[key] = float(value)
        elif key.endswith("_per_type") and isinstance(value, dict):
            prefix = key[: -len("_per_type")]
            for label, prf in value.items():
                if isinstance(prf, dict) and isinstance(prf.get("f"), (int, float)):
                    flat[f"{prefix}:{label}"] = float(prf["f"])
    if result.get("words_per_second") is not None:
        flat["words_per_second"] = float(result["words_per_second"])
    return flat


def summarize(values: Sequence[float]) -> Dict[str, Any]:
    """Values with their mean and sample standard deviation (0 for one value)."""
    return {
        "values": list(values),
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


def group_by_config(results: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Results grouped by config (seeds aside), in first-seen order, each with
    the mean ± std of every number all its members have. A pipeline without a
    config is a group of its own."""
    groups: Dict[str, List[Mapping[str, Any]]] = {}
    for index, result in enumerate(results):
        key = config_key(Path(result["folder"])) or f"#{index}"
        groups.setdefault(key, []).append(result)
    summaries = []
    for members in groups.values():
        flats = [flat_scores(member) for member in members]
        shared = [key for key in flats[0] if all(key in flat for flat in flats)]
        names = {_SEED_SUFFIX.sub("", member["name"]) for member in members}
        summaries.append(
            {
                "name": names.pop() if len(names) == 1 else members[0]["name"],
                "pipelines": [member["pipeline"] for member in members],
                "n": len(members),
                "metrics": {key: summarize([flat[key] for flat in flats]) for key in shared},
            }
        )
    return summaries


# -- converting ------------------------------------------------------------------------------


def convert_data(data: DataSpec, output: Union[str, Path], *, lang: str = "en", overwrite: bool = False) -> Dict[str, Any]:
    """Write the reference docs of ``data`` (entities and sentence starts, or
    ``cats``) to a ``.spacy`` DocBin for ``spacy evaluate``, ``spacy debug data``
    and ``spacy benchmark accuracy``; returns what was written."""
    from .vectors.loading import blank_pipeline

    output = Path(output)
    if output.suffix != ".spacy":
        raise UserError(f"{output}: OUTPUT must end in .spacy (spaCy's corpus reader only reads such files)")
    check_output_file(output, overwrite=overwrite, what=".spacy file")
    nlp = blank_pipeline(lang)
    examples = data.read(nlp)
    docs = DocBin(docs=[eg.reference for eg in examples], store_user_data=False)
    with atomic_write_file(output) as tmp:
        docs.to_disk(tmp)
    summary: Dict[str, Any] = {
        "output": str(output),
        "data": str(data.path),
        "format": data.format,
        "docs": len(examples),
        "words": sum(len(eg.reference) for eg in examples),
    }
    if data.task == NER:
        summary["entities"] = sum(len(eg.reference.ents) for eg in examples)
    else:
        summary["labels"] = sorted({label for eg in examples for label in eg.reference.cats})
    return summary

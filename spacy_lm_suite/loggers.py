"""``spacy-lm-suite.ConsoleLogger.v1``: spaCy's console logger with a column per auxiliary loss.

spaCy's ``ConsoleLogger`` makes one loss column per trainable pipe and
ignores every other key of ``losses``, so the auxiliary masked-LM loss of
``lm_transformer`` (``aux_loss``, logged under ``<name>_mlm``) would never be
seen. This logger wraps ``spacy.ConsoleLogger.v3`` (same options, same
table) and adds one column per component with an active auxiliary loss:
``mlm`` (``mlm <name>`` when several have one). The column is in the JSONL
``output_file`` as well, and ``csv_file`` writes the same rows as CSV, with
the training seconds and words so far (spaCy's JSONL has neither).

    [training.logger]
    @loggers = "spacy-lm-suite.ConsoleLogger.v1"
    progress_bar = null
    output_file = "training/log.jsonl"
    csv_file = "training/log.csv"
"""

import csv
import sys
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union

from spacy.util import registry
from wasabi import Printer


@registry.loggers("spacy-lm-suite.ConsoleLogger.v1")
def console_logger(
    progress_bar: Optional[str] = None,
    console_output: bool = True,
    output_file: Optional[Union[str, Path]] = None,
    csv_file: Optional[Union[str, Path]] = None,
):
    """progress_bar, console_output, output_file: as ``spacy.ConsoleLogger.v3``.
    csv_file: also write each logged row (epoch, step, losses, scores) to this CSV
    (like ``output_file``, not written if the file already exists)."""
    spacy_logger = registry.loggers.get("spacy.ConsoleLogger.v3")(
        progress_bar=progress_bar, console_output=console_output, output_file=output_file
    )

    def setup_printer(nlp, stdout: IO = sys.stdout, stderr: IO = sys.stderr) -> Tuple[Callable, Callable]:
        columns = aux_columns(nlp)
        log_step, finalize = spacy_logger(_WithAuxColumns(nlp, columns), stdout, stderr)
        table = _CsvLog(csv_file, nlp, columns, stdout) if csv_file else None

        def log_aux_step(info: Optional[Dict[str, Any]]) -> None:
            if info is not None:
                losses = dict(info["losses"])
                for key, column in columns:
                    losses[column] = float(losses.get(key, 0.0))
                info = {**info, "losses": losses}
                if table is not None:
                    table.write(info)
            log_step(info)

        def finalize_all() -> None:
            finalize()
            if table is not None:
                table.close()

        return log_aux_step, finalize_all

    return setup_printer


def aux_columns(nlp) -> List[Tuple[str, str]]:
    """``(losses key, column name)`` of each component whose auxiliary loss is on."""
    keys = [(name, proc.aux_loss_key) for name, proc in nlp.pipeline if getattr(proc, "aux_loss", None) is not None]
    if len(keys) == 1:
        return [(keys[0][1], "mlm")]
    return [(key, f"mlm {name}") for name, key in keys]


class _LoggedOnly:
    """Stands for an auxiliary loss in the pipe list spaCy's logger reads (trainable: one column)."""

    is_trainable = True
    model = None


class _WithAuxColumns:
    """``nlp`` as spaCy's logger sees it: the auxiliary columns follow their component."""

    def __init__(self, nlp, columns: List[Tuple[str, str]]) -> None:
        self._nlp = nlp
        self._columns = dict(columns)

    @property
    def pipeline(self):
        rows = []
        for name, proc in self._nlp.pipeline:
            rows.append((name, proc))
            key = getattr(proc, "aux_loss_key", None) if getattr(proc, "aux_loss", None) is not None else None
            if key in self._columns:
                rows.append((self._columns[key], _LoggedOnly()))
        return rows

    def __getattr__(self, attr: str):
        return getattr(self._nlp, attr)


class _CsvLog:
    """The logged rows as CSV: epoch, step, one loss per column of the table, scores, score,
    then ``seconds`` (training time so far) and ``words`` (words seen), for curves at
    equal wall-clock time as well as equal steps."""

    def __init__(self, path: Union[str, Path], nlp, columns: List[Tuple[str, str]], stdout: IO) -> None:
        self.path = Path(path)
        self.file = None
        pipes = [name for name, proc in _WithAuxColumns(nlp, columns).pipeline if getattr(proc, "is_trainable", False)]
        weights = nlp.config["training"]["score_weights"]
        self.losses = pipes
        self.scores = [col for col, value in weights.items() if value is not None]
        message = Printer(no_print=True)
        if self.path.exists():
            print(message.warn(f"Saving the CSV log is disabled because {self.path} already exists."), file=stdout, flush=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(["epoch", "step", *(f"loss {p}" for p in pipes), *self.scores, "score", "seconds", "words"])
        self.file.flush()

    def write(self, info: Dict[str, Any]) -> None:
        if self.file is None:
            return
        scores = []
        for col in self.scores:
            value = info["other_scores"].get(col, 0.0)
            scores.append(value if isinstance(value, (int, float)) else "")
        losses = [float(info["losses"].get(p, 0.0)) for p in self.losses]
        self.writer.writerow([info["epoch"], info["step"], *losses, *scores, info["score"],
                              info.get("seconds", ""), info.get("words", "")])
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

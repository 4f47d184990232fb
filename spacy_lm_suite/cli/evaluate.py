"""``evaluate``: score trained pipelines on data our readers read; ``convert``: that data as ``.spacy``."""

import json
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from . import app, choice_option
from ..errors import UserError
from ..evaluation import FORMATS, LABEL_MAPS, convert_data, data_spec, evaluate_pipelines
from ..runs.outputs import check_output_file, write_json_atomic

FORMAT_HELP = "Format of DATA: conll2003, wnut17 (NER), sst2, trec, jsonl (text classification)"
LIMIT_HELP = "Read only the first N docs of DATA (0: all)"
SAMPLE_HELP = ("Read only the fixed sample of N rows chosen by --sample-seed (sst2, trec: the held-out slice a training "
               "config's reader leaves out with complement = true; TREC has no dev file)")
ENCODING_HELP = "Encoding of DATA (default: the format's own, UTF-8 or Latin-1 for TREC; utf-8-or-latin-1 for mixed files)"


@app.command("evaluate")
def evaluate_command(
    args: List[str] = typer.Argument(..., metavar="PIPELINE... DATA", help="Pipeline folders, `spacy train --output` folders or installed packages, then the data file"),
    data_format: str = choice_option(None, "--format", "-f", choices=tuple(FORMATS), help=FORMAT_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the JSON report here (replaced atomically)"),
    label_map: Optional[str] = typer.Option(
        None, "--label-map", help=f"Map predicted NER labels onto the data's types: {', '.join(LABEL_MAPS)}, a JSON object or a .json file; unmapped labels are dropped"
    ),
    limit: int = typer.Option(0, "--limit", help=LIMIT_HELP),
    sample: int = typer.Option(0, "--sample", help=SAMPLE_HELP),
    sample_seed: int = typer.Option(0, "--sample-seed", help="Seed of --sample"),
    encoding: Optional[str] = typer.Option(None, "--encoding", help=ENCODING_HELP),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="nlp.pipe batch size (default: the pipeline's)"),
    isolate: bool = typer.Option(True, "--isolate/--no-isolate", help="Run each pipeline in a fresh process, so its peak RSS is its own"),
    keep_current: bool = typer.Option(
        False, "--keep-current", help="Keep the results already in --output that still hold (same DATA and options, the pipeline folder's files unchanged) instead of measuring them again"
    ),
) -> None:
    """Score pipelines on one data file: NER P/R/F per type or textcat accuracy and macro-F, words/s, peak RSS, size, training steps; seeds as mean ± std."""
    if data_format is None:
        raise UserError("--format: give the format of DATA, one of " + ", ".join(FORMATS))
    if len(args) < 2:
        raise UserError("PIPELINE... DATA: give at least one pipeline and then the data file")
    *pipelines, data_path = args
    if keep_current and output is None:
        raise UserError("--keep-current: give --output, the report whose current results are kept")
    if output is not None:
        check_output_file(output, overwrite=True, what="metrics file")
    data = data_spec(data_path, format=data_format, limit=limit, encoding=encoding, sample=sample, sample_seed=sample_seed)
    previous = _previous_report(output) if keep_current else None
    report = evaluate_pipelines(pipelines, data, label_map=label_map, batch_size=batch_size, isolate=isolate, previous=previous)
    msg.table(_rows(report), header=_header(data.task), divider=True)
    if report["kept"]:
        msg.info(f"Kept {len(report['kept'])} result(s) of {output} measured earlier, their folders unchanged: "
                 f"{', '.join(report['kept'])} (leave out --keep-current to measure them again)")
    for group in report["groups"]:
        if group["n"] > 1:
            metric = "ents_f" if data.task == "ner" else "cats_accuracy"
            summary = group["metrics"].get(metric)
            if summary is not None:
                msg.info(f"{group['name']}: {metric} {100 * summary['mean']:.2f} ± {100 * summary['std']:.2f} over {group['n']} seeds")
    if output is not None:
        write_json_atomic(output, report)
        msg.good(f"Wrote the metrics to {output}")
    else:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))


def _previous_report(output: Path) -> Optional[dict]:
    """The report at ``output`` (None when there is none yet, or the file is no report:
    it is replaced as without ``--keep-current``)."""
    try:
        report = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def _header(task: str) -> tuple:
    scores = ("P", "R", "F") if task == "ner" else ("accuracy", "macro F")
    return ("pipeline", *scores, "words/s", "peak RSS MB", "size MB", "steps")


def _rows(report: dict) -> List[tuple]:
    rows = []
    for result in report["pipelines"]:
        scores = result["scores"]
        keys = ("ents_p", "ents_r", "ents_f") if result["task"] == "ner" else ("cats_accuracy", "cats_macro_f")
        shown = [f"{100 * scores[key]:.2f}" if scores.get(key) is not None else "-" for key in keys]
        speed = result["words_per_second"]
        rows.append(
            (
                result["name"],
                *shown,
                f"{speed:,.0f}" if speed is not None else "-",
                f"{result['peak_rss_bytes'] / 2**20:.0f}",
                f"{result['size_bytes'] / 2**20:.1f}",
                result["training"]["steps"] if result["training"]["steps"] is not None else "-",
            )
        )
    return rows


@app.command("convert")
def convert_command(
    data_path: Path = typer.Argument(..., metavar="DATA", help="The data file"),
    output: Path = typer.Argument(..., metavar="OUTPUT", help="The .spacy file to write"),
    data_format: str = choice_option(None, "--format", "-f", choices=tuple(FORMATS), help=FORMAT_HELP),
    lang: str = typer.Option("en", "--lang", help="Language of the vocab (and tokenizer, for text classification data)"),
    limit: int = typer.Option(0, "--limit", help=LIMIT_HELP),
    sample: int = typer.Option(0, "--sample", help=SAMPLE_HELP),
    sample_seed: int = typer.Option(0, "--sample-seed", help="Seed of --sample"),
    encoding: Optional[str] = typer.Option(None, "--encoding", help=ENCODING_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUTPUT"),
) -> None:
    """Write DATA as a .spacy DocBin for `spacy evaluate`, `spacy debug data` and `spacy benchmark accuracy`."""
    if data_format is None:
        raise UserError("--format: give the format of DATA, one of " + ", ".join(FORMATS))
    data = data_spec(data_path, format=data_format, limit=limit, encoding=encoding, sample=sample, sample_seed=sample_seed)
    summary = convert_data(data, output, lang=lang, overwrite=overwrite)
    what = f"{summary['entities']} entities" if "entities" in summary else f"labels {', '.join(summary['labels'])}"
    msg.good(f"Wrote {summary['docs']} docs ({summary['words']} words, {what}) to {output}")

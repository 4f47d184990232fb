"""``annotate PIPELINE INPUT OUTPUT_DIR``: a corpus through a spaCy pipeline into shards."""

from typing import Optional

import typer
from wasabi import msg

from . import TEXT_FORMAT_OPTION, app, choice_option

OUTPUT_FORMATS = ("spacy", "jsonl")  # spacy_lm_suite.annotate.OUTPUT_FORMATS


@app.command("annotate")
def annotate_command(
    pipeline: str = typer.Argument(
        ..., metavar="PIPELINE", help="A saved spaCy pipeline folder (config.cfg, meta.json) or an installed pipeline package",
        show_default=False,
    ),
    input_path: str = typer.Argument(
        ..., metavar="INPUT", help="Text file, folder or glob (plain lines, blank-line paragraphs, .jsonl or .spacy)",
        show_default=False,
    ),
    output_dir: str = typer.Argument(
        ..., metavar="OUTPUT_DIR",
        help="Folder of shards shard-00000.spacy|.jsonl, annotate.json (the run's state) and our manifest",
        show_default=False,
    ),
    output_format: str = choice_option(
        "spacy", "--output-format", choices=OUTPUT_FORMATS,
        help="spacy: DocBin shards; jsonl: text, ents (char offsets, label), cats, generated",
    ),
    shard_size: int = typer.Option(10_000, "--shard-size", help="Docs per shard (the unit of resume and of memory)"),
    batch_size: int = typer.Option(64, "--batch-size", help="Docs per nlp.pipe batch (per Ray batch with --ray)"),
    n_process: int = typer.Option(1, "--n-process", help="nlp.pipe processes (Ray actors with --ray)"),
    text_format: str = TEXT_FORMAT_OPTION,
    field: str = typer.Option("text", "--field", help="The text field of JSONL input"),
    encoding: str = typer.Option("utf-8", "--encoding", help="Encoding of the input files (utf-8-or-latin-1: Latin-1 where a line is not UTF-8)"),
    limit: int = typer.Option(0, "--limit", help="Annotate only the first N texts (0: all)"),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in OUTPUT_DIR (same PIPELINE, INPUT and output settings)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier annotate output in OUTPUT_DIR (only its files)"),
    ray: bool = typer.Option(False, "--ray", help='Annotate on Ray Data (pip install "spacy-lm-suite[distributed]")'),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Join this Ray cluster (ray.init(address=...); implies --ray), e.g. auto or ray://head:10001"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar"),
) -> None:
    """Annotate a corpus with a spaCy pipeline into .spacy or JSONL shards: progress, bounded memory, --resume."""
    from ..annotate import annotate

    summary = annotate(
        pipeline, input_path, output_dir, output_format=output_format, shard_size=shard_size, batch_size=batch_size,
        n_process=n_process, text_format=text_format, field=field, encoding=encoding, limit=limit,
        resume=resume, overwrite=overwrite, ray=ray, ray_address=ray_address, progress=not quiet,
    )
    resumed = f" ({summary.resumed_shards} written earlier)" if summary.resumed_shards else ""
    msg.good(f"{summary.docs} docs in {summary.shards} shard(s){resumed} in {summary.output_dir} ({summary.seconds:.1f} s)")

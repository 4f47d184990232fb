"""``pretrain-elmo`` (an ELMo biLM on raw text, resumable, torchrun-aware) and ``export-elmo``."""

from pathlib import Path
from typing import Callable, List, Optional

import typer
from wasabi import msg

from . import TEXT_FORMAT_OPTION, app, choice_option
from ..errors import UserError
from ..extras import require
from .pretraining import (
    CLIP_OPTION, ENCODING_OPTION, EPOCHS_OPTION, LIMIT_OPTION, MAX_MINUTES_OPTION, MAX_STEPS_THIS_RUN_OPTION,
    SEED_OPTION, STEPS_OPTION, THREADS_OPTION, report_pretraining,
)

TOKENIZERS = ("spacy", "whitespace")
# spacy_lm_suite.elmo.config.PRESETS and DEFAULT_PRESET (kept here: --help imports no torch; tests/cli/test_user_path.py)
PRESETS = ("tiny", "small", "medium")
DEFAULT_PRESET = "medium"


def _tokenizer(name: str) -> Callable[[str], List[str]]:
    if name == "whitespace":
        return str.split
    if name == "spacy":
        import spacy

        tokenizer = spacy.blank("en").tokenizer
        return lambda text: [token.text for token in tokenizer(text) if not token.is_space]
    raise UserError(f"unknown tokenizer {name!r}, expected one of {', '.join(TOKENIZERS)}")


@app.command("pretrain-elmo")
def pretrain_elmo_command(
    input_path: str = typer.Argument(
        ..., metavar="INPUT", help="Raw text: a file, a folder or a glob (see --format)", show_default=False
    ),
    output_dir: Path = typer.Argument(
        ..., metavar="OUTPUT_DIR",
        help="Model, checkpoints, metrics.jsonl and curves.png: a new or empty folder, or a run to --resume",
        show_default=False
    ),
    preset: str = choice_option(
        DEFAULT_PRESET, "--preset", choices=PRESETS,
        help="Model shape: medium (the one pretrained here), small (AllenNLP's) or tiny (for tests)",
    ),
    config_path: Optional[Path] = typer.Option(None, "--config", help="An ELMo config.json (instead of --preset)"),
    vocab_size: int = typer.Option(50_000, "--vocab-size", help="Softmax vocabulary, with <unk>, <s>, </s>"),
    batch_size: int = typer.Option(64, "--batch-size", help="Sequences per batch (per process)"),
    seq_len: int = typer.Option(64, "--seq-len", help="Longest sequence; longer sentences are split"),
    steps: Optional[int] = STEPS_OPTION,
    epochs: float = EPOCHS_OPTION,
    lr: float = typer.Option(2e-3, "--lr", help="Adam learning rate (after warm-up; cosine decay to 10%)"),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Default: 5% of the steps, at most 1000"),
    clip: float = CLIP_OPTION,
    seed: int = SEED_OPTION,
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", help="Steps between checkpoints"),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Steps between dev evaluations"),
    log_every: int = typer.Option(50, "--log-every", help="Steps between metrics.jsonl records"),
    dev: Optional[str] = typer.Option(None, "--dev", help="Held-out raw text (default: hold out --dev-fraction)"),
    dev_fraction: float = typer.Option(0.01, "--dev-fraction", help="Share of sequences held out without --dev, in [0, 1) (0: none)"),
    resume: bool = typer.Option(False, "--resume", help="Continue the pretrain-elmo checkpoint in OUTPUT_DIR if there is one"),
    max_steps_this_run: Optional[int] = MAX_STEPS_THIS_RUN_OPTION,
    max_minutes: Optional[float] = MAX_MINUTES_OPTION,
    tokenizer: str = choice_option(
        "spacy", "--tokenizer", choices=TOKENIZERS, help="spacy: the blank English tokenizer; whitespace: split on spaces"
    ),
    text_format: str = TEXT_FORMAT_OPTION,
    encoding: str = ENCODING_OPTION,
    limit: Optional[int] = LIMIT_OPTION,
    threads: Optional[int] = THREADS_OPTION,
) -> None:
    """Pretrain ELMo as a bidirectional LM. Launch with torchrun for data parallelism."""
    require("matplotlib", "plots")  # for curves.png: fail now, not after the first checkpoint
    from ..elmo.config import ELMoConfig
    from ..elmo.pretrain import pretrain_elmo

    config = ELMoConfig.from_json(config_path) if config_path is not None else ELMoConfig.preset(preset)
    result = pretrain_elmo(
        texts=input_path,
        output_dir=output_dir,
        config=config,
        vocab_size=vocab_size,
        batch_size=batch_size,
        seq_len=seq_len,
        steps=steps,
        epochs=epochs,
        lr=lr,
        warmup_steps=warmup_steps,
        clip=clip,
        seed=seed,
        checkpoint_every=checkpoint_every,
        eval_every=eval_every,
        log_every=log_every,
        dev_texts=dev,
        dev_fraction=dev_fraction,
        resume=resume,
        max_steps_this_run=max_steps_this_run,
        max_minutes=max_minutes,
        tokenize=_tokenizer(tokenizer),
        text_format=text_format,
        encoding=encoding,
        limit=limit,
        threads=threads,
    )
    report_pretraining(
        result,
        done=f"Pretrained ELMo in {result.output_dir} ({result.step} steps)",
        speed=f"{result.tokens_per_second:.0f} tokens/s",
    )


@app.command("export-elmo")
def export_elmo_command(
    pretrain_dir: Path = typer.Argument(..., metavar="PRETRAIN_DIR", help="A pretrain-elmo output", show_default=False),
    output_dir: Path = typer.Argument(
        ..., metavar="OUTPUT_DIR", help="Where the encoder goes (new or empty)", show_default=False
    ),
    include_vocab: bool = typer.Option(False, "--vocab", help="Also copy vocab.json (only the LM head uses it)"),
    allow_unfinished: bool = typer.Option(False, "--allow-unfinished", help="Export a run that has not finished"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier export in OUTPUT_DIR (only its files; others are kept)"),
    command: Optional[str] = typer.Option(None, "--command", help="The pretraining command, for the record"),
) -> None:
    """Copy a pretrained ELMo encoder (config + weights, metrics, curves, provenance) out of its run."""
    from ..elmo.export import PROVENANCE_FILE, export_encoder

    record = export_encoder(
        pretrain_dir,
        output_dir,
        include_vocab=include_vocab,
        allow_unfinished=allow_unfinished,
        overwrite=overwrite,
        command=command,
    )
    dev = record["dev_perplexity"]
    msg.good(
        f"Exported step {record['step']} (dev perplexity {dev:.1f}) to {output_dir}"
        if dev is not None
        else f"Exported step {record['step']} to {output_dir}"
    )
    msg.text(f"Provenance: {output_dir / PROVENANCE_FILE}")

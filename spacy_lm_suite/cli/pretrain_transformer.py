"""``pretrain-transformer``: masked-LM (BERT) or causal-LM (GPT-2) pretraining on raw text, resumable, torchrun-aware."""

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from . import TEXT_FORMAT_OPTION, app, choice_option
from ..extras import require
from .pretraining import (
    CLIP_OPTION, ENCODING_OPTION, EPOCHS_OPTION, LIMIT_OPTION, MAX_MINUTES_OPTION, MAX_STEPS_THIS_RUN_OPTION,
    SEED_OPTION, STEPS_OPTION, THREADS_OPTION, report_pretraining,
)

# spacy_lm_suite.transformers.pretrain.OBJECTIVES and PRESETS (kept here: --help imports no torch; tests/cli/test_user_path.py)
OBJECTIVES = ("mlm", "clm")
PRESETS = ("tiny", "small")


@app.command("pretrain-transformer")
def pretrain_transformer_command(
    input_path: str = typer.Argument(
        ..., metavar="INPUT", help="Raw text: a file, a folder or a glob (see --format)", show_default=False
    ),
    output_dir: Path = typer.Argument(
        ..., metavar="OUTPUT_DIR",
        help="Run folder (checkpoints, metrics, curves; the final HF model and tokenizer): new or empty, or a run to --resume",
        show_default=False,
    ),
    objective: str = choice_option(
        "mlm", "--objective", choices=OBJECTIVES, help="mlm: BERT-style masked LM; clm: GPT-style causal LM"
    ),
    model: Optional[Path] = typer.Option(None, "--model", help="A Hugging Face model folder to continue pretraining"),
    preset: Optional[str] = choice_option(
        None, "--preset", choices=PRESETS, help="From scratch: a BERT (mlm) / GPT-2 (clm) of this size (default: tiny)"
    ),
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="With --preset: a HF tokenizer folder to use instead of training one"),
    vocab_size: int = typer.Option(8000, "--vocab-size", help="Vocabulary of the tokenizer trained for --preset"),
    max_length: int = typer.Option(128, "--max-length", help="Pieces per block (special pieces included)"),
    batch_size: int = typer.Option(16, "--batch-size", help="Blocks per step (per process)"),
    steps: Optional[int] = STEPS_OPTION,
    epochs: float = EPOCHS_OPTION,
    lr: float = typer.Option(5e-4, "--lr", help="AdamW peak learning rate (linear warm-up, linear decay to 0)"),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Default: 6% of the steps"),
    weight_decay: float = typer.Option(0.01, "--weight-decay", help="AdamW weight decay (not on biases and norms)"),
    clip: float = CLIP_OPTION,
    seed: int = SEED_OPTION,
    mlm_probability: float = typer.Option(0.15, "--mlm-probability", help="Share of pieces predicted (mlm)"),
    whole_word_masking: bool = typer.Option(False, "--whole-word-masking", help="Mask whole WordPiece words (mlm, BERT tokenizers)"),
    head_warmup_steps: int = typer.Option(0, "--head-warmup-steps", help="First K steps train the LM head only; dev perplexity then is 'before'"),
    checkpoint_every: int = typer.Option(200, "--checkpoint-every", help="Steps between checkpoints"),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Steps between dev evaluations (default: --checkpoint-every)"),
    log_every: int = typer.Option(20, "--log-every", help="Steps between metrics.jsonl records"),
    dev: Optional[str] = typer.Option(None, "--dev", help="Held-out raw text (default: hold out --dev-fraction of the blocks)"),
    dev_fraction: float = typer.Option(0.02, "--dev-fraction", help="Share of blocks held out without --dev, in [0, 1)"),
    resume: bool = typer.Option(False, "--resume", help="Continue the pretrain-transformer run in OUTPUT_DIR"),
    max_steps_this_run: Optional[int] = MAX_STEPS_THIS_RUN_OPTION,
    max_minutes: Optional[float] = MAX_MINUTES_OPTION,
    text_format: str = TEXT_FORMAT_OPTION,
    encoding: str = ENCODING_OPTION,
    limit: Optional[int] = LIMIT_OPTION,
    threads: Optional[int] = THREADS_OPTION,
) -> None:
    """Pretrain a BERT (mlm) or GPT-2 (clm) on raw text, from scratch or continued. Launch with torchrun for DDP."""
    require("matplotlib", "plots")  # for curves.png: fail now, not after the first checkpoint
    from ..transformers.pretrain import pretrain_transformer

    result = pretrain_transformer(
        texts=input_path, output_dir=output_dir, objective=objective, model=model, preset=preset, tokenizer=tokenizer,
        vocab_size=vocab_size, max_length=max_length, batch_size=batch_size, steps=steps, epochs=epochs, lr=lr,
        warmup_steps=warmup_steps, weight_decay=weight_decay, clip=clip, seed=seed, mlm_probability=mlm_probability,
        whole_word_masking=whole_word_masking, head_warmup_steps=head_warmup_steps, checkpoint_every=checkpoint_every,
        eval_every=eval_every, log_every=log_every, dev_texts=dev, dev_fraction=dev_fraction, resume=resume,
        max_steps_this_run=max_steps_this_run, max_minutes=max_minutes, text_format=text_format, encoding=encoding,
        limit=limit, threads=threads, command=shlex.join(["spacy-lm-suite", *sys.argv[1:]]),
    )
    report_pretraining(
        result,
        done=f"Pretrained ({objective}) in {result.output_dir} ({result.step} steps); it loads with from_pretrained",
        speed=f"{result.pieces_per_second:.0f} pieces/s",
    )

"""What the pretraining commands (``pretrain-elmo``, ``pretrain-transformer``) share:
the options that mean the same in both, and the summary rank 0 prints at the end."""

import os

import typer
from wasabi import msg

# typer reads each OptionInfo afresh per command, so one definition serves both.
STEPS_OPTION = typer.Option(None, "--steps", help="Total optimizer steps (default: --epochs)")
EPOCHS_OPTION = typer.Option(1.0, "--epochs", help="Passes over the data, if --steps is not given")
CLIP_OPTION = typer.Option(1.0, "--clip", help="Gradient-norm clipping")
SEED_OPTION = typer.Option(0, "--seed")
MAX_STEPS_THIS_RUN_OPTION = typer.Option(None, "--max-steps-this-run", help="Stop after this many steps")
MAX_MINUTES_OPTION = typer.Option(None, "--max-minutes", help="Stop (after a checkpoint) after this time")
ENCODING_OPTION = typer.Option("utf-8", "--encoding", help="Text encoding of the input files")
LIMIT_OPTION = typer.Option(None, "--limit", help="Read at most this many texts")
THREADS_OPTION = typer.Option(None, "--threads", help="Torch threads per process (default: torch's)")


def report_pretraining(result, *, done: str, speed: str) -> None:
    """Print how a pretraining run ended (rank 0 only under torchrun): ``done`` when it
    finished, the --resume hint when it stopped early, then perplexities and ``speed``."""
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if result.finished:
        msg.good(done)
    else:
        msg.info(f"Stopped at step {result.step} of {result.total_steps}; run again with --resume to continue")
    dev_text = f"{result.dev_perplexity:.1f}" if result.dev_perplexity is not None else "n/a"
    train_text = f"{result.train_perplexity:.1f}" if result.train_perplexity is not None else "n/a"
    msg.text(f"train perplexity {train_text}, dev perplexity {dev_text}, {speed}")

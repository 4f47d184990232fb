"""The ``spacy-lm-suite`` command line (``python -m spacy_lm_suite``).

One typer app; each command is a thin function in a module of this package
that parses arguments and calls the library. User mistakes
(:class:`~spacy_lm_suite.errors.UserError`) are printed as one clear line
with exit code 1, never as a traceback.
"""

import sys
from typing import Any, Optional, Sequence

import typer
from wasabi import msg

from ..data.rawtext import FORMATS as TEXT_FORMATS  # no numpy or spaCy: --help stays fast
from ..errors import UserError

app = typer.Typer(
    name="spacy-lm-suite",
    help="Static vectors, ELMo and transformer encoders for spaCy pipelines.",
    no_args_is_help=True,
    add_completion=False,
)


class BadChoice(Exception):
    """A value outside a :class:`Choice` (not a ``ValueError``: click would turn
    that into its usage box); :func:`main` prints it as a ``UserError``."""

    def __init__(self, error: UserError) -> None:
        super().__init__(str(error))
        self.error = error


class Choice:
    """A fixed set of option values: the parser of :func:`choice_option`.
    Another value is a one-line ``UserError`` naming the option (not click's
    usage box with exit 2)."""

    def __init__(self, choices: Sequence[str], *, option: str) -> None:
        self.choices = tuple(choices)
        self.option = option

    def __call__(self, value: Any) -> Any:
        if value is None or value in self.choices:
            return value
        raise BadChoice(UserError(f"{self.option}: expected one of {', '.join(self.choices)}, found {value!r}"))


def choice_option(default: Optional[str], *names: str, choices: Sequence[str], help: str) -> Any:
    """A ``typer.Option`` whose values are ``choices``, listed in ``--help``."""
    option = max(names, key=len)
    return typer.Option(
        default, *names, parser=Choice(choices, option=option), metavar="[" + "|".join(choices) + "]", help=help
    )


# How every command that reads raw text reads it (typer reads each OptionInfo afresh per command).
TEXT_FORMAT_OPTION = choice_option(
    "auto", "--format", choices=TEXT_FORMATS,
    help="How to read INPUT: by extension (auto), lines, blank-line paragraphs, jsonl or spacy (DocBin)",
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"spacy-lm-suite {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit"
    ),
) -> None:
    """Static vectors, ELMo and transformer encoders for spaCy pipelines."""


def _register_commands() -> None:
    # Each module adds its commands to ``app`` on import.
    from . import elmo, report, train_vectors, vectors  # noqa: F401
    from . import generate  # noqa: F401
    from . import pretrain_transformer  # noqa: F401
    from . import annotate  # noqa: F401
    from . import evaluate  # noqa: F401


def main() -> None:
    _register_commands()
    try:
        app()
    except (UserError, BadChoice) as err:
        msg.fail(str(err))
        sys.exit(1)

"""The ``spacy-lm-suite`` command line (``python -m spacy_lm_suite``).

One typer app; each command is a thin function in a module of this package
that parses arguments and calls the library. User mistakes
(:class:`~spacy_lm_suite.errors.UserError`) are printed as one clear line
with exit code 1, never as a traceback.
"""

import sys

import typer
from wasabi import msg

from ..errors import UserError

app = typer.Typer(
    name="spacy-lm-suite",
    help="Static vectors, ELMo and transformer encoders for spaCy pipelines.",
    no_args_is_help=True,
    add_completion=False,
)


def _register_commands() -> None:
    # Each module adds its commands to ``app`` on import.
    from . import elmo, report, train_vectors, vectors  # noqa: F401
    from . import generate  # noqa: F401
    from . import pretrain_transformer  # noqa: F401


def main() -> None:
    _register_commands()
    try:
        app()
    except UserError as err:
        msg.fail(str(err))
        sys.exit(1)

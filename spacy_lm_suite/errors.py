"""Errors raised for user mistakes: bad files, bad settings, bad arguments.

Every message names what was wrong and where (file, line) and what was
expected, so the CLI can print it without a traceback.
"""

from pathlib import Path
from typing import Optional, Union


class UserError(ValueError):
    """A mistake in the user's input or settings, with a message fit to print."""


class InputFormatError(UserError):
    """A file that does not have the expected format.

    The message reads ``path:line: expected ..., found ...``.
    """

    def __init__(
        self,
        path: Union[str, Path],
        message: str,
        *,
        line: Optional[int] = None,
        found: Optional[str] = None,
    ) -> None:
        location = f"{path}:{line}" if line is not None else f"{path}"
        text = f"{location}: {message}"
        if found is not None:
            shown = found if len(found) <= 80 else found[:77] + "..."
            text += f" (found {shown!r})"
        super().__init__(text)
        self.path = Path(path)
        self.line = line


class MissingExtraError(UserError):
    """A feature whose optional extra is not installed; the message names the ``pip install``."""

    def __init__(self, module: str, extra: str, cause: Optional[BaseException] = None) -> None:
        reason = f" ({cause})" if cause is not None and str(cause) else ""
        super().__init__(
            f"this needs {module}, which is not installed{reason}: "
            f'pip install "spacy-lm-suite[{extra}]"'
        )
        self.module = module
        self.extra = extra

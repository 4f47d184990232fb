"""Checks of numeric options, shared by every command and trainer.

Each raises :class:`~spacy_lm_suite.errors.UserError` with one line that names
the option (as the CLI spells it, e.g. ``--clip``) and the value found. They
are called where the settings are taken in, before any reading or training,
so a bad value never turns into a silently wrong run (a negative ``--clip``
is gradient ascent, a NaN learning rate a NaN model). ``None`` (an option
left unset) always passes.
"""

import math
from typing import Optional, Union

from ..errors import UserError

Number = Union[int, float]


def require_finite(value: Optional[Number], *, option: str) -> None:
    """``value`` is a number, not NaN or infinite."""
    if value is not None and not math.isfinite(value):
        raise UserError(f"{option}: expected a finite number, found {value}")


def require_positive(value: Optional[Number], *, option: str) -> None:
    """``value > 0`` and finite."""
    require_finite(value, option=option)
    if value is not None and not value > 0:
        raise UserError(f"{option}: expected a number above 0, found {value}")


def require_at_least(value: Optional[Number], minimum: Number, *, option: str) -> None:
    """``value >= minimum`` and finite (counts and sizes: at least 1)."""
    require_finite(value, option=option)
    if value is not None and value < minimum:
        raise UserError(f"{option}: expected at least {minimum}, found {value}")


def require_non_negative(value: Optional[Number], *, option: str) -> None:
    """``value >= 0`` and finite (0 often means "off" or "all")."""
    require_finite(value, option=option)
    if value is not None and value < 0:
        raise UserError(f"{option}: expected 0 or more, found {value}")


def require_fraction(value: Optional[float], *, option: str, allow_zero: bool = False) -> None:
    """``0 < value < 1`` (or ``0 <= value < 1`` with ``allow_zero``)."""
    require_finite(value, option=option)
    if value is None:
        return
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise UserError(f"{option}: expected a fraction in {interval}, found {value}")


def require_finite_loss(loss: float, *, where: str, advice: str) -> None:
    """Stop a run whose loss became NaN or infinite (it diverged): the previous
    checkpoint is kept and the command fails instead of saving a NaN model."""
    if not math.isfinite(loss):
        raise UserError(f"training diverged: the loss is {loss} {where}; stopped without saving it ({advice})")

"""The shared checks of numeric options: one line naming the option and the value."""

import math

import pytest

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.runs.options import (
    require_at_least,
    require_finite,
    require_finite_loss,
    require_fraction,
    require_non_negative,
    require_positive,
)


@pytest.mark.parametrize("check,value,message", [
    (require_finite, math.nan, "--x: expected a finite number, found nan"),
    (require_finite, math.inf, "--x: expected a finite number, found inf"),
    (require_positive, 0, "--x: expected a number above 0, found 0"),
    (require_positive, -1e-3, "--x: expected a number above 0, found -0.001"),
    (require_positive, -math.inf, "--x: expected a finite number, found -inf"),
    (require_non_negative, -1, "--x: expected 0 or more, found -1"),
    (require_fraction, 0.0, "--x: expected a fraction in (0, 1), found 0.0"),
    (require_fraction, 1.0, "--x: expected a fraction in (0, 1), found 1.0"),
    (require_fraction, math.nan, "--x: expected a finite number, found nan"),
])
def test_rejected(check, value, message):
    with pytest.raises(UserError) as info:
        check(value, option="--x")
    assert str(info.value) == message


def test_accepted_and_unset():
    for check in (require_finite, require_positive, require_non_negative, require_fraction):
        check(None, option="--x")
    require_positive(1e-9, option="--x")
    require_non_negative(0, option="--x")
    require_fraction(0.5, option="--x")
    require_fraction(0.0, option="--x", allow_zero=True)
    require_at_least(1, 1, option="--x")
    with pytest.raises(UserError, match="--x: expected at least 1, found 0"):
        require_at_least(0, 1, option="--x")
    with pytest.raises(UserError, match="--x: expected a fraction in \\[0, 1\\), found -0.1"):
        require_fraction(-0.1, option="--x", allow_zero=True)


def test_non_finite_loss_fails_the_run():
    require_finite_loss(1.5, where="at step 3", advice="try a lower --lr")
    with pytest.raises(UserError, match=r"training diverged: the loss is nan at step 3; .*try a lower --lr"):
        require_finite_loss(math.nan, where="at step 3", advice="try a lower --lr")

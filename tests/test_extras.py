"""``require`` names the missing extra; ``ensure_torch`` sets torch up once (fork hook)."""

import os
import sys

import pytest

from spacy_lm_suite import extras
from spacy_lm_suite.errors import MissingExtraError, UserError


def test_require_returns_the_module() -> None:
    assert extras.require("json", "elmo") is sys.modules["json"]


def test_require_names_the_extra() -> None:
    with pytest.raises(MissingExtraError, match=r'pip install "spacy-lm-suite\[formats\]"') as info:
        extras.require("no_such_module_here", "formats")
    assert isinstance(info.value, UserError) and info.value.extra == "formats"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_ensure_torch_runs_forked_children_on_one_thread() -> None:
    torch = extras.ensure_torch()
    assert extras._fork_hook_registered
    extras.ensure_torch()  # a second call registers no second hook
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports its torch threads
        os.write(write, str(torch.get_num_threads()).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"1"

"""trim_heap: glibc's malloc_trim where it exists, a no-op elsewhere."""

import sys

from spacy_lm_suite.nn import heap


def test_trim_heap_runs_on_glibc_and_is_harmless():
    ran = heap.trim_heap()
    assert isinstance(ran, bool)
    if sys.platform.startswith("linux"):
        assert ran  # glibc here (CI and this machine)
    assert heap.trim_heap() == ran  # the library lookup is cached


def test_no_libc_means_no_trim(monkeypatch):
    monkeypatch.setattr(heap, "_CHECKED", True)
    monkeypatch.setattr(heap, "_LIBC", None)
    assert heap.trim_heap() is False

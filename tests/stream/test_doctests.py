"""Every docstring example in the stream package runs."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import finchain.stream

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(finchain.stream.__path__, "finchain.stream.")
)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_docs_examples_run():
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "stream.md"
    result = doctest.testfile(str(doc), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10 and result.failed == 0

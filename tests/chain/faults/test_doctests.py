"""The examples in the fault harness and committee docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "finchain.chain.faults.proxy",
    "finchain.chain.faults.scenario",
    "finchain.chain.faults.checks",
    "finchain.chain.faults.harness",
    "finchain.chain.faults.testbed",
    "finchain.chain.committee",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

"""The docstring examples of finchain.crypto run as doctests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "finchain.crypto",
    "finchain.crypto.merkle",
    "finchain.crypto.gm",
    "finchain.crypto.sm2_cipher",
    "finchain.crypto.ca",
    "finchain.crypto.x509",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0

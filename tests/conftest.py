"""Shared fixtures.  The model tests use ``k`` (a fresh Kernel) and ``p`` (a process of it
whose every syscall is followed by ``k.validate()``, see tests/modelhelpers.py)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from modelhelpers import Checked  # noqa: E402

from rmapkit import Kernel  # noqa: E402


@pytest.fixture
def k():
    return Kernel()


@pytest.fixture
def p(k):
    return Checked(k.spawn())

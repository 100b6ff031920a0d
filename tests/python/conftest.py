"""Shared fixtures: a seeded generator and both element-loop implementations."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture(params=["native", "generic"])
def isa(request, monkeypatch):
    """Run a numerical test on the best loops and on the portable ones.

    libbn reads BN_ISA on every call, so setting it here switches the loops
    of the already-loaded library.
    """
    if request.param == "generic":
        monkeypatch.setenv("BN_ISA", "generic")
    else:
        monkeypatch.delenv("BN_ISA", raising=False)
    return request.param

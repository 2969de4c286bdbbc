"""Fixtures of the loss tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture()
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(int(np.uint32(20261124)))

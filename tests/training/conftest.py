"""Fixtures of the training tests: a tiny rendered synthetic dataset and tiny configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def smplx_layer(synthetic_smplx_dir: Path):
    from ehps.bodymodels.smplx import SMPLX

    return SMPLX.from_file(synthetic_smplx_dir)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory, smplx_layer) -> Path:
    """12 training and 4 validation samples rendered by ``ehps.training.synth``."""
    from ehps.training.synth import SynthConfig, generate_synthetic_dataset

    root = tmp_path_factory.mktemp("synth")
    with torch.random.fork_rng(devices=[]):
        generate_synthetic_dataset(root, smplx_layer, SynthConfig(num_samples=12, seed=0),
                                   "train")
        generate_synthetic_dataset(root, smplx_layer, SynthConfig(num_samples=4, seed=1), "val")
    return root

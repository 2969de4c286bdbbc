"""Fixtures of the inference tests: a tiny random-weight SMPLest-X in the official checkpoint
format (and converted to safetensors), the synthetic walkers video, and predictor factories."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from infer_scene import make_synthetic_video

#: A tiny SMPLest-X (random weights): fast enough to run a 100-frame video in the test suite.
TINY_VARIANT = "smplestx_s"
TINY_OVERRIDES = dict(embed_dim=32, depth=1, num_heads=2, decoder_depth=1, decoder_dim_out=16,
                      decoder_heads=1, decoder_head_dim=16, decoder_mlp_dim=32)


@dataclass
class TinyModelFiles:
    official: Path
    safetensors: Path
    variant: str
    overrides: dict


@pytest.fixture(scope="session")
def tiny_model_files(tmp_path_factory: pytest.TempPathFactory) -> TinyModelFiles:
    from ehps.modeling import convert_official_checkpoint
    from ehps.modeling.synthetic import write_synthetic_official_checkpoint

    root = tmp_path_factory.mktemp("tiny_weights")
    official = write_synthetic_official_checkpoint(root / "tiny_smplest_x.pth.tar", TINY_VARIANT,
                                                   seed=3, **TINY_OVERRIDES)
    st = root / "tiny_smplest_x.safetensors"
    convert_official_checkpoint(official, st, TINY_VARIANT, **TINY_OVERRIDES)
    return TinyModelFiles(official, st, TINY_VARIANT, dict(TINY_OVERRIDES))


@pytest.fixture(scope="session")
def walkers(tmp_path_factory: pytest.TempPathFactory, synthetic_smplx_dir: Path):
    return make_synthetic_video(tmp_path_factory.mktemp("walkers"), synthetic_smplx_dir)


@pytest.fixture
def tiny_predictor(tiny_model_files: TinyModelFiles, synthetic_smplx_dir: Path):
    """Factory: a CPU predictor on the tiny safetensors model with the synthetic SMPL-X."""
    from ehps.inference.predictor import Predictor

    def make(**kwargs):
        opts = dict(device="cpu", smplx_path=synthetic_smplx_dir, batch_size=8)
        opts.update(kwargs)
        return Predictor.from_pretrained(tiny_model_files.safetensors, **opts)

    return make

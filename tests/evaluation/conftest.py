"""Fixtures of the evaluation tests: one evaluation context over the synthetic SMPL-X model and
synthetic SMPL-side files (SMPL models, smplx2smpl, H36M regressor), built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smpl_side_files(synthetic_smplx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from ehps.evaluation.synthetic import write_synthetic_smpl_files

    return write_synthetic_smpl_files(tmp_path_factory.mktemp("smpl_side"), synthetic_smplx_dir)


@pytest.fixture(scope="session")
def eval_context(synthetic_smplx_dir: Path, smpl_side_files: dict):
    from ehps.evaluation.benchmarks.base import EvalContext

    return EvalContext.from_paths(
        synthetic_smplx_dir,
        smpl_dir=smpl_side_files["smpl_dir"],
        smplx2smpl=smpl_side_files["smplx2smpl"],
        h36m_regressor=smpl_side_files["h36m_regressor"],
    )

"""Shared fixtures. Everything here is offline and CPU-only.

- ``assets_dir``: the photos shipped inside the package (``ehps/assets``).
- ``synthetic_smplx_dir``: a synthetic SMPL-X-format model directory written once per session
  (no licensed files needed).
- every test runs with ``$EHPS_WEIGHTS_DIR`` set to a temporary weight cache (never the user's).
- ``anny_body``: the embedded Anny body model, built once per session (its first build on a machine
  takes ~40 s and is cached in the user cache dir).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def _weights_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights_cache")


@pytest.fixture(autouse=True)
def _isolated_weights_cache(_weights_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read or write the user's weight cache (``ehps weights``)."""
    monkeypatch.setenv("EHPS_WEIGHTS_DIR", str(_weights_cache))
    monkeypatch.delenv("EHPS_WEIGHTS_CATALOG", raising=False)


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    import ehps

    return Path(ehps.__file__).parent / "assets"


@pytest.fixture(scope="session")
def synthetic_smplx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory laid out like the official ``human_model_files/smplx`` with synthetic content."""
    from ehps.bodymodels.synthetic import write_synthetic_smplx

    root = tmp_path_factory.mktemp("body_models")
    return write_synthetic_smplx(root / "smplx", seed=0)


@pytest.fixture(scope="session")
def anny_body():
    from ehps.bodymodels.anny import AnnyBody

    return AnnyBody()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", default=False,
                     help="rewrite the golden output files (tests/golden/) from this run "
                          "instead of comparing with them (tests/golden/regen.sh)")


@pytest.fixture(scope="session")
def regen_golden(request: pytest.FixtureRequest) -> bool:
    """Whether the golden-output tests rewrite their files instead of comparing."""
    return bool(request.config.getoption("--regen-golden"))

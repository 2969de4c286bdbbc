"""Fixtures of the weight-download tests: tiny synthetic official-format checkpoints, a loopback
Hub, an empty weight cache and an extra catalog that points at the loopback server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from loopback_hub import LoopbackHub
from weights_helpers import FILENAME, TINY_VARIANT

from modeling_tiny import TINY


@dataclass
class TinyCheckpoint:
    path: Path
    data: bytes
    variant: str
    config: dict


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> TinyCheckpoint:
    from ehps.modeling.synthetic import write_synthetic_official_checkpoint

    path = write_synthetic_official_checkpoint(
        tmp_path_factory.mktemp("tiny_ckpt") / FILENAME, TINY_VARIANT, seed=5, **TINY)
    return TinyCheckpoint(path, path.read_bytes(), TINY_VARIANT, dict(TINY))


@pytest.fixture(scope="session")
def tiny_smplerx_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A tiny *SMPLer-X* checkpoint: the wrong architecture for a SMPLest-X entry."""
    from ehps.modeling.synthetic import write_synthetic_official_checkpoint

    path = write_synthetic_official_checkpoint(
        tmp_path_factory.mktemp("tiny_x") / "x.pth.tar", "smplerx_s32", seed=6, **TINY)
    return path.read_bytes()


@dataclass
class Env:
    hub: LoopbackHub
    cache: Path
    catalog: Path
    monkeypatch: pytest.MonkeyPatch

    def write_catalog(self, *entries: dict) -> None:
        self.catalog.write_text(json.dumps(list(entries)))


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A running loopback Hub as ``HF_ENDPOINT``, an empty cache, an extra catalog file and no
    Hub token or offline flag inherited from the machine."""
    with LoopbackHub() as hub:
        cache = tmp_path / "cache"
        catalog = tmp_path / "catalog.json"
        catalog.write_text("[]")
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("EHPS_WEIGHTS_DIR", str(cache))
        monkeypatch.setenv("EHPS_WEIGHTS_CATALOG", str(catalog))
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
        for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE",
                    "TRANSFORMERS_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                    "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield Env(hub, cache, catalog, monkeypatch)

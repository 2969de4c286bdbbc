"""The page's estimator choice: a network given by path and the same weights from ehps's weight
cache (by name) run through the server and give the same result."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="ehps serve needs the 'serve' extra")
from serve_helpers import wait_job

from modeling_tiny import TINY

pytestmark = [pytest.mark.embedded, pytest.mark.slow]  # ~30 s: two estimators loaded


def test_network_by_path_and_by_cached_name(tmp_path, monkeypatch, synthetic_smplx_dir,
                                            assets_dir):
    from fastapi.testclient import TestClient

    from ehps.modeling.synthetic import write_synthetic_official_checkpoint
    from ehps.serve.app import create_app
    from ehps.serve.config import ServeConfig, discover_estimators
    from ehps.weights.manage import add_weights

    # the workers inherit the environment: a weight cache and a catalog entry for tiny widths
    monkeypatch.setenv("EHPS_WEIGHTS_DIR", str(tmp_path / "weights"))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([{
        "name": "tiny_cached", "variant": "smplestx_s", "title": "tiny test weights",
        "kind": "url", "location": "http://127.0.0.1:9/tiny.pth.tar",
        "filename": "tiny.pth.tar", "config": dict(TINY)}]))
    monkeypatch.setenv("EHPS_WEIGHTS_CATALOG", str(catalog))
    official = write_synthetic_official_checkpoint(tmp_path / "tiny.pth.tar", "smplestx_s",
                                                   seed=3, **TINY)
    entry = add_weights(official, name="tiny_cached", variant="smplestx_s", convert=True)
    estimators = discover_estimators([entry.path], smplx_path=synthetic_smplx_dir)
    assert [e.id for e in estimators] == ["weights-0", "embedded-anny", "embedded-smplx",
                                          "cached-tiny_cached"]
    config = ServeConfig(work_dir=tmp_path / "serve", estimators=estimators, warm=False,
                         render_backend="torch")
    photo = (assets_dir / "basketball1.png").read_bytes()
    params = {}
    with TestClient(create_app(config), base_url="http://127.0.0.1:7860") as client:
        listed = client.get("/api/config").json()["estimators"]
        assert [e["kind"] for e in listed] == ["network", "embedded", "embedded", "network"]
        assert str(tmp_path) not in str(listed)  # labels, never server paths
        for choice in ("weights-0", "cached-tiny_cached"):
            r = client.post("/api/jobs", params={"estimator": choice}, content=photo)
            assert r.status_code == 202, r.text
            job = wait_job(client, r.json()["id"], timeout_s=600)
            assert job["status"] == "done", job
            assert job["estimator"] == choice and job["people"] == 2
            result = client.get(f"/api/jobs/{job['id']}/result").json()
            names = {d["name"] for d in result["downloads"]}
            assert {"params.zip", "000000_00.glb", "000000_01.glb"} <= names  # SMPL-X meshes
            zf = zipfile.ZipFile(io.BytesIO(client.get(
                f"/api/jobs/{job['id']}/download/params.zip").content))
            params[choice] = {n: dict(np.load(io.BytesIO(zf.read(n)), allow_pickle=False))
                              for n in zf.namelist() if n.endswith(".npz")}
    by_path, by_name = params["weights-0"], params["cached-tiny_cached"]
    assert by_path.keys() == by_name.keys() and len(by_path) == 2
    for name, arrays in by_path.items():
        for key, value in arrays.items():
            if value.dtype.kind == "f":
                np.testing.assert_allclose(by_name[name][key], value, atol=1e-5, err_msg=key)

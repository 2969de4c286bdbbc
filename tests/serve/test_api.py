"""``ehps serve`` through its HTTP API (FastAPI's test client, real worker processes).

One app for the module: the bundled photo goes through the real pipeline once; the limits, the
error paths, the queue, cancel, time limit, a killed worker and clean-up are checked around it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
import zipfile

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="ehps serve needs the 'serve' extra")
from serve_helpers import png_bytes, wait_job, write_clip

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from fastapi.testclient import TestClient

    from ehps.serve.app import create_app
    from ehps.serve.config import ServeConfig, discover_estimators

    config = ServeConfig(
        work_dir=tmp_path_factory.mktemp("serve"), estimators=discover_estimators(),
        workers=1, queue_size=1, max_upload_mb=1.0, max_pixels=4_000_000, max_video_s=3.0,
        max_video_frames=40, job_timeout_s=300.0, result_ttl_s=600.0, render_backend="torch",
        warm=False,
    )
    app = create_app(config)
    with TestClient(app, base_url="http://127.0.0.1:7860") as client:
        yield client, app, config


@pytest.fixture(scope="module")
def photo_job(server, assets_dir):
    client, _, _ = server
    data = (assets_dir / "basketball1.png").read_bytes()
    r = client.post("/api/jobs", params={"name": "../../etc/basketball1.png"}, content=data)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["name"] == "basketball1.png"  # the name is shown, never used as a path
    done = wait_job(client, job["id"], timeout_s=600)
    assert done["status"] == "done", done
    return done, client.get(f"/api/jobs/{job['id']}/result").json()


def test_photo_result(server, photo_job, assets_dir, anny_body):
    from PIL import Image

    client, _, _ = server
    job, result = photo_job
    assert job["frames_done"] == job["frames_total"] == 1
    assert job["people"] == 2  # two basketball players
    scene = result["scene"]
    assert scene["kind"] == "image" and scene["overlay"]["type"] == "image"
    assert [p["id"] for p in scene["people"]] == [0, 1]
    assert scene["camera"]["image_hw"] == [480, 640]
    # the overlay: the input's size, changed inside each person's box and not outside them
    overlay = np.asarray(Image.open(io.BytesIO(client.get(scene["overlay"]["url"]).content)))
    photo = np.asarray(Image.open(assets_dir / "basketball1.png").convert("RGB"))
    assert overlay.shape[:2] == photo.shape[:2]
    diff = np.abs(overlay[..., :3].astype(int) - photo.astype(int)).sum(-1) > 30
    # the zip of parameters: one npz + json per person, read safely
    urls = {d["name"]: d["url"] for d in result["downloads"]}
    r = client.get(urls["params.zip"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    names = sorted(zf.namelist())
    assert names == ["meta/000000_00.json", "meta/000000_01.json",
                     "smplx/000000_00.npz", "smplx/000000_01.npz"]
    for name in names:
        if name.endswith(".npz"):
            arrays = np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
            assert arrays["betas"].ndim >= 1 and np.isfinite(arrays["body_pose"]).all()
        else:
            meta = json.loads(zf.read(name))
            x, y, w, h = (int(v) for v in meta["bbox"])
            assert diff[y:y + h, x:x + w].mean() > 0.05  # the mesh is drawn in its box
    outside = np.ones_like(diff)
    for name in names:
        if name.endswith(".json"):
            x, y, w, h = (int(v) for v in json.loads(zf.read(name))["bbox"])
            outside[max(y - 8, 0):y + h + 8, max(x - 8, 0):x + w + 8] = False
    assert diff[outside].mean() < 0.01
    # each mesh: a valid GLB with the body model's vertices
    trimesh = pytest.importorskip("trimesh")
    for person in (0, 1):
        r = client.get(urls[f"000000_{person:02d}.glb"])
        assert r.headers["content-type"] == "model/gltf-binary"
        mesh = trimesh.load(io.BytesIO(r.content), file_type="glb", force="mesh", process=False)
        assert len(mesh.vertices) == anny_body.num_vertices
        assert np.isfinite(mesh.vertices).all()


@pytest.mark.slow
def test_same_result_as_ehps_infer(server, photo_job, assets_dir, tmp_path):
    """The app runs the ``ehps infer`` pipeline: its files equal those of the command."""
    import subprocess
    import sys

    from PIL import Image

    client, _, _ = server
    _, result = photo_job
    out = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "ehps", "infer", str(assets_dir / "basketball1.png"),
                    "--save-mesh", "glb", "--render", "--render-backend", "torch", "--quiet",
                    "--out", str(out)], check=True, capture_output=True)
    urls = {d["name"]: d["url"] for d in result["downloads"]}
    zf = zipfile.ZipFile(io.BytesIO(client.get(urls["params.zip"]).content))
    for name in zf.namelist():
        if name.endswith(".npz"):
            served = np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
            with np.load(out / name, allow_pickle=False) as cli:
                assert set(served.files) == set(cli.files)
                for key in cli.files:
                    if cli[key].dtype.kind in "fc":
                        np.testing.assert_allclose(served[key], cli[key], atol=1e-4,
                                                   err_msg=key)
                    else:
                        np.testing.assert_array_equal(served[key], cli[key], err_msg=key)
        else:
            served_meta = json.loads(zf.read(name))
            cli_meta = json.loads((out / name).read_text())
            for d in (served_meta, cli_meta):
                d.pop("img_path")
            assert served_meta.keys() == cli_meta.keys()
            np.testing.assert_allclose(served_meta["bbox"], cli_meta["bbox"], atol=1e-3)
    served_png = np.asarray(Image.open(io.BytesIO(client.get(
        result["scene"]["overlay"]["url"]).content)), dtype=float)
    cli_png = np.asarray(Image.open(out / "overlay" / "000000.png"), dtype=float)
    assert np.abs(served_png - cli_png).mean() < 0.5


def test_files_are_confined(server, photo_job):
    client, _, _ = server
    job, result = photo_job
    base = f"/api/jobs/{job['id']}"
    for bad in ("files/../input/input.png", "files/mesh", "files/manifest.json",
                "files/summary.json", "files/state/000000.npz", "files/%2e%2e/input/input.png",
                "download/other.zip", "download/params.tar"):
        assert client.get(f"{base}/{bad}").status_code == 404, bad
    # a job id that exists nowhere, a malformed one, directory listings
    other = "A" * 22
    rel = result["scene"]["overlay"]["url"].split("/files/")[1]
    assert client.get(f"/api/jobs/{other}/files/{rel}").status_code == 404
    assert client.get("/api/jobs/../../etc/passwd").status_code == 404
    for listing in ("/static/", "/static/vendor/", "/static/vendor/three/", "/api/jobs"):
        assert client.get(listing).status_code in (404, 405), listing
    r = client.get(result["scene"]["overlay"]["url"])
    assert r.headers["x-content-type-options"] == "nosniff"


def test_upload_limits(server, tmp_path):
    client, app, config = server

    def post(data, **params):
        return client.post("/api/jobs", params=params, content=data)

    r = post(b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 2**20))  # declared size over 1 MB
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

    def chunks():  # no Content-Length: stopped while it streams in
        for _ in range(40):
            yield b"\xff\xd8\xff" + b"\0" * 65533

    r = client.post("/api/jobs", content=chunks())
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    r = post(b"hello, I am a text file", name="photo.png")  # judged by content
    assert r.status_code == 415 and "file name does not matter" in r.json()["error"]["message"]
    r = post(b"")
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty"
    r = post(b"\x89PNG\r\n\x1a\n" + os.urandom(3000), name="broken.png")
    assert r.status_code == 422 and r.json()["error"]["code"] == "unreadable"
    assert "input.png" not in r.text and str(config.work_dir) not in r.text  # no server paths
    r = post(png_bytes(2100, 2000))  # 4.2 MP > 4 MP
    assert r.status_code == 413 and "megapixels" in r.json()["error"]["message"]
    frames = [np.full((64, 64, 3), 6 * i, np.uint8) for i in range(40)]  # 4 s at 10 fps
    clip = write_clip(tmp_path / "long.mp4", frames).read_bytes()
    r = post(clip, name="long.mp4")
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_long"
    assert "3 s" in r.json()["error"]["message"]
    r = post(png_bytes(64, 64), estimator="no-such-estimator")
    assert r.status_code == 400 and "embedded-anny" in r.json()["error"]["message"]
    # nothing of the rejected uploads is left behind
    jobs_dir = config.work_dir / "jobs"
    assert {p.name for p in jobs_dir.iterdir()} <= set(app.state.manager.jobs)
    assert not list(jobs_dir.glob("*/input/upload.part"))


def test_queue_cancel_timeout_and_crash(server, assets_dir):
    client, app, config = server
    manager = app.state.manager
    photo = (assets_dir / "basketball2.png").read_bytes()
    a = client.post("/api/jobs", content=photo).json()
    wait_job(client, a["id"], until=("running",), timeout_s=60)
    b = client.post("/api/jobs", content=photo).json()
    assert b["status"] == "queued" and b["position"] == 1
    r = client.post("/api/jobs", content=photo)  # queue_size 1: full
    assert r.status_code == 429 and r.json()["error"]["code"] == "busy"
    assert r.headers["retry-after"]
    # cancel the queued job at once, then the running one (its process is killed)
    assert client.post(f"/api/jobs/{b['id']}/cancel").json()["status"] == "cancelled"
    pid = manager._slots[0].process.pid
    client.delete(f"/api/jobs/{a['id']}")
    assert wait_job(client, a["id"], timeout_s=30)["status"] == "cancelled"
    with pytest.raises(OSError):
        os.kill(pid, 0)  # the worker process is gone
    # a job past its time limit is stopped
    config.job_timeout_s = 0.5
    try:
        c = client.post("/api/jobs", content=photo).json()
        c = wait_job(client, c["id"], timeout_s=30)
    finally:
        config.job_timeout_s = 300.0
    assert c["status"] == "error" and c["error"]["code"] == "timeout"
    # a worker that dies (here: killed from outside) fails its job only
    d = client.post("/api/jobs", content=photo).json()
    wait_job(client, d["id"], until=("running",), timeout_s=60)
    for _ in range(100):
        proc = manager._slots[0].process
        if proc is not None and proc.pid:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    d = wait_job(client, d["id"], timeout_s=30)
    assert d["status"] == "error" and d["error"]["code"] == "crashed"
    assert "Other jobs are not affected" in d["error"]["message"]
    assert client.get("/api/health").json()["ok"]  # the next test runs a job on a fresh worker


def test_no_person_is_a_clear_error(server):
    """Runs after the crash test: a fresh worker process serves it."""
    client, _, _ = server
    r = client.post("/api/jobs", params={"name": "wall.png"}, content=png_bytes(320, 240))
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], timeout_s=300)
    assert job["status"] == "error" and job["error"]["code"] == "no_person"
    assert "No person was found" in job["error"]["message"]
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 409


def test_ttl_cleanup(server, photo_job):
    client, app, config = server
    job, _ = photo_job
    manager = app.state.manager
    folder = manager.jobs[job["id"]].folder
    assert folder.is_dir()
    assert manager.cleanup(now=time.time() + config.result_ttl_s + 1) >= 1
    assert not folder.exists()
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404


def test_page_and_headers(server):
    client, _, config = server
    from ehps.serve.assets import missing_assets

    r = client.get("/")
    if missing_assets():
        assert r.status_code == 503 and "npm ci" in r.text
        return
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "sha256-" in csp
    for ref in ("/static/app.js", "/static/style.css", "/static/vendor/three/three.module.js",
                "/static/vendor/three/addons/loaders/GLTFLoader.js"):
        assert client.get(ref).status_code == 200, ref
    assert "http://" not in r.text and "https://" not in r.text  # nothing from elsewhere
    # a page on another site whose name resolves to 127.0.0.1 (DNS rebinding)
    assert client.get("/api/config", headers={"host": "evil.example:7860"}).status_code == 421
    cfg = client.get("/api/config").json()
    assert cfg["estimators"][0]["id"] == "embedded-anny"
    assert cfg["limits"]["max_upload_mb"] == 1.0
    assert str(config.work_dir) not in json.dumps(cfg)

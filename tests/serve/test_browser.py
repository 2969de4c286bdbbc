"""``ehps serve`` used as a person would: Playwright drives Debian's Chromium (headless, through
its executable path) against a real ``ehps serve`` process on 127.0.0.1.

Needs: ``apt-get install -y chromium`` (``/usr/bin/chromium``; or ``$EHPS_CHROMIUM``), the
``playwright`` Python package (dev extra; its own browser download is not used), the page's
three.js and ``gltf-validator`` from ``npm ci`` in ``web/`` (``./setup.sh --dev``). Screenshots of
each state go to ``$EHPS_SCREENSHOTS`` (default: the test's temporary folder).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="ehps serve needs the 'serve' extra")
from serve_helpers import cut_vtest

pytestmark = [pytest.mark.slow, pytest.mark.embedded]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("EHPS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
BACKGROUND = np.array([0xE9, 0xED, 0xF2])  # the viewer's clear colour


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    from ehps.serve.assets import missing_assets

    if missing_assets():
        pytest.fail("the page's three.js is missing: run ./setup.sh --dev (needs npm)")
    port = _free_port()
    work = tmp_path_factory.mktemp("serve_live")
    log = open(work / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ehps", "serve", "--port", str(port), "--work-dir", str(work),
         "--render-backend", "torch"],  # the default limits (they show in the screenshots)
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/health", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.close()
                raise AssertionError((work / "server.log").read_text()) from None
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(30)
    log.close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}")
          if not r.url.startswith(live_server) else None)
    pg.goto(live_server + "/")
    pg.wait_for_function("() => document.getElementById('estimator').options.length > 0")
    yield pg
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = Path(os.environ.get("EHPS_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def canvas_rgb(page) -> np.ndarray:
    """The WebGL canvas's pixels (drawn with preserveDrawingBuffer), (H, W, 3) uint8."""
    from PIL import Image

    url = page.evaluate("document.querySelector('#viewer canvas').toDataURL('image/png')")
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def drawn(rgb: np.ndarray) -> np.ndarray:
    """Pixels that are not the viewer's background."""
    return np.abs(rgb.astype(int) - BACKGROUND).sum(-1) > 24


def wait_ready(page, timeout_s: float) -> None:
    page.wait_for_selector("body[data-ready='1']", timeout=timeout_s * 1000)


def gltf_validate(path: Path) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (needed for the Khronos glTF-Validator)")
    modules = REPO / "web" / "node_modules"
    assert (modules / "gltf-validator").is_dir(), "run ./setup.sh --dev (npm ci in web/)"
    script = ("const v=require('gltf-validator');const fs=require('fs');"
              "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))"
              ".then(r=>console.log(JSON.stringify(r.issues)))"
              ".catch(e=>{console.error(e);process.exit(1)})")
    out = subprocess.run([node, "-e", script, str(path)], capture_output=True, text=True,
                         env={**os.environ, "NODE_PATH": str(modules)}, check=True)
    return json.loads(out.stdout)


def test_photo_overlay_viewer_downloads(page, shots, assets_dir, anny_body, tmp_path):
    page.set_input_files("#file", str(assets_dir / "basketball1.png"))
    wait_ready(page, 600)
    assert page.inner_text("#job-status") == "done"
    assert "2 people found" in page.inner_text("#job-detail")
    assert page.evaluate("document.querySelector('[data-testid=overlay-image]').naturalWidth") \
        == 640
    page.wait_for_timeout(500)
    rgb = canvas_rgb(page)
    mask = drawn(rgb)
    assert mask.mean() > 0.02, "the 3D canvas is blank"
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    assert ((b > r + 25) & mask).sum() > 500  # person 0: blue
    assert ((r > b + 25) & mask).sum() > 500  # person 1: coral
    page.screenshot(path=str(shots / "serve_photo.png"), full_page=True)
    # orbiting changes the view
    box = page.locator("#viewer canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 150, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    page.wait_for_timeout(300)
    assert (drawn(canvas_rgb(page)) != mask).mean() > 0.005
    # downloads: the parameters zip and a GLB, checked by independent readers
    with page.expect_download() as dl:
        page.click("a[download='params.zip']")
    zf = zipfile.ZipFile(dl.value.path())
    npz = [n for n in zf.namelist() if n.endswith(".npz")]
    assert len(npz) == 2 and len([n for n in zf.namelist() if n.endswith(".json")]) == 2
    for name in npz:
        arrays = np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
        assert np.isfinite(arrays["body_pose"]).all()
    with page.expect_download() as dl:
        page.click("a[data-group='mesh']")
    glb = tmp_path / "person.glb"
    shutil.copyfile(dl.value.path(), glb)
    report = gltf_validate(glb)
    assert report["numErrors"] == 0, report
    trimesh = pytest.importorskip("trimesh")
    mesh = trimesh.load(glb, force="mesh", process=False)
    assert len(mesh.vertices) == anny_body.num_vertices


def test_video_play_and_scrub(page, shots, tmp_path):
    clip = cut_vtest(tmp_path / "vtest_clip.mp4", start=0, count=5)
    page.set_input_files("#file", str(clip))
    page.wait_for_function("() => /frames [1-4] \\/ 5/.test("
                           "document.getElementById('job-detail').textContent)", timeout=600000)
    page.screenshot(path=str(shots / "serve_progress.png"))
    page.click("#cancel", trial=True)  # the cancel button is there and clickable
    wait_ready(page, 1200)
    assert page.inner_text("#frame") == "frame 1 / 5"
    page.wait_for_function("() => window.ehps.viewer.loaded === window.ehps.viewer.total",
                           timeout=60000)
    page.wait_for_function("() => document.querySelector('video').readyState >= 2")
    first = canvas_rgb(page)
    assert drawn(first).mean() > 0.001, "the 3D canvas is blank"
    page.screenshot(path=str(shots / "serve_video.png"), full_page=True)
    page.evaluate("""() => { window.seen = [];
        new MutationObserver(() => window.seen.push(document.getElementById('frame').textContent))
          .observe(document.getElementById('frame'), {childList: true}); }""")
    page.click("#play")
    page.wait_for_function("() => document.getElementById('frame').textContent === 'frame 5 / 5'",
                           timeout=20000)
    page.wait_for_timeout(300)
    seen = [int(t.split()[1]) for t in page.evaluate("window.seen")]
    assert seen[-1] == 5 and len(set(seen)) >= 2 and seen == sorted(seen)
    last = canvas_rgb(page)
    assert (drawn(first) != drawn(last)).sum() > 30, "the people did not move"
    page.screenshot(path=str(shots / "serve_video_end.png"), full_page=True)
    # scrub to the third frame: the counter, the video and the 3D follow
    page.evaluate("""() => { const s = document.getElementById('scrub');
        s.value = 2; s.dispatchEvent(new Event('input')); }""")
    page.wait_for_timeout(500)
    assert page.inner_text("#frame") == "frame 3 / 5"
    assert page.evaluate("document.querySelector('video').currentTime") == pytest.approx(
        0.25, abs=0.05)
    assert page.evaluate("window.ehps.viewer.frame") == 2
    mid = canvas_rgb(page)
    assert (drawn(mid) != drawn(last)).sum() > 10


def test_bad_files_show_the_reason(page, shots, tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4000))
    page.set_input_files("#file", str(corrupt))
    page.wait_for_selector("[data-testid=error]:not([hidden])")
    assert "could not be decoded" in page.inner_text("#error")
    assert "/jobs/" not in page.inner_text("#error")  # no server paths in messages
    assert page.is_hidden("#cancel")
    page.screenshot(path=str(shots / "serve_error_corrupt.png"))
    big = tmp_path / "big.jpg"  # over the default limit of 100 MB (sparse: no disk used)
    with big.open("wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0" + os.urandom(4096))
        fh.truncate(101 * 2**20)
    page.set_input_files("#file", str(big))  # the page knows the limit
    page.wait_for_function(
        "() => document.getElementById('error').textContent.includes('too large')")
    assert "at most 100 MB" in page.inner_text("#error")
    page.screenshot(path=str(shots / "serve_error_too_large.png"))
    page.evaluate("window.ehpsSkipClientChecks = true")  # the server's own check
    page.set_input_files("#file", str(big))
    page.wait_for_function("() => document.getElementById('job-status').textContent === 'rejected'")
    assert "100 MB" in page.inner_text("#error")
    video = tmp_path / "corrupt.mp4"
    video.write_bytes(b"\0\0\0\x18ftypmp42" + os.urandom(5000))
    page.set_input_files("#file", str(video))
    page.wait_for_function("() => document.getElementById('job-status').textContent === 'rejected'")
    assert "video" in page.inner_text("#error")


@pytest.fixture(scope="module")
def inproc_server(tmp_path_factory):
    """An in-process server (uvicorn in a thread), so a test can place a finished job's files."""
    import threading

    import uvicorn

    from ehps.serve.app import create_app
    from ehps.serve.config import ServeConfig, discover_estimators

    port = _free_port()
    config = ServeConfig(port=port, work_dir=tmp_path_factory.mktemp("serve_inproc"),
                         estimators=discover_estimators(), warm=False)
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", app, config
    server.should_exit = True
    thread.join(30)


def test_new_outputs_need_no_page_change(browser, inproc_server, shots, tmp_path):
    """Files the pipeline does not write today (issue 16: anim/scene.glb, world.json, BVH) are
    offered and shown from what is in the job's folder: the viewer plays the animated scene on
    the video's timeline, places the capture camera from world.json, keeps the file's floor."""
    from serve_helpers import write_animated_glb, write_clip

    from ehps.serve.probe import MediaInfo

    url, app, config = inproc_server
    manager = app.state.manager
    job = manager.new_job("walk.mp4", config.estimators[0])
    seq = job.out_dir / "input"
    (seq / "meta").mkdir(parents=True)
    (seq / "meta" / "000000_00.json").write_text(json.dumps(
        {"focal": [60, 60], "princpt": [32, 24], "image_hw": [48, 64]}))
    (seq / "manifest.json").write_text("{}")
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(5)]
    write_clip(seq / "overlay.mp4", frames, fps=10)
    (seq / "anim").mkdir()
    write_animated_glb(seq / "anim" / "scene.glb", duration_s=0.4, shift_x_m=1.0)
    (seq / "anim" / "track_00.bvh").write_text("HIERARCHY\nROOT pelvis\n{\n}\nMOTION\n")
    world = {"floor": {"normal_cam": [0.0, -1.0, 0.0], "offset_cam_m": 1.5}, "up_axis": "y",
             "camera": {"world_from_camera": [[1, 0, 0, 0], [0, -1, 0, 1.5], [0, 0, -1, 0],
                                              [0, 0, 0, 1]]}}
    (seq / "world.json").write_text(json.dumps(world))
    job.kind, job.info = "video", MediaInfo("video", "mp4", 64, 48, 5, 10.0, 0.5)
    job.frames_done = job.frames_total = 5
    job.summary = {"estimator": "test", "frames_done": 5, "seconds": 1.0}
    job.status, job.ended = "done", time.time()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/#job={job.id}")  # a page opened at #job=ID follows that job
    wait_ready(page, 60)
    assert page.evaluate("window.ehps.viewer.mode") == "animation"
    names = page.eval_on_selector_all("#downloads a", "as => as.map(a => a.download)")
    assert {"scene.glb", "track_00.bvh", "world.json", "overlay.mp4"} <= set(names)
    has = "(n) => !!window.ehps.viewer.scene.getObjectByName(n)"
    assert page.evaluate(has, "capture camera") and page.evaluate(has, "floor")
    assert not page.evaluate(has, "floor grid")  # the file's floor, not a second one
    # the camera from world.json: 1.5 m above the floor, at the world origin
    cam_y = page.evaluate("window.ehps.viewer.scene.getObjectByName('capture camera')"
                          ".matrixWorld.elements[13]")
    assert cam_y == pytest.approx(1.5, abs=1e-4)
    x = "window.ehps.viewer.scene.getObjectByName('root').position.x"
    assert page.evaluate(x) == pytest.approx(0.0, abs=1e-4)
    first = canvas_rgb(page)
    page.evaluate("""() => { const s = document.getElementById('scrub');
        s.value = 2; s.dispatchEvent(new Event('input')); }""")
    page.wait_for_timeout(300)
    assert page.inner_text("#frame") == "frame 3 / 5"
    assert page.evaluate(x) == pytest.approx(0.5, abs=1e-3)  # t = 0.2 s of 0.4 s: half way
    assert (drawn(canvas_rgb(page)) != drawn(first)).sum() > 50
    page.screenshot(path=str(shots / "serve_animation.png"), full_page=True)
    page.click("#play")
    page.wait_for_function("() => document.getElementById('frame').textContent === "
                           "'frame 5 / 5'", timeout=20000)
    assert page.evaluate(x) == pytest.approx(1.0, abs=0.05)
    context.close()
    assert not errors, errors

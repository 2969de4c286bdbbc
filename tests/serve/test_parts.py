"""The pieces of ``ehps serve`` that need no server: content sniffing, names, result scanning."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="ehps serve needs the 'serve' extra")
from serve_helpers import write_clip


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("PNG", ".png"), ("BMP", ".bmp"),
                                        ("TIFF", ".tif"), ("WEBP", ".webp"), ("PPM", ".ppm")])
def test_sniff_images_written_by_pillow(fmt, suffix):
    from PIL import Image

    from ehps.serve.probe import HEAD_BYTES, sniff

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format=fmt)
    assert sniff(buf.getvalue()[:HEAD_BYTES]) == ("image", suffix)


@pytest.mark.parametrize("container,suffix", [("mp4", ".mp4"), ("avi", ".avi"),
                                              ("matroska", ".mkv")])
def test_sniff_videos_written_by_pyav(tmp_path, container, suffix):
    av = pytest.importorskip("av")
    from ehps.serve.probe import HEAD_BYTES, sniff

    path = tmp_path / f"clip{suffix}"
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            img = np.full((32, 32, 3), 40 * i, np.uint8)
            for p in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    assert sniff(path.read_bytes()[:HEAD_BYTES]) == ("video", suffix)


def test_sniff_rejects_what_is_not_media():
    from ehps.serve.probe import sniff

    for data in (b"", b"hello world", b"%PDF-1.7\n", b"PK\x03\x04zip", b"<html>", b"\x7fELF"):
        assert sniff(data) is None


def test_probe_video_facts(tmp_path):
    pytest.importorskip("av")
    from ehps.serve.probe import UploadRejected, probe_file

    frames = [np.full((48, 64, 3), 5 * i, np.uint8) for i in range(25)]
    path = write_clip(tmp_path / "c.mp4", frames, fps=10)
    info = probe_file(path, "video", max_pixels=10_000, max_video_s=3.0, max_video_frames=30)
    assert (info.width, info.height, info.frames) == (64, 48, 25)
    assert info.fps == pytest.approx(10.0) and info.duration_s == pytest.approx(2.5, abs=0.11)
    with pytest.raises(UploadRejected, match="more than 20 frames"):
        probe_file(path, "video", max_pixels=10_000, max_video_s=3.0, max_video_frames=20)
    with pytest.raises(UploadRejected, match="megapixels"):
        probe_file(path, "video", max_pixels=3000, max_video_s=3.0, max_video_frames=30)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(path.read_bytes()[:200])
    with pytest.raises(UploadRejected) as exc:
        probe_file(broken, "video", max_pixels=10_000, max_video_s=3.0, max_video_frames=30)
    assert exc.value.code == "unreadable"


def test_display_name_is_never_a_path():
    from ehps.serve.app import display_name

    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("C:\\Users\\me\\photo.jpg") == "photo.jpg"
    assert display_name("a\x00b\nc.png") == "abc.png"
    assert display_name("") == display_name("///") == "upload"
    assert len(display_name("x" * 500)) == 80


def test_job_ids_are_random_and_checked():
    from ehps.serve.jobs import JOB_ID_RE, new_job_id

    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(JOB_ID_RE.match(i) for i in ids)
    for bad in ("..", "a" * 21, "a" * 23, "a/" * 11, "a" * 21 + "."):
        assert not JOB_ID_RE.match(bad)


def test_eta_from_the_pace_of_finished_frames():
    from ehps.serve.config import EstimatorChoice
    from ehps.serve.jobs import Job

    job = Job("x" * 22, Path("/nonexistent"), "v.mp4", EstimatorChoice("e", "e"))
    job.status, job.frames_total, job.started = "running", 10, 100.0
    assert job.eta_s(now=105.0) is None  # nothing finished yet
    job.frames_done, job.last_frame_at = 2, 110.0  # 5 s per frame, 8 frames left
    assert job.eta_s(now=110.0) == pytest.approx(40.0)
    assert job.eta_s(now=113.0) == pytest.approx(37.0)
    assert job.eta_s(now=200.0) == pytest.approx(4.0)  # late: a tenth of the estimate


def _glb(path: Path) -> None:
    trimesh = pytest.importorskip("trimesh")
    mesh = trimesh.Trimesh(np.eye(3), [[0, 1, 2]], process=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mesh.export(file_type="glb"))


def test_results_are_read_from_the_files(tmp_path):
    """Everything the page offers comes from what is in the folder, new outputs included."""
    from ehps.serve.results import build_zip, scan_results

    out = tmp_path / "out"
    seq = out / "input"
    (seq / "smplx").mkdir(parents=True)
    (seq / "meta").mkdir()
    (seq / "state").mkdir()
    for f in (0, 1):
        for p in (0, 3):
            np.savez(seq / "smplx" / f"{f:06d}_{p:02d}.npz", betas=np.zeros(10))
            (seq / "meta" / f"{f:06d}_{p:02d}.json").write_text(json.dumps(
                {"focal": [500, 500], "princpt": [32, 24], "image_hw": [48, 64]}))
            _glb(seq / "mesh" / f"{f:06d}_{p:02d}.glb")
        np.savez(seq / "state" / f"{f:06d}.npz", x=np.zeros(1))
    (seq / "manifest.json").write_text("{}")
    (seq / "overlay.mp4").write_bytes(b"\0" * 10)
    np.savez(seq / "tracks.npz", track_ids=np.array([0, 3]))
    # outputs of a later ehps (issue 16): none of them is named in ehps.serve
    (seq / "world.json").write_text(json.dumps({"floor": {"normal": [0, -1, 0], "offset": 1.5}}))
    _glb(seq / "scene_anim.glb")
    (seq / "track_3.bvh").write_text("HIERARCHY\n")
    (seq / ".scene.glb.tmp").write_text("partial")
    (seq / "notes.xyz").write_text("unknown kind")
    res = scan_results(out)
    assert res.sequence == "input"
    assert "input/state/000000.npz" not in res.files and "input/manifest.json" not in res.files
    assert not any(".tmp" in k or k.endswith(".xyz") for k in res.files)
    scene = res.scene("/api/jobs/J", "video", 10.0, 2)
    assert [p["id"] for p in scene["people"]] == [0, 3]
    assert [m["frame"] for m in scene["meshes"]] == [0, 1]
    assert scene["overlay"] == {"type": "video", "url": "/api/jobs/J/files/input/overlay.mp4"}
    assert scene["animations"] == [{"url": "/api/jobs/J/files/input/scene_anim.glb",
                                    "name": "scene_anim.glb"}]
    assert scene["world"]["data"]["floor"]["offset"] == 1.5
    assert scene["camera"] == {"focal": [500.0, 500.0], "princpt": [32.0, 24.0],
                               "image_hw": [48, 64]}
    names = {d["name"] for d in res.downloads("/api/jobs/J")}
    assert names == {"params.zip", "meshes.zip", "overlay.mp4", "tracks.npz", "world.json",
                     "scene_anim.glb", "track_3.bvh"}
    for which, expected in (("params", 10), ("meshes", 4)):
        z = build_zip(res, which, tmp_path / f"{which}.zip")
        members = zipfile.ZipFile(z).namelist()
        assert len(members) == expected and not any(m.startswith("input/") for m in members)
    assert {"tracks.npz", "world.json", "smplx/000001_03.npz"} <= set(
        zipfile.ZipFile(tmp_path / "params.zip").namelist())
    t0 = (tmp_path / "params.zip").stat().st_mtime_ns
    time.sleep(0.01)
    build_zip(res, "params", tmp_path / "params.zip")  # built once, then reused
    assert (tmp_path / "params.zip").stat().st_mtime_ns == t0


def test_missing_page_assets_say_how_to_get_them(tmp_path):
    from fastapi.testclient import TestClient

    from ehps.serve.app import create_app
    from ehps.serve.assets import STATIC_DIR, install_assets, missing_assets
    from ehps.serve.config import ServeConfig

    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text((STATIC_DIR / "index.html").read_text())
    assert "vendor/three/three.module.js" in missing_assets(static)
    client = TestClient(create_app(ServeConfig(), static_dir=static),
                        base_url="http://127.0.0.1:7860")  # no lifespan: no workers needed
    r = client.get("/")
    assert r.status_code == 503 and "npm ci" in r.text and "setup.sh" in r.text
    fake = tmp_path / "node_modules" / "three"
    for rel in ("package.json", "build/three.module.js", "build/three.core.js", "LICENSE",
                "examples/jsm/controls/OrbitControls.js", "examples/jsm/loaders/GLTFLoader.js",
                "examples/jsm/utils/BufferGeometryUtils.js", "examples/jsm/utils/SkeletonUtils.js"):
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text(f"// {rel}")
    install_assets(fake.parent, static_dir=static)
    assert missing_assets(static) == []
    r = client.get("/")
    assert r.status_code == 200 and "importmap" in r.text
    assert client.get("/static/vendor/three/addons/loaders/GLTFLoader.js").text == \
        "// examples/jsm/loaders/GLTFLoader.js"


def test_cli_flags(capsys):
    from ehps.cli.main import build_parser, main

    assert main(["serve", "--port", "70000"]) == 2
    assert "--port must be in 1..65535" in capsys.readouterr().err
    args = build_parser().parse_args(["serve", "--workers", "2", "--max-video-s", "5"])
    assert (args.host, args.port, args.workers, args.max_video_s) == ("127.0.0.1", 7860, 2, 5.0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--workers", "0"])

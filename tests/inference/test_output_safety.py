"""Outputs never clobber, never mix, never leave stale results; one bad item never stops the rest;
an unusable ``--out`` is one line before any work (issue 13, output side).

The estimator is the trivial fixed-pose one (fast, no network), plugged in where ``ehps infer``
builds its predictor; the real full and read-only disks are small tmpfs mounts inside a private
mount namespace (``unshare -m``, where the machine allows it)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from fixed_estimator import FixedPoseEstimator
from infer_scene import write_video

from ehps.cli.main import main
from ehps.inference.predictor import Predictor
from ehps.io.outdir import sequence_folder_name

BOXES = [[16, 72, 178, 408], [427, 49, 212, 350]]


@pytest.fixture
def fixed(monkeypatch, synthetic_smplx_dir):
    """``ehps infer`` runs the fixed-pose estimator (whatever --checkpoint says)."""

    def from_config(estimator, detection, **kwargs):
        return Predictor(FixedPoseEstimator(synthetic_smplx_dir), detection)

    monkeypatch.setattr(Predictor, "from_config", staticmethod(from_config))


@pytest.fixture
def inputs(tmp_path, assets_dir) -> dict[str, Path]:
    d = tmp_path / "in"
    d.mkdir()
    for name in ("basketball1.png", "basketball2.png"):
        shutil.copy(assets_dir / name, d / name)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps(BOXES))
    return {"dir": d, "boxes": boxes}


def _infer(*args: object) -> int:
    return main(["infer", *map(str, args), "--quiet"])


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if ".tmp" in p.name or p.name.endswith(".lock")]


def test_sequence_folder_names_are_safe_and_unique():
    used: set[str] = set()
    names = [sequence_folder_name(stem, used) for stem in
             ("..", "...", ".", "", "smplx", "SMPLX", "clip", "clip", ".hidden", "a/../b",
              "manifest.json", "x" * 300)]
    assert names[:4] == ["video", "video_2", "video_3", "video_4"]
    assert names[4:8] == ["smplx_video", "SMPLX_video_2", "clip", "clip_2"]
    assert names[8] == "hidden" and "/" not in names[9] and names[10] == "manifest.json_video"
    assert len(names[11]) == 100
    assert all(n and not n.startswith(".") for n in names)


def test_dot_named_videos_stay_inside_out_and_do_not_clobber(fixed, inputs, tmp_path):
    frames = [np.full((96, 128, 3), 60 + 20 * i, np.uint8) for i in range(3)]
    videos = [inputs["dir"] / name for name in ("..mp4", "...mp4", "smplx.mp4")]
    for path in videos:
        write_video(path, frames, "mpeg4")
    out = tmp_path / "parent" / "out"
    # the folder lists smplx.mp4 (hidden files are not listed): the dot names are given
    assert _infer(inputs["dir"], *videos[:2], "--boxes", inputs["boxes"], "--out", out) == 0
    summary = json.loads((out / "summary.json").read_text())
    folders = {s["name"]: Path(s["folder"]) for s in summary["sequences"]}
    assert set(folders) == {"images", "video", "video_2", "smplx_video"}
    for name, folder in folders.items():
        assert folder.resolve().parent == out.resolve() or name == "images"
    # the images' own results are intact next to the videos'
    assert sorted(p.name for p in (out / "smplx").glob("*.npz")) == [
        "000000_00.npz", "000000_01.npz", "000001_00.npz", "000001_01.npz"]
    for name in ("video", "video_2", "smplx_video"):
        assert len(list((out / name / "smplx").glob("*.npz"))) == 6
    assert sorted(os.listdir(out.parent)) == ["out"]  # nothing written beside --out


def test_a_folder_in_use_is_refused_with_the_pid(fixed, inputs, tmp_path, capsys):
    out = tmp_path / "busy"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom ehps.io.outdir import OutputFolder\n"
         f"with OutputFolder({str(out)!r}):\n    print('locked', flush=True)\n"
         "    time.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert _infer(inputs["dir"], "--boxes", inputs["boxes"], "--out", out) == 2
        err = capsys.readouterr().err.strip()
        assert f"in use by another ehps run (PID {holder.pid})" in err
        assert len(err.splitlines()) == 1
    finally:
        holder.kill()  # dying releases the lock
        holder.wait()
    assert _infer(inputs["dir"], "--boxes", inputs["boxes"], "--out", out) == 0
    assert not _leftovers(out)


def test_a_rerun_needs_resume_or_overwrite(fixed, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert _infer(inputs["dir"], "--boxes", inputs["boxes"], "--out", out) == 0
    (out / "notes.txt").write_text("mine")
    first = (out / "smplx" / "000000_00.npz").stat().st_mtime_ns
    # fewer inputs into the same folder: refused, nothing touched
    one = inputs["dir"] / "basketball1.png"
    assert _infer(one, "--boxes", inputs["boxes"], "--out", out) == 2
    err = capsys.readouterr().err
    assert "earlier run" in err and "--resume" in err and "--overwrite" in err
    assert (out / "smplx" / "000000_00.npz").stat().st_mtime_ns == first
    # --overwrite: the earlier results are gone (no stale frame 1), the user's file is kept
    assert _infer(one, "--boxes", inputs["boxes"], "--out", out, "--overwrite") == 0
    assert sorted(p.name for p in (out / "smplx").glob("*.npz")) == ["000000_00.npz",
                                                                      "000000_01.npz"]
    assert not (out / "meta" / "000001_00.json").exists() and (out / "notes.txt").exists()
    # --resume continues it
    assert _infer(one, "--boxes", inputs["boxes"], "--out", out, "--resume") == 0
    assert json.loads((out / "summary.json").read_text())["frames_resumed"] == 1


def test_files_follow_the_umask(tmp_path):
    code = """
import os, stat, sys
from pathlib import Path
import numpy as np
os.umask(int(sys.argv[2], 8))
from ehps.io.video import VideoEncoder
from ehps.utils.io import atomic_save_npz, atomic_write_json
d = Path(sys.argv[1])
atomic_write_json(d / "a.json", {"x": 1})
atomic_save_npz(d / "b.npz", x=np.zeros(3))
enc = VideoEncoder(d / "c.mp4", 10.0)
enc.write(np.zeros((32, 32, 3), np.uint8))
enc.close()
print(" ".join(oct(stat.S_IMODE((d / n).stat().st_mode)) for n in ("a.json", "b.npz", "c.mp4")))
"""
    for umask, mode in (("027", "0o640"), ("002", "0o664"), ("022", "0o644")):
        d = tmp_path / umask
        d.mkdir()
        out = subprocess.run([sys.executable, "-c", code, str(d), umask], capture_output=True,
                             text=True, check=True).stdout.split()
        assert out == [mode] * 3, (umask, out)


def test_infer_results_are_not_private(fixed, inputs, tmp_path):
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        assert _infer(inputs["dir"], "--boxes", inputs["boxes"], "--out", out) == 0
    finally:
        os.umask(old)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()}
    assert modes == {0o644}


def test_a_tiny_image_is_named_skipped_and_counted(fixed, inputs, tmp_path, capsys):
    cv2.imwrite(str(inputs["dir"] / "basketball1b_tiny.png"), np.zeros((1, 1, 3), np.uint8))
    out = tmp_path / "out"
    assert _infer(inputs["dir"], "--boxes", inputs["boxes"], "--out", out) == 3
    text = capsys.readouterr().out
    assert "basketball1b_tiny.png: the image is 1x1 pixels" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_done"] == 2 and len(summary["failures"]) == 1
    assert "basketball1b_tiny.png" in summary["failures"][0]["input"]
    # the images after it were estimated
    assert (out / "smplx" / "000002_01.npz").exists()


@pytest.mark.embedded
def test_demo_names_and_skips_a_tiny_image(tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    rc = main(["demo", "--image", str(tiny), "--out", str(tmp_path / "demo"), "--quiet"])
    assert rc == 3
    out = capsys.readouterr().out
    assert "tiny.png: the image is 1x1 pixels, too small to show a person" in out
    assert "people found: 0" in out


def test_out_that_is_a_file_or_under_a_file(inputs, tmp_path, capsys):
    a_file = tmp_path / "results"
    a_file.write_text("not a folder")
    t0 = time.perf_counter()
    assert _infer(inputs["dir"], "--out", a_file) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(a_file) in err[0] and "is a file, not a folder" in err[0]
    assert _infer(inputs["dir"], "--out", a_file / "sub" / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{a_file} is a file" in err[0]
    assert time.perf_counter() - t0 < 5  # refused before any model is loaded
    assert sorted(os.listdir(tmp_path)) == ["boxes.json", "in", "results"]


def test_a_failing_disk_during_the_run_is_one_line(fixed, inputs, tmp_path, capsys,
                                                   monkeypatch):
    import errno

    from ehps.inference import writer

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(writer, "atomic_write_json", full)
    out = tmp_path / "out"
    assert _infer(inputs["dir"], "--boxes", inputs["boxes"], "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on the disk" in err[0] and str(out) in err[0]
    assert not _leftovers(out)


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(not _unshare_works(),
                                  reason="needs private tmpfs mounts (unshare -m as root)")


def _infer_on_tmpfs(mount: Path, options: str, args: list[str], prelude: str = ""
                    ) -> subprocess.CompletedProcess:
    """``ehps infer`` in a private mount namespace with a tmpfs at ``mount``."""
    code = (f"{prelude}\nfrom ehps.cli.main import main\n"
            f"raise SystemExit(main({args!r}))")
    script = (f"mount -t tmpfs -o {options} tmpfs {mount} && {sys.executable} -c \"$0\"; "
              f"rc=$?; ls -A {mount} > {mount.parent / 'listing.txt'} 2>/dev/null; exit $rc")
    return subprocess.run(["unshare", "-m", "sh", "-c", script, code], capture_output=True,
                          text=True, timeout=300)


@needs_mounts
def test_read_only_and_full_disks_are_refused_up_front(inputs, tmp_path):
    mount = tmp_path / "mnt"
    mount.mkdir()
    args = ["infer", str(inputs["dir"]), "--out", str(mount / "out"), "--quiet"]
    ro = _infer_on_tmpfs(mount, "size=1m,ro", args)
    assert ro.returncode == 2
    err = ro.stderr.strip().splitlines()
    assert len(err) == 1 and "read-only file system" in err[0] and str(mount) in err[0]
    full = _infer_on_tmpfs(mount, "size=256k", args)
    assert full.returncode == 2
    err = full.stderr.strip().splitlines()
    assert len(err) == 1 and "the disk is full" in err[0]
    assert (tmp_path / "listing.txt").read_text().split() == ["out"]  # no temporary file


@needs_mounts
def test_a_disk_that_fills_during_the_run(inputs, tmp_path, tiny_model_files,
                                          synthetic_smplx_dir):
    mount = tmp_path / "mnt"
    mount.mkdir()
    out = mount / "out"
    args = ["infer", str(inputs["dir"]), "--checkpoint", str(tiny_model_files.safetensors),
            "--smplx-path", str(synthetic_smplx_dir), "--boxes", str(inputs["boxes"]),
            "--device", "cpu", "--save-mesh", "obj", "ply", "--out", str(out), "--quiet"]
    # pass the up-front check, then run out of space while writing meshes
    res = _infer_on_tmpfs(mount, "size=1200k", args,
                          prelude="import ehps.io.outdir as o; o.MIN_FREE_BYTES = 0")
    assert res.returncode == 2, res.stderr[-2000:]
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "no space left on the disk" in err[0], err
    listing = (tmp_path / "listing.txt").read_text().split()
    assert listing == ["out"]

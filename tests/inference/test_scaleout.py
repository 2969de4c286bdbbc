"""Scale-out of ``ehps infer`` (``--devices``, Lightning Fabric, gloo): two CPU processes write
the same files as one process (compared file by file: arrays exactly, JSON without its timing
fields), a bad input on the second rank is reported by the first, a rank that stops loses
nothing the others wrote; the unit plan, the round-robin shares and the manifest parts.

The two-process runs start ``python -m ehps infer`` in a subprocess, the way a user does:
Lightning re-runs the same command once for the second rank.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from infer_scene import write_video

from ehps.cli.main import main
from ehps.config.infer import InferConfig, InputConfig
from ehps.inference.shards import plan_run
from ehps.inference.sources import expand_inputs
from ehps.io.manifest import Manifest, merge_parts, part_name
from ehps.testing.compare_outputs import compare_output_folders
from ehps.utils.scaleout import Ranks


@pytest.fixture(scope="module")
def job(tmp_path_factory, assets_dir) -> dict:
    """5 images (the second unreadable) and 2 short videos: 7 units. Rank 0 of 2 takes units
    0, 2, 4, 6 (a1, a3, a5, clip_b), rank 1 takes 1, 3, 5 (a2_broken, a4, clip_a)."""
    tmp_path = tmp_path_factory.mktemp("job")
    photos = tmp_path / "photos"
    photos.mkdir()
    b1, b2 = (cv2.imread(str(assets_dir / f"basketball{i}.png")) for i in (1, 2))
    for name, img in (("a1", b1), ("a3", b2), ("a4", b1[:, ::-1]), ("a5", b2[::-1])):
        cv2.imwrite(str(photos / f"{name}.png"), img)
    (photos / "a2_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ramp = np.linspace(0, 200, 96, dtype=np.float32)[None, :, None]
    videos = []
    for k, name in enumerate(("clip_a", "clip_b")):
        frames = [np.broadcast_to(ramp + 3 * i + 20 * k, (72, 96, 3)).astype(np.uint8)
                  for i in range(5)]
        videos.append(tmp_path / f"{name}.avi")
        write_video(videos[-1], frames, "mpeg4")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[20, 10, 30, 50]]))
    return {"inputs": [photos, *videos], "boxes": boxes}


@pytest.fixture(scope="module")
def one_process(job, tiny_model_files, synthetic_smplx_dir, tmp_path_factory) -> Path:
    """The job's output folder written by one process (the reference), with one torch thread
    like each of the two processes (Lightning gives each CPU process cores / processes threads:
    with another thread count matrix products may differ in the last bits)."""
    out = tmp_path_factory.mktemp("one") / "out"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["infer", *_args(job, tiny_model_files, synthetic_smplx_dir, out)]) == 3
    finally:
        torch.set_num_threads(threads)
    return out


def _args(job: dict, model, smplx_dir: Path, out: Path) -> list[str]:
    return [*map(str, job["inputs"]), "--checkpoint", str(model.safetensors), "--smplx-path",
            str(smplx_dir), "--boxes", str(job["boxes"]), "--out", str(out), "--device", "cpu",
            "--quiet"]


def _two_processes(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for k in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK"):
        env.pop(k, None)
    return subprocess.run([sys.executable, "-m", "ehps", "infer", *args, "--devices", "2",
                           "--accelerator", "cpu"], capture_output=True, text=True, env=env,
                          timeout=300)


def test_two_processes_write_what_one_process_writes(job, one_process, tiny_model_files,
                                                     synthetic_smplx_dir, tmp_path):
    one, two = one_process, tmp_path / "two"
    proc = _two_processes(_args(job, tiny_model_files, synthetic_smplx_dir, two))
    assert proc.returncode == 3, proc.stderr[-3000:]
    # the bad input of rank 1 is in rank 0's report, on one line, once
    assert len([ln for ln in proc.stdout.splitlines() if "a2_broken.png" in ln]) == 1, \
        proc.stdout
    assert "1 input(s)/frame(s) failed" in proc.stdout
    # float32 round-off only: the network batches crops across frames, and a rank's share
    # makes other batches (ehps.testing.compare_outputs)
    diffs, worst = compare_output_folders(one, two, atol=1e-6, rtol=1e-5,
                                          replace=(str(one), str(two)))
    assert diffs == [] and worst < 1e-4, diffs[:5]
    assert sorted(p.name for p in (two / "smplx").glob("*.npz")) == [
        "000000_00.npz", "000002_00.npz", "000003_00.npz", "000004_00.npz"]
    assert not list((two / "state").glob("manifest.rank*.json"))  # merged, then removed
    summary = json.loads((two / "summary.json").read_text())
    assert [s["name"] for s in summary["sequences"]] == ["images", "clip_a", "clip_b"]
    assert summary["frames_done"] == 4 + 5 + 5


def test_a_rank_that_stops_loses_nothing_the_others_wrote(job, one_process, tiny_model_files,
                                                          synthetic_smplx_dir, tmp_path):
    ref, out = one_process, tmp_path / "out"
    out.mkdir()
    (out / "clip_a").write_text("a file of the user's where clip_a's results go")
    proc = _two_processes(_args(job, tiny_model_files, synthetic_smplx_dir, out))
    assert proc.returncode == 3, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if "rank 1 of 2" in ln]
    assert len(lines) == 1 and "stopped" in lines[0] and "clip_a" in lines[0], proc.stdout
    # rank 0's share (a1, a3, a5, clip_b) and what rank 1 finished before it stopped (a4)
    for name in ("smplx/000000_00.npz", "smplx/000002_00.npz", "smplx/000003_00.npz",
                 "smplx/000004_00.npz", "clip_b/tracks.npz", "clip_b/smplx/000004_00.npz"):
        a, b = np.load(ref / name), np.load(out / name)
        assert set(a.files) == set(b.files)
        for k in a.files:
            np.testing.assert_allclose(b[k], a[k], atol=1e-6, rtol=1e-5) if \
                a[k].dtype.kind == "f" else np.testing.assert_array_equal(b[k], a[k])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["num_done"] == 4 and manifest["complete"] is False
    summary = json.loads((out / "summary.json").read_text())
    assert [s["name"] for s in summary["sequences"]] == ["images", "clip_b"]
    assert (out / "clip_a").read_text().startswith("a file")


def test_plan_and_round_robin_shares(tmp_path):
    for name in ("b.png", "a.png", "c.png", "v1.mp4", "v2.mp4"):
        (tmp_path / name).write_bytes(b"x")
    items = expand_inputs([tmp_path, tmp_path / "v1.mp4"])
    plan = plan_run(items, InferConfig())
    assert plan.units == 3 + 3
    assert [n for _, n in plan.videos] == ["v1", "v2", "v1_2"]  # the names of one process
    shares = [plan.share(Ranks(r, 4).take(plan.units)) for r in range(4)]
    assert [[i for i, _ in imgs] for imgs, _ in shares] == [[0], [1], [2], []]
    assert [[n for n, _, _ in vids] for _, vids in shares] == [[1], [2], [], [0]]
    assert sum(len(i) + len(v) for i, v in shares) == plan.units  # each unit exactly once
    seq = plan_run(items, InferConfig(input=InputConfig(sequence=True, start=1)))
    assert seq.units == 1 + 3 and [i for i, _ in seq.images] == [1, 2]
    assert seq.share(Ranks(0, 2).take(seq.units))[0] == seq.images  # one unit, never split
    assert seq.share(Ranks(1, 2).take(seq.units))[0] == []


def test_manifest_parts_merge_and_resume(tmp_path):
    settings = {"estimator": "x"}
    for rank, (done, failed) in enumerate((({0, 2}, {4: "bad"}), ({1, 4}, {3: "bad"}))):
        m = Manifest.open(tmp_path, settings, resume=False, name=part_name(rank))
        m.done |= done
        m.failed.update(failed)
        m.path.parent.mkdir(exist_ok=True)
        m.path.write_text(json.dumps(m.to_json()))
    resumed = Manifest.open(tmp_path, settings, resume=True, name=part_name(0))
    assert resumed.done == {0, 1, 2, 4}  # an interrupted run's parts are read back
    with pytest.raises(Exception, match="settings changed"):
        Manifest.open(tmp_path, {"estimator": "y"}, resume=True)
    path = merge_parts(tmp_path, complete=True)
    data = json.loads(path.read_text())
    assert data["frames_done"] == [[0, 2], [4, 4]] and data["failed"] == {"3": "bad"}
    assert data["complete"] is True and not list((tmp_path / "state").iterdir())
    assert merge_parts(tmp_path, complete=True) is None
    shutil.rmtree(tmp_path / "state")


def test_bad_scale_out_flags_are_one_line_usage_errors(tmp_path, capsys):
    for flag, value in (("--devices", "0"), ("--devices", "two"), ("--num-nodes", "-1")):
        with pytest.raises(SystemExit) as exc:
            main(["infer", str(tmp_path), "--out", str(tmp_path / "o"), flag, value])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("ehps infer: error: argument " + flag), err

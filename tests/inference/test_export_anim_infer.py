"""``ehps infer ... --export-anim``: the world step and the animation files run at the end of the
inference run, inside its output folder (a fixed-pose estimator keeps it fast), and their files
are results of the run (``--overwrite`` replaces them, a rerun without it is refused)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixed_estimator import FixedPoseEstimator

from ehps.config.infer import InferConfig, InputConfig, OutputConfig
from ehps.inference.predictor import Predictor
from ehps.inference.runner import run_inference


def _frames(tmp_path: Path, assets_dir: Path, n: int = 4) -> tuple[list[Path], Path]:
    frames = []
    for i in range(n):
        target = tmp_path / f"{i:03d}.png"
        shutil.copy(assets_dir / "basketball1.png", target)
        frames.append(target)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[16, 72, 178, 408], [427, 49, 212, 350]]))
    return frames, boxes


def test_export_anim_after_a_sequence_run(tmp_path, assets_dir, synthetic_smplx_dir):
    frames, boxes = _frames(tmp_path, assets_dir)
    out = tmp_path / "out"
    config = InferConfig(input=InputConfig(sequence=True, fps=10.0),
                         output=OutputConfig(out_dir=str(out), export_anim=("glb", "bvh")),
                         progress=False)
    config.detection.boxes = str(boxes)
    config.estimator.smplx_path = str(synthetic_smplx_dir)
    report = run_inference(frames, config, Predictor(FixedPoseEstimator(synthetic_smplx_dir)))
    assert report.exit_code == 0, report.failures
    world = json.loads((out / "world.json").read_text())
    assert world["format"] == "ehps-world" and set(world["tracks"]) == {"0", "1"}
    # four frames of people standing still: the floor is either fitted or refused with a reason
    assert world["frame"] == "floor" or world["fallback_reason"]
    names = sorted(p.name for p in (out / "anim").iterdir())
    assert names == ["scene.glb", "track_00.bvh", "track_00.glb", "track_01.bvh",
                     "track_01.glb"]
    summary = json.loads((out / "summary.json").read_text())
    assert any("track 1:" in line for line in summary["animation"]["lines"])
    assert summary["sequences"][0]["files"]["world.json"].endswith("world.json")
    assert "animation" in report.format()

    # the animation files belong to the run: refused without --overwrite, replaced with it
    from ehps.errors import OutputError

    config.output.export_anim = ()
    with pytest.raises(OutputError, match="earlier run"):
        run_inference(frames, config, Predictor(FixedPoseEstimator(synthetic_smplx_dir)))
    config.output.overwrite = True
    report = run_inference(frames, config, Predictor(FixedPoseEstimator(synthetic_smplx_dir)))
    assert report.exit_code == 0
    assert not (out / "anim").exists() and not (out / "world.json").exists()


def test_a_bad_track_is_named_and_the_others_written(tmp_path, assets_dir, synthetic_smplx_dir):
    """A person seen in one frame only gets a one-line reason; the other track is animated."""
    frames, _ = _frames(tmp_path, assets_dir)
    boxes = tmp_path / "boxes.json"
    per_frame = {f.name: [[16, 72, 178, 408]] + ([[427, 49, 212, 350]] if i == 0 else [])
                 for i, f in enumerate(frames)}
    boxes.write_text(json.dumps(per_frame))
    out = tmp_path / "out"
    config = InferConfig(input=InputConfig(sequence=True, fps=10.0),
                         output=OutputConfig(out_dir=str(out), export_anim=("glb",)),
                         progress=False)
    config.detection.boxes = str(boxes)
    config.estimator.smplx_path = str(synthetic_smplx_dir)
    report = run_inference(frames, config, Predictor(FixedPoseEstimator(synthetic_smplx_dir)))
    assert report.exit_code == 3
    bad = [(src, msg) for src, msg in report.failures if "track" in src]
    assert len(bad) == 1 and "\n" not in bad[0][1] and "frame" in bad[0][1], report.failures
    assert (out / "anim" / "track_00.glb").is_file()
    assert not (out / "anim" / "track_01.glb").exists()


def test_fbx_without_blender_stops_before_any_work(tmp_path, monkeypatch, capsys, assets_dir):
    import ehps.export.anim.fbx as fbx
    from ehps.cli.main import main

    monkeypatch.setattr(fbx, "fbx_backend", lambda: None)
    built = []
    monkeypatch.setattr(Predictor, "from_config", staticmethod(lambda *a, **k: built.append(1)))
    out = tmp_path / "out"
    rc = main(["infer", str(assets_dir / "basketball1.png"), "--sequence", "--out", str(out),
               "--export-anim", "glb", "fbx", "--quiet"])
    text = capsys.readouterr()
    lines = (text.out + text.err).strip().splitlines()
    assert rc == 2 and not built and not out.exists()
    assert len(lines) == 1 and "pip install --no-deps bpy==5.0.1 zstandard" in lines[0]

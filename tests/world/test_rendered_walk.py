"""End to end on a rendered video: a clothed Anny walking on a chequered floor, rendered with the
torch rasteriser, read by ``ehps infer`` (embedded estimator), then ``ehps export anim``.

The default run keeps it to 3 frames (the estimator takes seconds per frame here): the person is
found in every frame, one track comes out, and with so few frames the world step says it cannot
fit a floor (camera frame, reason in world.json) and still writes valid animation files. The slow
test renders 40 frames and checks the floor against the truth; the full measurement (three
cameras, 50 frames) is ``benchmarks/world_synthetic.py --mode render``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.embedded


def _run(tmp_path: Path, n_frames: int, walkers: tuple,
         export_anim: tuple[str, ...] = ()) -> tuple[Path, object, object]:
    from ehps.bodymodels.anny import load_anny
    from ehps.config import InferConfig
    from ehps.config.infer import OutputConfig
    from ehps.inference.predictor import Predictor
    from ehps.inference.runner import run_inference
    from ehps.world.render import write_scene_video
    from ehps.world.synthetic import make_scene

    bm = load_anny()
    scene = make_scene(bm, n_frames=n_frames, camera_height=2.5, pitch_deg=20.0,
                       walkers=walkers)
    video = write_scene_video(scene, bm, {"phenotype": np.full(6, 0.5)}, tmp_path / "walk.mp4")
    config = InferConfig(output=OutputConfig(out_dir=str(tmp_path / "out"),
                                             export_anim=export_anim), progress=False)
    report = run_inference([video], config, Predictor.from_pretrained(None))
    assert report.exit_code == 0, report.failures
    return tmp_path / "out" / "walk", scene, report


def test_rendered_walk_few_frames(tmp_path, capsys):
    from ehps.cli.main import main

    # ehps infer --export-anim glb bvh: the animation step at the end of the run
    folder, _, report = _run(tmp_path, 3, (((0.0, 0.0), 90.0, 0.0),), ("glb", "bvh"))
    tracks = np.load(folder / "tracks.npz")
    long = [t for t in tracks["track_ids"] if tracks[f"t{t}/valid"].sum() == 3]
    assert len(long) == 1  # the walker, seen in every frame
    info = json.loads((folder / "world.json").read_text())
    assert info["frame"] == "camera" and "slow, low foot positions" in info["fallback_reason"]
    assert any("no floor" in line for line in report.animation), report.animation
    # ehps export anim on the same folder again: the same files, the same fallback
    assert main(["export", "anim", str(folder), "--formats", "glb", "bvh"]) in (0, 3)
    assert "no floor" in capsys.readouterr().out
    t = int(long[0])
    assert (folder / "anim" / f"track_{t:02d}.glb").stat().st_size > 100_000
    assert (folder / "anim" / f"track_{t:02d}.bvh").read_text().startswith("HIERARCHY")


@pytest.mark.slow
def test_rendered_walk_floor(tmp_path):
    from ehps.world.sequence import WorldOptions, solve_world

    folder, scene, _ = _run(tmp_path, 40, (((-1.2, -0.6), 90.0, 0.0), ((1.0, 0.6), -110.0, 0.4)))
    sol = solve_world(folder, WorldOptions())
    assert sol.world.has_floor, sol.warnings
    n_true, _ = scene.floor_in_camera()
    assert np.degrees(np.arccos(np.clip(sol.world.floor.normal @ n_true, -1, 1))) < 5.0

"""Scale-out of ``ehps annotate`` (``--devices``): the HumanData file of a job shared out over
ranks equals the one-process file, array by array.

- fast: two ranks played one after the other in this process (their gather is a dict), with
  the embedded estimator (each image fitted once and the result reused);
- slow: ``python -m ehps annotate --devices 2`` (two CPU processes, gloo) against one process.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from ehps.cli.main import main
from ehps.training.annotate import annotate_images
from ehps.utils.scaleout import Ranks


@pytest.fixture(scope="module")
def photos(tmp_path_factory, assets_dir) -> Path:
    d = tmp_path_factory.mktemp("annotate_photos")
    b1, b2 = (cv2.imread(str(assets_dir / f"basketball{i}.png")) for i in (1, 2))
    cv2.imwrite(str(d / "p1.png"), b1)
    (d / "p2.png").write_bytes(b"not an image")  # on rank 1 of 2
    cv2.imwrite(str(d / "p3.png"), b2[:, ::-1].copy())
    return d


def _same_humandata(a: Path, b: Path) -> None:
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        assert set(za.files) == set(zb.files)
        for k in za.files:
            np.testing.assert_array_equal(za[k], zb[k], err_msg=k)


class _Memo:
    """The embedded estimator; each image is fitted once (both runs get the same result)."""

    def __init__(self) -> None:
        from ehps.fitting import EmbeddedEstimator

        self.estimator = EmbeddedEstimator()
        self.cache: dict[str, Any] = {}

    def __call__(self, rgb: np.ndarray, source: str) -> Any:
        if source not in self.cache:
            self.cache[source] = self.estimator(rgb, source=source)
        return copy.deepcopy(self.cache[source])


class _PlayedRanks(Ranks):
    """Rank ``rank`` of 2 in this process: rank 1 runs first and leaves its share in ``store``,
    rank 0 gathers it."""

    def __init__(self, rank: int, store: dict[int, Any]) -> None:
        super().__init__(rank, 2)
        self.store = store

    def gather(self, obj: Any) -> list[Any] | None:
        self.store[self.rank] = obj
        return [self.store[0], self.store[1]] if self.rank == 0 else None

    def agree(self, step: Any) -> Any:
        return step()


def test_two_ranks_write_the_one_process_file(photos, tmp_path):
    memo = _Memo()
    one = annotate_images([photos], tmp_path / "one.npz", estimator=memo)
    store: dict[int, Any] = {}
    assert annotate_images([photos], tmp_path / "r1.npz", estimator=memo,
                           ranks=_PlayedRanks(1, store)) is None
    assert not (tmp_path / "r1.npz").exists()  # only rank 0 writes
    assert [i for i, _, _ in store[1].items] == [] and [i for i, _ in store[1].failed] == [1]
    two = annotate_images([photos], tmp_path / "two.npz", estimator=memo,
                          ranks=_PlayedRanks(0, store))
    assert two is not None and one["people"] == two["people"] > 0
    assert two["failed"] == one["failed"] and len(one["failed"]) == 1
    assert store[1].failed[0][1][0].endswith("p2.png")
    assert all(not p.vertices_cam.size for _, _, r in store[0].items
               for p in r.people)  # no meshes sent to rank 0
    _same_humandata(tmp_path / "one.npz", tmp_path / "two.npz")


@pytest.mark.slow
def test_two_processes_write_the_one_process_file(photos, tmp_path, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each of the two processes (Lightning: cores / processes)
    try:
        assert main(["annotate", str(photos), "--out", str(tmp_path / "one.npz"),
                     "--quiet"]) == 3
    finally:
        torch.set_num_threads(threads)
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "RANK", "WORLD_SIZE")}
    proc = subprocess.run([sys.executable, "-m", "ehps", "annotate", str(photos), "--out",
                           str(tmp_path / "two.npz"), "--quiet", "--devices", "2",
                           "--accelerator", "cpu"], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert len([ln for ln in proc.stdout.splitlines() if "p2.png" in ln]) == 1
    _same_humandata(tmp_path / "one.npz", tmp_path / "two.npz")

"""One bad item never stops the rest: ``ehps annotate`` names and skips missing, corrupt and
too-small images, writes the others and exits 3 (the embedded estimator is replaced by a stub
that checks its input like the real one, so the test takes seconds).

The reference for what is written: the stub's known person, read back from the HumanData file.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ehps.cli.main import main
from ehps.data import HumanData
from ehps.errors import InputError
from ehps.geometry.camera import Intrinsics
from ehps.structures import FrameResult, PersonEstimate


class _StubEstimator:
    """Returns one fixed person per image; refuses images under 2x2 as the real one does."""

    def __init__(self, *args, **kwargs) -> None:
        self.seen: list[str] = []

    def __call__(self, rgb: np.ndarray, source: str = "") -> FrameResult:
        if rgb.shape[0] < 2 or rgb.shape[1] < 2:
            raise InputError(f"the image is {rgb.shape[1]}x{rgb.shape[0]} pixels, too small")
        self.seen.append(source)
        h, w = rgb.shape[:2]
        k = Intrinsics(500.0, 500.0, w / 2, h / 2)
        joints = np.tile(np.array([[0.0, 0.0, 3.0]], np.float32), (55, 1))
        person = PersonEstimate(
            bbox_xywh=np.array([1, 1, 10, 20], np.float32), score=0.9, body_model="anny",
            params={"global_orient": np.full(3, 0.25, np.float32)},
            vertices_cam=joints, joints_cam=joints, joints_img=joints[:, :2] * 0 + 5.0,
            intrinsics=k)
        return FrameResult(source, 0, (h, w), k, [person])


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    good1, good2 = tmp_path / "a.png", tmp_path / "d.png"
    cv2.imwrite(str(good1), np.full((40, 30, 3), 90, np.uint8))
    cv2.imwrite(str(good2), np.full((40, 30, 3), 120, np.uint8))
    corrupt = tmp_path / "b.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    tiny = tmp_path / "c.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    return [good1, corrupt, tiny, tmp_path / "missing.png", good2]


def test_annotate_skips_bad_images_and_writes_the_rest(images, tmp_path, monkeypatch, capsys):
    import ehps.fitting

    monkeypatch.setattr(ehps.fitting, "EmbeddedEstimator", _StubEstimator)
    out = tmp_path / "out" / "pseudo.npz"
    rc = main(["annotate", *map(str, images), "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 3
    for name in ("b.png", "c.png", "missing.png"):
        assert f"{name}" in printed
    assert "2 people from 4 images" in printed
    hd = HumanData(out)
    assert list(hd.array("image_path")) == ["a.png", "d.png"]
    np.testing.assert_allclose(hd.param_dict("smplx")["global_orient"], 0.25)

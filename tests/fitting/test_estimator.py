"""The embedded estimator on real images: the bundled photo, nobody, bad files, a huge image."""

from __future__ import annotations

import numpy as np
import pytest

from ehps.errors import InputError
from ehps.fitting.estimator import NO_PERSON_MESSAGE, EmbeddedEstimator

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def estimator(anny_body):
    return EmbeddedEstimator(body_model=anny_body)


def test_bundled_photo_two_people_within_reprojection_targets(estimator, assets_dir):
    from ehps.io.image import load_image

    image = load_image(assets_dir / "basketball1.png")
    result = estimator(image, source="basketball1.png")
    assert len(result.people) == 2
    assert result.image_hw == (480, 640) and result.faces.shape[1] == 3
    for person in result.people:
        errs = person.extras["reproj_px"]
        assert errs["body"] <= 10.0
        for side in ("left_hand", "right_hand"):
            assert np.isnan(errs[side]) or errs[side] <= 6.0
        assert np.isnan(errs["face"]) or errs["face"] <= 4.0
        # the mesh lies in front of the camera and projects inside the person's box
        assert (person.vertices_cam[:, 2] > 0.5).all()
        x, y, w, h = person.bbox_xywh
        centre = person.joints_img[:22].mean(0)
        assert x - 0.1 * w <= centre[0] <= x + 1.1 * w and y - 0.1 * h <= centre[1] <= y + 1.1 * h
    assert {"detect", "fit", "total"} <= set(estimator.timings)
    # at least one visible hand and one face on this photo are fitted
    assert any(np.isfinite(p.extras["reproj_px"]["face"]) for p in result.people)
    assert any(np.isfinite(p.extras["reproj_px"]["left_hand"]) for p in result.people)


def test_astronaut_one_person_within_reprojection_targets(estimator):
    from skimage import data  # scikit-image is a dev dependency

    result = estimator(np.ascontiguousarray(data.astronaut()))
    assert len(result.people) == 1
    errs = result.people[0].extras["reproj_px"]
    assert errs["body"] <= 10.0 and errs["face"] <= 4.0
    # no hands are visible in this photo (gloves / out of frame): none are fitted to
    assert np.isnan(errs["left_hand"]) and np.isnan(errs["right_hand"])


def test_no_person_gives_empty_result_with_message(estimator):
    rng = np.random.default_rng(0)
    wall = np.full((360, 480, 3), 180, np.uint8) + rng.integers(0, 8, (360, 480, 3), np.uint8)
    result = estimator(wall)
    assert result.people == []
    assert result.warnings == [NO_PERSON_MESSAGE]


def test_unreadable_files_name_the_file(estimator, tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(InputError, match="nope.jpg"):
        estimator.predict_path(missing)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(InputError, match="corrupt.png"):
        estimator.predict_path(corrupt)


def test_bad_arrays_are_rejected(estimator):
    with pytest.raises(InputError, match="RGB image"):
        estimator(np.zeros((10, 10, 5), np.uint8))
    with pytest.raises(InputError, match="RGB image"):
        estimator(np.zeros((5,), np.uint8))


def test_huge_image_keeps_original_pixel_coordinates(estimator, assets_dir):
    import cv2

    from ehps.io.image import load_image

    small = load_image(assets_dir / "basketball1.png")
    scale = 6  # 3840 x 2880
    big = cv2.resize(small, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    result = estimator(big)
    assert len(result.people) == 2
    assert result.image_hw == big.shape[:2]
    ref = estimator(small)
    compared = 0
    for p_big in result.people:
        assert p_big.extras["reproj_px"]["body"] <= 10.0 * scale
        # the same person in the small image: nearest box centre
        c_big = p_big.bbox_xywh[:2] + p_big.bbox_xywh[2:] / 2
        p_small = min(ref.people, key=lambda p: np.linalg.norm(
            (p.bbox_xywh[:2] + p.bbox_xywh[2:] / 2) * scale - c_big))
        lm_big, lm_small = p_big.extras["landmarks"], p_small.extras["landmarks"]
        if np.median(np.linalg.norm(lm_big.body_2d / scale - lm_small.body_2d, axis=1)) > 3.0:
            continue  # the detector guessed differently (e.g. a person cut by the border)
        # same landmarks (up to scale) -> the fit lands in the same place, in big-image pixels
        d = np.linalg.norm(p_big.joints_img[:22] - p_small.joints_img[:22] * scale, axis=1)
        assert np.median(d) < 6 * scale
        compared += 1
    assert compared >= 1


def test_smplx_body_model_path_on_bundled_photo(synthetic_smplx_dir, assets_dir):
    """The SMPL-X side (joint/landmark tables, 68-point face from the 478 mesh) on real
    landmarks, with the synthetic SMPL-X-format model standing in for the licensed files."""
    from ehps.io.image import load_image

    est = EmbeddedEstimator(body_model="smplx", smplx_path=synthetic_smplx_dir)
    result = est(load_image(assets_dir / "basketball1.png"))
    assert len(result.people) == 2
    for person in result.people:
        assert person.body_model == "smplx" and person.joints_cam.shape == (144, 3)
        assert person.params["betas"].shape == (1, 10)
        errs = person.extras["reproj_px"]
        assert errs["body"] <= 10.0
        assert np.isnan(errs["face"]) or errs["face"] <= 4.0
    assert result.faces.shape == (est.body_model.faces.shape[0], 3)

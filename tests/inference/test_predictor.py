"""The Predictor's network path: official and safetensors weights give the same people; batching
across people and images equals a one-crop-at-a-time loop built from the geometry primitives;
meshes equal the ``smplx`` package's SMPL-X on the same parameters; un-cropping puts the root
joint on the same pixel in the person and the shared camera; missing SMPL-X files are handled."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from ehps.errors import BodyModelError, CheckpointError, InputError
from ehps.geometry.camera import Intrinsics, project_points
from ehps.geometry.crop import crop_person, process_bbox
from ehps.inference.camera import person_intrinsics
from ehps.inference.detect import limit_people
from ehps.inference.network import NetworkEstimator, resolve_device
from ehps.inference.predictor import Predictor
from ehps.structures import SMPLX_PARAM_KEYS


def _project(points: np.ndarray, k: Intrinsics) -> np.ndarray:
    return project_points(np.asarray(points, np.float64), k.focal, k.princpt, eps=0.0)

BOXES = {
    "basketball1.png": np.array([[16, 72, 178, 408], [427, 49, 212, 350], [600, 400, 80, 80]],
                                np.float32),
    "basketball2.png": np.array([[20, 70, 175, 405], [300, 100, 60, 150]], np.float32),
}


@pytest.fixture(scope="module")
def photos(assets_dir):
    from ehps.io.image import load_image

    return {name: load_image(assets_dir / name) for name in BOXES}


def test_official_and_safetensors_agree(tiny_model_files, synthetic_smplx_dir, photos):
    img = photos["basketball1.png"]
    a = Predictor.from_pretrained(tiny_model_files.official, variant=tiny_model_files.variant,
                                  device="cpu", smplx_path=synthetic_smplx_dir,
                                  model_overrides=tiny_model_files.overrides)
    b = Predictor.from_pretrained(tiny_model_files.safetensors, device="cpu",
                                  smplx_path=synthetic_smplx_dir)
    assert isinstance(a.estimator, NetworkEstimator) and isinstance(b.estimator, NetworkEstimator)
    assert b.name == "smplestx_s"
    ra, rb = a(img, BOXES["basketball1.png"]), b(img, BOXES["basketball1.png"])
    assert len(ra.people) == len(rb.people) == 3  # the third box is partly outside: clipped
    for pa, pb in zip(ra.people, rb.people):
        for key in SMPLX_PARAM_KEYS:
            np.testing.assert_allclose(pa.params[key], pb.params[key], atol=1e-6)


def test_batched_equals_single_crop_loop(tiny_predictor, photos):
    pred = tiny_predictor(batch_size=4)
    names = list(BOXES)
    results = pred.predict([photos[n] for n in names], [BOXES[n] for n in names],
                           sources=names)
    model = pred.estimator.model
    for name, res in zip(names, results):
        img = photos[name]
        h, w = img.shape[:2]
        assert res.source == name and len(res.people) == len(BOXES[name])
        for box, person in zip(BOXES[name], res.people):
            cb = process_bbox(box, w, h, ratio=1.2)
            np.testing.assert_allclose(person.crop_bbox_xywh, cb, atol=1e-4)
            x = torch.from_numpy(crop_person(img, cb).image).permute(2, 0, 1)[None] / 255.0
            with torch.inference_mode():
                ref = model(x)
            np.testing.assert_allclose(person.params["body_pose"],
                                       ref.body_pose[0].numpy(), atol=2e-4)
            np.testing.assert_allclose(person.params["transl"][0], ref.cam_trans[0].numpy(),
                                       rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(person.params["betas"][0], ref.betas[0].numpy(),
                                       atol=2e-4)
            for key, shape in SMPLX_PARAM_KEYS.items():
                assert person.params[key].shape == shape and person.params[key].dtype == np.float32
            k = person_intrinsics(cb)
            assert person.intrinsics == k
            np.testing.assert_allclose(person.joints_img, _project(person.joints_cam, k),
                                       rtol=1e-5, atol=1e-3)


def test_meshes_match_the_smplx_package(tiny_predictor, photos, synthetic_smplx_dir):
    smplx = pytest.importorskip("smplx")
    pred = tiny_predictor()
    res = pred(photos["basketball1.png"], BOXES["basketball1.png"][:2])
    ref_model = smplx.SMPLX(str(synthetic_smplx_dir / "SMPLX_NEUTRAL.npz"), use_pca=False,
                            flat_hand_mean=False, use_face_contour=True, num_betas=10,
                            num_expression_coeffs=10, batch_size=1)
    for person in res.people:
        kw = {k: torch.from_numpy(person.params[k].reshape(1, -1)) for k in SMPLX_PARAM_KEYS}
        with torch.no_grad():
            out = ref_model(**kw)
        np.testing.assert_allclose(person.vertices_cam, out.vertices[0].numpy(), atol=1e-4)
        np.testing.assert_allclose(person.joints_cam[:55], out.joints[0, :55].numpy(),
                                   atol=1e-4)


def test_root_joint_lands_on_the_same_pixel_in_the_shared_camera(tiny_predictor, photos):
    pred = tiny_predictor()
    k_shared = Intrinsics(900.0, 900.0, 330.0, 250.0)
    res = pred(photos["basketball1.png"], BOXES["basketball1.png"], intrinsics=k_shared)
    assert res.intrinsics == k_shared
    for p in res.people:
        root_person = p.joints_cam[0]
        root_shared = root_person - p.params["transl"][0] + p.transl_full
        np.testing.assert_allclose(_project(root_shared, k_shared),
                                   _project(root_person, p.intrinsics), atol=1e-2)
        # the shared-camera mesh is the same mesh moved (vertices_full)
        np.testing.assert_allclose(p.vertices_full() - p.vertices_cam,
                                   np.broadcast_to(p.transl_full - p.params["transl"][0],
                                                   p.vertices_cam.shape), atol=1e-4)


def test_relocate_round_trip(tiny_predictor, photos):
    pred = tiny_predictor()
    res = pred(photos["basketball1.png"], BOXES["basketball1.png"][:1])
    p = res.people[0]
    t_person, t_full = p.params["transl"].copy(), p.transl_full.copy()
    pred.estimator.relocate(p, t_full, res.intrinsics)
    np.testing.assert_allclose(p.params["transl"], t_person, rtol=1e-5, atol=1e-5)


def test_max_people_keeps_the_best_scores(tiny_predictor, photos):
    scores = np.array([0.2, 0.9, 0.1, 0.8], np.float32)
    np.testing.assert_array_equal(limit_people(np.zeros((4, 4)), scores, 2), [1, 3])
    np.testing.assert_array_equal(limit_people(np.zeros((4, 4)), scores, None), [0, 1, 2, 3])
    pred = tiny_predictor(max_people=2)
    boxes = np.array([[16, 72, 178, 408], [427, 49, 212, 350], [300, 100, 60, 150],
                      [200, 90, 80, 160]], np.float32)
    res = pred.predict([photos["basketball1.png"]], [boxes], scores=[scores])[0]
    np.testing.assert_allclose([p.bbox_xywh for p in res.people], boxes[[1, 3]])
    np.testing.assert_allclose([p.score for p in res.people], [0.9, 0.8])


def test_missing_smplx_files(tiny_model_files, tmp_path, photos, caplog):
    empty = tmp_path / "no_models"
    empty.mkdir()
    with pytest.raises(BodyModelError, match="SMPL-X"):
        Predictor.from_pretrained(tiny_model_files.safetensors, device="cpu", smplx_path=empty,
                                  require_body_model=True)
    pred = Predictor.from_pretrained(tiny_model_files.safetensors, device="cpu",
                                     smplx_path=empty)
    with caplog.at_level(logging.WARNING):
        res = pred(photos["basketball1.png"], BOXES["basketball1.png"][:2])
    assert "SMPL-X model files not found" in caplog.text
    assert len(res.people) == 2 and res.faces is None
    for p in res.people:
        assert p.vertices_cam.shape == (0, 3) and p.params["transl"].shape == (1, 3)
        # the anchor falls back to the model origin: it projects to the same pixel
        np.testing.assert_allclose(_project(p.transl_full, res.intrinsics),
                                   _project(p.params["transl"][0], p.intrinsics), atol=1e-2)


def test_bad_weights_and_devices(tmp_path):
    with pytest.raises(CheckpointError, match="nor a cached weight name.*ehps weights add"):
        Predictor.from_pretrained("smplerx_s32")  # known name, not cached: says how to get it
    with pytest.raises(CheckpointError, match="not found"):
        Predictor.from_pretrained(tmp_path / "nothing.pth.tar")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            resolve_device("cuda")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu9")
    assert resolve_device("cpu").type == "cpu"


def test_bf16_autocast_runs(tiny_predictor, photos):
    a = tiny_predictor()(photos["basketball2.png"], BOXES["basketball2.png"])
    b = tiny_predictor(bf16=True)(photos["basketball2.png"], BOXES["basketball2.png"])
    for pa, pb in zip(a.people, b.people):
        assert np.isfinite(pb.vertices_cam).all()
        np.testing.assert_allclose(pb.params["transl"], pa.params["transl"], rtol=0.05)

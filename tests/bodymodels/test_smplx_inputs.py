"""Input handling of :class:`ehps.bodymodels.smplx.SMPLX`: accepted forms, defaults,
broadcasting, dtype / device behaviour, caching, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ehps.bodymodels import lbs
from ehps.bodymodels.io import load_smplx_data
from ehps.bodymodels.joint_sets import SMPLX_JOINT_NAMES
from ehps.bodymodels.smplx import SMPLX, load_smplx
from ehps.errors import BodyModelError, InputError


@pytest.fixture(scope="module")
def data(synthetic_smplx_dir: Path) -> dict[str, np.ndarray]:
    return load_smplx_data(synthetic_smplx_dir / "SMPLX_NEUTRAL.npz")


@pytest.fixture(scope="module")
def model(data) -> SMPLX:
    return SMPLX(data, dtype=torch.float64)


def _pose(n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.4  # noqa: E731
    return {"global_orient": r(n, 3), "body_pose": r(n, 21, 3), "left_hand_pose": r(n, 15, 3),
            "right_hand_pose": r(n, 15, 3), "jaw_pose": r(n, 3), "leye_pose": r(n, 3),
            "reye_pose": r(n, 3), "betas": r(n, 10), "expression": r(n, 10), "transl": r(n, 3)}


def test_output_contract(model):
    out = model(**_pose(2))
    assert model.name == "smplx" and model.num_vertices == 10475 and model.num_joints == 144
    assert model.faces.dtype == torch.int64 and model.faces.shape[1] == 3
    assert model.parents.shape == (55,) and model.parents[0] == -1
    assert out.vertices.shape == (2, 10475, 3) and out.vertices.is_contiguous()
    assert out.joints.shape == (2, len(SMPLX_JOINT_NAMES), 3)
    assert out.joint_transforms.shape == (2, 55, 4, 4) and out.rotmats.shape == (2, 55, 3, 3)
    assert out.extras["joints_rest"].shape == (2, 55, 3)
    bottom = out.joint_transforms[:, :, 3]
    torch.testing.assert_close(bottom, bottom.new_tensor([0.0, 0, 0, 1]).expand_as(bottom))
    # Buffers are constants, not state: checkpoints of modules holding the layer stay clean.
    assert model.state_dict() == {}


def test_axis_angle_forms_and_rotmats_agree(data):
    model = SMPLX(data, flat_hand_mean=True, dtype=torch.float64)  # no mean: rotmats comparable
    p = _pose(3)
    flat = {k: (v.reshape(3, -1) if k.endswith("pose") else v) for k, v in p.items()}
    single = {k: p[k].reshape(3, 1, 3) for k in ("global_orient", "jaw_pose", "leye_pose",
                                                 "reye_pose")}
    rot = {k: lbs.rodrigues(v.reshape(3, -1, 3)) for k, v in p.items() if k.endswith("pose")
           or k == "global_orient"}
    rot["global_orient"] = rot["global_orient"][:, 0]  # (B, 3, 3) single-joint form
    shape = {k: p[k] for k in ("betas", "expression", "transl")}
    ref = model(**p)
    for variant in (flat, {**p, **single}, {**rot, **shape}):
        out = model(**variant)
        torch.testing.assert_close(out.vertices, ref.vertices, rtol=0, atol=1e-12)
        torch.testing.assert_close(out.joints, ref.joints, rtol=0, atol=1e-12)


def test_defaults_padding_and_broadcast(model):
    p = _pose(4)
    zero = {k: torch.zeros_like(v) for k, v in p.items()}
    torch.testing.assert_close(model().vertices, model(**{k: v[:1] for k, v in zero.items()})
                               .vertices)
    # Missing arguments are zeros, with the batch of the given ones.
    out = model(body_pose=p["body_pose"])
    ref = model(**{**zero, "body_pose": p["body_pose"]})
    torch.testing.assert_close(out.vertices, ref.vertices)
    # Fewer betas / expression components are zero-padded.
    out = model(betas=p["betas"][:, :3], expression=p["expression"][:, :2])
    padded = torch.zeros(4, 10, dtype=torch.float64)
    padded[:, :3] = p["betas"][:, :3]
    pad_e = torch.zeros(4, 10, dtype=torch.float64)
    pad_e[:, :2] = p["expression"][:, :2]
    torch.testing.assert_close(out.vertices, model(betas=padded, expression=pad_e).vertices)
    # A batch of one broadcasts (shared shape for a sequence).
    out = model(body_pose=p["body_pose"], betas=p["betas"][:1])
    ref = model(body_pose=p["body_pose"], betas=p["betas"][:1].expand(4, 10))
    torch.testing.assert_close(out.vertices, ref.vertices)
    # Translation moves everything rigidly.
    moved = model(**p)
    still = model(**{**p, "transl": torch.zeros_like(p["transl"])})
    torch.testing.assert_close(moved.vertices - still.vertices,
                               p["transl"][:, None].expand(4, 10475, 3))
    torch.testing.assert_close(moved.joint_transforms[:, :, :3, 3] - still.joint_transforms[
        :, :, :3, 3], p["transl"][:, None].expand(4, 55, 3))


def test_pca_hands(data):
    model = SMPLX(data, use_pca=True, num_pca_comps=6, dtype=torch.float64)
    coeffs = torch.randn(2, 6, dtype=torch.float64)
    full = coeffs @ torch.as_tensor(data["hands_componentsl"][:6])
    no_pca = SMPLX(data, dtype=torch.float64)
    torch.testing.assert_close(model(left_hand_pose=coeffs).vertices,
                               no_pca(left_hand_pose=full).vertices)
    with pytest.raises(InputError, match=r"\(B, 6\) PCA"):
        model(left_hand_pose=torch.zeros(2, 7, dtype=torch.float64))


def test_mean_hand_is_added_for_axis_angle_only(data):
    model = SMPLX(data, flat_hand_mean=False, dtype=torch.float64)
    zero_pose = model(left_hand_pose=torch.zeros(1, 45, dtype=torch.float64))
    mean = torch.as_tensor(data["hands_meanl"]).reshape(15, 3)
    torch.testing.assert_close(zero_pose.rotmats[0, 25:40], lbs.rodrigues(mean))
    eye = torch.eye(3, dtype=torch.float64).expand(1, 15, 3, 3)
    torch.testing.assert_close(model(left_hand_pose=eye).rotmats[0, 25:40], eye[0])


def test_dtype_and_to(data):
    m32 = SMPLX(data)
    p = _pose(2)
    out = m32(**p)  # float64 inputs are cast to the model dtype
    assert out.vertices.dtype == torch.float32
    m64 = SMPLX(data).to(torch.float64)
    ref = SMPLX(data, dtype=torch.float64)(**p)
    torch.testing.assert_close(m64(**p).vertices, ref.vertices, rtol=0, atol=1e-6)
    with pytest.raises(InputError):
        SMPLX(data, dtype=torch.float16)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"body_pose": torch.zeros(2, 20, 3)}, r"body_pose: expected .*\(B, 21, 3\).*got \(2, 20"),
        ({"body_pose": torch.zeros(63)}, r"body_pose: expected .*got \(63,\)"),
        ({"global_orient": torch.zeros(2, 4)}, r"global_orient: expected .*got \(2, 4\)"),
        ({"left_hand_pose": torch.zeros(2, 15, 3, 4)}, r"left_hand_pose"),
        ({"betas": torch.zeros(2, 11)}, r"betas: expected \(B, <= 10\), got \(2, 11\)"),
        ({"expression": torch.zeros(2)}, r"expression: expected"),
        ({"transl": torch.zeros(2, 2)}, r"transl: expected \(B, 3\)"),
        ({"body_pose": torch.zeros(2, 63), "betas": torch.zeros(3, 10)}, "inconsistent batch"),
        ({"jaw_pose": torch.tensor(0.0)}, "batch-first"),
        ({"jaw_pose": np.zeros((1, 3))}, "torch.Tensor"),
    ],
)
def test_bad_input_is_a_clear_error(model, kwargs, match):
    with pytest.raises(InputError, match=match):
        model(**kwargs)


def test_load_smplx_cache_and_genders(synthetic_smplx_dir):
    a = load_smplx(synthetic_smplx_dir)
    assert load_smplx(synthetic_smplx_dir) is a
    assert load_smplx(synthetic_smplx_dir.parent) is a  # a directory holding smplx/ also works
    b = load_smplx(synthetic_smplx_dir, use_face_contour=False)
    assert b is not a and b(body_pose=torch.zeros(1, 63)).joints.shape == (1, 127, 3)
    male = load_smplx(synthetic_smplx_dir, "male")
    assert (male.v_template[:, 1].max() - male.v_template[:, 1].min()) > (
        a.v_template[:, 1].max() - a.v_template[:, 1].min())
    # Defaults are the official SMPLer-X setting.
    assert (a.num_betas, a.num_expression, a.use_pca, a.flat_hand_mean, a.use_face_contour) == (
        10, 10, False, False, True)
    pkl = SMPLX.from_file(synthetic_smplx_dir / "SMPLX_NEUTRAL.pkl")
    torch.testing.assert_close(pkl(body_pose=torch.full((1, 63), 0.1)).vertices,
                               a(body_pose=torch.full((1, 63), 0.1)).vertices)


def test_gender_without_file(tmp_path, synthetic_smplx_dir):
    (tmp_path / "smplx").mkdir()
    (tmp_path / "smplx" / "SMPLX_NEUTRAL.npz").write_bytes(
        (synthetic_smplx_dir / "SMPLX_NEUTRAL.npz").read_bytes())
    with pytest.raises(BodyModelError, match=r"gender 'female'.*SMPLX_FEMALE\.npz"):
        load_smplx(tmp_path, "female")
    with pytest.raises(BodyModelError, match="unknown SMPL-X gender"):
        load_smplx(tmp_path, "robot")  # type: ignore[arg-type]


def test_vertex_order_of_the_file_does_not_matter(data):
    """A file whose vertex order is not spatially local takes the reordered skinning path; the
    result must be the same mesh (vertex joints excluded: their ids are fixed by SMPL-X)."""
    rng = np.random.default_rng(0)
    n_v = data["v_template"].shape[0]
    perm = rng.permutation(n_v)  # new vertex i = old vertex perm[i]
    inv = np.argsort(perm)
    shuffled = dict(data)
    for key in ("v_template", "shapedirs", "posedirs", "weights"):
        shuffled[key] = data[key][perm]
    shuffled["J_regressor"] = data["J_regressor"][:, perm]
    shuffled["f"] = inv[data["f"].astype(np.int64)]
    local = SMPLX(data, dtype=torch.float64)
    scattered = SMPLX(shuffled, dtype=torch.float64)
    assert not local._permuted and scattered._permuted
    p = _pose(3, seed=5)
    a, b = local(**p), scattered(**p)
    torch.testing.assert_close(b.vertices, a.vertices[:, perm], rtol=0, atol=1e-12)
    keep = [i for i in range(144) if not 55 <= i < 76]
    torch.testing.assert_close(b.joints[:, keep], a.joints[:, keep], rtol=0, atol=1e-12)
    torch.testing.assert_close(scattered.shapedirs, local.shapedirs[perm])

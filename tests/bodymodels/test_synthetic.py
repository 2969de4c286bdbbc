"""The synthetic SMPL-X model: layout, validity and plausibility as a stand-in body.

References: the ``smplx`` package loads the files; geometric facts (height, orientation, which
vertex sits where) are checked against the designed skeleton and the official vertex-id tables.
"""

from __future__ import annotations

import contextlib
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch

from ehps.bodymodels import joint_sets as js
from ehps.bodymodels.io import load_smplx_data
from ehps.bodymodels.synthetic import (
    build_synthetic_smplx,
    synthetic_rest_joints,
    write_synthetic_smplx,
)

EXPECTED_FILES = {"SMPLX_NEUTRAL.npz", "SMPLX_MALE.npz", "SMPLX_FEMALE.npz", "SMPLX_NEUTRAL.pkl",
                  "MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy",
                  "SMPLX_to_J14.pkl"}


@pytest.fixture(scope="module")
def model(synthetic_smplx_dir: Path) -> dict[str, np.ndarray]:
    with np.load(synthetic_smplx_dir / "SMPLX_NEUTRAL.npz", allow_pickle=True) as f:
        return {k: f[k] for k in f.files}


def test_files_and_official_layout(synthetic_smplx_dir, model):
    assert EXPECTED_FILES <= {p.name for p in synthetic_smplx_dir.iterdir()}
    assert model["v_template"].shape == (10475, 3)
    assert model["shapedirs"].shape == (10475, 3, 20)
    assert model["posedirs"].shape == (10475, 3, 486)
    assert model["J_regressor"].shape == (55, 10475) and model["weights"].shape == (10475, 55)
    assert model["kintree_table"].shape == (2, 55)
    np.testing.assert_array_equal(model["kintree_table"][0, 1:], js.SMPLX_PARENTS[1:])
    assert model["dynamic_lmk_faces_idx"].shape == (79, 17)
    with open(synthetic_smplx_dir / "SMPLX_NEUTRAL.pkl", "rb") as fh:
        pkl = pickle.load(fh)  # our own file, written by the fixture
    assert scipy.sparse.issparse(pkl["J_regressor"])
    np.testing.assert_array_equal(pkl["J_regressor"].toarray(), model["J_regressor"])


def test_loads_in_the_reference_package(synthetic_smplx_dir):
    smplx = pytest.importorskip("smplx")
    with contextlib.redirect_stdout(io.StringIO()):
        for ext in ("npz", "pkl"):
            m = smplx.create(str(synthetic_smplx_dir.parent), model_type="smplx", ext=ext,
                             use_face_contour=True, use_pca=False)
            out = m()
            assert out.joints.shape == (1, 144, 3) and torch.isfinite(out.vertices).all()


def test_weights_regressor_and_rest_joints(model):
    w = model["weights"]
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    assert (w >= 0).all() and (np.count_nonzero(w, axis=1) <= 3).all()
    reg = model["J_regressor"]
    np.testing.assert_allclose(reg.sum(1), 1.0, atol=1e-6)
    rest = reg @ model["v_template"]
    np.testing.assert_allclose(rest, synthetic_rest_joints(), atol=1e-3)


def test_plausible_human_body(model):
    v = model["v_template"]
    j = synthetic_rest_joints()
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.6 < height < 1.8
    names = js.SMPLX_SKELETON_NAMES
    idx = {n: i for i, n in enumerate(names)}
    assert j[idx["head"], 1] > j[idx["neck"], 1] > j[idx["pelvis"], 1] > j[idx["left_knee"], 1]
    assert j[idx["left_wrist"], 0] > 0.5 and j[idx["right_wrist"], 0] < -0.5  # T-pose, +x left
    vid = dict(zip(js.VERTEX_JOINT_NAMES, js.VERTEX_JOINT_IDS))
    nose = v[vid["nose"]]
    assert nose[2] > v[js.HAND_REGRESSOR_TIP_VERTICES["left"][0], 2]  # faces +z
    assert nose[2] == pytest.approx(v[:, 2][v[:, 1] > 0.15].max(), abs=1e-6)  # tip of the face
    assert v[vid["left_ear"], 0] > 0.05 and v[vid["right_ear"], 0] < -0.05
    for side in ("left", "right"):
        for f in ("thumb", "index", "middle", "ring", "pinky"):
            tip = v[vid[f"{side}_{f}"]]
            d3 = j[idx[f"{side}_{f}3"]]
            assert 0.01 < np.linalg.norm(tip - d3) < 0.04, (side, f)
        heel, toe = v[vid[f"{side}_heel"]], v[vid[f"{side}_big_toe"]]
        assert heel[1] < -1.25 and toe[1] < -1.25 and toe[2] - heel[2] > 0.15


def test_part_vertex_ids(synthetic_smplx_dir, model):
    from ehps.bodymodels.io import load_flame_vertex_ids, load_mano_vertex_ids

    v = model["v_template"]
    j = synthetic_rest_joints()
    hands = load_mano_vertex_ids(synthetic_smplx_dir / "MANO_SMPLX_vertex_ids.pkl")
    assert all(len(ids) == js.MANO_VERTEX_COUNT for ids in hands.values())
    assert (v[hands["left_hand"], 0] > j[20, 0] - 0.02).all()
    assert (v[hands["right_hand"], 0] < j[21, 0] + 0.02).all()
    assert set(js.HAND_REGRESSOR_TIP_VERTICES["left"]) <= set(hands["left_hand"].tolist())
    face = load_flame_vertex_ids(synthetic_smplx_dir / "SMPL-X__FLAME_vertex_ids.npy")
    assert len(face) == js.FLAME_VERTEX_COUNT == len(set(face.tolist()))
    assert (v[face, 1] > j[12, 1] + 0.04).all()  # all above the neck
    assert {9120, 9929, 9448, 616, 6} <= set(face.tolist())


def test_mesh_is_closed_outward_and_uses_every_vertex(model):
    v, f = model["v_template"], model["f"].astype(np.int64)
    assert f.min() >= 0 and f.max() < len(v)
    assert len(np.unique(f)) == len(v)
    # Every edge is shared by exactly two triangles in opposite directions (closed, oriented).
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    fwd = {tuple(e) for e in edges.tolist()}
    assert len(fwd) == len(edges)
    assert all((b, a) in fwd for a, b in fwd)
    tri = v[f]
    vol = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    assert 0.03 < vol < 0.1  # m^3, outward normals give a positive, human-sized volume


def test_landmarks_on_the_face(model):
    v, f = model["v_template"], model["f"].astype(np.int64)
    bary = model["lmk_bary_coords"]
    # the file stores each coordinate rounded to a multiple of 2**-20 (``_q(bary, 20)``): three
    # roundings of at most 2**-21 each, whatever the machine
    np.testing.assert_allclose(bary.sum(1), 1.0, rtol=0, atol=3 * 2.0**-21)
    lmk = np.einsum("lkc,lk->lc", v[f[model["lmk_faces_idx"]]], bary)
    assert (lmk[:, 2] > 0.06).all() and (0.2 < lmk[:, 1]).all() and (lmk[:, 1] < 0.36).all()
    brows, mouth = lmk[:10], lmk[31:43]
    assert brows[:, 1].min() > mouth[:, 1].max()
    assert np.all(np.diff(brows[:, 0]) > 0)  # person's right (-x) to left (+x)
    dyn = np.einsum("rlkc,rlk->rlc", v[f[model["dynamic_lmk_faces_idx"]]],
                    model["dynamic_lmk_bary_coords"])
    assert dyn[0, 8, 1] < lmk[:, 1].min()  # chin point of the frontal row below the mouth


def test_deterministic_and_options(tmp_path):
    a = build_synthetic_smplx(seed=3)
    b = build_synthetic_smplx(seed=3)
    c = build_synthetic_smplx(seed=4)
    for k in ("v_template", "shapedirs", "posedirs", "lmk_bary_coords"):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["shapedirs"], c["shapedirs"])
    big = build_synthetic_smplx(seed=0, num_betas=300, num_expression=100)
    assert big["shapedirs"].shape == (10475, 3, 400)
    out = write_synthetic_smplx(tmp_path / "m", seed=1, genders=("female",), write_pkl=False)
    assert {p.name for p in out.iterdir()} == EXPECTED_FILES - {"SMPLX_NEUTRAL.npz",
                                                                "SMPLX_MALE.npz",
                                                                "SMPLX_NEUTRAL.pkl"}
    female = load_smplx_data(out / "SMPLX_FEMALE.npz")
    assert np.ptp(female["v_template"][:, 1]) < np.ptp(a["v_template"][:, 1])
    with pytest.raises(ValueError, match="gender"):
        build_synthetic_smplx(gender="robot")


def test_component_layouts_v10_and_v11():
    """v1.0 files (20 columns) give at most 10 + 10; v1.1 (400) up to 300 + 100 (smplx rule)."""
    from ehps.bodymodels.smplx import SMPLX

    small = build_synthetic_smplx(seed=0)
    m = SMPLX(small, num_betas=16, num_expression=16, dtype=torch.float64)
    assert (m.num_betas, m.num_expression) == (10, 10)
    torch.testing.assert_close(m.expr_dirs, torch.as_tensor(small["shapedirs"][:, :, 10:20]))
    big = build_synthetic_smplx(seed=0, num_betas=300, num_expression=100)
    m = SMPLX(big, num_betas=16, num_expression=20, dtype=torch.float64)
    assert (m.num_betas, m.num_expression) == (16, 20)
    torch.testing.assert_close(m.shapedirs, torch.as_tensor(big["shapedirs"][:, :, :16]))
    torch.testing.assert_close(m.expr_dirs, torch.as_tensor(big["shapedirs"][:, :, 300:320]))

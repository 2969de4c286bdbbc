"""Metric blocks, regressors, the SMPL layer, the PLY reader, published numbers and reports,
each against an independent reference (smplx, trimesh, literal official tables, loops)."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch
from eval_reference import rigid_align_np

from ehps.errors import BodyModelError, InputError
from ehps.evaluation.benchmarks._io import read_ply_vertices
from ehps.evaluation.blocks import (
    pw3d_h36m_block,
    pw3d_smplerx_block,
    pw3d_smplestx_block,
    smplestx_block,
)
from ehps.evaluation.published import load_published
from ehps.evaluation.regressors import (
    SMPLXTopology,
    build_hand_regressor,
    load_h36m_regressor,
    load_smplx_to_smpl,
)
from ehps.evaluation.report import EvalReport, render_markdown, report_to_dict, write_report


def _rand(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


# ------------------------------------------------------------------------- blocks
def test_smplestx_outlier_quirk(eval_context):
    topo = eval_context.topology
    gt = _rand((3, topo.num_vertices, 3), 0) * 0.3
    pred = gt.clone()
    pred[0] += _rand((topo.num_vertices, 3), 1) * 0.3  # both hands far off
    right_support = topo.hand_regressors[1].abs().sum(0) > 0
    pred[1, right_support] += _rand((int(right_support.sum()), 3), 2) * 0.3  # right hand only
    vals, dropped = smplestx_block(pred, gt, topo)
    l, r, both = vals["pa_mpjpe_l_hand"], vals["pa_mpjpe_r_hand"], vals["pa_mpjpe_hand"]
    # sample 0: left > 100 mm -> left dropped, right and combined skipped
    assert math.isnan(l[0]) and math.isnan(r[0]) and math.isnan(both[0])
    # sample 1: left kept (~0), right > 100 mm dropped, combined skipped
    assert float(l[1]) < 1e-6 and math.isnan(r[1]) and math.isnan(both[1])
    # sample 2: everything kept
    assert max(float(l[2]), float(r[2]), float(both[2])) < 1e-6
    assert dropped == {"dropped_pa_mpjpe_l_hand": 1, "dropped_pa_mpjpe_r_hand": 1}
    kept, none = smplestx_block(pred, gt, topo, hand_outlier_mm=None)
    assert kept["pa_mpjpe_l_hand"][0] > 100 and kept["pa_mpjpe_r_hand"][1] > 100
    assert none == {"dropped_pa_mpjpe_l_hand": 0, "dropped_pa_mpjpe_r_hand": 0}
    # non-hand metrics are not affected by the quirk
    torch.testing.assert_close(vals["mpvpe_all"], kept["mpvpe_all"])


def test_smplestx_hand_validity_weights(eval_context):
    topo = eval_context.topology
    gt = _rand((2, topo.num_vertices, 3), 3) * 0.3
    pred = gt + 0.01 * _rand((2, topo.num_vertices, 3), 4)
    lv = torch.tensor([False, True])
    vals, _ = smplestx_block(pred, gt, topo, lhand_valid=lv, hand_outlier_mm=None)
    assert math.isnan(vals["mpvpe_l_hand"][0]) and not math.isnan(vals["mpvpe_l_hand"][1])
    assert float(vals["mpvpe_hand"][0]) == pytest.approx(float(vals["mpvpe_r_hand"][0]))
    mean = (vals["mpvpe_l_hand"][1] + vals["mpvpe_r_hand"][1]) / 2
    assert float(vals["mpvpe_hand"][1]) == pytest.approx(float(mean))


def test_pw3d_smplerx_block_matches_loop(eval_context):
    topo = eval_context.topology
    smpl_reg = eval_context.smpl("neutral").J_regressor.double()
    pred = _rand((2, topo.num_vertices, 3), 5) * 0.3
    gt = _rand((2, 6890, 3), 6) * 0.3
    vals = pw3d_smplerx_block(pred, gt, topo, smpl_reg)
    rows = [1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21]
    jx, js = topo.j_regressor.numpy(), smpl_reg.numpy()
    for b in range(2):
        p, g = pred[b].numpy(), gt[b].numpy()
        aligned = p - (jx @ p)[0] + (js @ g)[0]
        jg = (js @ g)[rows]
        ref = np.sqrt((((jx @ aligned)[rows] - jg) ** 2).sum(1)).mean() * 1000
        ref_pa = np.sqrt(((rigid_align_np((jx @ p)[rows], jg) - jg) ** 2).sum(1)).mean() * 1000
        assert float(vals["mpjpe_body"][b]) == pytest.approx(ref, rel=1e-9)
        assert float(vals["pa_mpjpe_body"][b]) == pytest.approx(ref_pa, rel=1e-7)


def test_pw3d_smplestx_and_h36m_blocks_zero_for_translated_copy(eval_context, smpl_side_files):
    topo = eval_context.topology
    mat = eval_context.smplx_to_smpl_matrix
    sel = mat.coalesce().indices()[1]  # one-hot rows of the synthetic map
    gt = _rand((1, 6890, 3), 7) * 0.3
    pred = _rand((1, topo.num_vertices, 3), 8) * 0.3
    pred[0, sel] = gt[0] + torch.tensor([0.3, -0.2, 5.0], dtype=torch.float64)
    h36m = eval_context.h36m_regressor
    for v in pw3d_h36m_block(pred, gt, mat, h36m).values():
        assert float(v.abs().max()) < 1e-9
    # SMPLest-X aligns with SMPL-X J_regressor pelvis onto the SMPL root: exact here because the
    # synthetic SMPL regressor is the SMPL-X one restricted to the selected vertices (float32
    # regressor weights: micrometre-level rounding)
    vals = pw3d_smplestx_block(pred, gt, topo, eval_context.smpl("neutral").J_regressor, mat)
    for k, v in vals.items():
        assert float(v.abs().max()) < 1e-3, k


# ---------------------------------------------------------------------- regressors
def test_hand_regressor_layout_matches_official_construction():
    reg = np.arange(55 * 10475, dtype=np.float64).reshape(55, 10475)
    eye = np.eye(10475)
    # the official make_hand_regressor, written out
    left = np.concatenate((reg[[20, 37, 38, 39]], eye[5361, None], reg[[25, 26, 27]],
                           eye[4933, None], reg[[28, 29, 30]], eye[5058, None],
                           reg[[34, 35, 36]], eye[5169, None], reg[[31, 32, 33]],
                           eye[5286, None]))
    right = np.concatenate((reg[[21, 52, 53, 54]], eye[8079, None], reg[[40, 41, 42]],
                            eye[7669, None], reg[[43, 44, 45]], eye[7794, None],
                            reg[[49, 50, 51]], eye[7905, None], reg[[46, 47, 48]],
                            eye[8022, None]))
    np.testing.assert_array_equal(build_hand_regressor(reg, "left"), left)
    np.testing.assert_array_equal(build_hand_regressor(reg, "right"), right)


def test_topology_needs_the_companion_files(tmp_path):
    with pytest.raises(BodyModelError, match="SMPLX_to_J14.pkl"):
        SMPLXTopology.from_smplx_dir(tmp_path, np.zeros((55, 10475)))


def test_smplx_to_smpl_loader_formats(tmp_path):
    dense = np.zeros((4, 6))
    dense[0, 1], dense[1, 0], dense[2, 5], dense[3, 2] = 1.0, 0.5, 0.25, 2.0
    dense[1, 3] = 0.5
    with open(tmp_path / "m.pkl", "wb") as fh:
        pickle.dump({"matrix": dense}, fh)
    np.savez(tmp_path / "m.npz", matrix=dense)
    verts = _rand((2, 6, 3), 9)
    for path in (tmp_path / "m.pkl", tmp_path / "m.npz"):
        mat = load_smplx_to_smpl(path, 4, 6)
        assert mat.is_sparse
        from ehps.evaluation.regressors import smplx_to_smpl

        np.testing.assert_allclose(smplx_to_smpl(mat, verts).numpy(),
                                   np.einsum("sv,bvc->bsc", dense, verts.numpy()))
    with pytest.raises(BodyModelError, match=r"expected \(6890, 10475\)"):
        load_smplx_to_smpl(tmp_path / "m.pkl")
    with pytest.raises(BodyModelError, match="not found"):
        load_smplx_to_smpl(tmp_path / "nope.pkl")
    np.save(tmp_path / "h.npy", np.zeros((16, 6890)))
    with pytest.raises(BodyModelError, match="17"):
        load_h36m_regressor(tmp_path / "h.npy")


# ------------------------------------------------------------------------- SMPL
def test_smpl_layer_matches_smplx_package(smpl_side_files):
    import smplx as smplx_ref

    from ehps.evaluation.smpl import load_smpl

    ours = load_smpl(smpl_side_files["smpl_dir"], "female")
    ref = smplx_ref.SMPL(model_path=str(smpl_side_files["SMPL_FEMALE"]))
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(3, 72, generator=g) * 0.5
    betas = torch.randn(3, 10, generator=g)
    transl = torch.randn(3, 3, generator=g)
    a = ours(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas, transl=transl)
    b = ref(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas, transl=transl)
    torch.testing.assert_close(a.vertices, b.vertices, atol=2e-6, rtol=0)
    torch.testing.assert_close(a.joints, b.joints[:, :24], atol=2e-6, rtol=0)
    with pytest.raises(InputError, match="body_pose"):
        ours(body_pose=torch.zeros(1, 20, 3))


def test_smpl_file_search_and_errors(tmp_path, monkeypatch):
    from ehps.evaluation.smpl import find_smpl_file, load_smpl_data

    monkeypatch.delenv("EHPS_BODY_MODELS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    with pytest.raises(BodyModelError, match="SMPL_MALE.pkl"):
        find_smpl_file(tmp_path, "male")
    with open(tmp_path / "SMPL_MALE.pkl", "wb") as fh:
        pickle.dump({"v_template": np.zeros((5, 3))}, fh)
    assert find_smpl_file(tmp_path, "male") == tmp_path / "SMPL_MALE.pkl"
    with pytest.raises(BodyModelError, match="missing"):
        load_smpl_data(tmp_path / "SMPL_MALE.pkl")


# -------------------------------------------------------------------------- PLY
@pytest.mark.parametrize("encoding", ["binary", "ascii"])
def test_ply_reader_matches_trimesh(tmp_path, encoding):
    trimesh = pytest.importorskip("trimesh")
    v = np.random.default_rng(0).normal(size=(50, 3))
    f = np.random.default_rng(1).integers(0, 50, (30, 3))
    mesh = trimesh.Trimesh(v, f, process=False)
    path = tmp_path / f"m_{encoding}.ply"
    path.write_bytes(trimesh.exchange.ply.export_ply(mesh, encoding=encoding))
    np.testing.assert_allclose(read_ply_vertices(path), v, rtol=1e-6, atol=1e-6)
    (tmp_path / "bad.ply").write_text("not a ply")
    with pytest.raises(InputError, match="not a PLY"):
        read_ply_vertices(tmp_path / "bad.ply")


# -------------------------------------------------------------- published / report
def test_published_numbers_carry_sources():
    table = load_published()
    assert len(table.numbers) >= 9
    for n in table.numbers:
        assert n.source.tag in ("paper", "README")
        assert all(u.startswith(("https://", "http://")) for u in n.source.urls)
        assert 0 < n.value < 200
    ehf = table.for_benchmark("ehf", "mpvpe_all")
    assert [(n.model, n.value) for n in ehf] == [("SMPLer-X", 62.3)]
    assert table.for_benchmark("synhand") == []
    assert {m.model for m in table.missing_for("synhand")} == {"SMPLest-X"}
    mpe = {n.variant: n.value for n in table.for_benchmark("mpe")}
    assert mpe["smplerx_h32"] == 63.0 and mpe["smplerx_h32_correct"] == 59.7


def test_report_outputs(tmp_path):
    rep = EvalReport("ubody", "smplerx", {"mpvpe_all": 55.5, "pa_mpvpe_hand": float("nan")},
                     counts={"mpvpe_all": 3}, notes=["a note"])
    d = report_to_dict(rep)
    assert d["metrics"] == {"mpvpe_all": 55.5, "pa_mpvpe_hand": None}
    assert d["published"][0]["value_mm"] == 57.4 and "fine-tuned" in d["published"][0]["note"]
    md = render_markdown(rep)
    assert "| PA-MPVPE (Hands) | n/a | — | — |" in md
    assert "a note" in md and "57.4 [paper]" in md
    paths = write_report(rep, tmp_path)
    assert json.loads(paths["json"].read_text())["protocol"] == "smplerx"
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"

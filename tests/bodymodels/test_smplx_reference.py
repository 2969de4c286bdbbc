"""ehps's SMPL-X layer against the reference implementation ``smplx==0.1.28``.

Both load the same synthetic SMPL-X file (written by the session fixture). Every option that
changes the maths is covered: PCA hands on/off, ``flat_hand_mean`` on/off, face contour on/off,
float32 and float64, axis-angle and rotation-matrix input, and gradients.

Tolerances: 1e-5 m in float32 and 1e-9 m in float64 (the synthetic model's arrays are exactly
representable in float32 because ``smplx`` rounds model arrays to float32 even in float64 mode).
"""

from __future__ import annotations

import contextlib
import io
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from ehps.bodymodels.io import load_smplx_data
from ehps.bodymodels.smplx import SMPLX

smplx = pytest.importorskip("smplx")

TOL = {torch.float32: 1e-5, torch.float64: 1e-9}
PER_COMBO = 16  # 8 combos x 16 = 128 samples per dtype
NUM_PCA = 12


@pytest.fixture(scope="module")
def model_data(synthetic_smplx_dir: Path) -> dict[str, np.ndarray]:
    return load_smplx_data(synthetic_smplx_dir / "SMPLX_NEUTRAL.npz")


def _reference(smplx_dir: Path, dtype: torch.dtype, batch: int, layer: bool = False, **options):
    """``smplx`` model on the files in ``smplx_dir`` (``create`` wants its parent directory)."""
    options.setdefault("use_pca", False)  # smplx defaults to PCA hands; ehps does not
    kwargs = dict(model_type="smplx", gender="neutral", num_betas=10, num_expression_coeffs=10,
                  dtype=dtype, batch_size=batch, **options)
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a note about 10+10 comps
        if layer:
            return smplx.SMPLXLayer(str(smplx_dir), **{k: v for k, v in kwargs.items()
                                                       if k != "model_type"})
        return smplx.create(str(smplx_dir.parent), **kwargs)


def _samples(n: int, dtype: torch.dtype, seed: int, pca: int | None) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    body = rnd(n, 21, 3, scale=0.35)
    # Sweep the neck yaw over +-60 degrees so the contour lookup visits rows on both sides
    # (and the clamped ends) of its 79-row table.
    yaw = torch.linspace(-1.05, 1.05, n, dtype=torch.float64).to(dtype)
    body[:, 11] = torch.stack([0.1 * rnd(n), yaw, 0.1 * rnd(n)], dim=1)
    hand = (n, pca) if pca else (n, 45)
    return {
        "global_orient": rnd(n, 3, scale=0.8),
        "body_pose": body.reshape(n, 63),
        "left_hand_pose": rnd(*hand, scale=0.5),
        "right_hand_pose": rnd(*hand, scale=0.5),
        "jaw_pose": rnd(n, 3, scale=0.3),
        "leye_pose": rnd(n, 3, scale=0.2),
        "reye_pose": rnd(n, 3, scale=0.2),
        "betas": rnd(n, 10),
        "expression": rnd(n, 10),
        "transl": rnd(n, 3),
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_matches_smplx_all_options(model_data, synthetic_smplx_dir, dtype):
    """8 option combinations x 16 samples. The reference is built with the contour on; its first
    127 joints are exactly what ``smplx`` returns with the contour off (the contour is appended),
    so one reference per hand setting serves both contour settings of ehps."""
    seen_rows: set[int] = set()
    n_samples = 0
    for k, (pca, flat) in enumerate(itertools.product((False, True), (False, True))):
        ref = _reference(synthetic_smplx_dir, dtype, PER_COMBO, use_pca=pca,
                         num_pca_comps=NUM_PCA, flat_hand_mean=flat, use_face_contour=True)
        for contour in (False, True):
            ours = SMPLX(model_data, use_pca=pca, num_pca_comps=NUM_PCA, flat_hand_mean=flat,
                         use_face_contour=contour, dtype=dtype)
            params = _samples(PER_COMBO, dtype, seed=100 + 2 * k + contour,
                              pca=NUM_PCA if pca else None)
            with torch.no_grad():
                out = ours(**params)
                exp = ref(**params, return_full_pose=True)
            n_joints = 144 if contour else 127
            assert out.vertices.dtype == dtype and out.joints.dtype == dtype
            assert out.vertices.shape == (PER_COMBO, 10475, 3)
            assert out.joints.shape == (PER_COMBO, n_joints, 3)
            tol = TOL[dtype]
            assert (out.vertices - exp.vertices).abs().max().item() <= tol
            assert (out.joints - exp.joints[:, :n_joints]).abs().max().item() <= tol
            full = exp.full_pose.reshape(PER_COMBO, 55, 3)
            torch.testing.assert_close(out.extras["full_pose"], full, rtol=0, atol=tol)
            if contour:
                neck = out.joint_transforms[:, 12, :3, :3]
                sy = torch.sqrt(neck[:, 0, 0] ** 2 + neck[:, 1, 0] ** 2)
                yaw = torch.rad2deg(torch.atan2(neck[:, 2, 0], sy))
                seen_rows |= {int(r) for r in torch.round(yaw).clamp(-40, 40)}
            n_samples += PER_COMBO
    assert n_samples >= 100
    assert min(seen_rows) <= -39 and max(seen_rows) >= 39  # both table halves and the clamps


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_rotation_matrix_input_matches_smplx_layer(model_data, synthetic_smplx_dir, dtype):
    """Rotation matrices are final local rotations, like ``smplx.SMPLXLayer`` (no hand mean)."""
    n = 12
    ours = SMPLX(model_data, dtype=dtype)
    ref = _reference(synthetic_smplx_dir, dtype, n, layer=True, use_face_contour=True)
    aa = _samples(n, dtype, seed=7, pca=None)
    rot = {}  # in the model's full-pose order
    for key, nj in (("global_orient", 1), ("body_pose", 21), ("jaw_pose", 1), ("leye_pose", 1),
                    ("reye_pose", 1), ("left_hand_pose", 15), ("right_hand_pose", 15)):
        rot[key] = smplx.lbs.batch_rodrigues(aa[key].reshape(-1, 3)).reshape(n, nj, 3, 3)
    shape = {k: aa[k] for k in ("betas", "expression", "transl")}
    with torch.no_grad():
        out = ours(**rot, **shape)
        exp = ref(**rot, **shape)
    assert (out.vertices - exp.vertices).abs().max().item() <= TOL[dtype]
    assert (out.joints - exp.joints).abs().max().item() <= TOL[dtype]
    assert "full_pose" not in out.extras
    torch.testing.assert_close(out.rotmats, torch.cat(list(rot.values()), dim=1))


def test_gradients_match_smplx(model_data, synthetic_smplx_dir):
    """Autograd through ehps equals autograd through the reference (float64)."""
    n, dtype = 3, torch.float64
    ours = SMPLX(model_data, dtype=dtype)
    ref = _reference(synthetic_smplx_dir, dtype, n, use_face_contour=True)
    base = _samples(n, dtype, seed=11, pca=None)
    weights_v = torch.randn(n, 10475, 3, dtype=dtype, generator=torch.Generator().manual_seed(1))
    weights_j = torch.randn(n, 144, 3, dtype=dtype, generator=torch.Generator().manual_seed(2))
    grads = []
    for model in (ours, ref):
        params = {k: v.clone().requires_grad_(True) for k, v in base.items()}
        out = model(**params)
        loss = (out.vertices * weights_v).sum() + (out.joints * weights_j).sum()
        loss.backward()
        grads.append({k: p.grad for k, p in params.items()})
    for key in base:
        torch.testing.assert_close(grads[0][key], grads[1][key], rtol=1e-9, atol=1e-9)


def test_joint_transforms_against_a_loop(model_data):
    """(B, 55, 4, 4) transforms = sequential composition along the tree (+ transl)."""
    n, dtype = 4, torch.float64
    model = SMPLX(model_data, dtype=dtype)
    params = _samples(n, dtype, seed=3, pca=None)
    out = model(**params)
    rest = out.extras["joints_rest"]
    parents = model.parents.tolist()
    for b in range(n):
        glob: list[torch.Tensor] = []
        for j in range(55):
            local = torch.eye(4, dtype=dtype)
            local[:3, :3] = out.rotmats[b, j]
            local[:3, 3] = rest[b, j] - (rest[b, parents[j]] if j else 0.0)
            glob.append(local if j == 0 else glob[parents[j]] @ local)
        expected = torch.stack(glob)
        expected[:, :3, 3] += params["transl"][b]
        torch.testing.assert_close(out.joint_transforms[b], expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.joint_transforms[:, :, :3, 3], out.joints[:, :55])

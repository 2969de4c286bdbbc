import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from ehps.geometry import rotations as R


def _random_aa(n: int, seed: int = 0, max_angle: float = math.pi * 0.999) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    axis = torch.randn(n, 3, generator=g, dtype=torch.float64)
    axis = torch.nn.functional.normalize(axis, dim=-1)
    angle = torch.rand(n, 1, generator=g, dtype=torch.float64) * max_angle
    return axis * angle


def test_aa_rotmat_matches_scipy():
    aa = _random_aa(200)
    ours = R.aa_to_rotmat(aa).numpy()
    ref = Rotation.from_rotvec(aa.numpy()).as_matrix()
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    back = R.rotmat_to_aa(torch.from_numpy(ref))
    np.testing.assert_allclose(back.numpy(), aa.numpy(), atol=1e-9)


def test_rot6d_interleaved_layout():
    # column 1 = elements (0, 2, 4), column 2 = elements (1, 3, 5)
    mat = R.aa_to_rotmat(_random_aa(50, seed=1))
    six = R.rotmat_to_rot6d(mat)
    np.testing.assert_allclose(six[:, 0::2].numpy(), mat[:, :, 0].numpy())
    np.testing.assert_allclose(six[:, 1::2].numpy(), mat[:, :, 1].numpy())
    np.testing.assert_allclose(R.rot6d_to_rotmat(six).numpy(), mat.numpy(), atol=1e-12)


def test_rot6d_gram_schmidt_loop_reference():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 6, generator=g, dtype=torch.float64)
    out = R.rot6d_to_rotmat(x)
    for i in range(x.shape[0]):
        a1 = x[i, [0, 2, 4]].numpy()
        a2 = x[i, [1, 3, 5]].numpy()
        b1 = a1 / np.linalg.norm(a1)
        b2 = a2 - b1.dot(a2) * b1
        b2 /= np.linalg.norm(b2)
        ref = np.stack([b1, b2, np.cross(b1, b2)], axis=1)
        np.testing.assert_allclose(out[i].numpy(), ref, atol=1e-12)


def test_rot6d_to_aa_nan_becomes_zero():
    out = R.rot6d_to_aa(torch.zeros(2, 6))
    assert torch.isfinite(out).all()


def test_quaternion_roundtrip_and_flip():
    aa = _random_aa(30, seed=5)
    np.testing.assert_allclose(R.quat_to_aa(R.aa_to_quat(aa)).numpy(), aa.numpy(), atol=1e-9)
    # mirroring across x=0: M R M with M = diag(-1, 1, 1)
    m = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    ref = m @ R.aa_to_rotmat(aa) @ m
    np.testing.assert_allclose(R.aa_to_rotmat(R.flip_aa(aa)).numpy(), ref.numpy(), atol=1e-12)


@pytest.mark.parametrize("shape", [(3,), (4, 5, 3)])
def test_leading_dims(shape):
    aa = torch.randn(*shape) * 0.5
    assert R.aa_to_rotmat(aa).shape == (*shape[:-1], 3, 3)
    assert R.rotmat_to_aa(R.aa_to_rotmat(aa)).shape == shape

"""Mean-parameter initialisation of the regression heads (``model.head_init = "data_mean"``).

The official heads start from small random weights, so every rotation starts as Gram-Schmidt of
a near-zero random 6D vector: a random rotation. With ViTPose features and millions of images the
networks recover; trained from scratch on a small set they settle in a poor basin (e.g. hips and
spine predicted ~180 deg off while the joint losses are partly satisfied). HMR-style regressors
(HMR, SPIN, 4D-Humans) avoid this by starting from the mean parameters. This module does the same
without touching the architectures: the output layers of the pose heads get the 6D of the
training set's mean rotations as bias (chordal mean per joint, projected back onto SO(3)), the
shape / expression heads the mean betas / expression, the camera head a depth at which a 1.7 m
person fills the crop, and their weights are scaled by ``weight_scale`` so that the initial
predictions stay near the mean.

``model.stem_init = "input_stats"`` is the encoder-side counterpart for random-init encoders:
the networks take raw [0, 1] images (no mean / std), so every patch token of a random patch
embedding carries a large common component (the weights times the mean colour) that LayerNorm
then divides out of the image-dependent part; measured on ``ehps synth`` data, the task tokens of a
narrow SMPLest-X lose ~95% of their across-image variance within 200 steps. Folding the training
images' per-channel normalisation into the patch embedding at initialisation
(:func:`fold_input_normalisation`; exact except at the zero-padded border) keeps the tokens
image-dependent (the variance stays at ~75% of its initial value). ViTPose or checkpoint
initialised encoders keep their weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ehps.bodymodels.joint_sets import ORIG_53_NAMES
from ehps.geometry.camera import BODY_INPUT_HW, CROP_FOCAL, DEPTH_SCALE
from ehps.geometry.crop import DEFAULT_BBOX_RATIO
from ehps.geometry.rotations import aa_to_rotmat, rotmat_to_rot6d

__all__ = ["MeanParams", "mean_params_from_dataset", "chordal_mean", "init_heads_to_mean",
           "DEFAULT_PERSON_HEIGHT_M", "image_stats_from_dataset", "fold_input_normalisation"]

#: Height used to place the initial camera: the person fills the crop (box ratio 1.2).
DEFAULT_PERSON_HEIGHT_M = 1.7
_LWRIST, _RWRIST = ORIG_53_NAMES.index("L_Wrist"), ORIG_53_NAMES.index("R_Wrist")


@dataclass
class MeanParams:
    """Mean targets: ``pose_rotmat`` (53, 3, 3) official order, ``wrist_global_rotmat`` (2, 3, 3)
    left / right wrist global rotations, ``betas`` (10,), ``expression`` (10,), ``count``."""

    pose_rotmat: torch.Tensor
    wrist_global_rotmat: torch.Tensor
    betas: torch.Tensor
    expression: torch.Tensor
    count: int


def chordal_mean(rotmats: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Rotation closest (Frobenius) to the weighted mean of (N, ..., 3, 3) rotation matrices:
    the SVD projection of the arithmetic mean onto SO(3). Returns (..., 3, 3) float64."""
    r = rotmats.double()
    if weights is None:
        m = r.mean(0)
    else:
        w = weights.double().reshape(-1, *([1] * (r.ndim - 1)))
        m = (r * w).sum(0) / w.sum(0).clamp(min=1e-12)
    u, _, vt = torch.linalg.svd(m)
    d = torch.ones(*m.shape[:-1], dtype=m.dtype)
    d[..., 2] = torch.sign(torch.linalg.det(u @ vt))
    return u @ torch.diag_embed(d) @ vt


def mean_params_from_dataset(dataset: torch.utils.data.Dataset, max_items: int = 2000,
                             seed: int = 0) -> MeanParams:
    """Mean SMPL-X targets over (a random subset of) a :class:`~ehps.data.TrainingDataset`'s
    annotations (``fit`` labels; missing parts are left out of their joint's mean; roots are
    taken in the camera frame)."""
    from ehps.data.transforms import rotate_root_pose
    from ehps.losses.smplestx import global_rotations

    n = len(dataset)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    picks = rng.choice(n, size=min(n, max_items), replace=False)
    poses, valid, betas, exprs = [], [], [], []
    for i in sorted(int(k) for k in picks):
        d, j = dataset.locate(i)  # type: ignore[attr-defined]
        fit = dataset.sources[d].annotation(j).fit  # type: ignore[attr-defined]
        if fit is None:
            continue
        root = np.asarray(fit.global_orient, np.float32).reshape(3)
        ann = dataset.sources[d].annotation(j)  # type: ignore[attr-defined]
        if ann.cam_R is not None:
            root = rotate_root_pose(root, ann.cam_R)
        parts = [(root[None], True), (fit.body_pose, fit.body_pose is not None),
                 (fit.left_hand_pose, fit.left_hand_pose is not None),
                 (fit.right_hand_pose, fit.right_hand_pose is not None),
                 (fit.jaw_pose, fit.jaw_pose is not None)]
        sizes = (1, 21, 15, 15, 1)
        pose, v = [], []
        for (arr, ok), k in zip(parts, sizes):
            pose.append(np.zeros((k, 3), np.float32) if not ok
                        else np.asarray(arr, np.float32).reshape(k, 3))
            v.append(np.full(k, float(ok), np.float32))
        poses.append(np.concatenate(pose))
        valid.append(np.concatenate(v))
        betas.append(np.asarray(fit.betas, np.float32).reshape(-1)[:10])
        if fit.expression is not None:
            exprs.append(np.asarray(fit.expression, np.float32).reshape(-1)[:10])
    if not poses:
        raise ValueError("no SMPL-X labels found to compute mean parameters from")
    pose_t = torch.tensor(np.stack(poses))
    valid_t = torch.tensor(np.stack(valid))
    rot = aa_to_rotmat(pose_t.double())
    mean_rot = torch.stack([chordal_mean(rot[:, k], valid_t[:, k]) if valid_t[:, k].sum() > 0
                            else torch.eye(3, dtype=torch.float64) for k in range(53)])
    glob = global_rotations(rot[:, :22])
    wrists = torch.stack([chordal_mean(glob[:, w]) for w in (_LWRIST, _RWRIST)])
    return MeanParams(
        pose_rotmat=mean_rot.float(), wrist_global_rotmat=wrists.float(),
        betas=torch.tensor(np.mean(betas, axis=0)).float(),
        expression=torch.tensor(np.mean(exprs, axis=0)).float() if exprs else torch.zeros(10),
        count=len(poses))


def _cam_bias(height_m: float = DEFAULT_PERSON_HEIGHT_M) -> torch.Tensor:
    """(tx, ty, gamma) with 56.38 * sigmoid(gamma) = the depth at which a person of ``height_m``
    spans the body input's height divided by the 1.2 box ratio."""
    tz = CROP_FOCAL[1] * height_m / (BODY_INPUT_HW[0] / DEFAULT_BBOX_RATIO)
    p = min(max(tz / DEPTH_SCALE, 1e-4), 1 - 1e-4)
    return torch.tensor([0.0, 0.0, math.log(p / (1 - p))])


@torch.no_grad()
def _set(layer: nn.Module, bias: torch.Tensor, weight_scale: float) -> None:
    lin = layer[-1] if isinstance(layer, nn.Sequential) else layer
    if not isinstance(lin, nn.Linear) or lin.out_features != bias.numel():
        raise ValueError(f"unexpected head layer {lin} for a bias of {bias.numel()} values")
    lin.weight.mul_(weight_scale)
    lin.bias.copy_(bias.reshape(-1).to(lin.bias))


def init_heads_to_mean(model: nn.Module, mean: MeanParams, weight_scale: float = 0.1) -> None:
    """Set the output layers of a SMPLer-X / SMPLest-X network to predict ``mean`` (see module
    docstring). SMPLer-X's shared hand regressor gets the right-hand mean (the left hand is its
    mirror image)."""
    six = rotmat_to_rot6d(mean.pose_rotmat)  # (53, 6)
    family = model.config.family  # type: ignore[attr-defined]
    if family == "smplestx":
        dec = model.decoder  # type: ignore[attr-defined]
        _set(dec.dec_body_root_pose, six[0], weight_scale)
        _set(dec.dec_body_pose, six[1:22], weight_scale)
        _set(dec.dec_hand_pose, six[22:52], weight_scale)
        _set(dec.dec_face_jaw_pose, six[52], weight_scale)
        _set(dec.dec_hand_root_pose, rotmat_to_rot6d(mean.wrist_global_rotmat), weight_scale)
        _set(dec.dec_body_shape, mean.betas, weight_scale)
        _set(dec.dec_face_expression, mean.expression, weight_scale)
        _set(dec.dec_body_cam, _cam_bias(), weight_scale)
    elif family == "smplerx":
        body, hand, face = (model.body_regressor, model.hand_regressor,  # type: ignore[attr-defined]
                            model.face_regressor)  # type: ignore[attr-defined]
        _set(body.root_pose_out, six[0], weight_scale)
        _set(body.body_pose_out, six[1:22], weight_scale)
        _set(body.shape_out, mean.betas, weight_scale)
        _set(body.cam_out, _cam_bias(), weight_scale)
        _set(hand.hand_pose_out, six[37:52], weight_scale)
        _set(face.jaw_pose_out, six[52], weight_scale)
        _set(face.expr_out, mean.expression, weight_scale)
    else:
        raise ValueError(f"unknown network family {family!r}")


def image_stats_from_dataset(dataset: torch.utils.data.Dataset, max_items: int = 64,
                             seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (3,) of the network inputs (crops in [0, 1]) of a
    random subset of a :class:`~ehps.data.TrainingDataset` (augmentation as configured)."""
    n = len(dataset)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    picks = rng.choice(n, size=min(n, max_items), replace=False)
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    count = 0
    for i in sorted(int(k) for k in picks):
        img = torch.as_tensor(np.asarray(dataset[i].image)).double()
        if img.max() > 1.5:  # uint8 crops
            img = img / 255.0
        total += img.sum(dim=(1, 2))
        total_sq += img.square().sum(dim=(1, 2))
        count += img.shape[1] * img.shape[2]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp(min=1e-8).sqrt()
    return mean.float(), std.float()


@torch.no_grad()
def fold_input_normalisation(model: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
    """Make the encoder's first convolution (the patch embedding, or the first layer of a conv
    stem) act on ``(image - mean) / std`` (per channel) while the network still takes raw [0, 1]
    images: ``W' = W / std``, ``b' = b - sum(W * mean / std)``."""
    conv = model.encoder.patch_embed.input_conv  # type: ignore[attr-defined]
    m = mean.to(conv.weight)
    s = std.to(conv.weight)
    conv.bias -= (conv.weight.sum(dim=(2, 3)) * (m / s)).sum(dim=1)
    conv.weight /= s[None, :, None, None]

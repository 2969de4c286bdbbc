"""The LightningModule: network + SMPL-X layer + official losses + Adam with per-iteration cosine.

- The network comes from :func:`ehps.modeling.build_model` (zoo variant + overrides), optionally
  initialised from ViTPose (:func:`ehps.modeling.load_vitpose_backbone`) or from earlier weights
  (:func:`ehps.training.checkpointing.load_network_weights`), with the official ``fine_tune``
  freezing options.
- The SMPL-X layer is a private, non-trainable buffer holder built outside ``forward``; its
  buffers are non-persistent, so checkpoints hold only the network. It always runs in float32
  (outside autocast).
- Losses: :func:`ehps.losses.smplerx_losses` / :func:`~ehps.losses.smplestx_losses` with the
  official weights (overridable).
- Optimiser: Adam (official: no weight decay), learning rate ``lr`` decayed per optimiser step by
  a cosine to ``min_lr`` over the run's total steps (official ``CosineAnnealingLR`` over
  ``end_epoch x iters_per_epoch``), optional linear warm-up.
- Validation: the same losses without augmentation and, where the batch has full SMPL-X labels,
  the pelvis-aligned MPVPE in mm (prediction and label through the same SMPL-X layer).
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import nn

from ehps.data.types import Batch
from ehps.errors import InputError
from ehps.modeling.prediction import Prediction
from ehps.training.config import TrainConfig, config_to_dict

__all__ = ["EHPSModule", "apply_freeze", "cosine_lr_factor", "CosineSchedule", "batch_mpvpe_mm",
           "NECK_MODULES"]

#: SMPLer-X's "neck" (official ``model.neck``): the box net and the hand RoI net.
NECK_MODULES: tuple[str, ...] = ("box_net", "hand_roi_net")


def apply_freeze(model: nn.Module, option: str) -> list[str]:
    """Freeze parts of a network as the official ``fine_tune`` option does.

    Args:
        model: a SMPLer-X / SMPLest-X network.
        option: ``"none"``; ``"backbone"`` (train the encoder only: neck and heads frozen);
            ``"neck_and_head"`` (encoder frozen); ``"head"`` (encoder and neck frozen).

    Returns:
        Names of the frozen top-level modules.
    """
    if option not in ("none", "backbone", "neck_and_head", "head"):
        raise InputError(
            f"unknown freeze option {option!r}: none, backbone, neck_and_head or head"
        )
    tops = [name for name, _ in model.named_children()]
    neck = [n for n in tops if n in NECK_MODULES]
    heads = [n for n in tops if n != "encoder" and n not in NECK_MODULES]
    frozen = {
        "none": [],
        "backbone": neck + heads,
        "neck_and_head": ["encoder"],
        "head": ["encoder", *neck],
    }[option]
    for name in frozen:
        for p in getattr(model, name).parameters():
            p.requires_grad_(False)
    return frozen


def cosine_lr_factor(step: int, total_steps: int, lr: float, min_lr: float,
                     warmup_steps: int = 0) -> float:
    """Learning-rate multiplier at optimiser step ``step``: linear warm-up, then
    ``min_lr + (lr - min_lr) * (1 + cos(pi * t / T)) / 2`` divided by ``lr`` (the closed form of
    ``torch.optim.lr_scheduler.CosineAnnealingLR`` with ``T_max = T``, ``eta_min = min_lr``)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    t = step - warmup_steps
    span = max(1, total_steps - warmup_steps)
    t = min(t, span)
    return (min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t / span))) / lr


class CosineSchedule:
    """Picklable ``LambdaLR`` multiplier (plain-number state, so the scheduler state is saved and
    restored with it). ``total_steps`` is filled in once Lightning knows the run length
    (:meth:`EHPSModule.on_train_start`); the schedule only uses it from the first step on."""

    def __init__(self, lr: float, min_lr: float, warmup_steps: int = 0) -> None:
        self.lr, self.min_lr, self.warmup_steps = float(lr), float(min_lr), int(warmup_steps)
        self.total_steps: int | None = None

    def __call__(self, step: int) -> float:
        if self.total_steps is None:
            if step:
                raise RuntimeError("CosineSchedule.total_steps was not set before stepping")
            return 1.0 / self.warmup_steps if self.warmup_steps > 0 else 1.0
        return cosine_lr_factor(step, self.total_steps, self.lr, self.min_lr, self.warmup_steps)


def _smplx_kwargs_from_pose(pose: torch.Tensor, betas: torch.Tensor,
                            expr: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B, 53, 3) official-order pose + (B, 10) betas / expression -> SMPL-X keywords."""
    b = pose.shape[0]
    return {
        "global_orient": pose[:, 0],
        "body_pose": pose[:, 1:22].reshape(b, -1),
        "left_hand_pose": pose[:, 22:37].reshape(b, -1),
        "right_hand_pose": pose[:, 37:52].reshape(b, -1),
        "jaw_pose": pose[:, 52],
        "betas": betas,
        "expression": expr,
    }


def batch_mpvpe_mm(body: nn.Module, pred_pose: torch.Tensor, pred_betas: torch.Tensor,
                   pred_expr: torch.Tensor, gt_pose: torch.Tensor, gt_betas: torch.Tensor,
                   gt_expr: torch.Tensor) -> torch.Tensor:
    """Pelvis-aligned mean per-vertex error (B,) in mm between two SMPL-X parameter sets.

    Args:
        body: SMPL-X layer (float32).
        pred_pose, gt_pose: (B, 53, 3) axis-angle in the official 53-rotation order.
        pred_betas, gt_betas, pred_expr, gt_expr: (B, 10).
    """
    from ehps.evaluation.metrics import mpvpe_mm

    with torch.no_grad():
        p = body(**_smplx_kwargs_from_pose(pred_pose.float(), pred_betas.float(),
                                           pred_expr.float()))
        g = body(**_smplx_kwargs_from_pose(gt_pose.float(), gt_betas.float(), gt_expr.float()))
    return mpvpe_mm(p.vertices, g.vertices, p.joints[:, 0], g.joints[:, 0]).float()


class EHPSModule(L.LightningModule):
    """Trains one SMPLer-X / SMPLest-X network.

    Args:
        cfg: the run config.
        body_model: SMPL-X layer for the losses (a private instance: it is moved with the
            module); ``None`` loads one from ``cfg.model.smplx_dir`` (or the default search).
        network: an already built network (e.g. loaded weights); ``None`` builds it from ``cfg``.
    """

    def __init__(self, cfg: TrainConfig, body_model: nn.Module | None = None,
                 network: nn.Module | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        if network is None:
            from ehps.training.checkpointing import build_network

            network = build_network(cfg)
        self.model = network
        self.frozen = apply_freeze(self.model, cfg.model.freeze)
        if body_model is None:
            from ehps.bodymodels.paths import find_smplx_dir
            from ehps.bodymodels.smplx import SMPLX

            body_model = SMPLX.from_file(find_smplx_dir(cfg.model.smplx_dir))
        for p in body_model.parameters():
            p.requires_grad_(False)
        self.smplx = body_model.float()
        self.family = self.model.config.family
        self.loss_weights = self._weights(cfg.loss_weights)

    def _weights(self, overrides: dict[str, Any]) -> Any:
        from ehps.losses import SMPLerXLossWeights, SMPLestXLossWeights

        cls = SMPLerXLossWeights if self.family == "smplerx" else SMPLestXLossWeights
        try:
            return cls(**overrides)
        except TypeError as exc:
            raise InputError(f"bad loss_weights for {self.family}: {exc}") from exc

    # ------------------------------------------------------------------ forward / losses
    def forward(self, images: torch.Tensor) -> Prediction:
        return self.model(images)

    @staticmethod
    def _images(batch: Batch) -> torch.Tensor:
        img = batch.image
        if img.dtype == torch.uint8:
            return img.float().div_(255.0)
        return img

    def _body_joints(self, pred: Prediction) -> torch.Tensor:
        params = {k: v.float() for k, v in pred.smplx_params().items()}
        with torch.autocast(device_type=self.device.type, enabled=False):
            return self.smplx(**params).joints

    def compute_losses(self, batch: Batch) -> tuple[Prediction, dict[str, torch.Tensor]]:
        """Prediction and the named loss terms (plus ``"total"``) of one batch."""
        from ehps.losses import smplerx_losses, smplestx_losses

        pred = self.model(self._images(batch))
        joints = self._body_joints(pred)
        fn = smplerx_losses if self.family == "smplerx" else smplestx_losses
        with torch.autocast(device_type=self.device.type, enabled=False):
            losses = fn(pred, batch, joints, self.loss_weights)
        return pred, losses

    def _sync(self) -> bool:
        return self.trainer is not None and self.trainer.world_size > 1

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        _, losses = self.compute_losses(batch)
        b = batch.batch_size
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items() if k != "total"},
                      on_step=True, on_epoch=False, batch_size=b, sync_dist=self._sync())
        self.log("train/loss", losses["total"].detach(), on_step=True, on_epoch=False,
                 prog_bar=True, batch_size=b, sync_dist=self._sync())
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True,
                 on_epoch=False, batch_size=b)
        return losses["total"]

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        pred, losses = self.compute_losses(batch)
        b = batch.batch_size
        self.log("val/loss", losses["total"], on_step=False, on_epoch=True, batch_size=b,
                 sync_dist=self._sync(), prog_bar=True)
        full = (batch.smplx_pose_valid.min(dim=1).values > 0) & (batch.smplx_shape_valid > 0)
        if bool(full.any()):
            idx = torch.nonzero(full).squeeze(1)
            err = batch_mpvpe_mm(self.smplx, pred.pose_aa[idx], pred.betas[idx],
                                 pred.expression[idx], batch.smplx_pose[idx],
                                 batch.smplx_shape[idx], batch.smplx_expr[idx])
            self.log("val/mpvpe_mm", err.mean(), on_step=False, on_epoch=True,
                     batch_size=int(idx.numel()), sync_dist=self._sync(), prog_bar=True)

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> dict[str, Any]:
        o = self.cfg.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise InputError("every parameter is frozen; choose another model.freeze option")
        opt = torch.optim.Adam(params, lr=o.lr, betas=tuple(o.betas),
                               weight_decay=o.weight_decay)
        # the total is set in on_train_start: asking Lightning for it here would build the train
        # loader before a resumed run restores the loader state (breaking exact resume)
        self.schedule = CosineSchedule(o.lr, o.min_lr, o.warmup_steps)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self.schedule)
        return {"optimizer": opt,
                "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}

    def on_train_start(self) -> None:
        self.schedule.total_steps = int(self.trainer.estimated_stepping_batches)

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ehps_config"] = config_to_dict(self.cfg)
        checkpoint["ehps_model_config"] = self.model.config.to_json()

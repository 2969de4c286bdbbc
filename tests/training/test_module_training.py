"""The LightningModule's training step on tiny networks of both families.

References: the first logged loss is recomputed by hand (network -> SMPL-X layer ->
``ehps.losses``) on the same batch with a copy of the initial weights; the logged learning rates
follow :func:`cosine_lr_factor` (itself checked against torch's ``CosineAnnealingLR``); the loss
falls when the same few samples are trained on repeatedly.
"""

from __future__ import annotations

import copy

import lightning as L
import numpy as np
import pytest
import torch
from traintest_helpers import tiny_config

from ehps.losses import SMPLerXLossWeights, SMPLestXLossWeights, smplerx_losses, smplestx_losses
from ehps.training import train
from ehps.training.launch import read_metrics
from ehps.training.module import cosine_lr_factor

STEPS = 30
#: loss after training / loss before, on the same 2 samples every step (measured with these
#: settings: SMPLest-X 20.2 -> 5.8, SMPLer-X 33.5 -> 25.9; SMPLer-X's heatmap and box terms fall
#: slowly from scratch)
FALL = {"smplestx": 0.5, "smplerx": 0.85}


class FirstBatch(L.Callback):
    """Keeps the first batch and a copy of the network as it was before the first step."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == 0:
            self.batch = batch
            self.net = copy.deepcopy(pl_module.model)


@pytest.mark.parametrize("family", ["smplerx", "smplestx"])
def test_loss_falls_on_a_few_samples(family, tmp_path, synth_root, synthetic_smplx_dir,
                                     smplx_layer) -> None:
    lr, min_lr, warmup = 1e-3, 1e-4, 5
    cfg = tiny_config(family, synth_root, synthetic_smplx_dir,
                      # one dataset, 2 slots per epoch, batch 2: the same 2 samples every step
                      data={"batch_size": 2, "strategy": "balance", "total_data_len": 2},
                      optim={"max_steps": STEPS, "lr": lr, "min_lr": min_lr, "epochs": 100,
                             "warmup_steps": warmup},
                      checkpoint={"export_safetensors": True})
    first = FirstBatch()
    result = train(cfg, tmp_path, body_model=smplx_layer, callbacks=[first])
    assert result.global_step == STEPS
    m = read_metrics(result.metrics_csv)
    loss = np.array([v for _, v in m["train/loss"]])
    assert [s for s, _ in m["train/loss"]] == list(range(STEPS))
    assert np.isfinite(loss).all()

    # the logged first loss == the losses computed by hand on that batch with the initial weights
    net = first.net.train()
    batch = first.batch
    with torch.no_grad():
        pred = net(batch.image.float() / 255.0)
        joints = smplx_layer(**pred.smplx_params()).joints
    if family == "smplerx":
        ref = smplerx_losses(pred, batch, joints, SMPLerXLossWeights())
    else:
        ref = smplestx_losses(pred, batch, joints, SMPLestXLossWeights())
    assert loss[0] == pytest.approx(float(ref["total"]), rel=1e-5)
    for key in ("smplx_pose", "joint_cam", "smplx_shape"):
        assert m[f"train/{key}"][0][1] == pytest.approx(float(ref[key]), rel=1e-5)

    # per-step cosine learning rate
    lrs = [v for _, v in m["train/lr"]]
    want = [lr * cosine_lr_factor(s, STEPS, lr, min_lr, warmup) for s in range(STEPS)]
    assert lrs == pytest.approx(want, rel=1e-6)

    # the same samples every step: the loss falls well below where it started
    assert loss[-3:].mean() < FALL[family] * loss[0]
    # the final weights are exported and reload
    from ehps.modeling import load_model

    reloaded = load_model(result.model_path)
    for (k, a), (_, b) in zip(result.module.model.state_dict().items(),
                              reloaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert result.curves_png is not None and result.curves_png.stat().st_size > 1000


def test_bf16_mixed_precision_and_accumulation_run(tmp_path, synth_root, synthetic_smplx_dir,
                                                    smplx_layer) -> None:
    """bf16 autocast + 2 micro-batches per optimiser step: finite losses, the SMPL-X layer and
    the losses stay float32, and the step counter counts optimiser steps."""
    cfg = tiny_config("smplestx", synth_root, synthetic_smplx_dir,
                      optim={"max_steps": 3, "accumulate_grad_batches": 2},
                      trainer={"precision": "bf16-mixed"})
    result = train(cfg, tmp_path, body_model=smplx_layer)
    assert result.global_step == 3
    m = read_metrics(result.metrics_csv)
    assert np.isfinite([v for _, v in m["train/loss"]]).all()
    assert next(result.module.smplx.buffers()).dtype == torch.float32
    assert next(result.module.model.parameters()).dtype == torch.float32

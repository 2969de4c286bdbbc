"""Distributed training equals single-process training with the same global batch.

- Lightning DDP with 2 CPU processes (gloo), spawned in a subprocess (``ddp_run.py``), against
  1 process with the same global batch: the loss curves and the final weights agree within float
  tolerance (reference: the 1-process run).
- Fast invariant behind it: averaging the gradients of the two rank halves of a batch (what DDP's
  all-reduce does) equals the gradient of the whole batch, through the real module, losses and
  SMPL-X layer; and the two ranks' sampler shards form the single-process batch (see also
  ``test_datamodule.py``).

SMPLest-X is used: it has no BatchNorm (SMPLer-X's BatchNorm statistics are per process on CPU,
where torch has no SyncBatchNorm, so its losses differ slightly between 1 and 2 processes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from traintest_helpers import tiny_config

from ehps.data import MultiDatasetSampler, collate_samples
from ehps.modeling.backbones.vit import PATCH_GRID_HW
from ehps.training.datamodule import EHPSDataModule
from ehps.training.module import EHPSModule

HERE = Path(__file__).resolve().parent


def _grads(module: EHPSModule, batch) -> dict[str, torch.Tensor]:
    module.zero_grad()
    _, losses = module.compute_losses(batch)
    losses["total"].backward()
    return {k: p.grad.clone() for k, p in module.model.named_parameters() if p.grad is not None}


def test_rank_gradient_average_equals_the_global_batch_gradient(synth_root, synthetic_smplx_dir,
                                                                smplx_layer) -> None:
    cfg = tiny_config("smplestx", synth_root, synthetic_smplx_dir,
                      data={"strategy": "balance", "total_data_len": 8, "augment": True})
    data = EHPSDataModule(cfg)
    data.setup("fit")
    torch.manual_seed(0)
    module = EHPSModule(cfg, body_model=smplx_layer)

    def shard(rank: int, world: int) -> list:
        s = MultiDatasetSampler(data.train_set.lengths, "balance", 8, seed=cfg.trainer.seed,
                                rank=rank, world_size=world)
        s.set_epoch(0)
        return list(s)

    whole = shard(0, 1)[:4]  # global batch 4 on one process
    r0, r1 = shard(0, 2)[:2], shard(1, 2)[:2]  # per-rank batches of 2
    assert sorted(whole) == sorted(r0 + r1)
    g_all = _grads(module, collate_samples([data.train_set[k] for k in whole]))
    g0 = _grads(module, collate_samples([data.train_set[k] for k in r0]))
    g1 = _grads(module, collate_samples([data.train_set[k] for k in r1]))
    assert g_all.keys() == g0.keys() == g1.keys()
    assert len(g_all) > 20
    # Tolerance: the float32 summation error of the gradient, not a fixed number. Each gradient
    # element sums about n = (global batch) x (encoder tokens) products, and a batch of 2 and a
    # batch of 4 run the kernels with other blockings, so the two results differ by rounding of
    # order u * sqrt(n) (random-walk growth) times the magnitude of what is summed. That
    # magnitude is taken from the per-sample gradients (mean |g_i|), which, unlike |g|, does not
    # shrink when samples cancel. A real error (a wrong mean, a dropped sample) is O(|g|).
    singles = [_grads(module, collate_samples([data.train_set[k]])) for k in whole]
    u = torch.finfo(torch.float32).eps
    n_terms = len(whole) * PATCH_GRID_HW[0] * PATCH_GRID_HW[1]
    for k in g_all:
        avg = (g0[k] + g1[k]) / 2  # DDP's all-reduce mean over 2 ranks
        scale = float((sum(s[k].abs() for s in singles) / len(singles)).norm())
        tol = 8 * u * n_terms**0.5 * scale
        err = float((avg - g_all[k]).norm())
        assert err <= tol, (k, err, tol)
        # the bound is far below the gradient itself: a wrong average would fail it
        assert tol < 1e-3 * float(g_all[k].norm()) or scale == 0.0, (k, tol)


@pytest.mark.slow  # ~20 s: two Python processes importing Lightning, plus the reference run
def test_two_process_ddp_matches_one_process(tmp_path, synth_root, synthetic_smplx_dir) -> None:
    steps = 3
    env = {**os.environ, "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("LOCAL_RANK", None)

    def run(devices: int, batch: int, out: Path) -> dict:
        proc = subprocess.run(
            [sys.executable, str(HERE / "ddp_run.py"), str(synth_root), str(synthetic_smplx_dir),
             str(out), str(devices), str(batch), str(steps)],
            capture_output=True, text=True, env=env, timeout=300, cwd=str(tmp_path))
        assert proc.returncode == 0, proc.stderr[-3000:]
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        return json.loads(line[len("RESULT "):])

    two = run(2, 2, tmp_path / "ddp")
    one = run(1, 4, tmp_path / "single")
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["global_step"] == one["global_step"] == steps
    assert [s for s, _ in two["loss"]] == list(range(steps))
    for (_, a), (_, b) in zip(two["loss"], one["loss"]):
        assert abs(a - b) <= 1e-4 * abs(b)
    # the curve is not flat (the weights moved between the compared steps)
    assert max(v for _, v in one["loss"]) > 1.05 * min(v for _, v in one["loss"])
    # (final weights are not compared element-wise: Adam turns the float-noise gradients of
    # parameters whose exact gradient is zero, e.g. attention key biases, into lr-sized steps
    # in either run)

"""Exact resume: a run interrupted mid-epoch and resumed with ``resume=`` ends with the parameters
of an uninterrupted run, having seen the same batches with the same RNG states and learning
rates. Reference: the uninterrupted run itself (same config, same seed).

The setup exercises every piece of state: augmentation (per-sample seeds), drop-path (the torch
RNG), the ``balance`` sampler over several epochs (resumed mid-epoch, then crossing an epoch
boundary), validation between steps, DataLoader workers in the resumed runs only (the worker
count must not matter), the cosine schedule and Adam's moments.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import lightning as L
import numpy as np
import torch
from traintest_helpers import tiny_config

from ehps.training import train
from ehps.training.checkpointing import read_training_checkpoint
from ehps.training.config import config_to_dict
from ehps.training.launch import read_metrics

TOTAL_STEPS = 10  # 4 steps per epoch (8 samples, batch 2)
STOP_AT = 7  # "interrupted" after step 7 ...
RESUME_FROM = 6  # ... the newest checkpoint is step 6 (mid-epoch 1)


class Recorder(L.Callback):
    """Per optimiser step: sample seeds of the batch, a digest of the global RNG states (taken
    after the RNG callback restored them), the learning rate and the loss."""

    def __init__(self) -> None:
        self.steps: dict[int, dict] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        digest = hashlib.sha1(torch.get_rng_state().numpy().tobytes())
        digest.update(np.random.get_state()[1].tobytes())  # noqa: NPY002 (global state)
        digest.update(repr(random.getstate()).encode())
        self.steps[trainer.global_step] = {
            "seeds": batch.sample_seed.tolist(),
            "rng": digest.hexdigest(),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            "epoch": trainer.current_epoch,
        }

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps[trainer.global_step - 1]["loss"] = float(outputs["loss"])


class StopAfter(L.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


def _config(root: Path, smplx_dir: Path, workers: int):
    return tiny_config(
        "smplerx", root, smplx_dir,
        # two blocks: the drop-path rate ramps from 0 at the first block to 0.3 at the last
        model={"overrides": {"drop_path_rate": 0.3, "depth": 2}},
        data={"strategy": "balance", "total_data_len": 8, "augment": True,
              "num_workers": workers, "val_humandata": ["annotations/val.npz"]},
        optim={"max_steps": TOTAL_STEPS, "epochs": 10, "lr": 2e-3, "min_lr": 1e-4},
        trainer={"val_every_n_steps": 2, "seed": 7},
        checkpoint={"every_n_steps": 3, "keep_last": -1, "save_last": True},
    )


def test_interrupted_and_resumed_run_equals_the_straight_run(tmp_path, synth_root,
                                                              synthetic_smplx_dir,
                                                              smplx_layer) -> None:
    straight, first, second = Recorder(), Recorder(), Recorder()
    cfg = _config(synth_root, synthetic_smplx_dir, workers=0)
    ra = train(cfg, tmp_path / "a", body_model=smplx_layer, callbacks=[straight])
    assert ra.global_step == TOTAL_STEPS

    cfg_b = _config(synth_root, synthetic_smplx_dir, workers=1)
    rb = train(cfg_b, tmp_path / "b", body_model=smplx_layer,
               callbacks=[StopAfter(STOP_AT), first])
    assert rb.global_step == STOP_AT
    ckpt = tmp_path / "b" / "checkpoints" / f"step={RESUME_FROM}.ckpt"
    assert ckpt.is_file()
    rc = train(cfg_b, tmp_path / "b", resume=ckpt, body_model=smplx_layer, callbacks=[second])
    assert rc.global_step == TOTAL_STEPS

    # the resumed run did exactly the steps after the checkpoint, as the straight run did them
    assert sorted(second.steps) == list(range(RESUME_FROM, TOTAL_STEPS))
    for step, rec in second.steps.items():
        ref = straight.steps[step]
        assert rec["seeds"] == ref["seeds"], step
        assert rec["rng"] == ref["rng"], step
        assert rec["epoch"] == ref["epoch"], step
        assert abs(rec["lr"] - ref["lr"]) <= 1e-12 * ref["lr"], step
        assert abs(rec["loss"] - ref["loss"]) <= 1e-5 * abs(ref["loss"]), step
    # drop-path really draws from the torch RNG between steps (so restoring it matters)
    assert straight.steps[7]["rng"] != straight.steps[6]["rng"]
    # ... and the interrupted run agreed with the straight one before the interruption
    for step, rec in first.steps.items():
        assert rec["seeds"] == straight.steps[step]["seeds"]
        assert rec["rng"] == straight.steps[step]["rng"]
    # every batch of an epoch is new (the sampler did not restart the epoch on resume)
    epoch1 = [s for s in range(4, 8)]
    seen = [tuple(straight.steps[s]["seeds"]) for s in epoch1]
    assert len(set(seen)) == len(seen)

    # the run folder's metrics log covers the whole run once (the part before the checkpoint
    # from the interrupted run, the rest from the resumed one) and matches the straight run
    whole = read_metrics(tmp_path / "b" / "metrics.csv")["train/loss"]
    assert [s for s, _ in whole] == list(range(TOTAL_STEPS))
    ref_curve = dict(read_metrics(tmp_path / "a" / "metrics.csv")["train/loss"])
    assert all(abs(v - ref_curve[s]) <= 1e-5 * abs(ref_curve[s]) for s, v in whole)

    pa = dict(ra.module.model.named_parameters())
    pc = dict(rc.module.model.named_parameters())
    assert pa.keys() == pc.keys()
    worst = max(float((pa[k] - pc[k]).abs().max().detach()) for k in pa)
    assert worst <= 1e-6
    # BatchNorm statistics too
    ba, bc = dict(ra.module.model.named_buffers()), dict(rc.module.model.named_buffers())
    assert all(torch.allclose(ba[k].float(), bc[k].float(), atol=1e-6) for k in ba)
    # training really moved the weights (the comparison is not trivially true)
    init = train(_config(synth_root, synthetic_smplx_dir, 0), tmp_path / "c",
                 body_model=smplx_layer, callbacks=[StopAfter(1)]).module.model
    moved = max(float((dict(init.named_parameters())[k] - pa[k]).abs().max().detach())
                for k in pa)
    assert moved > 1e-3


def test_checkpoint_contents_load_weights_only(tmp_path, synth_root, synthetic_smplx_dir,
                                               smplx_layer) -> None:
    cfg = tiny_config("smplestx", synth_root, synthetic_smplx_dir,
                      data={"strategy": "balance", "total_data_len": 8},
                      optim={"max_steps": 3},
                      checkpoint={"every_n_steps": 3, "save_last": True})
    train(cfg, tmp_path, body_model=smplx_layer)
    path = tmp_path / "checkpoints" / "step=3.ckpt"
    # plain torch.load with weights_only=True reads it (no arbitrary unpickling needed)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    ckpt = read_training_checkpoint(path)
    assert raw.keys() == ckpt.keys()
    assert ckpt["global_step"] == 3
    assert ckpt["ehps_config"] == config_to_dict(cfg)
    # sampler position: 3 batches of 2 consumed in epoch 0
    loader_state = ckpt["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]
    assert loader_state["sampler"]["epoch"] == 0 and loader_state["sampler"]["start"] == 6
    rng = next(v for k, v in ckpt["callbacks"].items() if "RNGStateCallback" in k)
    assert rng["world_size"] == 1 and torch.is_tensor(rng["states"][0]["torch"])
    assert (tmp_path / "config.yaml").is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))

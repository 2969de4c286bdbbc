"""Run a tiny SMPLest-X training with Lightning DDP on CPU (gloo) and print its loss curve.

Used by ``test_distributed.py`` in a subprocess (Lightning's DDP launcher re-executes this file
once per extra rank, so it must be a script). Prints one JSON line on rank 0:
``{"world_size", "global_step", "loss": [[step, value], ...]}``.

Usage: python ddp_run.py DATA_ROOT SMPLX_DIR OUT_DIR DEVICES BATCH_PER_RANK STEPS
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from traintest_helpers import tiny_config


def main(argv: list[str]) -> None:
    root, smplx_dir, out, devices, batch, steps = argv
    torch.set_num_threads(1)
    from ehps.bodymodels.smplx import SMPLX
    from ehps.training import train
    from ehps.training.launch import read_metrics

    cfg = tiny_config(
        "smplestx", Path(root), Path(smplx_dir),
        data={"batch_size": int(batch), "strategy": "balance", "total_data_len": 8,
              "augment": True},
        optim={"max_steps": int(steps), "lr": 1e-3, "min_lr": 1e-4},
        trainer={"devices": int(devices), "strategy": "ddp" if int(devices) > 1 else "auto",
                 "accelerator": "cpu"},
    )
    result = train(cfg, out, body_model=SMPLX.from_file(smplx_dir))
    if result.metrics_csv is None:  # not rank 0
        return
    m = read_metrics(result.metrics_csv)
    print("RESULT " + json.dumps({"world_size": result.module.trainer.world_size,
                                  "global_step": result.global_step,
                                  "loss": m["train/loss"]}))


if __name__ == "__main__":
    main(sys.argv[1:])

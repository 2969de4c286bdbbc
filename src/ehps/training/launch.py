"""Trainer construction and the ``train`` entry point (PyTorch Lightning over torch.distributed).

- Distributed: ``trainer.strategy`` ``"ddp"`` (``find_unused_parameters=True`` as the official
  trainers, since SMPLest-X has an unused decoder layer), ``"ddp_spawn"`` or ``"fsdp"``; CPU runs
  use the gloo back-end. Multi-node: Lightning reads ranks from torchrun (``RANK``,
  ``LOCAL_RANK``, ``WORLD_SIZE``) or SLURM (``SLURM_PROCID``...) itself; the node count and
  processes per node are taken from the same variables (:func:`cluster_from_env`) unless the
  config sets them. SyncBatchNorm (official ``syncbn``) is used for multi-process GPU runs (torch
  implements it for GPUs only).
- Precision ``32-true`` or ``bf16-mixed``; gradient accumulation; optional clipping.
- Outputs in ``out_dir``: ``config.yaml`` (resolved config), ``metrics.csv`` (Lightning
  ``CSVLogger``), ``curves.png`` (loss and validation curves), ``checkpoints/step=N.ckpt`` and
  ``last.ckpt`` (atomic), ``model.safetensors`` (final network, ehps format).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ehps.errors import InputError
from ehps.training.config import TrainConfig, config_to_dict, save_config

__all__ = ["cluster_from_env", "build_trainer", "TrainResult", "train", "plot_curves",
           "read_metrics"]

log = logging.getLogger(__name__)


def cluster_from_env(env: Mapping[str, str] | None = None) -> tuple[int | None, int | None]:
    """``(processes per node, nodes)`` from torchrun or SLURM variables, ``None`` when unset.

    torchrun: ``LOCAL_WORLD_SIZE`` and ``WORLD_SIZE`` (nodes = world / local). SLURM:
    ``SLURM_NTASKS_PER_NODE`` (e.g. ``"4"`` or ``"4(x2)"``) and ``SLURM_NNODES`` /
    ``SLURM_JOB_NUM_NODES``.
    """
    env = os.environ if env is None else env
    if "LOCAL_WORLD_SIZE" in env and "WORLD_SIZE" in env:
        local, world = int(env["LOCAL_WORLD_SIZE"]), int(env["WORLD_SIZE"])
        if local < 1 or world % local:
            raise InputError(f"inconsistent torchrun sizes: WORLD_SIZE {world}, "
                             f"LOCAL_WORLD_SIZE {local}")
        return local, world // local
    nodes = env.get("SLURM_NNODES") or env.get("SLURM_JOB_NUM_NODES")
    per = env.get("SLURM_NTASKS_PER_NODE")
    if nodes or per:
        devices = int(re.match(r"\d+", per).group(0)) if per else None  # type: ignore[union-attr]
        return devices, int(nodes) if nodes else None
    return None, None


def _strategy(cfg: TrainConfig, accelerator: str) -> Any:
    name = cfg.trainer.strategy
    if name == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(find_unused_parameters=True,
                           process_group_backend="gloo" if accelerator == "cpu" else None)
    if name == "ddp_spawn":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(start_method="spawn", find_unused_parameters=True,
                           process_group_backend="gloo" if accelerator == "cpu" else None)
    if name == "fsdp":
        from lightning.pytorch.strategies import FSDPStrategy

        return FSDPStrategy(process_group_backend="gloo" if accelerator == "cpu" else None)
    if name in ("auto", "single_device"):
        return "auto"
    raise InputError(f"unknown strategy {name!r}: auto, ddp, ddp_spawn or fsdp")


def _run_logger(out: Path, resume_step: int | None) -> Any:
    """Lightning's CSV logger writing ``<out>/metrics.csv``. Lightning deletes an existing
    ``metrics.csv`` when a logger starts; on resume this one keeps its rows before the resumed
    step instead (later rows belong to the abandoned part of the interrupted run), so the file
    and the curves cover the whole run."""
    import csv

    from lightning.fabric.loggers.logger import rank_zero_experiment
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter

    from ehps.utils.io import atomic_open

    class _Writer(ExperimentWriter):
        def _check_log_dir_exists(self) -> None:
            path = Path(self.metrics_file_path)
            if not path.is_file():
                return
            if resume_step is None:
                path.unlink()
                return
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                keys = sorted(reader.fieldnames or [])
                rows = [r for r in reader
                        if r.get("step") not in ("", None) and int(float(r["step"])) < resume_step]
            self.metrics_keys = keys
            with atomic_open(path, "w") as fh:
                writer = csv.DictWriter(fh, fieldnames=keys, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)

    class _Logger(CSVLogger):
        @property
        @rank_zero_experiment
        def experiment(self) -> Any:
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = _Writer(log_dir=self.log_dir)
            return self._experiment

    return _Logger(str(out), name="", version="")


def build_trainer(cfg: TrainConfig, out_dir: str | os.PathLike[str],
                  callbacks: Sequence[L.Callback] = (), enable_progress_bar: bool = False,
                  resume_step: int | None = None) -> L.Trainer:
    """A Lightning Trainer for ``cfg`` writing into ``out_dir`` (``resume_step``: the optimiser
    step a resumed run continues from; the metrics log keeps the rows before it)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from ehps.training.checkpointing import AtomicCheckpointIO, RNGStateCallback

    t, o, c = cfg.trainer, cfg.optim, cfg.checkpoint
    out = Path(out_dir)
    env_devices, env_nodes = cluster_from_env()
    devices: int | str = t.devices
    if devices == "auto" and env_devices is not None:
        devices = env_devices
    num_nodes = t.num_nodes if t.num_nodes is not None else (env_nodes or 1)
    accelerator = t.accelerator
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    cbs: list[L.Callback] = [RNGStateCallback(), *callbacks]
    if c.every_n_steps > 0 or c.save_last:
        cbs.append(ModelCheckpoint(
            dirpath=out / "checkpoints", filename="step={step}", auto_insert_metric_name=False,
            every_n_train_steps=c.every_n_steps if c.every_n_steps > 0 else None,
            save_top_k=c.keep_last if c.every_n_steps > 0 else 0,
            monitor="step", mode="max", save_last=c.save_last))
    val_kwargs: dict[str, Any] = {}
    if t.val_every_n_steps:
        val_kwargs = {"val_check_interval": int(t.val_every_n_steps),
                      "check_val_every_n_epoch": None}
    multi = (devices not in (1, "1") or num_nodes > 1) and t.strategy != "auto"
    return L.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=_strategy(cfg, accelerator),
        precision=t.precision,
        max_epochs=o.epochs,
        max_steps=o.max_steps if o.max_steps is not None else -1,
        accumulate_grad_batches=o.accumulate_grad_batches,
        gradient_clip_val=o.gradient_clip_val,
        log_every_n_steps=t.log_every_n_steps,
        # no validation files: no validation loop (instead of an empty loader)
        limit_val_batches=t.limit_val_batches if cfg.data.val_humandata else 0,
        num_sanity_val_steps=0,
        callbacks=cbs,
        logger=_run_logger(out, resume_step),
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,
        sync_batchnorm=multi and accelerator != "cpu",
        deterministic=t.deterministic,
        enable_progress_bar=enable_progress_bar,
        enable_model_summary=False,
        default_root_dir=str(out),
        **val_kwargs,
    )


@dataclass
class TrainResult:
    """What :func:`train` returns (on every rank; files are written by rank 0)."""

    out_dir: Path
    global_step: int
    metrics_csv: Path | None
    curves_png: Path | None
    model_path: Path | None
    last_checkpoint: Path | None
    module: Any = field(repr=False)


def train(cfg: TrainConfig, out_dir: str | os.PathLike[str], resume: str | bool | None = None,
          body_model: torch.nn.Module | None = None, network: torch.nn.Module | None = None,
          callbacks: Sequence[L.Callback] = (), enable_progress_bar: bool = False,
          ) -> TrainResult:
    """Run (or resume) training.

    Args:
        cfg: the resolved config.
        out_dir: run folder (created).
        resume: a checkpoint path, ``True`` for ``<out_dir>/checkpoints/last.ckpt``, or
            ``None`` / ``False`` to start fresh.
        body_model: SMPL-X layer for the losses (else loaded from ``cfg.model.smplx_dir``).
        network: a prebuilt network, used as given (else built from ``cfg``; only a network
            built here gets the ``head_init`` / ``stem_init`` initialisations).
        callbacks: extra Lightning callbacks.
        enable_progress_bar: show Lightning's progress bar.
    """
    from ehps.training.checkpointing import find_last_checkpoint
    from ehps.training.datamodule import EHPSDataModule
    from ehps.training.module import EHPSModule

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.trainer.threads:
        torch.set_num_threads(int(cfg.trainer.threads))
    ckpt_path: str | None = None
    if resume is True:
        last = find_last_checkpoint(out)
        if last is None:
            raise InputError(f"--resume: no checkpoint in {out / 'checkpoints'}")
        ckpt_path = str(last)
    elif resume:
        ckpt_path = str(resume)
        if not Path(ckpt_path).is_file():
            raise InputError(f"--resume: checkpoint not found: {ckpt_path}")
    L.seed_everything(cfg.trainer.seed, workers=False, verbose=False)
    module = EHPSModule(cfg, body_model=body_model, network=network)
    data = EHPSDataModule(cfg, body_model=None)
    fresh = ckpt_path is None and not cfg.model.init_from and network is None
    if cfg.model.head_init == "data_mean" and fresh:
        from ehps.training.head_init import init_heads_to_mean, mean_params_from_dataset

        data.setup("fit")
        init_heads_to_mean(module.model, mean_params_from_dataset(data.train_set,
                                                                  seed=cfg.trainer.seed))
    if cfg.model.stem_init == "input_stats" and fresh and not cfg.model.vitpose:
        from ehps.training.head_init import fold_input_normalisation, image_stats_from_dataset

        data.setup("fit")
        fold_input_normalisation(module.model,
                                 *image_stats_from_dataset(data.train_set, seed=cfg.trainer.seed))
    trainer = build_trainer(cfg, out, callbacks, enable_progress_bar,
                            resume_step=None if ckpt_path is None else _resume_step(ckpt_path))
    if trainer.is_global_zero:
        save_config(cfg, out / "config.yaml")
    _seed_rank(cfg.trainer.seed, trainer.global_rank)
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    metrics = curves = model_path = None
    if trainer.is_global_zero:
        csv = Path(trainer.logger.log_dir) / "metrics.csv" if trainer.logger else None
        if csv is not None and csv.is_file():
            metrics = csv
            curves = plot_curves(csv, out / "curves.png", title=cfg.name)
        if cfg.checkpoint.export_safetensors:
            from ehps.modeling import save_model

            model_path = save_model(module.model, out / "model.safetensors", metadata={
                "step": str(trainer.global_step), "run": cfg.name})
    from ehps.training.checkpointing import find_last_checkpoint as _last

    return TrainResult(out, int(trainer.global_step), metrics, curves, model_path, _last(out),
                       module)


def _resume_step(ckpt_path: str) -> int:
    """The logging step a checkpoint continues from (memory-mapped read: no weights loaded)."""
    from ehps.errors import CheckpointError
    from ehps.modeling.checkpoint import torch_load_safely

    ckpt = torch_load_safely(ckpt_path)
    # (the stored ``_batches_that_stepped`` lags by one when written from on_train_batch_end;
    # the first resumed batch logs at ``global_step``)
    step = ckpt.get("global_step", 0) if isinstance(ckpt, dict) else None
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{ckpt_path} is not a training checkpoint (no valid "
                              "'global_step'); pass the last.ckpt of an ehps run to --resume")
    return step


def _seed_rank(seed: int, rank: int) -> None:
    """Per-rank torch seed for stochastic layers (initial weights are broadcast by DDP)."""
    if rank:
        torch.manual_seed(int(seed) + 1_000_003 * int(rank))


# ------------------------------------------------------------------------------- curves
def read_metrics(csv_path: str | os.PathLike[str]) -> dict[str, list[tuple[int, float]]]:
    """Lightning ``metrics.csv`` -> ``{column: [(step, value), ...]}`` (empty cells skipped)."""
    import csv

    out: dict[str, list[tuple[int, float]]] = {}
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            step = row.get("step", "")
            if step == "":
                continue
            for k, v in row.items():
                if k in ("step", "epoch") or v in ("", None):
                    continue
                out.setdefault(k, []).append((int(float(step)), float(v)))
    return out


def plot_curves(csv_path: str | os.PathLike[str], png_path: str | os.PathLike[str],
                title: str = "", baselines: Mapping[str, float] | None = None) -> Path:
    """Training loss (raw and smoothed), validation loss and validation MPVPE against the
    optimiser step, written atomically as a PNG. ``baselines`` draws horizontal reference lines
    on the MPVPE panel (e.g. ``{"constant mean": 123.4}``)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ehps.utils.io import atomic_write_bytes

    m = read_metrics(csv_path)
    panels = [("train/loss", "training loss"), ("val/loss", "validation loss"),
              ("val/mpvpe_mm", "validation MPVPE (mm, pelvis-aligned)")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (key, label) in zip(axes, panels):
        pts = m.get(key, [])
        if pts:
            s, v = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
            ax.plot(s, v, ".-" if key.startswith("val") else "-", alpha=0.45 if
                    key == "train/loss" else 1.0, label=key)
            if key == "train/loss" and v.size >= 5:
                k = max(3, v.size // 20)
                smooth = np.convolve(v, np.ones(k) / k, mode="valid")
                ax.plot(s[k - 1:], smooth, "-", lw=2, label=f"{key} (mean of {k})")
            if key.startswith("train"):
                ax.set_yscale("log")
        if key == "val/mpvpe_mm" and baselines:
            for name, value in baselines.items():
                ax.axhline(value, ls="--", color="grey")
                ax.annotate(f"{name}: {value:.1f}", (0.02, value), xycoords=("axes fraction",
                            "data"), va="bottom", fontsize=8)
        ax.set_title(label)
        ax.set_xlabel("optimiser step")
        ax.grid(alpha=0.3)
        if pts:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(png_path, buf.getvalue())
    return Path(png_path)


def describe(cfg: TrainConfig) -> str:
    """One-line summary of a config (for logs)."""
    d = config_to_dict(cfg)
    return (f"{d['name']}: {d['model']['variant']} {d['model']['overrides'] or ''} on "
            f"{d['data']['humandata'] or d['data']['mixture']}, batch {d['data']['batch_size']}, "
            f"lr {d['optim']['lr']}->{d['optim']['min_lr']}, {d['trainer']['precision']}")

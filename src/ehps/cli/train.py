"""``ehps train``: train a SMPLer-X / SMPLest-X network from a preset (+ YAML / dotted overrides).

Examples::

    ehps train --preset smplerx_h32 --data-root /data --set model.vitpose=vitpose_huge.pth
    ehps train --config configs/synthetic_smplestx.yaml --out runs/syn
    ehps train --preset smplerx_s32 --data-root /data --devices 4 --strategy ddp \\
        --precision bf16-mixed --out runs/s32
    ehps train --out runs/s32 --resume                    # continue runs/s32 exactly
    ehps train --list-presets

Multi-node: start one process per device with torchrun or srun; ranks, node count and devices
per node are read from the environment.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ehps.cli.options import add_quiet, add_smplx_dir, doc_parser

__all__ = ["register", "run", "add_common_arguments", "resolve_config"]


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``finetune``."""
    p.add_argument("--config", type=Path, help="YAML overrides (may name a 'preset:')")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override, e.g. optim.lr=2e-5 (repeatable)")
    p.add_argument("--data-root", help="training data root (else $EHPS_TRAIN_DATA)")
    p.add_argument("--out", type=Path, help="run folder (default ./ehps_runs/<name>)")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="CKPT",
                   help="continue exactly from CKPT (default: <out>/checkpoints/last.ckpt)")
    add_smplx_dir(p, help="SMPL-X model folder for the losses")
    p.add_argument("--devices", help="processes per node (int or 'auto')")
    p.add_argument("--num-nodes", type=int)
    p.add_argument("--strategy", choices=["auto", "ddp", "ddp_spawn", "fsdp"])
    p.add_argument("--accelerator", help="auto, cpu, gpu, ...")
    p.add_argument("--precision", choices=["32-true", "bf16-mixed"])
    p.add_argument("--batch-size", type=int, help="per-process batch size")
    p.add_argument("--accumulate", type=int, help="gradient accumulation steps")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    p.add_argument("--workers", type=int, help="DataLoader workers per process")
    add_quiet(p, help="no progress bar (shown by default on a terminal)")


def resolve_config(preset: str | None, args: argparse.Namespace,
                   extra: dict[str, Any] | None = None, base: Any = None) -> Any:
    """Preset (or ``base``) -> YAML -> ``extra`` -> command-line flags -> ``--set`` overrides."""
    from ehps.errors import InputError
    from ehps.training.config import apply_overrides, load_yaml_overrides, parse_dotted
    from ehps.training.presets import get_train_preset

    yaml_over = load_yaml_overrides(args.config) if args.config else {}
    name = preset or yaml_over.pop("preset", None)
    yaml_over.pop("preset", None)
    if base is None and not name:
        raise InputError("choose a preset: --preset NAME or 'preset:' in --config "
                         "(see ehps train --list-presets)")
    cfg = apply_overrides(base if base is not None else get_train_preset(name), yaml_over)
    if extra:
        cfg = apply_overrides(cfg, extra)
    flags: dict[str, Any] = {}
    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            flags.setdefault(section, {})[key] = value
    put("data", "root", None if args.data_root is None
        else str(Path(args.data_root).expanduser().absolute()))
    put("model", "smplx_dir", args.smplx_dir)
    if args.devices is not None:
        put("trainer", "devices", int(args.devices) if args.devices.isdigit() else args.devices)
    put("trainer", "num_nodes", args.num_nodes)
    put("trainer", "strategy", args.strategy)
    put("trainer", "accelerator", args.accelerator)
    put("trainer", "precision", args.precision)
    put("data", "batch_size", args.batch_size)
    put("optim", "accumulate_grad_batches", args.accumulate)
    put("optim", "max_steps", args.max_steps)
    put("data", "num_workers", args.workers)
    cfg = apply_overrides(cfg, flags)
    return apply_overrides(cfg, parse_dotted(args.sets))


def register(sub: argparse._SubParsersAction) -> None:
    p = doc_parser(sub, "train", "train a network (Lightning: DDP / FSDP, bf16, exact resume)",
                   __doc__)
    p.add_argument("--preset", help="training preset (see --list-presets)")
    p.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    add_common_arguments(p)
    p.set_defaults(func=run)


def run_training(cfg: Any, args: argparse.Namespace) -> int:
    """Shared tail of ``train`` / ``finetune``: resolve the output folder, train, report."""
    from ehps.training.launch import describe, train

    out = args.out or (Path.cwd() / "ehps_runs" / cfg.name if cfg.out_dir is None
                       else Path(cfg.out_dir))
    print(f"ehps train: {describe(cfg)} -> {out}")
    from ehps.utils.progress import show_progress

    result = train(cfg, out, resume=args.resume,
                   enable_progress_bar=show_progress(not args.quiet))
    if result.metrics_csv is not None:
        print(f"steps: {result.global_step}; metrics: {result.metrics_csv}; "
              f"curves: {result.curves_png}; weights: {result.model_path}; "
              f"last checkpoint: {result.last_checkpoint}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list_presets:
        from ehps.training.presets import get_train_preset, list_train_presets

        for name in list_train_presets():
            c = get_train_preset(name)
            print(f"{name:22s} {c.model.variant:13s} data={c.data.humandata or c.data.mixture} "
                  f"batch={c.data.batch_size} lr={c.optim.lr:g}->{c.optim.min_lr:g} "
                  f"epochs={c.optim.epochs}")
        return 0
    if args.resume is not None and args.out is not None and args.config is None and \
            args.preset is None and (args.out / "config.yaml").is_file():
        # resuming a run: its saved config is the base, flags / --set still apply
        from ehps.training.config import config_from_dict, load_yaml_overrides

        base = config_from_dict(load_yaml_overrides(args.out / "config.yaml"))
        return run_training(resolve_config(None, args, base=base), args)
    return run_training(resolve_config(args.preset, args), args)

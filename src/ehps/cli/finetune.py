"""``ehps finetune``: fine-tune a trained network into a specialist (official ``config_ft_*``).

Examples::

    ehps finetune --from smpler_x_h32.pth.tar --specialist agora --data-root /data
    ehps finetune --from runs/h32/model.safetensors --specialist ubody --freeze head
    ehps finetune --from runs/h32/checkpoints/last.ckpt --mixture smplerx_top5 --set optim.epochs=2

The architecture comes from the weight file (an official ``.pth.tar``, an ehps ``.safetensors``
or an ehps training ``.ckpt``); optimiser and schedule start over (official ``start_over``):
5 epochs, Adam 1e-5 -> 5e-7, 1M samples per epoch of the specialist mixture. ``--resume``
continues an interrupted fine-tuning run exactly (same ``--out``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ehps.cli.options import doc_parser
from ehps.cli.train import add_common_arguments, resolve_config, run_training

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = doc_parser(sub, "finetune",
                   "fine-tune a checkpoint into a specialist (official ft recipes)", __doc__)
    p.add_argument("--from", dest="source", type=Path, required=True,
                   help="weights: official .pth.tar, ehps .safetensors or training .ckpt")
    p.add_argument("--specialist", choices=["agora", "3dpw", "egobody", "ubody", "arctic",
                                            "renbody"], help="official specialist mixture")
    p.add_argument("--mixture", help="another dataset-catalog mixture instead")
    p.add_argument("--freeze", choices=["none", "backbone", "neck_and_head", "head"],
                   help="official fine_tune option (default none: full network)")
    p.add_argument("--variant", help="zoo variant of an official file whose architecture "
                   "cannot be inferred (non-zoo widths also need --set model.overrides.*)")
    add_common_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ehps.errors import InputError
    from ehps.training.checkpointing import weights_config
    from ehps.training.config import apply_overrides

    if not args.specialist and not args.mixture and not args.config:
        raise InputError("choose --specialist NAME or --mixture NAME (or a --config)")
    source = args.source.resolve()
    tag = args.specialist or "agora"
    extra: dict = {"name": f"ft_{args.specialist or args.mixture or 'custom'}",
                   "model": {"init_from": str(source)}}
    if args.variant:
        extra["model"]["variant"] = args.variant
    if args.mixture:
        extra["data"] = {"mixture": args.mixture}
    if args.freeze:
        extra["model"]["freeze"] = args.freeze
    cfg = resolve_config(f"smplerx_ft_{tag}", args, extra)
    # the architecture comes from the weights (official files: inferred from the shapes, or
    # --variant plus model.overrides for non-zoo widths)
    mc = weights_config(source, variant=args.variant, overrides=cfg.model.overrides)
    variant = mc.name or ("smplerx_h32" if mc.family == "smplerx" else "smplestx_h")
    cfg = apply_overrides(cfg, {"model": {"variant": variant}})
    return run_training(cfg, args)

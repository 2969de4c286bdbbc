"""``ehps synth``: render a synthetic training set (images + HumanData with full ground truth).

Examples::

    ehps synth --out data/synth --num 1000 --val 200
    ehps synth --out data/synhand --num 500 --mode hand          # close-up hands (SynHand-style)
    ehps synth --out data/synth --num 1000 --smplx-dir ~/models/smplx

Without licensed SMPL-X files (or with ``--synthetic-smplx``) a synthetic SMPL-X-format model is
written to ``<out>/smplx`` and rendered; train with ``--smplx-dir <out>/smplx`` so that the
losses use the same body model. Train with::

    ehps train --preset synthetic_smplestx --data-root data/synth \\
        --set data.humandata=[annotations/train.npz] \\
        --set data.val_humandata=[annotations/val.npz] --smplx-dir data/synth/smplx
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ehps.cli.options import add_quiet, add_smplx_dir, doc_parser

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = doc_parser(sub, "synth", "render a synthetic training set (HumanData + images)", __doc__)
    p.add_argument("--out", type=Path, required=True, help="dataset folder")
    p.add_argument("--num", type=int, default=1000, help="training samples (default 1000)")
    p.add_argument("--val", type=int, default=0, help="held-out samples (split 'val')")
    p.add_argument("--mode", choices=["body", "hand"], default="body")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pose-scale", type=float, default=0.5,
                   help="fraction of the joint-limit ranges sampled (default 0.5)")
    p.add_argument("--yaw", type=float, default=90.0, help="root yaw half-range, degrees")
    add_smplx_dir(p, type=Path, help="SMPL-X model folder (default: search)")
    p.add_argument("--synthetic-smplx", action="store_true",
                   help="render the synthetic SMPL-X-format model (written to <out>/smplx)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    import torch

    from ehps.bodymodels.smplx import SMPLX
    from ehps.errors import BodyModelError
    from ehps.training.synth import SynthConfig, generate_synthetic_dataset
    from ehps.utils.io import atomic_write_json

    torch.set_num_threads(max(1, args.threads))
    smplx_dir = args.smplx_dir
    if not args.synthetic_smplx:
        from ehps.bodymodels.paths import find_smplx_dir

        try:
            smplx_dir = find_smplx_dir(smplx_dir)
        except BodyModelError as exc:
            raise BodyModelError(f"{exc}\nOr pass --synthetic-smplx to render the synthetic "
                                 "SMPL-X-format model instead.") from exc
    else:
        from ehps.bodymodels.synthetic import write_synthetic_smplx

        smplx_dir = write_synthetic_smplx(args.out / "smplx", seed=0)
    body = SMPLX.from_file(smplx_dir)
    common = dict(mode=args.mode, pose_scale=args.pose_scale, yaw_deg=args.yaw)
    written = {}
    for split, n, seed in (("train", args.num, args.seed), ("val", args.val, args.seed + 1)):
        if n <= 0:
            continue
        cfg = SynthConfig(num_samples=n, seed=seed, **common)  # type: ignore[arg-type]
        written[split] = str(generate_synthetic_dataset(args.out, body, cfg, split,
                                                        progress=not args.quiet))
        print(f"{split}: {n} samples -> {written[split]}")
    atomic_write_json(args.out / "synth.json", {"smplx_dir": str(Path(smplx_dir).resolve()),
                                                "annotations": written, **common,
                                                "seed": args.seed})
    print(json.dumps({"smplx_dir": str(smplx_dir)}))
    return 0

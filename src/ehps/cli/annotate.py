"""``ehps annotate``: pseudo-label images with the embedded estimator and write HumanData.

Examples::

    ehps annotate photos/*.jpg --out pseudo.npz
    ehps annotate frames/ --out pseudo.npz --body-model smplx --smplx-dir ~/models/smplx
    ehps annotate frames/ --out pseudo.npz --devices 2        # two processes (Lightning)

Each detected person becomes one row with the fit's parameters, 3D / 2D keypoints and boxes;
image paths are stored relative to ``--image-root`` (default: the images' common folder).
An image that cannot be read or estimated is named and skipped; the others are written, and the
exit status is then 3. With ``--devices N`` (``--num-nodes M``) the images are dealt out
round-robin to N x M processes and the first one writes the same file one process would.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ehps.cli.options import (
    add_body_model,
    add_quiet,
    add_scale_out,
    add_smplx_dir,
    doc_parser,
    scale_out_from_args,
)

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = doc_parser(sub, "annotate", "pseudo-labels from the embedded fitting engine, as HumanData",
                   __doc__)
    p.add_argument("images", nargs="+", type=Path, help="image files or folders")
    p.add_argument("--out", type=Path, required=True, help="output HumanData .npz")
    p.add_argument("--image-root", type=Path, help="folder image paths are relative to")
    add_body_model(p)
    add_smplx_dir(p, type=Path, help="SMPL-X model folder (--body-model smplx)")
    add_quiet(p)
    add_scale_out(p, "images")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ehps.utils.scaleout import launch
    from ehps.utils.writable import check_writable

    check_writable(args.out, what="--out")  # before the (long) estimation
    info = launch(scale_out_from_args(args), annotate_rank, args)
    if info is None:  # a rank other than 0: rank 0 prints the job's summary
        return 0
    print(f"{info['people']} people from {info['images']} images -> {info['path']} "
          f"(image root {info['image_root']})")
    for s in info["skipped"]:
        print(f"  no person found: {s}")
    for path, why in info["failed"]:
        print(f"  skipped (unreadable): {path}: {why}")
    if info["failed"]:
        print(f"{len(info['failed'])} image(s) could not be used; exit status 3")
        return 3
    return 0


def annotate_rank(ranks: Any, args: argparse.Namespace) -> dict[str, Any] | None:
    """One rank's ``ehps annotate`` (:func:`ehps.utils.scaleout.launch`): rank 0 returns the
    summary; the other ranks ``None`` (an error raised on every rank is printed by rank 0)."""
    from ehps.errors import EhpsError
    from ehps.training.annotate import annotate_images

    try:
        return annotate_images(args.images, args.out, image_root=args.image_root,
                               body_model=args.body_model, smplx_dir=args.smplx_dir,
                               progress=not args.quiet and ranks.rank == 0, ranks=ranks)
    except EhpsError:
        if ranks.rank:
            return None
        raise

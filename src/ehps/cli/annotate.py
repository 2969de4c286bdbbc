"""``ehps annotate``: pseudo-label images with the embedded estimator and write HumanData.

Examples::

    ehps annotate photos/*.jpg --out pseudo.npz
    ehps annotate frames/ --out pseudo.npz --body-model smplx --smplx-dir ~/models/smplx

Each detected person becomes one row with the fit's parameters, 3D / 2D keypoints and boxes;
image paths are stored relative to ``--image-root`` (default: the images' common folder).
An image that cannot be read or estimated is named and skipped; the others are written, and the
exit status is then 3.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    from ehps.bodymodels.registry import list_body_models

    p = sub.add_parser(
        "annotate", help="pseudo-labels from the embedded fitting engine, as HumanData",
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("images", nargs="+", type=Path, help="image files or folders")
    p.add_argument("--out", type=Path, required=True, help="output HumanData .npz")
    p.add_argument("--image-root", type=Path, help="folder image paths are relative to")
    p.add_argument("--body-model", choices=list_body_models(), default="anny")
    p.add_argument("--smplx-dir", type=Path, help="SMPL-X model folder (--body-model smplx)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ehps.training.annotate import annotate_images
    from ehps.utils.writable import check_writable

    check_writable(args.out, what="--out")  # before the (long) estimation
    info = annotate_images(args.images, args.out, image_root=args.image_root,
                           body_model=args.body_model, smplx_dir=args.smplx_dir,
                           progress=not args.quiet)
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

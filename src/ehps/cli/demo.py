"""``ehps demo``: ``ehps infer`` on a photo (default: the bundled one) with the embedded models
(no weights, no network), and a one-screen summary.

Detect every person (mediapipe's bundled whole-body landmark models), fit a body model to each
(Anny by default; SMPL-X when its files are found), and write what `ehps infer` writes (per person
the parameters .npz and meshes .obj/.glb, an overlay with a side view) plus scene.glb and a demo
section in summary.json.
"""

from __future__ import annotations

import argparse

from ehps.cli.options import add_body_model, add_quiet, add_smplx_dir, doc_parser

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = doc_parser(sub, "demo", "whole-body 3D people from a photo with the embedded models "
                   "(default: bundled photo)", __doc__)
    p.add_argument("--image", default=None,
                   help="input photo (default: the bundled basketball1.png, two players)")
    p.add_argument("--out", default="ehps_demo",
                   help="output folder (default: ./ehps_demo; an earlier demo there is replaced)")
    add_body_model(p, help="body model to fit (smplx needs the official model files)")
    add_smplx_dir(p, dest="smplx_path")
    p.add_argument("--no-side-view", action="store_true",
                   help="overlay without the side-view panel")
    p.add_argument("--overwrite", action="store_true",
                   help="replace earlier results of any kind in --out")
    p.add_argument("--json", action="store_true", help="print the JSON summary instead")
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ehps.io.outdir import check_out_dir

    check_out_dir(args.out)  # before torch, models or the image are loaded

    from ehps.inference.demo import format_summary, run_demo

    report = run_demo(image=args.image, out_dir=args.out, body_model=args.body_model,
                      side_view=not args.no_side_view, smplx_path=args.smplx_path,
                      overwrite=args.overwrite, progress=not args.quiet)
    if args.json:
        print(json.dumps(report.summary, indent=2))
    else:
        print(format_summary(report))
    return report.exit_code

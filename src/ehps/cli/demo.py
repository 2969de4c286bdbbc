"""``ehps demo``: ``ehps infer`` on a photo (default: the bundled one) with the embedded models
(no weights, no network), meshes and an overlay, and a one-screen summary."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    from ehps.bodymodels.registry import list_body_models

    p = sub.add_parser(
        "demo",
        help="whole-body 3D people from a photo with the embedded models (default: bundled photo)",
        description=(
            "Detect every person (mediapipe's bundled whole-body landmark models), fit a body "
            "model to each (Anny by default; SMPL-X when its files are found), and write what "
            "`ehps infer` writes (per person the parameters .npz and meshes .obj/.glb, an overlay "
            "with a side view) plus scene.glb and a demo section in summary.json."
        ),
    )
    p.add_argument("--image", default=None,
                   help="input photo (default: the bundled basketball1.png, two players)")
    p.add_argument("--out", default="ehps_demo",
                   help="output folder (default: ./ehps_demo; an earlier demo there is replaced)")
    p.add_argument("--body-model", choices=list_body_models(), default="anny",
                   help="body model to fit (smplx needs the official model files)")
    p.add_argument("--smplx-path", "--smplx-dir", dest="smplx_path", default=None,
                   help="SMPL-X model folder (else $EHPS_BODY_MODELS, then the user data dir)")
    p.add_argument("--no-side-view", action="store_true",
                   help="overlay without the side-view panel")
    p.add_argument("--overwrite", action="store_true",
                   help="replace earlier results of any kind in --out")
    p.add_argument("--json", action="store_true", help="print the JSON summary instead")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
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

"""``ehps demo``: 3D bodies for every person in a photo with the embedded models (no weights, no
network), written to a folder the command prints."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="whole-body 3D people from a photo with the embedded models (default: bundled photo)",
        description=(
            "Detect every person (mediapipe's bundled whole-body landmark models), fit a body "
            "model to each (Anny by default; SMPL-X when its files are found), and write per "
            "person the parameters (.npz) and mesh (.obj, .glb), an overlay PNG and summary.json."
        ),
    )
    p.add_argument("--image", default=None,
                   help="input photo (default: the bundled basketball1.png, two players)")
    p.add_argument("--out", default="ehps_demo", help="output folder (default: ./ehps_demo)")
    p.add_argument("--body-model", choices=("anny", "smplx"), default="anny",
                   help="body model to fit (smplx needs the official model files)")
    p.add_argument("--smplx-path", "--smplx-dir", dest="smplx_path", default=None,
                   help="SMPL-X model folder (else $EHPS_BODY_MODELS, then the user data dir)")
    p.add_argument("--no-side-view", action="store_true",
                   help="overlay without the side-view panel")
    p.add_argument("--json", action="store_true", help="print the JSON summary instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ehps.fitting.demo import format_summary, run_demo

    report = run_demo(
        image=args.image,
        out_dir=args.out,
        body_model=args.body_model,
        side_view=not args.no_side_view,
        smplx_path=args.smplx_path,
    )
    if args.json:
        print(json.dumps(report.summary, indent=2))
    else:
        print(format_summary(report))
    return 0

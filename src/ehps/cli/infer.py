"""``ehps infer``: images, folders, globs and videos -> SMPL-X parameters (and meshes, overlays),
multi-person, tracked and smoothed on video. The flags are generated from
:class:`ehps.config.InferConfig` (:mod:`ehps.config.cli`); the work is done by
:func:`ehps.inference.runner.run_inference`."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    from ehps.config.cli import add_config_flags
    from ehps.config.infer import InferConfig

    p = sub.add_parser(
        "infer",
        help="3D whole-body people from images, folders, globs or videos",
        description=(
            "Detect every person, estimate SMPL-X parameters (a SMPLer-X / SMPLest-X checkpoint, "
            "or with no --checkpoint the embedded landmark-fitting estimator), track and smooth "
            "them on video, and write per frame and person smplx/*.npz + meta/*.json (optionally "
            "meshes and overlays; with --export-anim a world frame, foot-skate cleanup and rigged "
            "animation files per track). Exit status: 0 ok, 3 when some inputs or frames could "
            "not be used (they are listed), 2 for usage errors."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders, glob patterns (quote them) or video files")
    add_config_flags(p, InferConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ehps.config.cli import config_from_args
    from ehps.config.infer import InferConfig
    from ehps.io.outdir import check_out_dir

    config = config_from_args(args, InferConfig)
    if "fbx" in config.output.export_anim:  # a missing Blender stops the run before any work
        from ehps.export.anim.fbx import check_fbx

        check_fbx()
    check_out_dir(config.output.out_dir)  # before torch, models or inputs are loaded

    from ehps.inference.runner import run_inference

    report = run_inference(args.inputs, config)
    print(report.format())
    return report.exit_code

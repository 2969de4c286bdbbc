"""``ehps infer``: images, folders, globs and videos -> SMPL-X parameters (and meshes, overlays),
multi-person, tracked and smoothed on video. The flags are generated from
:class:`ehps.config.InferConfig` (:mod:`ehps.config.cli`); the work is done by
:func:`ehps.inference.runner.run_inference`, on several processes with ``--devices`` /
``--num-nodes`` (:mod:`ehps.utils.scaleout`)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    from ehps.cli.options import add_scale_out
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
    add_scale_out(p, "images (with --sequence: the image sequence) and videos")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ehps.cli.options import scale_out_from_args
    from ehps.config.cli import config_from_args
    from ehps.config.infer import InferConfig
    from ehps.io.outdir import check_out_dir

    config = config_from_args(args, InferConfig)
    scale = scale_out_from_args(args)
    if "fbx" in config.output.export_anim:  # a missing Blender stops the run before any work
        from ehps.export.anim.fbx import check_fbx

        check_fbx()
    check_out_dir(config.output.out_dir)  # before torch, models or inputs are loaded
    from ehps.utils.scaleout import launch, started_as_rank

    if not scale.single and not started_as_rank():
        # refused (in use, earlier results) before the other processes are started
        from ehps.io.outdir import OutputFolder

        out = config.output
        with OutputFolder(out.out_dir, resume=out.resume, overwrite=out.overwrite):
            pass

    report = launch(scale, infer_rank, list(args.inputs), config)
    if report is None:  # a rank other than 0: rank 0 prints the whole run's report
        return 0
    print(report.format())
    return report.exit_code


def infer_rank(ranks: Any, inputs: list[str], config: Any) -> Any:
    """One rank's ``ehps infer`` (:func:`ehps.utils.scaleout.launch`): its share of the inputs.

    Returns:
        rank 0: the run's merged report; other ranks: ``None`` (an error that stops the run is
        raised on every rank and reported by rank 0 only, so that the extra processes end
        quietly).
    """
    import dataclasses

    from ehps.errors import EhpsError
    from ehps.inference.runner import run_inference

    if ranks.distributed:
        est = config.estimator
        if est.device == "auto":  # each rank on its own GPU (or the CPU)
            config = dataclasses.replace(config, estimator=dataclasses.replace(
                est, device=ranks.device))
        if ranks.rank:  # one progress bar: rank 0's
            config = dataclasses.replace(config, progress=False)
    try:
        report = run_inference(inputs, config, ranks=ranks)
    except EhpsError:
        if ranks.rank:
            return None
        raise
    return report if ranks.rank == 0 else None

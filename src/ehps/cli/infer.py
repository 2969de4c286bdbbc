"""``ehps infer``: images, folders, globs and videos -> SMPL-X parameters (and meshes, overlays),
multi-person, tracked and smoothed on video. The work is done by
:func:`ehps.inference.runner.run_inference`; this module only parses flags."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "infer",
        help="3D whole-body people from images, folders, globs or videos",
        description=(
            "Detect every person, estimate SMPL-X parameters (a SMPLer-X / SMPLest-X checkpoint, "
            "or with no --checkpoint the embedded landmark-fitting estimator), track and smooth "
            "them on video, and write per frame and person smplx/*.npz + meta/*.json (optionally "
            "meshes and overlays). Exit status: 0 ok, 3 when some inputs or frames could not be "
            "read (they are listed), 2 for usage errors."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders, glob patterns (quote them) or video files")
    p.add_argument("--out", default="ehps_infer", help="output folder (default: ./ehps_infer)")
    g = p.add_argument_group("estimator")
    g.add_argument("--checkpoint", "--weights", dest="checkpoint", default=None, metavar="PATH",
                   help="official .pth.tar or ehps .safetensors weights; default: the embedded "
                        "estimator (no weights needed)")
    g.add_argument("--variant", "--model", dest="variant", default=None,
                   help="zoo name of an official checkpoint (e.g. smplerx_b32); inferred from "
                        "the weights when omitted")
    g.add_argument("--body-model", choices=("anny", "smplx"), default="anny",
                   help="embedded estimator only: body model to fit (default anny)")
    g.add_argument("--smplx-path", "--smplx-dir", dest="smplx_path", default=None,
                   help="SMPL-X model folder (else $EHPS_BODY_MODELS, then the user data dir)")
    g.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    g.add_argument("--batch-size", type=_positive_int, default=16,
                   help="person crops per network call (default 16)")
    g.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast for the network (fast on AMX CPUs and GPUs)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the network for --batch-size crops: faster per crop "
                        "after a one-off compile of about a minute (long videos, big folders)")
    g.add_argument("--bbox-ratio", type=float, default=1.2,
                   help="crop box enlargement (official: 1.2)")
    g = p.add_argument_group("people")
    g.add_argument("--boxes", default=None, metavar="JSON",
                   help="person boxes per image/frame instead of the detector")
    g.add_argument("--max-people", type=_positive_int, default=None,
                   help="keep at most N people per frame (highest scores)")
    g.add_argument("--min-score", type=float, default=0.5, help="detector score threshold")
    g.add_argument("--intrinsics", default=None, metavar="FX,FY,CX,CY",
                   help="shared camera in pixels (default: focal = image diagonal, centred)")
    g = p.add_argument_group("video")
    g.add_argument("--no-track", action="store_true",
                   help="videos: no tracking (person index = detection order; no smoothing)")
    g.add_argument("--sequence", action="store_true",
                   help="images are consecutive frames of one video: track and smooth them")
    g.add_argument("--fps", type=float, default=30.0, help="frame rate of --sequence images")
    g.add_argument("--no-smooth", action="store_true", help="no temporal smoothing")
    g.add_argument("--smooth-min-cutoff", type=float, default=1.0,
                   help="One-Euro min cut-off in Hz (lower: smoother at rest; default 1.0)")
    g.add_argument("--smooth-beta", type=float, default=0.5,
                   help="One-Euro speed coefficient (higher: less lag; default 0.5)")
    g.add_argument("--smooth-d-cutoff", type=float, default=1.0,
                   help="One-Euro cut-off of the speed estimate in Hz (default 1.0)")
    g.add_argument("--start", type=int, default=0, help="first frame of each video")
    g.add_argument("--max-frames", type=_positive_int, default=None,
                   help="at most N frames per video (and images)")
    g = p.add_argument_group("outputs")
    g.add_argument("--save-mesh", nargs="+", choices=("obj", "ply", "glb"), default=(),
                   help="also write meshes (shared camera, metres)")
    g.add_argument("--render", action="store_true",
                   help="overlay PNG per image / MP4 per video")
    g.add_argument("--side-view", action="store_true", help="add a side view to the overlays")
    g.add_argument("--render-backend", choices=("auto", "torch", "moderngl"), default="auto",
                   help="rasteriser (auto: moderngl when installed, else torch)")
    g.add_argument("--no-boxes", action="store_true", help="do not draw boxes and ids")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in the same --out without redoing "
                        "finished frames")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ehps.errors import InputError
    from ehps.inference.camera import parse_intrinsics
    from ehps.inference.pipeline import SmoothingConfig
    from ehps.inference.predictor import Predictor
    from ehps.inference.runner import InferConfig, run_inference

    for name in ("smooth_min_cutoff", "smooth_beta", "smooth_d_cutoff", "fps", "bbox_ratio"):
        value = getattr(args, name)
        if not value > 0 and not (name == "smooth_beta" and value == 0):
            raise InputError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    intrinsics = parse_intrinsics(args.intrinsics) if args.intrinsics else None
    predictor = Predictor.from_pretrained(
        args.checkpoint, variant=args.variant, device=args.device, bf16=args.bf16,
        batch_size=args.batch_size, compile=args.compile, bbox_ratio=args.bbox_ratio,
        max_people=args.max_people, min_score=args.min_score, smplx_path=args.smplx_path,
        body_model=args.body_model, require_body_model=bool(args.save_mesh or args.render),
    )
    config = InferConfig(
        out_dir=Path(args.out), boxes=args.boxes, intrinsics=intrinsics,
        save_mesh=tuple(dict.fromkeys(args.save_mesh)), render=args.render,
        side_view=args.side_view, render_backend=args.render_backend,
        draw_boxes=not args.no_boxes,
        smoothing=SmoothingConfig(not args.no_smooth, args.smooth_min_cutoff, args.smooth_beta,
                                  args.smooth_d_cutoff),
        track_video=not args.no_track, sequence=args.sequence, fps=args.fps,
        resume=args.resume, start=args.start, max_frames=args.max_frames,
        progress=not args.quiet,
    )
    report = run_inference(args.inputs, config, predictor)
    print(report.format())
    return report.exit_code

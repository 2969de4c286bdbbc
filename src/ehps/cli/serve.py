"""``ehps serve``: a local web page that turns an uploaded photo or video into 3D people.

Start a web server with one page: drop a photo or a video, follow the progress, then look at the
overlay and the 3D people (orbit, zoom, play a video's timeline) and download the parameters,
meshes and overlays. The estimation is `ehps infer`'s pipeline, run in worker processes behind one
bounded queue. Listens on 127.0.0.1 (this machine only) unless --host says otherwise.

This module only parses flags; the app (three.js viewer, workers, downloads) is ehps.serve.
"""

from __future__ import annotations

import argparse

from ehps.cli.options import add_smplx_dir, doc_parser, positive

__all__ = ["register", "run"]

#: The server's limits: (flag, type, default, dest, help without the default). Each must be > 0.
_LIMITS: tuple[tuple[str, type, float, str, str], ...] = (
    ("--workers", int, 1, "workers", "jobs that run at once, one process each"),
    ("--queue", int, 8, "queue_size", "jobs that may wait; more are refused with 'busy'"),
    ("--max-upload-mb", float, 100.0, "max_upload_mb", "largest upload in MB"),
    ("--max-video-s", float, 20.0, "max_video_s", "longest video in seconds"),
    ("--max-frames", int, 600, "max_video_frames", "most frames of a video"),
    ("--max-megapixels", float, 40.0, "max_megapixels",
     "largest image or video frame in megapixels"),
    ("--job-timeout", float, 1800.0, "job_timeout", "seconds one job may run before it is stopped"),
    ("--ttl", float, 3600.0, "ttl", "seconds results are kept after a job ends"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = doc_parser(sub, "serve",
                   "local web app: upload a photo or video, see and download 3D people", __doc__)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 exposes it to your "
                        "network: there is no login)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--checkpoint", "--weights", dest="checkpoints", action="append", default=[],
                   metavar="PATH", help="network weights to offer (repeatable; the first is the "
                                        "default). The embedded estimator is always offered")
    add_smplx_dir(p, dest="smplx_path")
    for flag, kind, default, dest, what in _LIMITS:
        p.add_argument(flag, type=positive(kind), default=default, dest=dest,
                       help=f"{what} (default {default:g})")
    p.add_argument("--work-dir", default=None,
                   help="folder for uploads and results (default: a temporary folder, removed "
                        "when the server stops)")
    p.add_argument("--render-backend", choices=("auto", "torch", "moderngl"), default="auto",
                   help="overlay rasteriser (auto: moderngl when installed, else torch)")
    p.add_argument("--no-warm", action="store_true",
                   help="do not load the default estimator before the first job")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ehps.errors import InputError, require

    require("fastapi", "serve", "ehps serve")
    uvicorn = require("uvicorn", "serve", "ehps serve")
    from ehps.serve.app import create_app
    from ehps.serve.assets import missing_assets, missing_message
    from ehps.serve.config import ServeConfig, discover_estimators

    if not 0 < args.port < 65536:
        raise InputError(f"--port must be in 1..65535, got {args.port}")
    missing = missing_assets()
    if missing:
        raise InputError(missing_message(missing))
    config = ServeConfig(
        host=args.host, port=args.port,
        work_dir=Path(args.work_dir).expanduser() if args.work_dir else None,
        estimators=discover_estimators(args.checkpoints, args.smplx_path),
        workers=args.workers, queue_size=args.queue_size, max_upload_mb=args.max_upload_mb,
        max_pixels=int(args.max_megapixels * 1e6), max_video_s=args.max_video_s,
        max_video_frames=args.max_video_frames, job_timeout_s=args.job_timeout,
        result_ttl_s=args.ttl, render_backend=args.render_backend, warm=not args.no_warm,
    )
    app = create_app(config)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"ehps serve: open http://{shown}:{args.port}/ in a browser (Ctrl+C stops it)",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0

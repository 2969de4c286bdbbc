"""``ehps eval``: run a SMPLer-X / SMPLest-X checkpoint over a benchmark with its official
protocol and write a JSON report, a markdown table and a bar chart beside the published numbers.

Crop every ground-truth person of a benchmark, run the network, and score it with the official
SMPLer-X / SMPLest-X protocol. Writes <out>/<benchmark>_<protocol>.json, .md and .png (beside the
published numbers, with their sources).

Examples::

    ehps eval --benchmark ehf --data-root /data --weights smpler_x_h32.pth.tar
    ehps eval --benchmark pw3d --protocol h36m --data-root /data --weights smplestx_h.safetensors
    ehps eval --benchmark agora_test --data-root /data --weights ft_agora.pth.tar --out sub/
    ehps eval --list
"""

from __future__ import annotations

import argparse
import inspect
import logging
from pathlib import Path

from ehps.cli.options import add_quiet, add_smplx_dir, doc_parser

__all__ = ["register", "run"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = doc_parser(sub, "eval", "evaluate a checkpoint on a benchmark (official protocols)",
                   __doc__.split("\n\n", 1)[1])
    p.add_argument("--benchmark", "-b", help="benchmark name (see --list)")
    p.add_argument("--data-root", type=Path, help="folder holding the benchmark's files")
    p.add_argument("--weights", "--checkpoint", dest="weights", metavar="PATH|NAME",
                   help="official .pth.tar or ehps .safetensors, or a cached weight name "
                        "(`ehps weights list`)")
    p.add_argument("--model", "--variant", dest="model", default=None,
                   help="zoo variant of the weights (e.g. smplerx_h32); inferred when omitted")
    p.add_argument("--protocol", default=None,
                   help="evaluation protocol (default: the benchmark's first; 3DPW: smplerx, "
                        "smplestx or h36m; HumanData sets: smplerx or smplestx)")
    p.add_argument("--out", type=Path, default=Path("ehps_eval"),
                   help="output folder (default: ./ehps_eval)")
    add_smplx_dir(p, type=Path)
    p.add_argument("--smpl-dir", type=Path, default=None, help="SMPL model folder (3DPW)")
    p.add_argument("--smplx2smpl", type=Path, default=None,
                   help="smplx2smpl.pkl (3DPW smplestx / h36m protocols)")
    p.add_argument("--h36m-regressor", type=Path, default=None,
                   help="J_regressor_h36m.npy (3DPW h36m protocol)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int, default=None,
                   help="evaluate only the first N samples (quick check; not comparable)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--resolution", default=None, choices=["3840x2160", "1280x720"],
                   help="AGORA: which image setting to read (default 3840x2160 crops)")
    p.add_argument("--agora-body-verts", type=Path, default=None,
                   help="AGORA: body_verts_smplx.npy of agora_evaluation (for body MVE / NMVE)")
    p.add_argument("--annotation", default=None, help="HumanData benchmarks: the .npz file")
    p.add_argument("--image-dir", default=None, help="HumanData benchmarks: the image folder")
    p.add_argument("--sample-interval", type=int, default=None,
                   help="override the official test sample interval")
    p.add_argument("--keep-hand-outliers", action="store_true",
                   help="SMPLest-X protocol: keep hand PA-MPJPE samples above 100 mm")
    p.add_argument("--no-chart", action="store_true", help="do not draw the bar chart")
    add_quiet(p)
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.set_defaults(func=run)


def _list() -> int:
    from ehps.evaluation.benchmarks import get_benchmark, list_benchmarks

    for name in list_benchmarks():
        cls = get_benchmark(name)
        print(f"{name:12s} {cls.description}  [protocols: {', '.join(cls.protocols)}]")
        for line in cls.expected_layout():
            print(f"{'':14s}{line}")
    return 0


def _options(cls: type, args: argparse.Namespace) -> dict:
    from ehps.errors import InputError

    given = {
        "resolution": args.resolution,
        "body_vertex_ids": None if args.agora_body_verts is None else str(args.agora_body_verts),
        "annotation": args.annotation,
        "image_dir": args.image_dir,
        "sample_interval": args.sample_interval,
        "keep_hand_outliers": True if args.keep_hand_outliers else None,
        "output_dir": args.out,
    }
    accepted = set(inspect.signature(cls.__init__).parameters)
    if "options" in accepted:  # the generic HumanData evaluator forwards to its base
        accepted |= set(inspect.signature(cls.__mro__[1].__init__).parameters)
    flags = {"body_vertex_ids": "--agora-body-verts", "keep_hand_outliers": "--keep-hand-outliers"}
    out = {}
    for key, value in given.items():
        if value is None or (key == "output_dir" and key not in accepted):
            continue
        if key not in accepted:
            flag = flags.get(key, "--" + key.replace("_", "-"))
            raise InputError(f"{flag} does not apply to benchmark {cls.name!r}")
        out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    import torch

    from ehps.errors import InputError

    if args.list:
        return _list()
    missing = [f for f in ("benchmark", "data_root", "weights") if getattr(args, f) is None]
    if missing:
        raise InputError("ehps eval needs " + ", ".join("--" + m.replace("_", "-")
                                                        for m in missing) + " (or --list)")
    if not args.data_root.is_dir():
        raise InputError(f"--data-root {args.data_root} is not a folder")
    from ehps.weights import resolve_weights

    args.weights = resolve_weights(args.weights)  # a file, or a cached weight name (offline)
    if args.threads:
        torch.set_num_threads(int(args.threads))
    from ehps.utils.writable import check_writable

    check_writable(args.out, folder=True, what="--out")  # before the (long) evaluation

    from ehps.evaluation.benchmarks import EvalContext, get_benchmark
    from ehps.evaluation.report import metric_label, write_report
    from ehps.evaluation.runner import network_predict_fn, run_evaluation
    from ehps.modeling import load_model

    cls = get_benchmark(args.benchmark)
    options = _options(cls, args)
    ctx = EvalContext.from_paths(args.smplx_dir, args.smpl_dir, args.smplx2smpl,
                                 args.h36m_regressor)
    evaluator = cls(args.data_root, ctx, args.protocol, **options)
    samples = evaluator.samples()  # fails early, listing the expected layout
    if not samples:
        raise InputError(f"{cls.name}: no samples found under {args.data_root}")
    model = load_model(args.weights, variant=args.model)
    variant = getattr(getattr(model, "config", None), "name", None) or args.model or "custom"

    from ehps.utils.progress import progress_bar

    total = len(samples) if args.limit is None else min(args.limit, len(samples))
    bar = progress_bar(total, cls.name, "sample", not args.quiet)

    shown = [0]

    def progress(done: int, total: int) -> None:
        bar.update(done - shown[0])
        shown[0] = done
        log.info("%s: %d / %d", cls.name, done, total)

    report = run_evaluation(evaluator, network_predict_fn(model), args.batch_size, args.limit,
                            progress, samples=samples)
    bar.close()
    report.model = {"variant": str(variant), "weights": str(args.weights)}
    paths = write_report(report, args.out, chart=not args.no_chart)
    print(f"{cls.name} (protocol: {report.protocol}), {report.counts.get('samples_evaluated')} "
          "samples")
    for key, value in report.metrics.items():
        shown = "n/a" if value is None else f"{value:8.2f} mm"
        print(f"  {metric_label(key):22s} {shown}")
    for kind, path in paths.items():
        print(f"  {kind}: {path}")
    skipped = report.extra.get("skipped", [])
    for item in skipped:
        print(f"  skipped: {item['image']}: {item['reason']}")
    if skipped:
        print(f"{len(skipped)} sample(s) skipped (unreadable images); exit status 3")
        return 3
    return 0

"""``ehps export FORMAT ...``: export networks or results to other formats.

Each format is a sub-subcommand. ``onnx`` lives here; other formats are added as modules
``ehps.cli.export_<format>`` (e.g. ``export_gltf.py``) that define
``register(formats: argparse._SubParsersAction) -> None`` and are discovered automatically, so
adding one needs no change to this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from ehps.cli.options import print_help_by_default

__all__ = ["register", "run_onnx"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export networks (onnx) or results to other formats")
    formats = p.add_subparsers(dest="format", metavar="FORMAT")
    _register_onnx(formats)
    for name in _plugin_modules():
        importlib.import_module(name).register(formats)
    print_help_by_default(p)


def _plugin_modules() -> list[str]:
    import ehps.cli as cli

    return sorted(
        f"ehps.cli.{m.name}"
        for m in pkgutil.iter_modules(cli.__path__)
        if m.name.startswith("export_")
    )


def _register_onnx(formats: argparse._SubParsersAction) -> None:
    p = formats.add_parser(
        "onnx",
        help="export a SMPLer-X / SMPLest-X network to ONNX (checked in onnxruntime)",
        description="Export a network to ONNX (opset 17, dynamic batch) and check that "
        "onnxruntime reproduces PyTorch within --atol on a random batch.",
    )
    p.add_argument(
        "--weights",
        default=None,
        help="ehps .safetensors or official .pth.tar weights (default: random init)",
    )
    p.add_argument(
        "--variant",
        default=None,
        help="zoo name; needed without --weights or for official files it cannot infer",
    )
    p.add_argument("-o", "--output", required=True, help="output .onnx file")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--batch-size", type=int, default=1, help="example batch for tracing")
    p.add_argument("--static-batch", action="store_true", help="fix the batch dimension")
    p.add_argument(
        "--outputs",
        default=None,
        help="comma-separated Prediction fields (default: the SMPL-X contract fields)",
    )
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    p.add_argument("--atol", type=float, default=1e-4, help="tolerance of the check")
    p.set_defaults(func=run_onnx)


def run_onnx(args: argparse.Namespace) -> int:
    import logging

    from ehps.errors import InputError
    from ehps.export.onnx import export_onnx
    from ehps.modeling import build_model, load_model

    if args.weights:
        model = load_model(args.weights, variant=args.variant)
    elif args.variant:
        logging.getLogger(__name__).warning(
            "no --weights: exporting %s with random weights", args.variant
        )
        model = build_model(args.variant)
    else:
        raise InputError("pass --weights FILE and/or --variant NAME")
    outputs = [s.strip() for s in args.outputs.split(",")] if args.outputs else None
    result = export_onnx(
        model,
        args.output,
        outputs=outputs,
        batch_size=args.batch_size,
        dynamic_batch=not args.static_batch,
        opset=args.opset,
        check=not args.no_check,
        atol=args.atol,
    )
    diff = result["max_abs_diff"]
    print(
        f"wrote {result['path']} (opset {result['opset']}, outputs: {', '.join(result['outputs'])})"
        + ("" if diff is None else f"; onnxruntime vs PyTorch max |diff| = {diff:.2e}")
    )
    return 0

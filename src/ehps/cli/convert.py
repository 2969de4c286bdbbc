"""``ehps convert OFFICIAL.pth.tar OUT.safetensors``: official checkpoint -> ehps weight file.

The output embeds the variant and config, so ``ehps.modeling.load_model(OUT)`` (and every
``--weights`` option) needs no variant name. Conversion streams: the source is memory-mapped and
the optimizer state in the official files is never read.
"""

from __future__ import annotations

import argparse

from ehps.cli.options import add_dtype, doc_parser

__all__ = ["register", "run"]

def register(sub: argparse._SubParsersAction) -> None:
    p = doc_parser(sub, "convert",
                   "convert an official SMPLer-X / SMPLest-X checkpoint to ehps safetensors",
                   __doc__)
    p.add_argument("source", help="official checkpoint (.pth.tar), e.g. smpler_x_h32.pth.tar")
    p.add_argument("output", help="output .safetensors file")
    p.add_argument(
        "--variant",
        default=None,
        help="zoo name (smplerx_s32 ... smplerx_h32, smplestx_h); default: inferred from shapes",
    )
    add_dtype(p, help="storage dtype of floating-point weights (bfloat16 halves the file)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ehps.modeling import convert_official_checkpoint
    from ehps.utils.writable import check_writable

    check_writable(args.output, what="output")  # before the (long) read of the source
    dtype = None if args.dtype == "float32" else getattr(torch, args.dtype)
    report = convert_official_checkpoint(args.source, args.output, args.variant, dtype=dtype)
    print(
        f"wrote {args.output}: {report['variant']}, {report['parameters'] / 1e6:.1f}M parameters, "
        f"{report['tensors']} tensors, {report['bytes'] / 1e6:.1f} MB ({args.dtype})"
        + (f", epoch {report['epoch']}" if report["epoch"] is not None else "")
        + (f"; dropped {len(report['dropped'])} non-network key(s)" if report["dropped"] else "")
    )
    return 0

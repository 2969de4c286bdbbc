"""Flags and parser helpers that several ``ehps`` subcommands share.

One definition per flag, so that ``--smplx-path`` / ``--smplx-dir``, ``--quiet``,
``--body-model``, ``--dtype`` ... take the same names, aliases, values and help text in every
command that offers them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = [
    "DTYPES",
    "SMPLX_DIR_HELP",
    "add_body_model",
    "add_dtype",
    "add_quiet",
    "add_scale_out",
    "add_smplx_dir",
    "doc_parser",
    "positive",
    "print_help_by_default",
    "scale_out_from_args",
]

#: Storage dtypes of converted weight files (``ehps convert``, ``ehps weights``).
DTYPES: tuple[str, ...] = ("float32", "bfloat16", "float16")

#: Help of ``--smplx-path`` / ``--smplx-dir`` (the search order of :mod:`ehps.bodymodels.paths`).
SMPLX_DIR_HELP = "SMPL-X model folder (else $EHPS_BODY_MODELS, then the user data dir)"


def doc_parser(sub: argparse._SubParsersAction, name: str, help: str,
               doc: str) -> argparse.ArgumentParser:
    """A subcommand parser described by a module docstring.

    Args:
        sub: the ``ehps`` subparsers.
        name: subcommand name.
        help: one line for ``ehps --help``.
        doc: the command module's docstring: its first paragraph becomes the description, the
            rest (examples, notes), if any, the epilog, both printed as written.
    """
    description, _, epilog = doc.strip().partition("\n\n")
    return sub.add_parser(name, help=help, description=description, epilog=epilog or None,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def print_help_by_default(p: argparse.ArgumentParser) -> None:
    """Make ``p`` print its help (exit status 0) when no sub-action is named."""
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def add_quiet(p: argparse.ArgumentParser, help: str = "no progress bar") -> None:
    """``--quiet``: no progress bar."""
    p.add_argument("--quiet", action="store_true", help=help)


def add_smplx_dir(p: argparse.ArgumentParser, dest: str = "smplx_dir",
                  type: Callable[[str], Any] | None = None, help: str = SMPLX_DIR_HELP) -> None:
    """``--smplx-path`` / ``--smplx-dir DIR`` (aliases), default None, stored in ``dest``."""
    p.add_argument("--smplx-path", "--smplx-dir", dest=dest, type=type, default=None, help=help)


def add_body_model(p: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--body-model NAME``: a registered body model (default ``anny``, the embedded one)."""
    from ehps.bodymodels.registry import list_body_models

    p.add_argument("--body-model", choices=list_body_models(), default="anny", help=help)


def add_dtype(p: argparse.ArgumentParser, help: str) -> None:
    """``--dtype``: storage dtype of floating-point weights (default float32)."""
    p.add_argument("--dtype", choices=DTYPES, default="float32", help=help)


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` that parses with ``kind`` and refuses values that are not > 0."""

    def parse(text: str) -> Any:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def _devices(text: str) -> Any:
    from ehps.errors import InputError
    from ehps.utils.scaleout import parse_devices

    try:
        return parse_devices(text)
    except InputError:
        raise argparse.ArgumentTypeError(
            f"must be a number of processes per node (1 or more) or 'auto', got {text!r}"
        ) from None


def add_scale_out(p: argparse.ArgumentParser, units: str) -> None:
    """``--devices`` / ``--num-nodes`` / ``--accelerator`` / ``--strategy``: run a batch job as
    several processes with Lightning (:mod:`ehps.utils.scaleout`); ``units`` says what is dealt
    out to them (help text)."""
    from ehps.utils.scaleout import STRATEGIES

    g = p.add_argument_group(
        "scale-out (Lightning)",
        f"Run as several processes, on one machine or several: the {units} are dealt out "
        "round-robin, every process writes its own results, and the first merges the summary. "
        "Without --devices / --num-nodes the job runs in this one process.")
    g.add_argument("--devices", type=_devices, default=None, metavar="N|auto",
                   help="processes per node (GPUs: one per GPU; 'auto': every GPU, else 1)")
    g.add_argument("--num-nodes", type=positive(int), default=None, metavar="N",
                   help="nodes (start the command on each with torchrun or srun; the output "
                        "folder must be on a file system they share)")
    g.add_argument("--accelerator", choices=("auto", "cpu", "gpu", "cuda"), default=None,
                   help="what each process runs on (default auto: GPUs when there are any)")
    g.add_argument("--strategy", choices=STRATEGIES, default=None,
                   help="ddp (default: the command is started once per extra process) or "
                        "ddp_spawn")


def scale_out_from_args(args: argparse.Namespace) -> Any:
    """The :class:`ehps.utils.scaleout.ScaleOut` of :func:`add_scale_out`'s flags."""
    from ehps.utils.scaleout import ScaleOut

    return ScaleOut(devices=args.devices if args.devices is not None else 1,
                    num_nodes=args.num_nodes or 1, accelerator=args.accelerator or "auto",
                    strategy=args.strategy or "ddp")

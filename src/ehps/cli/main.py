"""The ``ehps`` command: one console script with a subcommand per task.

Each subcommand lives in its own module ``ehps.cli.<name>`` that defines
``register(subparsers) -> None``; heavy imports happen inside the command's run function so that
``ehps --help`` and ``ehps info`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ehps import __version__
from ehps.errors import EhpsError, describe_os_error

# Order = order in `ehps --help`.
COMMANDS: tuple[str, ...] = (
    "info",
    "demo",
    "infer",
    "serve",
    "convert",
    "weights",
    "models",
    "export",
    "synth",
    "annotate",
    "train",
    "finetune",
    "eval",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ehps",
        description="Expressive human pose and shape estimation (SMPLer-X / SMPLest-X).",
    )
    parser.add_argument("--version", action="version", version=f"ehps {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"ehps.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"ehps.cli.{name}":
                continue  # command not built yet in this checkout
            raise
        module.register(sub)
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str | None
               ) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return None


def _unknown_options(parser: argparse.ArgumentParser, command: str | None,
                     extras: list[str]) -> str:
    """The ``unrecognized arguments`` message, naming the closest valid option of each."""
    from ehps.utils.suggest import closest_hint

    sub = _subparser(parser, command) or parser
    options = [o for a in sub._actions for o in a.option_strings if o.startswith("--")]
    parts = []
    for extra in extras:
        name = extra.split("=", 1)[0]
        hint = closest_hint(name, options) if name.startswith("-") else ""
        parts.append(f"{extra}{hint}")
    return "unrecognized arguments: " + ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        sub = _subparser(parser, getattr(args, "command", None)) or parser
        sub.error(_unknown_options(parser, getattr(args, "command", None), extras))
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except EhpsError as exc:
        print(f"ehps {args.command}: error: {exc.one_line()}", file=sys.stderr)
        return 2
    except OSError as exc:  # an ordinary failure of the system (disk full, permission denied)
        print(f"ehps {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"ehps {args.command}: error: out of memory; use smaller inputs or batches",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ehps {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

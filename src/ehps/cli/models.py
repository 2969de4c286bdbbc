"""``ehps models install FILE_OR_DIR... [--to DIR]`` and ``ehps models status``: the licensed
SMPL-X / SMPL files (and the SMPLer-X companion files) from the official downloads into the
folder ehps reads them from.

Install the body-model files you downloaded from the SMPL-X, SMPL, SMPLify and ExPose websites (the
official zip archives, or loose files) into the folder ehps reads them from, checking each one.

Examples::

    ehps models install ~/Downloads/models_smplx_v1_1.zip \\
        ~/Downloads/smplx_mano_flame_correspondences.zip ~/Downloads/expose_data.zip
    ehps models install ~/Downloads            # every known file and .zip in the folder
    ehps models status
"""

from __future__ import annotations

import argparse
import os
import textwrap
from pathlib import Path

from ehps.cli.options import doc_parser, print_help_by_default

__all__ = ["register", "run_install", "run_status"]

_MARK = {"installed": "+", "replaced": "+", "identical": "=", "checked": "?", "conflict": "!",
         "invalid": "x"}


def register(sub: argparse._SubParsersAction) -> None:
    p = doc_parser(sub, "models", "install the licensed SMPL-X / SMPL body-model files",
                   __doc__.split("\n\n", 1)[1])
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    ins = msub.add_parser("install", help="install files from archives, files or folders")
    ins.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR",
                     help="official .zip archives (models_smplx_v1_1.zip, "
                          "smplx_mano_flame_correspondences.zip, expose_data.zip, "
                          "SMPL_python_v.1.1.0.zip, ...), .tar archives, loose files or folders")
    ins.add_argument("--to", default=None, metavar="DIR",
                     help="body-models folder (default: <user data dir>/body_models)")
    ins.add_argument("--force", action="store_true",
                     help="replace installed files that differ (the old ones are kept, renamed)")
    ins.add_argument("--dry-run", action="store_true", help="check only, install nothing")
    ins.add_argument("--verbose", action="store_true", help="also list the skipped files")
    ins.set_defaults(func=run_install)
    st = msub.add_parser("status", help="which features have the files they need")
    st.add_argument("--dir", default=None, help="body-models folder (default: as install)")
    st.set_defaults(func=run_status)
    print_help_by_default(p)


def _alternatives(alts: str) -> str:
    parts = alts.split(" or ")
    stems = {p.rsplit(".", 1)[0] for p in parts}
    if len(parts) > 1 and len(stems) == 1:
        return f"{stems.pop()}.{{{','.join(p.rsplit('.', 1)[1] for p in parts)}}}"
    return alts


def _print_features(root: Path) -> int:
    from ehps.weights.model_files import MODEL_FILES
    from ehps.weights.models_install import feature_status

    missing_any: dict[str, None] = {}
    print("features:")
    for name, missing in feature_status(root):
        state = "[missing]" if missing else "[ready]"
        print(f"  {state:<9} {name}")
        if missing:
            text = ", ".join(_alternatives(m) for m in missing)
            print(textwrap.fill(text, 100, initial_indent="            needs ",
                                subsequent_indent="                  "))
            missing_any.update(dict.fromkeys(m.split(" or ")[0] for m in missing))
    if missing_any:
        sources = {spec.target: spec.source for spec in MODEL_FILES}
        print("where to get the missing files (registration and licence on each site):")
        for target in missing_any:
            print(f"  {target:<36} {sources.get(target, '')}")
    return len(missing_any)


def _env_hint(root: Path) -> None:
    from ehps.bodymodels.paths import ENV_VAR, default_body_models_dir

    env = os.environ.get(ENV_VAR)
    if root.resolve() != default_body_models_dir().resolve() and (
        not env or Path(env).expanduser().resolve() != root.resolve()
    ):
        print(f"note: ehps looks here only when told: export {ENV_VAR}={root}")
    elif env and Path(env).expanduser().resolve() != root.resolve():
        print(f"note: ${ENV_VAR}={env} is set and is searched before {root}")


def run_install(args: argparse.Namespace) -> int:
    from ehps.weights.models_install import install_model_files

    report = install_model_files(args.inputs, args.to, force=args.force, dry_run=args.dry_run)
    root = report.destination
    verb = "checked (dry run) for" if args.dry_run else "into"
    print(f"body-model files {verb} {root}:")
    for r in report.results:
        print(f"  {_MARK.get(r.status, ' ')} {r.target:<36} {r.status:<9} from {r.source}")
        if r.detail:
            print(f"      {r.detail}")
    if report.skipped:
        print(f"  ({len(report.skipped)} other file(s) not used by ehps were skipped"
              + (")" if not args.verbose else "):"))
        if args.verbose:
            for s in report.skipped:
                print(f"      {s}")
    _print_features(root)
    _env_hint(root)
    return 0 if report.ok else 1


def run_status(args: argparse.Namespace) -> int:
    from ehps.bodymodels.paths import default_body_models_dir

    root = Path(args.dir).expanduser() if args.dir else default_body_models_dir()
    print(f"body-models folder: {root}")
    _print_features(root)
    _env_hint(root)
    return 0

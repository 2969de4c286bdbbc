"""The page's files: ehps's own (committed, ``static/``) and three.js (from the npm registry).

three.js is not committed: ``setup.sh`` runs ``npm ci`` in ``web/`` (versions pinned by its
``package-lock.json``) and then ``python -m ehps.serve.assets web/node_modules``, which copies
the few modules the page imports into ``static/vendor/`` (git-ignored). The server serves
everything itself; the browser fetches nothing from anywhere else (the page's
Content-Security-Policy forbids it).

Usage::

    python -m ehps.serve.assets [NODE_MODULES]   # copy (default: <repo>/web/node_modules)
    python -m ehps.serve.assets --check          # exit 1 and say what is missing
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

__all__ = ["STATIC_DIR", "VENDOR_FILES", "missing_assets", "install_assets", "missing_message"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Files of the npm package ``three`` the page needs -> their place under ``static/vendor/three``.
VENDOR_FILES: dict[str, str] = {
    "build/three.module.js": "three.module.js",
    "build/three.core.js": "three.core.js",
    "examples/jsm/controls/OrbitControls.js": "addons/controls/OrbitControls.js",
    "examples/jsm/loaders/GLTFLoader.js": "addons/loaders/GLTFLoader.js",
    "examples/jsm/utils/BufferGeometryUtils.js": "addons/utils/BufferGeometryUtils.js",
    "examples/jsm/utils/SkeletonUtils.js": "addons/utils/SkeletonUtils.js",
    "LICENSE": "LICENSE",
}
_VENDOR = STATIC_DIR / "vendor" / "three"


def missing_assets(static_dir: Path = STATIC_DIR) -> list[str]:
    """Vendor files the page needs that are not in ``static_dir`` (relative names)."""
    vendor = static_dir / "vendor" / "three"
    return [f"vendor/three/{dst}" for dst in VENDOR_FILES.values() if not (vendor / dst).is_file()]


def missing_message(missing: list[str]) -> str:
    """How to get the page's JavaScript when it is missing."""
    return (
        f"the web page's JavaScript is missing ({', '.join(missing[:3])}"
        f"{' ...' if len(missing) > 3 else ''}). It comes from the npm registry at set-up time: "
        "run ./setup.sh on a machine with npm (Node.js), or by hand: "
        "`cd web && npm ci && cd .. && .venv/bin/python -m ehps.serve.assets`."
    )


def _default_node_modules() -> Path:
    # src/ehps/serve/assets.py -> repository root (an editable install / a checkout)
    return Path(__file__).resolve().parents[3] / "web" / "node_modules"


def install_assets(node_modules: Path | None = None, static_dir: Path = STATIC_DIR) -> list[Path]:
    """Copy the needed three.js files from an ``npm ci`` into ``static/vendor/three``.

    Args:
        node_modules: the ``node_modules`` folder (default ``<repo>/web/node_modules``).
        static_dir: the static folder to fill.

    Returns:
        The files written.

    Raises:
        FileNotFoundError: ``three`` is not installed there.
    """
    src = Path(node_modules or _default_node_modules()) / "three"
    if not (src / "package.json").is_file():
        raise FileNotFoundError(f"no npm package 'three' in {src.parent} (run `npm ci` in web/)")
    out: list[Path] = []
    vendor = static_dir / "vendor" / "three"
    for rel, dst in VENDOR_FILES.items():
        target = vendor / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, target)
        out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--check"]:
        missing = missing_assets()
        if missing:
            print(missing_message(missing), file=sys.stderr)
            return 1
        print(f"all page assets present in {STATIC_DIR}")
        return 0
    try:
        files = install_assets(Path(args[0]) if args else None)
    except FileNotFoundError as exc:
        print(f"ehps.serve.assets: {exc}", file=sys.stderr)
        return 1
    print(f"copied {len(files)} three.js files into {_VENDOR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

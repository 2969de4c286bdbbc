"""FBX through Blender: the GLB ehps writes is imported and re-exported by Blender's own glTF and
FBX add-ons (:mod:`ehps.export.anim.blender_fbx`), run in a separate process.

Which Blender: ``$EHPS_BPY_PYTHON`` (a Python interpreter that can ``import bpy``), else
``$EHPS_BLENDER`` (a ``blender`` executable), else this interpreter when it has ``bpy``. The
``bpy`` wheel (Blender 5.0.1 as a Python module, Python 3.11 only) declares ``numpy<2``, which the
rest of ehps does not run with, so it is installed without its dependencies:
``pip install --no-deps bpy==5.0.1 zstandard`` (its glTF import and FBX export work with numpy 2;
it prints a harmless numpy warning at start-up).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from ehps.errors import MissingDependencyError

__all__ = ["BPY_INSTALL", "fbx_backend", "check_fbx", "glb_to_fbx"]

#: The install command printed when FBX is asked for and no Blender is found.
BPY_INSTALL = "pip install --no-deps bpy==5.0.1 zstandard"
_SCRIPT = Path(__file__).with_name("blender_fbx.py")


def fbx_backend() -> list[str] | None:
    """The command prefix that runs the converter script, or ``None`` without a Blender."""
    py = os.environ.get("EHPS_BPY_PYTHON")
    if py:
        return [py, str(_SCRIPT)]
    blender = os.environ.get("EHPS_BLENDER")
    if blender:
        return [blender, "--background", "--factory-startup", "--python", str(_SCRIPT), "--"]
    if sys.version_info[:2] == (3, 11) and importlib.util.find_spec("bpy") is not None:
        return [sys.executable, str(_SCRIPT)]
    return None


def check_fbx() -> list[str]:
    """The converter command, or :class:`MissingDependencyError` with a one-line fix."""
    cmd = fbx_backend()
    if cmd is None:
        raise MissingDependencyError(
            "FBX export runs Blender's own exporter, and no Blender was found: install its "
            f"Python module with `{BPY_INSTALL}` (Python 3.11), or set EHPS_BPY_PYTHON / "
            "EHPS_BLENDER")
    return cmd


def glb_to_fbx(glb: str | Path, fbx: str | Path, fps: float, timeout_s: float = 600.0) -> Path:
    """Convert one GLB to FBX in a Blender process.

    Raises:
        MissingDependencyError: no Blender (see :func:`check_fbx`).
        RuntimeError: Blender failed (its last output lines are in the message).
    """
    cmd = check_fbx()
    fbx = Path(fbx)
    tmp = fbx.with_name(f".{fbx.stem}.tmp.fbx")
    proc = subprocess.run([*cmd, str(glb), str(tmp), repr(float(fps))], capture_output=True,
                          text=True, timeout=timeout_s)
    if proc.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise RuntimeError(f"Blender could not convert {glb} to FBX: {tail}")
    os.replace(tmp, fbx)
    return fbx

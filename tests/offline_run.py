"""Run a child Python with no network, for the tests that prove something works offline.

The child runs under ``unshare -n`` (a fresh network namespace with no interfaces: any download
attempt fails). Where unprivileged namespaces are not allowed, the documented equivalent is used:
a ``sitecustomize`` hook that replaces ``socket.socket``'s ``connect`` / ``connect_ex`` and
``socket.create_connection`` / ``getaddrinfo`` with functions that raise, so any network access
by any library fails loudly instead of succeeding.

Importable from every test directory (``tests/`` is on ``sys.path`` once pytest loads
``tests/conftest.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["SOCKET_GUARD", "unshare_works", "offline_python"]

#: Source of the ``sitecustomize`` hook of the fallback.
SOCKET_GUARD = """
import socket
def _refuse(*args, **kwargs):
    raise OSError("network access attempted during an offline check")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""


def unshare_works() -> bool:
    """Whether ``unshare -n`` may create a network namespace here."""
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        return subprocess.run([exe, "-n", "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def offline_python(
    args: list[str], hook_dir: Path, env: dict[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """Command and environment that run ``python *args`` (this interpreter) without network.

    Args:
        args: the interpreter's arguments (``["-c", code, ...]``, ``["-m", "ehps", ...]``).
        hook_dir: where the fallback writes its ``sitecustomize.py`` (created if needed).
        env: the child's environment (default: a copy of this process's).

    Returns:
        ``(command, environment)`` for :func:`subprocess.run`.
    """
    env = dict(os.environ if env is None else env)
    cmd = [sys.executable, *args]
    if unshare_works():
        return ["unshare", "-n", *cmd], env
    hook_dir.mkdir(parents=True, exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(SOCKET_GUARD)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook_dir), env.get("PYTHONPATH")]))
    return cmd, env

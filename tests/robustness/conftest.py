"""Helpers of the robustness tests: hostile and broken inputs end in one clear line.

- ``run_cli``: runs ``python -m ehps ...`` in a subprocess (a crash there cannot take pytest with
  it) and returns ``(exit status, stdout, stderr)``.
- ``assert_one_line_error``: the CLI's error contract: exit status 2, exactly one
  ``ehps <command>: error: ...`` line on stderr, no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest


def _run_cli(args: Sequence[str], cwd: Path | None = None, timeout: float = 300.0
             ) -> tuple[int, str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-m", "ehps", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., tuple[int, str, str]]:
    return _run_cli

"""AnnyBody needs no network: construct it in a subprocess with no network namespace
(``unshare -n``), or, where unprivileged namespaces are not allowed, with every socket connection
refused by a ``sitecustomize`` hook (an equivalent check: any download attempt then fails)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from offline_run import offline_python

pytestmark = pytest.mark.embedded

CHILD = """
import sys, torch
from ehps.bodymodels.anny import AnnyBody
body = AnnyBody(sys.argv[1])
with torch.no_grad():
    out = body(body_pose=torch.full((2, 21, 3), 0.1))
    kp = body.mediapipe_keypoints(out)
assert out.vertices.shape == (2, 13718, 3) and out.joints.shape == (2, 55, 3)
assert torch.isfinite(out.vertices).all() and kp["face"].shape == (2, 478, 3)
print("FORWARD-OK", float(out.vertices[..., 1].amax() - out.vertices[..., 1].amin()))
"""

def run_offline(cache_dir: Path, workdir: Path, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("ANNY_CACHE_DIR", None)
    cmd, env = offline_python(["-c", CHILD, str(cache_dir)], workdir / "hook", env)
    # Run from a neutral directory (never from inside the anny package: its typing.py would
    # shadow the standard library's).
    return subprocess.run(
        cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_warm_cache_loads_and_runs_offline(anny_body, tmp_path):
    proc = run_offline(anny_body.cache_dir, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FORWARD-OK" in proc.stdout


@pytest.mark.slow
def test_cold_build_offline_heals_a_truncated_cache(anny_body, tmp_path):
    """The ~40 s first build from the wheel's data, with no network at all. The cache starts with
    a truncated model file (as a killed build leaves it), which is detected and rebuilt."""
    cache = tmp_path / "anny_cache"
    (good,) = anny_body.cache_dir.rglob("build_compact_model_data*.safetensors")
    planted = cache / good.relative_to(anny_body.cache_dir)
    planted.parent.mkdir(parents=True)
    planted.write_bytes(good.read_bytes()[: 1 << 20])
    proc = run_offline(cache, tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    height = float(proc.stdout.split("FORWARD-OK")[1].split()[0])
    assert 1.5 < height < 1.8
    files = sorted(p.name for p in cache.rglob("*.safetensors"))
    # Only the compact model data is kept; the build's intermediates were removed.
    assert files == [good.name], files
    assert planted.stat().st_size == good.stat().st_size

"""Converting a large official checkpoint (weights + Adam state) must not hold two copies of the
network in memory: peak RSS of the converting process stays near one copy of the weights.

Slow (writes a multi-GB file): ``pytest -m slow tests/modeling/test_convert_memory.py``.
Set ``EHPS_CONVERT_MEMORY_VARIANT=smplestx_h`` to measure the 8 GB SMPLest-X-H case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_WRITE = r"""
import sys, torch
from ehps.modeling import build_model
from ehps.modeling.synthetic import official_network_dict

# Official container with an Adam-like state (two moments per parameter). The moments are
# untouched allocations (read back as zeros) so that writing an 8 GB file needs ~1/3 of it in RAM.
model = build_model(sys.argv[2], init=False)
params = list(model.parameters())
state = {i: {"step": torch.tensor(1.0), "exp_avg": torch.empty_like(p, requires_grad=False),
             "exp_avg_sq": torch.empty_like(p, requires_grad=False)} for i, p in enumerate(params)}
optimizer = {"state": state, "param_groups": [{"lr": 1e-5, "params": list(range(len(params)))}]}
ckpt = {"epoch": 1, "network": official_network_dict(model), "optimizer": optimizer}
torch.save(ckpt, sys.argv[1])
"""

_CONVERT = r"""
import json, resource, sys
import torch
from ehps.modeling import convert_official_checkpoint

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

base = rss_mb()
report = convert_official_checkpoint(sys.argv[1], sys.argv[2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"base_mb": base, "peak_mb": peak, "params": report["parameters"]}))
"""


@pytest.mark.slow
def test_streaming_conversion_peak_memory(tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the resident set size")
    variant = os.environ.get("EHPS_CONVERT_MEMORY_VARIANT", "smplerx_l32")
    src, dst = tmp_path / "big.pth.tar", tmp_path / "big.safetensors"
    subprocess.run([sys.executable, "-c", _WRITE, str(src), variant], check=True)
    out = subprocess.run(
        [sys.executable, "-c", _CONVERT, str(src), str(dst)],
        check=True,
        capture_output=True,
        text=True,
    )
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    weights_mb = stats["params"] * 4 / 2**20
    file_mb = src.stat().st_size / 2**20
    extra_mb = stats["peak_mb"] - stats["base_mb"]
    print(
        f"\n{variant}: source {file_mb:.0f} MB (weights {weights_mb:.0f} MB + Adam state), "
        f"peak RSS {stats['peak_mb']:.0f} MB = {stats['base_mb']:.0f} MB after imports "
        f"+ {extra_mb:.0f} MB during conversion"
    )
    assert file_mb > 2.5 * weights_mb  # the source really carries the optimizer state
    assert extra_mb < 1.15 * weights_mb + 200  # about one copy of the weights, never two
    assert dst.stat().st_size < 1.01 * weights_mb * 2**20 + 2**20

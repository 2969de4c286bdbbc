"""What this machine can do: CPU features, thread counts, package versions."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
from pathlib import Path

__all__ = ["cpu_flags", "cpu_summary", "package_version", "amx_bf16_available"]


def cpu_flags() -> set[str]:
    """CPU feature flags from ``/proc/cpuinfo`` (empty set where that file does not exist)."""
    path = Path("/proc/cpuinfo")
    if not path.exists():
        return set()
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def amx_bf16_available() -> bool:
    """True when the CPU has AMX-BF16 tiles (fast bf16 matmul through oneDNN)."""
    return "amx_bf16" in cpu_flags()


def cpu_summary() -> dict[str, object]:
    """Model name, logical cores, torch threads and the vector / matrix extensions that matter."""
    import torch

    flags = cpu_flags()
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "model": model,
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "amx_int8": "amx_int8" in flags,
    }


def package_version(name: str) -> str | None:
    """Installed distribution version, or ``None``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None

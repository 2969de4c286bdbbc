"""``ehps info``: what a new user runs first — versions, CPU features, body models, back-ends."""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
from typing import Any

__all__ = ["register", "collect_info"]

_BACKENDS: tuple[tuple[str, str, str], ...] = (
    # (import name, distribution name, what ehps uses it for)
    ("anny", "anny", "embedded body model"),
    ("mediapipe", "mediapipe", "bundled landmark models (0.10.21)"),
    ("ai_edge_litert", "ai-edge-litert", "tflite interpreter for the bundled models"),
    ("warp", "warp-lang", "anny's fast skinning (optional)"),
    ("av", "av", "video decoding/encoding"),
    ("trimesh", "trimesh", "mesh export (OBJ/PLY/GLB)"),
    ("onnx", "onnx", "ONNX export"),
    ("onnxruntime", "onnxruntime", "ONNX inference / export check"),
    ("lightning", "lightning", "training"),
    ("moderngl", "moderngl", "fast OpenGL overlays (render extra; else the torch rasteriser)"),
    ("matplotlib", "matplotlib", "plots and charts"),
    ("huggingface_hub", "huggingface_hub", "ehps weights download (Hugging Face Hub)"),
    ("smplx", "smplx", "reference SMPL-X (tests only)"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, CPU features, body models and back-ends found")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--body-models", default=None, help="explicit SMPL-X model directory to check")
    p.set_defaults(func=run)


def _backend_rows() -> list[dict[str, Any]]:
    from ehps.utils.system import package_version

    rows = []
    for module, dist, purpose in _BACKENDS:
        found = importlib.util.find_spec(module) is not None
        rows.append(
            {
                "module": module,
                "version": package_version(dist) if found else None,
                "available": found,
                "purpose": purpose,
            }
        )
    return rows


def _body_model_rows(explicit: str | None) -> list[dict[str, Any]]:
    """One row per registered body model (:mod:`ehps.bodymodels.registry`)."""
    from ehps.bodymodels.registry import get_body_model, list_body_models

    return [get_body_model(name).describe(explicit) for name in list_body_models()]


def _weight_rows() -> dict[str, Any]:
    """The weight cache and its entries (manifests only: nothing is hashed here)."""
    try:
        from ehps.weights.store import list_cached, weights_dir

        return {"cache": str(weights_dir()), "cached": [
            {"name": e.name, "variant": e.variant, "path": str(e.path), "bytes": e.size,
             "converted": e.converted is not None} for e in list_cached()]}
    except Exception as exc:  # info must never fail on a broken cache
        return {"cache": f"unavailable: {exc}", "cached": []}


def collect_info(body_models: str | None = None) -> dict[str, Any]:
    """Everything ``ehps info`` reports, as a JSON-serialisable dict."""
    import numpy as np
    import torch

    from ehps import __version__
    from ehps.utils.system import cpu_summary

    return {
        "ehps": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cuda_available": torch.cuda.is_available(),
        "mps_available": bool(getattr(torch.backends, "mps", None))
        and torch.backends.mps.is_available(),
        "cpu": cpu_summary(),
        "body_models": _body_model_rows(body_models),
        "weights": _weight_rows(),
        "backends": _backend_rows(),
    }


def _print_human(info: dict[str, Any]) -> None:
    cpu = info["cpu"]
    print(f"ehps {info['ehps']}  python {info['python']}  torch {info['torch']}  "
          f"numpy {info['numpy']}")
    print(f"platform      {info['platform']}")
    print(f"CPU           {cpu['model']}  ({cpu['logical_cores']} logical cores, "
          f"torch threads {cpu['torch_threads']}, capability {cpu['torch_cpu_capability']})")
    flags = ", ".join(
        f"{name} {'yes' if cpu[key] else 'no'}"
        for name, key in (("AVX-512", "avx512f"), ("AVX512-BF16", "avx512_bf16"),
                          ("AMX-BF16", "amx_bf16"))
    )
    print(f"              {flags}")
    if cpu["amx_bf16"]:
        print("              -> use --bf16 for ~2-3x faster network inference")
    elif cpu["avx512_bf16"]:
        print("              -> --bf16 (and --compile on long videos) about halves network "
              "time here (benchmarks/infer_speed.py)")
    print(f"accelerators  CUDA {'yes' if info['cuda_available'] else 'no'}, "
          f"MPS {'yes' if info['mps_available'] else 'no'}")
    print("body models")
    for row in info["body_models"]:
        print(f"  {row['name']:<11} {_body_model_state(row)}")
        print(f"              {row['description']}")
        print(f"              licence: {row['licence']}")
        for looked in row.get("search", []) if not row["available"] else []:
            print(f"              looked in {looked['source']}: {looked['path']}")
    weights = info["weights"]
    print(f"weights       cache {weights['cache']}")
    for row in weights["cached"]:
        kind = "safetensors" if row["converted"] else "official"
        print(f"  {row['name']:<20} {row['variant']:<12} {kind:<11} {row['bytes'] / 1e9:6.2f} GB  "
              f"{row['path']}")
    if not weights["cached"]:
        print("              none cached (`ehps weights list`, `ehps weights download NAME`)")
    print("back-ends")
    for row in info["backends"]:
        state = row["version"] or ("yes" if row["available"] else "missing")
        print(f"  {row['module']:<14} {state:<12} {row['purpose']}")


def _body_model_state(row: dict[str, Any]) -> str:
    if "search" in row:
        hit = next((r for r in row["search"] if r["found"]), None)
        return (f"found at {hit['path']} ({hit['source']})" if hit else
                "not found (needed for network meshes and --body-model smplx)")
    if "cache_dir" in row:
        built = "built" if row.get("cache_built") else "not built yet: first use takes ~40 s"
        state = "installed" if row["available"] else "NOT installed"
        return f"{state}; cache {row['cache_dir']} ({built})"
    return "available" if row["available"] else f"unavailable {row.get('error', '')}"


def run(args: argparse.Namespace) -> int:
    info = collect_info(args.body_models)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        _print_human(info)
    return 0

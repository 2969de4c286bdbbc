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
    ("moderngl", "moderngl", "fast OpenGL overlay rendering (optional)"),
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


def _body_model_rows(explicit: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        from ehps.bodymodels.paths import describe_smplx_search

        out["smplx_search"] = [
            {"source": src, "path": str(path), "found": found}
            for src, path, found in describe_smplx_search(explicit)
        ]
    except ImportError as exc:  # pragma: no cover - only in partial checkouts
        out["smplx_search"] = f"unavailable: {exc}"
    try:
        from ehps.bodymodels.anny_build import anny_cache_status

        out["anny"] = anny_cache_status()
    except ImportError as exc:
        out["anny"] = f"unavailable: {exc}"
    return out


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
    bm = info["body_models"]
    print("body models")
    search = bm.get("smplx_search")
    if isinstance(search, list):
        hit = next((row for row in search if row["found"]), None)
        status = f"found at {hit['path']} ({hit['source']})" if hit else "not found"
        print(f"  SMPL-X      {status}")
        if not hit:
            for row in search:
                print(f"              looked in {row['source']}: {row['path']}")
            print("              (needed only for network checkpoints; get the files from "
                  "https://smpl-x.is.tue.mpg.de under its licence)")
    else:
        print(f"  SMPL-X      {search}")
    anny = bm.get("anny")
    if isinstance(anny, dict):
        print(f"  Anny        {'installed' if anny.get('installed') else 'NOT installed'}; "
              f"cache {anny.get('cache_dir')} "
              f"({'built' if anny.get('cache_built') else 'not built yet: first use takes ~40 s'})")
    else:
        print(f"  Anny        {anny}")
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


def run(args: argparse.Namespace) -> int:
    info = collect_info(args.body_models)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        _print_human(info)
    return 0

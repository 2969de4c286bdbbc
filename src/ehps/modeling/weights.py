"""The ehps weight format: one safetensors file with the architecture embedded in its metadata.

``save_model`` / ``convert_official_checkpoint`` write it; ``load_model(path)`` rebuilds the
network without being told the variant. Metadata keys (all strings, safetensors rule):

- ``format`` = ``"ehps-model"``, ``format_version`` = ``"1"``;
- ``variant``: zoo name (``""`` for custom configs); ``family``: ``smplerx`` / ``smplestx``;
- ``config``: :class:`ModelConfig` as JSON;
- optional ``source`` (file name it was converted from), ``epoch``, ``dtype``.

The writer is our own streaming implementation of the safetensors layout (8-byte little-endian
header size, JSON header, raw little-endian data), so that converting a multi-GB official file
never holds more than one tensor beyond the memory-mapped input: the header is computed from
shapes alone, then tensors are written one at a time. The file is read back with the
``safetensors`` library.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ehps.errors import CheckpointError, InputError
from ehps.modeling.config import ModelConfig
from ehps.utils.io import PathLike, atomic_open
from ehps.utils.writable import check_writable

__all__ = [
    "FORMAT_NAME",
    "save_model",
    "load_model",
    "read_metadata",
    "write_safetensors",
    "convert_official_checkpoint",
]

FORMAT_NAME = "ehps-model"
FORMAT_VERSION = "1"

_DTYPE_CODES: dict[torch.dtype, str] = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def write_safetensors(
    path: PathLike,
    tensors: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]],
    metadata: Mapping[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> int:
    """Write tensors to a safetensors file, streaming one tensor at a time, atomically.

    Args:
        path: output file.
        tensors: name -> tensor (any device; read once, in order). Shapes and dtypes must be
            available without reading the data (true for memory-mapped tensors).
        metadata: string -> string metadata.
        dtype: cast floating-point tensors to this dtype while writing (``None`` keeps them).

    Returns:
        Bytes written.
    """
    items = list(tensors.items()) if isinstance(tensors, Mapping) else list(tensors)
    header: dict[str, Any] = {}
    offset = 0
    for name, t in items:
        out_dtype = dtype if (dtype is not None and t.is_floating_point()) else t.dtype
        if out_dtype not in _DTYPE_CODES:
            raise CheckpointError(
                f"tensor {name!r} has dtype {out_dtype}, unsupported in safetensors"
            )
        nbytes = t.numel() * torch.empty((), dtype=out_dtype).element_size()
        header[name] = {
            "dtype": _DTYPE_CODES[out_dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    check_writable(path, need_bytes=8 + len(blob) + offset)
    with atomic_open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for _name, t in items:
            t = t.detach()
            if dtype is not None and t.is_floating_point() and t.dtype != dtype:
                t = t.to(dtype)
            data = t.to("cpu").contiguous().reshape(-1).view(torch.uint8)
            fh.write(memoryview(data.numpy()))
            del t, data
    return 8 + len(blob) + offset


def read_metadata(path: PathLike) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file (empty dict when it has none)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read {path} as safetensors: {exc}") from exc


def _model_metadata(model: nn.Module, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    config = getattr(model, "config", None)
    if not isinstance(config, ModelConfig):
        raise CheckpointError("save_model needs an ehps network (with a .config ModelConfig)")
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "variant": config.name,
        "family": config.family,
        "config": config.to_json(),
    }
    meta.update({str(k): str(v) for k, v in (extra or {}).items()})
    return meta


def save_model(
    model: nn.Module,
    path: PathLike,
    *,
    dtype: torch.dtype | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Save an ehps network as safetensors with its config embedded (atomic write).

    Args:
        model: a network from :func:`ehps.modeling.build_model` or a loader.
        path: output ``.safetensors`` file.
        dtype: optional floating-point storage dtype (e.g. ``torch.bfloat16`` halves the file);
            :func:`load_model` always returns float32.
        metadata: extra string metadata.
    """
    extra = dict(metadata or {})
    if dtype is not None:
        extra["dtype"] = str(dtype).replace("torch.", "")
    write_safetensors(path, model.state_dict(), _model_metadata(model, extra), dtype)
    return Path(path)


def _is_safetensors(path: Path) -> bool:
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as fh:
        head = fh.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def load_model(path: PathLike, *, variant: str | None = None, **overrides: Any) -> nn.Module:
    """Load a network from an ehps safetensors file (config read from the file) or, for any
    other file, from an official checkpoint (variant inferred unless given).

    Returns:
        The network in eval mode, float32, on the CPU.
    """
    from safetensors import safe_open

    from ehps.modeling.checkpoint import check_state_dict, load_official_checkpoint
    from ehps.modeling.zoo import build_model, resolve_name

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weight file not found: {path}")
    if not _is_safetensors(path):
        return load_official_checkpoint(path, variant, **overrides)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT_NAME or "config" not in meta:
        raise CheckpointError(
            f"{path} is a safetensors file but not an ehps model (no '{FORMAT_NAME}' metadata); "
            "write it with `ehps convert` or ehps.modeling.save_model"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has ehps format version {meta.get('format_version')!r}; this ehps reads "
            f"version {FORMAT_VERSION}. Upgrade ehps."
        )
    try:
        config = ModelConfig.from_json(meta["config"])
    except InputError as exc:
        raise CheckpointError(
            f"{path}: its embedded model config is invalid ({exc}); the file is corrupt or was "
            "not written by ehps (re-create it with `ehps convert`)") from exc
    if overrides:
        config = config.replace(**overrides)
    if variant is not None and resolve_name(variant) != config.name:
        raise CheckpointError(
            f"{path} holds {config.name or 'a custom config'!r}, not {variant!r}; omit variant= "
            "(the file names its architecture)"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read the tensors of {path}: {exc}") from exc
    model = build_model(config, device="meta", init=False)
    check_state_dict(model, state, str(path), config.name or "custom")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def convert_official_checkpoint(
    src: PathLike,
    dst: PathLike,
    variant: str | None = None,
    *,
    dtype: torch.dtype | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Convert an official ``.pth.tar`` into an ehps safetensors file, streaming.

    The source is memory-mapped (torch zip format), the optimizer state is never touched, the
    keys are mapped and checked strictly against the variant (built on the meta device, so no
    weights are allocated), and tensors are written one at a time: peak memory is about one copy
    of the network weights (the mapped pages) plus one tensor.

    Args:
        src: official checkpoint.
        dst: output ``.safetensors`` path (written atomically).
        variant: zoo name; ``None`` infers it from the shapes.
        dtype: optional floating-point storage dtype for the output.
        **overrides: :class:`ModelConfig` overrides (tiny synthetic files in tests).

    Returns:
        A report: ``variant``, ``tensors``, ``parameters``, ``bytes``, ``dropped`` (official keys
        left out, e.g. ``smplx_layer.*``), ``epoch``.
    """
    from ehps.modeling.checkpoint import check_state_dict, infer_variant, read_official_state_dict
    from ehps.modeling.zoo import build_model, get_config

    state, info = read_official_state_dict(src)
    if variant is None:
        variant = infer_variant(state)
        if variant is None:
            raise CheckpointError(
                f"cannot infer the variant of {src}: name it (variant=... in Python, "
                "--variant on the command line)")
    config = get_config(variant, **overrides)
    skeleton = build_model(config, device="meta", init=False)
    check_state_dict(skeleton, state, str(src), config.name or variant)
    order = list(skeleton.state_dict())  # write in module order
    extra = {"source": Path(src).name}
    if info["epoch"] is not None:
        extra["epoch"] = str(info["epoch"])
    if dtype is not None:
        extra["dtype"] = str(dtype).replace("torch.", "")
    meta = _model_metadata(skeleton, extra)
    written = write_safetensors(dst, ((k, state[k]) for k in order), meta, dtype)
    return {
        "variant": config.name,
        "tensors": len(order),
        "parameters": sum(p.numel() for p in skeleton.parameters()),
        "bytes": written,
        "dropped": info["dropped"],
        "epoch": info["epoch"],
    }

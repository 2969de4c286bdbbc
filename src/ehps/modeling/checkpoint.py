"""Importing the official SMPLer-X / SMPLest-X checkpoints and ViTPose backbones, strictly.

Official container (official-spec b.2): ``{'epoch': int, 'network': state_dict, 'optimizer': ...}``
saved from a DDP-wrapped model, so ``network`` keys start with ``module.``. The official loaders
prepend ``module.``, rename ``backbone`` -> ``encoder``, ``body_rotation_net`` ->
``body_regressor``, ``hand_rotation_net`` -> ``hand_regressor`` (older naming) and load with
``strict=False``. We apply the same renames, drop ``module.`` and ``smplx_layer.*`` (a body-model
copy that is not part of the network), ignore the optimizer state, and then load **strictly**: any
missing, unexpected or mis-shaped key is an error that lists them and, when the shapes fit another
zoo variant, names it.

Files are read with ``torch.load(weights_only=True)`` only (a restricted unpickler: tensors and
plain containers, plus numpy scalars/arrays which some training scripts leave in). New-format
(zip) files are memory-mapped, so an 8 GB SMPLest-X file with Adam state costs only the pages of
the network weights; legacy (non-zip) files cannot be mapped and are read whole.
"""

from __future__ import annotations

import logging
import pickle
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ehps.errors import CheckpointError
from ehps.modeling.config import ModelConfig
from ehps.modeling.zoo import _VIT_SIZES, build_model, get_config
from ehps.utils.io import PathLike
from ehps.utils.safe_pickle import TORCH_NUMPY_GLOBALS, resolve_inert

__all__ = [
    "OFFICIAL_RENAMES",
    "map_official_key",
    "torch_load_safely",
    "extract_network_state_dict",
    "read_official_state_dict",
    "infer_variant",
    "check_state_dict",
    "load_official_checkpoint",
    "load_vitpose_backbone",
    "save_vitpose_backbone",
]

log = logging.getLogger(__name__)


#: Legacy top-level module names of the official code -> current names.
OFFICIAL_RENAMES: dict[str, str] = {
    "backbone": "encoder",
    "body_rotation_net": "body_regressor",
    "hand_rotation_net": "hand_regressor",
}


def map_official_key(key: str) -> str | None:
    """Official ``network`` key -> ehps state-dict key, or ``None`` for keys to drop.

    Strips any ``module.`` prefixes, drops ``smplx_layer`` entries and applies
    :data:`OFFICIAL_RENAMES` to the top-level module name.
    """
    while key.startswith("module."):
        key = key[len("module.") :]
    if "smplx_layer" in key:
        return None
    head, dot, rest = key.partition(".")
    return OFFICIAL_RENAMES.get(head, head) + dot + rest


def _numpy_safe_globals() -> list[Any]:
    """Numpy reconstructors that only rebuild data (scalars, dtypes, arrays), under both the
    numpy 2 (``numpy._core``) and numpy 1 (``numpy.core``) module names.

    Arrays go through the checked stand-in of :mod:`ehps.utils.untrusted`: torch's restricted
    unpickler would hand an array's declared state to ``ndarray.__setstate__``, which allocates
    an object array of any declared shape before looking at the data (a memory bomb).
    """
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    scalar = core.multiarray.scalar
    allowed: list[Any] = [np.dtype, *TORCH_NUMPY_GLOBALS]
    for module in ("numpy._core", "numpy.core"):
        allowed += [(scalar, f"{module}.multiarray.scalar")]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25
    if dtypes is not None:
        allowed += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return allowed


def torch_load_safely(path: PathLike, mmap: bool = True, map_location: Any = "cpu") -> Any:
    """``torch.load(path, map_location='cpu', weights_only=True)``, memory-mapped when possible.

    Raises:
        CheckpointError: missing file, unreadable or corrupt file (every failure of the zip,
            pickle and storage readers), or a file that needs full (unsafe) unpickling.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
        is_zip = zipfile.is_zipfile(path)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not (is_zip or head[:1] == b"\x80"):  # zip format or a legacy pickle
        raise CheckpointError(
            f"cannot read {path}: it is neither a torch zip checkpoint nor a legacy torch pickle; "
            "is the file complete and a .pth/.pth.tar saved by torch.save?"
        )
    kwargs: dict[str, Any] = {"map_location": map_location, "weights_only": True}
    try:
        if mmap and not is_zip:
            log.warning(
                "%s is a legacy (non-zip) torch file and cannot be memory-mapped; reading it "
                "whole (needs RAM for the full file). Re-save it with a recent torch to avoid "
                "this.",
                path,
            )
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            obj = torch.load(path, mmap=mmap and is_zip, **kwargs)
        return resolve_inert(obj, str(path), CheckpointError)
    except pickle.UnpicklingError as exc:
        lines = [ln for ln in str(exc).splitlines() if "Unsupported global" in ln]
        if not lines:
            raise CheckpointError(
                f"cannot read {path} as a torch checkpoint (UnpicklingError: "
                f"{' '.join(str(exc).split())[:300]}); is the file complete and a .pth/.pth.tar "
                "saved by torch.save?") from exc
        raise CheckpointError(
            f"cannot read {path}: it contains Python objects other than tensors and plain "
            f"containers, which are not read (weights_only=True). If it is an official checkpoint, "
            f"re-save only its 'network' state dict. Details: {lines[0].strip()[:300]}"
        ) from exc
    except CheckpointError:
        raise
    except _LOAD_ERRORS as exc:
        detail = " ".join(str(exc).split())[:300]
        raise CheckpointError(
            f"cannot read {path} as a torch checkpoint ({type(exc).__name__}: {detail}); is the "
            "file complete and a .pth/.pth.tar saved by torch.save?"
        ) from exc


#: What torch.load raises on a corrupt or crafted file (zip, pickle and storage layers; found by
#: fuzzing ``benchmarks/robustness.py``).
_LOAD_ERRORS: tuple[type[BaseException], ...] = (
    RuntimeError, KeyError, EOFError, ValueError, OSError, TypeError, IndexError, AttributeError,
    OverflowError, UnicodeDecodeError, MemoryError, RecursionError, NotImplementedError,
    AssertionError, zipfile.BadZipFile, struct.error, zlib.error,
)


def extract_network_state_dict(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The network state dict inside an official container (``network``), an mmpose/ViTPose
    file (``state_dict``) or a bare state dict. The optimizer state is dropped from ``obj``."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source} holds a {type(obj).__name__}, not a dict of tensors")
    if isinstance(obj, dict):
        obj.pop("optimizer", None)  # release references to the (possibly huge) Adam state early
    for key in ("network", "state_dict", "model"):
        inner = obj.get(key)
        if isinstance(inner, Mapping):
            obj = inner
            break
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(
            f"{source} has no tensors under 'network', 'state_dict' or at the top level "
            f"(top-level keys: {sorted(map(str, obj))[:10]})"
        )
    return tensors


def read_official_state_dict(path: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read an official checkpoint and map its keys to ehps names.

    Returns:
        state_dict: ehps key -> tensor (memory-mapped for zip files).
        info: ``epoch`` (or ``None``), ``dropped`` (list of dropped official keys).
    """
    obj = torch_load_safely(path)
    epoch = obj.get("epoch") if isinstance(obj, Mapping) else None
    raw = extract_network_state_dict(obj, str(path))
    del obj
    mapped: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    for key, value in raw.items():
        new = map_official_key(key)
        if new is None:
            dropped.append(key)
        elif new in mapped:
            raise CheckpointError(f"{path}: two keys map to {new!r} (one of them is {key!r})")
        else:
            mapped[new] = value
    return mapped, {"epoch": epoch, "dropped": dropped}


def infer_variant(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """The zoo variant whose architecture these weights fit, from the encoder width, the block
    count and the presence of a decoder; ``None`` when no registered variant fits."""
    pos = state_dict.get("encoder.pos_embed")
    if pos is None or pos.ndim != 3:
        return None
    width = int(pos.shape[-1])
    blocks = {
        int(m.group(1)) for k in state_dict if (m := re.match(r"encoder\.blocks\.(\d+)\.", k))
    }
    depth = max(blocks) + 1 if blocks else 0
    family = "smplestx" if any(k.startswith("decoder.") for k in state_dict) else "smplerx"
    for size, (c, d, _, _) in _VIT_SIZES.items():
        if (c, d) == (width, depth):
            return f"smplerx_{size}32" if family == "smplerx" else f"smplestx_{size}"
    return None


def _describe(state_dict: Mapping[str, torch.Tensor]) -> str:
    pos = state_dict.get("encoder.pos_embed")
    width = int(pos.shape[-1]) if pos is not None else "?"
    blocks = {k.split(".")[2] for k in state_dict if k.startswith("encoder.blocks.")}
    kind = (
        "SMPLest-X decoder"
        if any(k.startswith("decoder.") for k in state_dict)
        else "SMPLer-X heads"
    )
    return f"C={width}, {len(blocks)} blocks, {kind}"


def _listing(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... and {len(items) - limit} more" if len(items) > limit else "")


def check_state_dict(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str,
    variant: str,
    ignore_missing: tuple[str, ...] = (),
    suggest: bool = True,
) -> None:
    """Raise :class:`CheckpointError` unless ``state_dict`` has exactly the model's keys and
    shapes (``ignore_missing``: model keys allowed to be absent; ``suggest``: name the zoo
    variant the weights fit, for whole-network state dicts)."""
    reference = model.state_dict()
    expected = {k: tuple(v.shape) for k, v in reference.items()}
    missing = sorted(k for k in expected if k not in state_dict and k not in ignore_missing)
    unexpected = sorted(k for k in state_dict if k not in expected)
    mismatched = sorted(
        f"{k}: file {tuple(state_dict[k].shape)} vs model {expected[k]}"
        for k in expected
        if k in state_dict and tuple(state_dict[k].shape) != expected[k]
    ) + sorted(
        f"{k}: file dtype {state_dict[k].dtype} vs model {reference[k].dtype}"
        for k in expected
        if k in state_dict and not _same_kind(state_dict[k].dtype, reference[k].dtype)
    )
    if not (missing or unexpected or mismatched):
        return
    parts = [f"{source} does not fit the architecture {variant!r}:"]
    if missing:
        parts.append(f"{len(missing)} missing key(s) [{_listing(missing)}]")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s) [{_listing(unexpected)}]")
    if mismatched:
        parts.append(f"{len(mismatched)} shape mismatch(es) [{_listing(mismatched, 5)}]")
    guess = infer_variant(state_dict) if suggest else variant
    if guess is not None and guess != variant:
        parts.append(
            f"The file looks like {guess!r} ({_describe(state_dict)}): pass variant={guess!r}."
        )
    elif guess is None:
        parts.append(f"The file holds {_describe(state_dict)}, which fits no registered variant.")
    raise CheckpointError(" ".join(parts))


def _same_kind(a: torch.dtype, b: torch.dtype) -> bool:
    """Both floating point (any precision, not complex), or both the same non-float type."""
    if a.is_complex or b.is_complex:
        return a == b
    if a.is_floating_point or b.is_floating_point:
        return a.is_floating_point and b.is_floating_point
    return a == b or {a, b} <= {torch.int64, torch.int32}


def _as_float32(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        k: (v.float() if v.is_floating_point() and v.dtype != torch.float32 else v)
        for k, v in state_dict.items()
    }


def load_official_checkpoint(
    path: PathLike, variant: str | None = None, **overrides: Any
) -> nn.Module:
    """Build the network for an official ``.pth.tar`` and load its weights strictly.

    Args:
        path: ``smpler_x_{s,b,l,h}32.pth.tar``, ``smpler_x_h32_correct.pth.tar``,
            ``smplest_x_h.pth.tar``, or any file in the official container format.
        variant: zoo name (``"smplerx_h32"``, ``"smplestx_h"``, ...); ``None`` infers it from the
            weight shapes.
        **overrides: :class:`ModelConfig` overrides (e.g. tiny widths for synthetic test files).

    Returns:
        The network in eval mode, float32, on the CPU. Its tensors are memory-mapped from the
        file when the file is in torch's zip format (keep the file in place while using it).

    Raises:
        CheckpointError: unreadable file, or keys / shapes that do not fit (the message lists
            them and suggests the right variant).
    """
    state_dict, info = read_official_state_dict(path)
    guess = infer_variant(state_dict)
    if variant is None:
        if guess is None:
            raise CheckpointError(
                f"cannot infer the variant of {path} ({_describe(state_dict)}): it does not look "
                "like a SMPLer-X / SMPLest-X checkpoint. If it is one, name its variant "
                "(variant=... in Python, --variant on the command line: smplerx_s32 ... "
                "smplerx_h32, smplestx_s ... smplestx_h)"
            )
        variant = guess
    config: ModelConfig = get_config(variant, **overrides)
    model = build_model(config, device="meta", init=False)
    check_state_dict(model, state_dict, str(path), config.name or variant)
    model.load_state_dict(_as_float32(state_dict), strict=True, assign=True)
    log.info(
        "loaded %s (epoch %s) as %s; dropped %d key(s)",
        path,
        info["epoch"],
        variant,
        len(info["dropped"]),
    )
    return model.eval()


def load_vitpose_backbone(model: nn.Module, path: PathLike) -> dict[str, Any]:
    """Initialise ``model.encoder`` from a ViTPose (mmpose TopDown) checkpoint, strictly.

    The file's ``state_dict`` must hold every encoder weight under ``backbone.*`` with matching
    shapes; the task tokens (absent from ViTPose) keep their random init and ``keypoint_head.*``
    (or any other non-backbone key) is ignored. The official SMPLest-X loader silently matched
    nothing here; this one fails loudly instead.

    Returns:
        ``{"loaded": int, "ignored": list[str], "kept": ["task_tokens"]}``.
    """
    raw = extract_network_state_dict(torch_load_safely(path), str(path))
    backbone = {k[len("backbone.") :]: v for k, v in raw.items() if k.startswith("backbone.")}
    ignored = sorted(k for k in raw if not k.startswith("backbone."))
    if not backbone:
        raise CheckpointError(
            f"{path} has no 'backbone.*' keys; expected a ViTPose / mmpose TopDown checkpoint "
            f"(vitpose_{{small,base,large,huge}}.pth). Found: {_listing(sorted(raw))}"
        )
    encoder = model.encoder
    name = getattr(getattr(model, "config", None), "name", "") or type(model).__name__
    check_state_dict(
        encoder,
        backbone,
        f"{path} (backbone.*)",
        name,
        ignore_missing=("task_tokens",),
        suggest=False,
    )
    encoder.load_state_dict(_as_float32(backbone), strict=False)
    return {"loaded": len(backbone), "ignored": ignored, "kept": ["task_tokens"]}


def save_vitpose_backbone(model: nn.Module, path: PathLike, meta: Mapping[str, Any] | None = None
                          ) -> int:
    """Write ``model.encoder`` as a ViTPose-layout checkpoint that :func:`load_vitpose_backbone`
    (``model.vitpose`` in training configs) reads back: ``{"meta": ..., "state_dict":
    {"backbone.<name>": tensor}}``, float32, without the task tokens (ViTPose has none).

    This is how a network pre-trained on 2D keypoints here (the ViTPose stage of the official
    recipe, e.g. ``scripts/train_synthetic_demo.py``) starts the encoder of another network, of
    either family. Written atomically with ``torch.save``; plain tensors only, so
    ``torch.load(weights_only=True)`` reads it.

    Returns:
        the number of tensors written.
    """
    from ehps.utils.io import atomic_open

    state = _as_float32({f"backbone.{k}": v.detach().cpu()
                         for k, v in model.encoder.state_dict().items() if k != "task_tokens"})
    with atomic_open(path, "wb") as fh:
        torch.save({"meta": dict(meta or {}), "state_dict": state}, fh)
    return len(state)

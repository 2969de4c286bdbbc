"""Reading SMPL-X model files and their companion files, safely and without chumpy.

- ``SMPLX_*.npz`` is read with ``np.load(allow_pickle=False)``; only the arrays the body model
  needs are touched (official files also hold pickled object arrays such as ``joint2num``, which
  are skipped, never unpickled).
- ``SMPLX_*.pkl`` and the companion ``.pkl`` files are Python pickles by format: the official
  ones were written by Python 2 with chumpy arrays and scipy sparse matrices inside, so there is
  no pickle-free way to read them. They are read with a *restricted* unpickler that can build
  only numpy arrays / dtypes / scalars and scipy sparse matrices, and that turns chumpy objects
  into inert stand-ins whose stored value is taken as a plain array. Any other class in the file
  is refused with :class:`~ehps.errors.BodyModelError`, so a crafted pickle cannot run code.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ehps.errors import BodyModelError

__all__ = [
    "REQUIRED_KEYS",
    "CONTOUR_KEYS",
    "safe_unpickle",
    "load_smplx_data",
    "load_mano_vertex_ids",
    "load_flame_vertex_ids",
    "load_j14_regressor",
]

#: Arrays every SMPL-X model file must hold.
REQUIRED_KEYS: tuple[str, ...] = (
    "v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table",
    "hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr",
    "lmk_faces_idx", "lmk_bary_coords",
)  # fmt: skip
#: Arrays needed only for the 17 dynamic contour landmarks (``use_face_contour=True``).
CONTOUR_KEYS: tuple[str, ...] = ("dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords")

PathLike = str | os.PathLike[str]

_SPARSE_NAMES = frozenset(
    {"csc_matrix", "csr_matrix", "coo_matrix", "csc_array", "csr_array", "coo_array"}
)


class _ChumpyStandIn:
    """Inert replacement for any chumpy class found in a pickle: it only records its state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        self._state = state

    def to_array(self, key: str) -> np.ndarray:
        state = getattr(self, "_state", None)
        if isinstance(state, dict) and "x" in state:
            return np.asarray(state["x"])
        raise BodyModelError(
            f"'{key}' is a derived chumpy expression that cannot be evaluated without chumpy. "
            "Convert the file to .npz once with the SMPL-X tools, or use the official .npz file."
        )


def _numpy_attr(module: str, name: str) -> Any:
    allowed = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    }  # fmt: skip
    if (module, name) not in allowed:
        return None
    if name == "ndarray":
        return np.ndarray
    if name == "dtype":
        return np.dtype
    core = getattr(np, "_core", None) or np.core
    sub = core.multiarray if "multiarray" in module else core.numeric
    return getattr(sub, name)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStandIn
        attr = _numpy_attr(module, name)
        if attr is not None:
            return attr
        if module.startswith("scipy.sparse") and name in _SPARSE_NAMES:
            import scipy.sparse

            return getattr(scipy.sparse, name)
        if (module, name) in (("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")):
            import copyreg

            return copyreg._reconstructor  # type: ignore[attr-defined]
        if (module, name) in (("__builtin__", "object"), ("builtins", "object")):
            return object
        if (module, name) == ("_codecs", "encode"):
            import codecs

            return codecs.encode
        raise BodyModelError(
            f"refusing to load {module}.{name} from a pickle: only numpy arrays, scipy sparse "
            "matrices and chumpy arrays are allowed in body-model files"
        )


def safe_unpickle(path: PathLike) -> Any:
    """Unpickle ``path`` allowing only numpy / scipy.sparse objects (chumpy -> stand-ins).

    Python-2 pickles are read with ``encoding="latin1"``.

    Raises:
        BodyModelError: the file is unreadable or holds a disallowed class.
    """
    try:
        with open(path, "rb") as fh:
            return _RestrictedUnpickler(fh, encoding="latin1").load()
    except BodyModelError:
        raise
    except Exception as exc:  # any parse failure means "not a valid file"
        raise BodyModelError(f"cannot read the pickle {path}: {exc}") from exc


def _to_array(key: str, value: Any) -> np.ndarray:
    if isinstance(value, _ChumpyStandIn):
        return value.to_array(key)
    if hasattr(value, "toarray") and hasattr(value, "tocsr"):  # scipy sparse
        return np.asarray(value.toarray())
    return np.asarray(value)


def _validate(data: dict[str, np.ndarray], path: PathLike) -> None:
    v = data["v_template"]
    n_v = v.shape[0] if v.ndim == 2 else -1
    n_j = data["kintree_table"].shape[-1] if data["kintree_table"].ndim == 2 else -1
    checks = {
        "v_template": v.ndim == 2 and v.shape[1] == 3,
        "f": data["f"].ndim == 2 and data["f"].shape[1] == 3,
        "shapedirs": data["shapedirs"].ndim in (2, 3) and data["shapedirs"].shape[:2] == (n_v, 3),
        "posedirs": data["posedirs"].shape[:2] == (n_v, 3)
        and data["posedirs"].reshape(n_v * 3, -1).shape[1] == 9 * (n_j - 1),
        "J_regressor": data["J_regressor"].shape == (n_j, n_v),
        "weights": data["weights"].shape == (n_v, n_j),
        "kintree_table": data["kintree_table"].shape == (2, 55),
        "lmk_faces_idx": data["lmk_faces_idx"].shape[0] == data["lmk_bary_coords"].shape[0],
    }
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        shapes = ", ".join(f"{k} {tuple(data[k].shape)}" for k in bad)
        raise BodyModelError(
            f"{path} does not look like an SMPL-X model: unexpected shapes for {shapes} "
            "(expected 55 joints, v_template (V, 3), J_regressor (55, V), weights (V, 55), "
            "posedirs (V, 3, 486)). Is this an SMPL / SMPL-H / MANO / FLAME file?"
        )


def load_smplx_data(path: PathLike) -> dict[str, np.ndarray]:
    """Read an SMPL-X model file (``.npz`` or chumpy-free ``.pkl``) into numpy arrays.

    Args:
        path: ``SMPLX_<GENDER>.npz`` or ``.pkl``.

    Returns:
        The :data:`REQUIRED_KEYS` (and the :data:`CONTOUR_KEYS` when present) as numpy arrays,
        in the file's dtypes; a sparse ``J_regressor`` is made dense.

    Raises:
        BodyModelError: unreadable file, or not an SMPL-X model (the message names the missing
            keys or the unexpected shapes).
    """
    path = Path(path)
    if not path.is_file():
        raise BodyModelError(f"SMPL-X model file not found: {path}")
    wanted = REQUIRED_KEYS + CONTOUR_KEYS
    data: dict[str, np.ndarray] = {}
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                present = set(npz.files)
                for key in wanted:
                    if key in present:
                        data[key] = npz[key]
        except Exception as exc:
            raise BodyModelError(f"cannot read {path} as an .npz model file: {exc}") from exc
    elif path.suffix == ".pkl":
        raw = safe_unpickle(path)
        if not isinstance(raw, dict):
            raise BodyModelError(f"{path} holds a {type(raw).__name__}, not an SMPL-X model dict")
        data = {k: _to_array(k, raw[k]) for k in wanted if k in raw}
    else:
        raise BodyModelError(f"unsupported SMPL-X model file type {path.suffix!r} ({path}); "
                             "use the official .npz (or .pkl)")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise BodyModelError(
            f"{path} is not an SMPL-X model file: missing key(s) {', '.join(missing)}. Use the "
            "SMPLX_NEUTRAL/MALE/FEMALE files from https://smpl-x.is.tue.mpg.de"
        )
    _validate(data, path)
    return data


def load_mano_vertex_ids(path: PathLike) -> dict[str, np.ndarray]:
    """``MANO_SMPLX_vertex_ids.pkl`` -> ``{"left_hand": (778,) int64, "right_hand": (778,)}``.

    Raises:
        BodyModelError: missing file or keys, or ids that are not 1-D integers.
    """
    raw = safe_unpickle(path)
    if not isinstance(raw, dict) or not {"left_hand", "right_hand"} <= set(raw):
        raise BodyModelError(f"{path} must hold a dict with 'left_hand' and 'right_hand' ids")
    out = {}
    for key in ("left_hand", "right_hand"):
        ids = np.asarray(raw[key])
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise BodyModelError(f"{path}: '{key}' must be 1-D integer ids, got {ids.dtype} "
                                 f"{ids.shape}")
        out[key] = ids.astype(np.int64)
    return out


def load_flame_vertex_ids(path: PathLike) -> np.ndarray:
    """``SMPL-X__FLAME_vertex_ids.npy`` -> (5023,) int64 SMPL-X vertex ids of the FLAME face."""
    try:
        ids = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise BodyModelError(f"cannot read {path}: {exc}") from exc
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise BodyModelError(
            f"{path} must hold 1-D integer vertex ids, got {ids.dtype} {ids.shape}"
        )
    return ids.astype(np.int64)


def load_j14_regressor(path: PathLike) -> np.ndarray:
    """``SMPLX_to_J14.pkl`` -> (14, V) float64 dense regressor of the 14 LSP joints."""
    reg = _to_array("SMPLX_to_J14", safe_unpickle(path))
    if reg.ndim != 2 or reg.shape[0] != 14:
        raise BodyModelError(f"{path} must hold a (14, V) regressor, got shape {reg.shape}")
    return reg.astype(np.float64)

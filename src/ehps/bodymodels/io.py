"""Reading SMPL-X model files and their companion files, safely and without chumpy.

- ``SMPLX_*.npz`` is read with :func:`ehps.utils.safe_npz.load_npz`: only the arrays the body
  model needs are touched, every declared shape is checked against the file before memory is
  allocated (official files also hold pickled object arrays such as ``joint2num``, which are
  skipped, never unpickled).
- ``SMPLX_*.pkl`` and the companion ``.pkl`` files are Python pickles by format: the official
  ones were written by Python 2 with chumpy arrays and scipy sparse matrices inside, so there is
  no pickle-free way to read them. They are read with the shared restricted unpickler of
  :mod:`ehps.utils.untrusted`: numpy arrays and scipy sparse matrices are rebuilt from checked
  arrays (a sparse matrix with out-of-range indices is refused, never handed to scipy), chumpy
  objects become inert stand-ins whose stored value is taken as a plain array, and any other
  class is refused with :class:`~ehps.errors.BodyModelError`, so a crafted pickle can neither run
  code nor crash the process.
- Every array is then checked against the SMPL-X layout (shapes, dtypes, index ranges) before a
  body model is built from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ehps.errors import BodyModelError
from ehps.utils.io import PathLike
from ehps.utils.safe_npz import load_npy, load_npz
from ehps.utils.safe_pickle import NUMPY_GLOBALS, Inert, load_pickle, sparse_stand_in
from ehps.utils.untrusted import CheckedSparse, checked_array

__all__ = [
    "REQUIRED_KEYS",
    "CONTOUR_KEYS",
    "safe_unpickle",
    "model_array",
    "index_array",
    "check_kintree",
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


#: Largest body-model array accepted (official posedirs: 122 MB in float64).
_MAX_ARRAY_BYTES = 1 << 30
#: Most vertices / faces a body-model file may declare (SMPL-X: 10475 / 20908).
_MAX_VERTICES = 1 << 20


class _UnevaluatedChumpy:
    """A chumpy expression without a stored value (cannot be evaluated without chumpy)."""


class _ChumpyStandIn(Inert):
    """Inert replacement for any chumpy class found in a pickle: its stored value ``x`` (a plain
    array) is all that is read."""

    def resolve(self, walk: Any, where: str, error: Any) -> Any:
        state = getattr(self, "_state", None)
        if isinstance(state, dict) and "x" in state:
            return walk(state["x"])
        return _UnevaluatedChumpy()


def _lookup(module: str, name: str) -> Any:
    if module == "chumpy" or module.startswith("chumpy."):
        return _ChumpyStandIn
    if (module, name) in NUMPY_GLOBALS:
        return NUMPY_GLOBALS[(module, name)]
    if module.startswith("scipy.sparse"):
        stand_in = sparse_stand_in(name)
        if stand_in is not None:
            return stand_in
    raise BodyModelError(
        f"refusing to load {module}.{name} from a pickle: only numpy arrays, scipy sparse "
        "matrices and chumpy arrays are allowed in body-model files"
    )


def safe_unpickle(path: PathLike) -> Any:
    """Unpickle ``path`` allowing only numpy arrays, scipy sparse matrices (made dense after
    their indices are checked) and chumpy arrays (their stored value).

    Python-2 pickles are read with ``encoding="latin1"``.

    Raises:
        BodyModelError: the file is unreadable, holds a disallowed class, a malformed array or
            sparse matrix, or expands beyond its size (a resource bomb).
    """
    try:
        with open(path, "rb") as fh:
            return load_pickle(fh, str(path), BodyModelError, _lookup)
    except OSError as exc:
        raise BodyModelError(f"cannot read the pickle {path}: {exc.strerror or exc}") from exc


def model_array(key: str, value: Any, path: PathLike = "") -> np.ndarray:
    """A value read from a body-model file as a checked numeric array (sparse matrices made
    dense under a size cap; chumpy arrays by their stored value).

    Raises:
        BodyModelError: not a numeric array, too large, or a chumpy expression.
    """
    if isinstance(value, _UnevaluatedChumpy):
        raise BodyModelError(
            f"{path}: '{key}' is a derived chumpy expression that cannot be evaluated without "
            "chumpy. Convert the file to .npz once with the SMPL-X tools, or use the official "
            ".npz file."
        )
    if isinstance(value, CheckedSparse):
        if value.shape[0] * value.shape[1] * value.data.itemsize > _MAX_ARRAY_BYTES:
            raise BodyModelError(f"{path}: '{key}' is a {value.shape} sparse matrix, too large "
                                 "for a body-model file")
        value = value.toarray()
    return checked_array(value, f"{path}: '{key}'", BodyModelError, max_bytes=_MAX_ARRAY_BYTES)


def index_array(data: dict[str, np.ndarray], key: str, upper: int, path: PathLike) -> None:
    """Check that ``data[key]`` holds integer indices in ``[0, upper)``; make it int64 in place.

    Raises:
        BodyModelError: non-integer values or an index out of range.
    """
    arr = data[key]
    if arr.dtype.kind == "f":  # some pickles store ids as floats: only exact integers pass
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise BodyModelError(f"{path}: '{key}' must hold integer indices, got {arr.dtype}")
    elif arr.dtype.kind not in "iu":
        raise BodyModelError(f"{path}: '{key}' must hold integer indices, got {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= upper):
        raise BodyModelError(
            f"{path}: '{key}' holds indices outside [0, {upper}) (min {arr.min()}, max "
            f"{arr.max()}); the file is corrupt or not an SMPL-X model"
        )
    data[key] = arr.astype(np.int64)


def _validate(data: dict[str, np.ndarray], path: PathLike) -> None:
    """Shapes, dtypes and index ranges of every array, before any of them is used."""
    for key, value in data.items():
        data[key] = model_array(key, value, path)
        if data[key].dtype.kind not in "biuf":
            raise BodyModelError(f"{path}: '{key}' must be numeric, got {data[key].dtype}")
    v = data["v_template"]
    n_v = v.shape[0] if v.ndim == 2 and 0 < v.shape[0] <= _MAX_VERTICES else -1
    n_j = data["kintree_table"].shape[-1] if data["kintree_table"].ndim == 2 else -1
    sd, pd = data["shapedirs"], data["posedirs"]
    checks = {
        "v_template": v.ndim == 2 and v.shape[1] == 3 and n_v > 0,
        "f": data["f"].ndim == 2 and data["f"].shape[1] == 3 and data["f"].shape[0] > 0,
        "shapedirs": sd.ndim in (2, 3) and sd.shape[:2] == (n_v, 3)
        and (sd.ndim == 2 or sd.shape[2] <= 4096),
        "posedirs": pd.ndim >= 2 and pd.shape[:2] == (n_v, 3)
        and pd.size == n_v * 3 * 9 * (n_j - 1),
        "J_regressor": data["J_regressor"].shape == (n_j, n_v),
        "weights": data["weights"].shape == (n_v, n_j),
        "kintree_table": data["kintree_table"].shape == (2, 55),
        "hands_componentsl": data["hands_componentsl"].ndim == 2
        and data["hands_componentsl"].shape[1] == 45,
        "hands_componentsr": data["hands_componentsr"].ndim == 2
        and data["hands_componentsr"].shape[1] == 45,
        "hands_meanl": data["hands_meanl"].size == 45,
        "hands_meanr": data["hands_meanr"].size == 45,
        "lmk_faces_idx": data["lmk_faces_idx"].ndim == 1,
        "lmk_bary_coords": data["lmk_bary_coords"].shape == (data["lmk_faces_idx"].size, 3),
    }
    if "dynamic_lmk_faces_idx" in data or "dynamic_lmk_bary_coords" in data:
        dyn = data.get("dynamic_lmk_faces_idx", np.zeros((0,)))
        checks["dynamic_lmk_faces_idx"] = dyn.ndim == 2
        checks["dynamic_lmk_bary_coords"] = (
            data.get("dynamic_lmk_bary_coords", np.zeros((0,))).shape == (*dyn.shape, 3))
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        shapes = ", ".join(f"{k} {tuple(data[k].shape) if k in data else 'missing'}"
                           for k in bad)
        raise BodyModelError(
            f"{path} does not look like an SMPL-X model: unexpected shapes for {shapes} "
            "(expected 55 joints, v_template (V, 3), J_regressor (55, V), weights (V, 55), "
            "posedirs (V, 3, 486)). Is this an SMPL / SMPL-H / MANO / FLAME file?"
        )
    n_f = data["f"].shape[0]
    index_array(data, "f", n_v, path)
    index_array(data, "lmk_faces_idx", n_f, path)
    if "dynamic_lmk_faces_idx" in data:
        index_array(data, "dynamic_lmk_faces_idx", n_f, path)
    check_kintree(data["kintree_table"], path)


def check_kintree(kintree: np.ndarray, path: PathLike) -> None:
    """The (2, J) ``kintree_table`` must list, for joints 1..J-1, a parent that precedes them.

    Raises:
        BodyModelError: otherwise (a cycle would make the forward kinematics loop).
    """
    if kintree.ndim != 2 or kintree.shape[0] != 2 or kintree.dtype.kind not in "iuf":
        raise BodyModelError(f"{path}: 'kintree_table' must be a (2, J) table of joint ids")
    parents = kintree[0, 1:]
    if np.any(~np.isfinite(parents)) or np.any(parents < 0) or np.any(
            parents >= np.arange(1, kintree.shape[1])):
        raise BodyModelError(
            f"{path}: 'kintree_table' is not a kinematic tree (every joint's parent must come "
            "before it); the file is corrupt or not a body-model file"
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
        data = load_npz(path, BodyModelError, wanted, max_bytes=_MAX_ARRAY_BYTES)
    elif path.suffix == ".pkl":
        raw = safe_unpickle(path)
        if not isinstance(raw, dict):
            raise BodyModelError(f"{path} holds a {type(raw).__name__}, not an SMPL-X model dict")
        data = {k: model_array(k, raw[k], path) for k in wanted if k in raw}
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
        ids = checked_array(raw[key], f"{path}: '{key}'", BodyModelError, kinds="iu", ndim=1,
                            max_bytes=_MAX_ARRAY_BYTES)
        out[key] = _vertex_ids(ids, f"{path}: '{key}'")
    return out


def _vertex_ids(ids: np.ndarray, where: str) -> np.ndarray:
    if ids.size and (ids.min() < 0 or ids.max() >= _MAX_VERTICES):
        raise BodyModelError(f"{where}: vertex ids outside [0, {_MAX_VERTICES}); the file is "
                             "corrupt")
    return ids.astype(np.int64)


def load_flame_vertex_ids(path: PathLike) -> np.ndarray:
    """``SMPL-X__FLAME_vertex_ids.npy`` -> (5023,) int64 SMPL-X vertex ids of the FLAME face."""
    ids = load_npy(path, BodyModelError, max_bytes=_MAX_ARRAY_BYTES)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise BodyModelError(
            f"{path} must hold 1-D integer vertex ids, got {ids.dtype} {ids.shape}"
        )
    return _vertex_ids(ids, str(path))


def load_j14_regressor(path: PathLike) -> np.ndarray:
    """``SMPLX_to_J14.pkl`` -> (14, V) float64 dense regressor of the 14 LSP joints."""
    reg = model_array("SMPLX_to_J14", safe_unpickle(path), path)
    if reg.ndim != 2 or reg.shape[0] != 14:
        raise BodyModelError(f"{path} must hold a (14, V) regressor, got shape {reg.shape}")
    return reg.astype(np.float64)

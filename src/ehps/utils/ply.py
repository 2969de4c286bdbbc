"""Reading vertex positions from PLY mesh files (EHF's ground-truth meshes), for the data
loaders and the evaluators."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ehps.errors import InputError
from ehps.utils.io import PathLike

__all__ = ["read_ply_vertices"]


_PLY_TYPES = {
    "char": "i1", "uchar": "u1", "int8": "i1", "uint8": "u1", "short": "i2", "ushort": "u2",
    "int16": "i2", "uint16": "u2", "int": "i4", "uint": "u4", "int32": "i4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


def read_ply_vertices(path: PathLike) -> np.ndarray:
    """(N, 3) float64 vertex positions of a PLY file (ASCII or binary, little or big endian).

    Only the ``vertex`` element is read (its scalar properties ``x``, ``y``, ``z`` among
    others); it must come first in the file, as in every mesh writer we know (EHF's
    ``*_align.ply`` included). Written here instead of adding a mesh library to the data and
    evaluation dependencies.

    Raises:
        InputError: missing file, not a PLY file, no leading vertex element with x, y, z, list
            or unknown vertex properties, unknown format, or a file shorter than its header says.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"mesh file not found: {p}") from exc
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise InputError(f"{p} is not a PLY file")
    body_start = raw.index(b"\n", end) + 1
    header = raw[:end].decode("ascii", errors="replace").splitlines()
    fmt, n_vert, props, first = None, None, [], None
    current = None
    for line in header:
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "format":
            fmt = tok[1]
        elif tok[0] == "element":
            current = tok[1]
            if first is None:
                first = current
            if current == "vertex":
                n_vert = int(tok[2])
        elif tok[0] == "property" and current == "vertex":
            if tok[1] == "list":
                raise InputError(f"{p}: list properties on vertices are not supported")
            props.append((tok[2], _PLY_TYPES.get(tok[1])))
    names = [n for n, _ in props]
    if n_vert is None or first != "vertex" or not {"x", "y", "z"} <= set(names):
        raise InputError(f"{p}: expected a leading 'vertex' element with x, y, z properties")
    if any(t is None for _, t in props):
        raise InputError(f"{p}: unknown vertex property type in {props}")
    cols = [names.index(c) for c in ("x", "y", "z")]
    if fmt == "ascii":
        lines = raw[body_start:].decode("ascii", errors="replace").splitlines()
        rows = [ln.split() for ln in lines[:n_vert]]
        if len(rows) < n_vert:
            raise InputError(f"{p}: the file ends before {n_vert} vertices")
        data = np.array([[float(r[c]) for c in cols] for r in rows], dtype=np.float64)
        return data
    if fmt not in ("binary_little_endian", "binary_big_endian"):
        raise InputError(f"{p}: unknown PLY format {fmt!r}")
    order = "<" if fmt == "binary_little_endian" else ">"
    dtype = np.dtype([(n, order + t) for n, t in props])  # type: ignore[operator]
    need = dtype.itemsize * n_vert
    if len(raw) - body_start < need:
        raise InputError(f"{p}: the file ends before {n_vert} vertices")
    arr = np.frombuffer(raw, dtype=dtype, count=n_vert, offset=body_start)
    return np.stack([arr["x"], arr["y"], arr["z"]], axis=1).astype(np.float64)

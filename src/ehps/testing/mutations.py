"""Mutations of valid files, for fuzzing loaders.

All functions are pure: ``(rng, bytes) -> bytes``. :func:`mutate_bytes` applies one to four random
byte-level edits (bit flips, interesting integers, truncation, chunk deletion / duplication /
overwrite). :func:`mutate_zip` edits one member of a zip archive (``.npz``, torch's zip format)
and rewrites a valid archive around it, so that the mutation reaches the member parser instead of
stopping at the zip checksum. :func:`mutate_npy_header` forges the header of a ``.npy`` member
(huge or negative shapes, object / structured / void dtypes, wrong byte order).
"""

from __future__ import annotations

import ast
import io
import struct
import zipfile
from collections.abc import Callable

import numpy as np

__all__ = ["INTERESTING_INTS", "mutate_bytes", "mutate_zip", "mutate_zip_in_place",
           "mutate_npy_header", "rezip"]

#: Integers that break size arithmetic (0, -1, limits of 8 to 64 bits, 2 TiB).
INTERESTING_INTS: tuple[int, ...] = (
    0, 1, -1, 127, 128, 255, 256, 32767, 32768, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1,
    2**32, 2**40 * 2, 2**62, 2**63 - 1,
)


def _flip(rng: np.random.Generator, b: bytearray) -> None:
    for _ in range(int(rng.integers(1, 9))):
        i = int(rng.integers(len(b)))
        b[i] ^= 1 << int(rng.integers(8))


def _special(rng: np.random.Generator, b: bytearray) -> None:
    i = int(rng.integers(len(b)))
    b[i] = int(rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x01, 0x30, 0x39]))


def _integer(rng: np.random.Generator, b: bytearray) -> None:
    width = int(rng.choice([2, 4, 8]))
    if len(b) <= width:
        return
    i = int(rng.integers(len(b) - width))
    value = int(rng.choice(INTERESTING_INTS)) % (1 << (8 * width))
    order = "<" if rng.random() < 0.7 else ">"
    code = {2: "H", 4: "I", 8: "Q"}[width]
    b[i : i + width] = struct.pack(order + code, value)


def _truncate(rng: np.random.Generator, b: bytearray) -> None:
    del b[int(rng.integers(0, len(b))):]


def _delete(rng: np.random.Generator, b: bytearray) -> None:
    i = int(rng.integers(len(b)))
    del b[i : i + int(rng.integers(1, max(2, len(b) // 8)))]


def _duplicate(rng: np.random.Generator, b: bytearray) -> None:
    i = int(rng.integers(len(b)))
    chunk = b[i : i + int(rng.integers(1, 256))]
    j = int(rng.integers(len(b)))
    b[j:j] = chunk


def _overwrite(rng: np.random.Generator, b: bytearray) -> None:
    i = int(rng.integers(len(b)))
    n = int(rng.integers(1, 64))
    b[i : i + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()


_BYTE_OPS: tuple[Callable[[np.random.Generator, bytearray], None], ...] = (
    _flip, _special, _integer, _truncate, _delete, _duplicate, _overwrite, _flip, _integer,
)


def mutate_bytes(rng: np.random.Generator, data: bytes, max_ops: int = 4) -> bytes:
    """One to ``max_ops`` random byte-level edits of ``data``."""
    b = bytearray(data)
    for _ in range(int(rng.integers(1, max_ops + 1))):
        if not b:
            break
        _BYTE_OPS[int(rng.integers(len(_BYTE_OPS)))](rng, b)
    return bytes(b)


def rezip(members: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    """A zip archive (bytes) of ``(ZipInfo, content)`` members, in order."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for info, data in members:
            zf.writestr(info, data)
    return out.getvalue()


def mutate_zip(
    rng: np.random.Generator, data: bytes,
    member_op: Callable[[np.random.Generator, bytes], bytes] | None = None,
) -> bytes:
    """Edit one member of a zip archive (``member_op``, default :func:`mutate_bytes`, or
    :func:`mutate_npy_header` for ``.npy`` members half the time) and write a valid archive.

    A non-zip ``data`` gets byte-level edits instead.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [(info, zf.read(info)) for info in zf.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return mutate_bytes(rng, data)
    if not members:
        return mutate_bytes(rng, data)
    k = int(rng.integers(len(members)))
    info, content = members[k]
    op = member_op
    if op is None:
        op = mutate_npy_header if (info.filename.endswith(".npy") and rng.random() < 0.5) \
            else mutate_bytes
    new_info = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    new_info.compress_type = zipfile.ZIP_DEFLATED if rng.random() < 0.3 else info.compress_type
    members[k] = (new_info, op(rng, content) if content else content)
    if rng.random() < 0.1:  # also drop or duplicate a member
        j = int(rng.integers(len(members)))
        members.pop(j) if rng.random() < 0.5 else members.append(members[j])
    return rezip(members)


def mutate_zip_in_place(rng: np.random.Generator, data: bytes) -> bytes:
    """Edit bytes inside one member's data without touching the archive structure (offsets,
    sizes and the now stale CRC stay): what a bad sector or a partial overwrite does, and the
    only way to reach readers that need members at aligned offsets (torch's memory map)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [i for i in zf.infolist() if i.compress_size > 0]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return mutate_bytes(rng, data)
    if not infos:
        return mutate_bytes(rng, data)
    info = infos[int(rng.integers(len(infos)))]
    head = info.header_offset
    if head + 30 > len(data):
        return mutate_bytes(rng, data)
    name_len, extra_len = struct.unpack("<HH", data[head + 26 : head + 30])
    start = head + 30 + name_len + extra_len
    size = min(info.compress_size, len(data) - start)
    if size <= 0:
        return mutate_bytes(rng, data)
    region = bytearray(data[start : start + size])
    for _ in range(int(rng.integers(1, 5))):
        op = _BYTE_OPS[int(rng.integers(len(_BYTE_OPS)))]
        if op in (_flip, _special, _integer, _overwrite):
            op(rng, region)
    region = region[:size] + bytes(max(0, size - len(region)))
    return data[:start] + bytes(region) + data[start + size :]


_DTYPES: tuple[object, ...] = (
    "|O", "<V8", "|V0", "<f8", ">f8", "<i8", "<U4", "|S3", "|b1", "<c16", "<M8[ns]", "<f1", "",
    [("a", "<f4"), ("b", "<i8")], [("a", "<f8", (1_000_000, 1_000_000))], "<U1000000000", 7,
)


def mutate_npy_header(rng: np.random.Generator, data: bytes) -> bytes:
    """Forge the header of one ``.npy`` file: shape, dtype, order or the header length."""
    if not data.startswith(b"\x93NUMPY") or len(data) < 10:
        return mutate_bytes(rng, data)
    major = data[6]
    hlen_size = 2 if major == 1 else 4
    hlen = int.from_bytes(data[8 : 8 + hlen_size], "little")
    start = 8 + hlen_size
    text = data[start : start + hlen].decode("latin1", "replace")
    body = data[start + hlen :]
    try:
        header = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return mutate_bytes(rng, data)
    if not isinstance(header, dict):
        return mutate_bytes(rng, data)
    choice = int(rng.integers(6))
    shape = list(header.get("shape", ()))
    if choice == 0 and shape:  # one dimension becomes huge, zero or negative
        shape[int(rng.integers(len(shape)))] = int(rng.choice(INTERESTING_INTS))
        header["shape"] = tuple(shape)
    elif choice == 1:
        header["shape"] = (2**40,) if rng.random() < 0.5 else (*shape, int(rng.integers(1, 9)))
    elif choice == 2:
        header["descr"] = _DTYPES[int(rng.integers(len(_DTYPES)))]
    elif choice == 3:
        header["fortran_order"] = not header.get("fortran_order", False)
    elif choice == 4:
        header["shape"] = tuple(int(rng.integers(0, 4)) for _ in range(int(rng.integers(0, 40))))
    else:  # a lying header length
        bad = int(rng.choice(INTERESTING_INTS)) % (1 << (8 * hlen_size))
        return data[:8] + bad.to_bytes(hlen_size, "little") + data[start:]
    new = repr(header).encode("latin1")
    new += b" " * (-(len(new) + start + 1) % 64) + b"\n"
    return data[:8] + len(new).to_bytes(hlen_size, "little") + new + body

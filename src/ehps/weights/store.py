"""The local weight cache: one folder per weight name, a manifest with the sha256 of every file,
verification on every use, and a quarantine for files that fail it. Nothing here uses the network.

Layout (``<root>`` = :func:`weights_dir`)::

    <root>/smplestx_h/smplest_x_h.pth.tar        the official file (downloaded or added)
    <root>/smplestx_h/smplest_x_h.safetensors    ehps safetensors (``--convert``), optional
    <root>/smplestx_h/manifest.json              name, variant, origin, sha256 + size per file
    <root>/smplestx_h/smplest_x_h.pth.tar.part   an interrupted download (resumed next time)
    <root>/.quarantine/<time>-<name>-<file>      files that failed a check, with a .reason.txt

A manifest is written only after its files are complete and verified, so a folder without one is
never used. Manifest values are validated when read (names, file names, hex digests, sizes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ehps.errors import CheckpointError, InputError
from ehps.utils.io import PathLike, atomic_write_json
from ehps.utils.paths import cache_dir

__all__ = [
    "WEIGHTS_ENV",
    "MANIFEST",
    "CachedFile",
    "CachedWeights",
    "weights_dir",
    "sha256_file",
    "check_name",
    "list_cached",
    "get_cached",
    "write_manifest",
    "quarantine",
    "verify_cached",
    "place_file",
]

log = logging.getLogger(__name__)

WEIGHTS_ENV = "EHPS_WEIGHTS_DIR"
MANIFEST = "manifest.json"
_FORMAT = "ehps-weights-manifest"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,127}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 8 << 20
_PROGRESS_MIN_BYTES = 256 << 20



def weights_dir(explicit: PathLike | None = None) -> Path:
    """The weight cache: ``explicit``, else ``$EHPS_WEIGHTS_DIR``, else
    ``<ehps cache dir>/weights`` (``$EHPS_CACHE_DIR/weights`` or ``~/.cache/ehps/weights`` on
    Linux). Created on demand."""
    if explicit is None and os.environ.get(WEIGHTS_ENV):
        explicit = os.environ[WEIGHTS_ENV]
    if explicit is not None:
        path = Path(explicit).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve()
    return cache_dir("weights")


def check_name(name: str) -> str:
    """``name`` if it is a safe cache folder name (lower-case letters, digits, ``_.-``)."""
    if not _NAME_RE.match(name):
        raise InputError(
            f"invalid weight name {name!r}: use lower-case letters, digits, '_', '.' and '-'"
        )
    return name


def _check_file_name(name: str, where: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise CheckpointError(f"{where}: invalid file name {name!r}")
    return name


def sha256_file(path: PathLike, desc: str = "") -> str:
    """Hex sha256 of a file, read in 8 MiB chunks (a tqdm bar on stderr for files > 256 MiB)."""
    from tqdm.auto import tqdm

    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256()
    bar = tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
               desc=desc or f"sha256 {path.name}", disable=size < _PROGRESS_MIN_BYTES or None)
    with open(path, "rb") as fh, bar:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedFile:
    """One verified file of a cache entry (``file`` is relative to the entry folder)."""

    file: str
    sha256: str
    size: int


@dataclass(frozen=True)
class CachedWeights:
    """A cache entry as its manifest describes it.

    Attributes:
        name: weight name (the folder name).
        variant: zoo variant of the weights.
        directory: the entry folder.
        official: the official-format file, if kept.
        converted: the ehps safetensors file, if converted.
        origin: where the official file came from (``hub:<repo>@<commit>/<file>``,
            ``url:<url>`` or ``added:<original path>``).
        created: ISO time the entry was written.
    """

    name: str
    variant: str
    directory: Path
    official: CachedFile | None
    converted: CachedFile | None
    origin: str = ""
    created: str = ""

    @property
    def preferred(self) -> CachedFile:
        """The file inference loads: the safetensors when present (smaller, config inside)."""
        chosen = self.converted or self.official
        if chosen is None:  # excluded by read validation
            raise CheckpointError(f"cache entry {self.name!r} lists no file")
        return chosen

    @property
    def path(self) -> Path:
        return self.directory / self.preferred.file

    @property
    def size(self) -> int:
        return sum(f.size for f in (self.official, self.converted) if f is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT, "version": 1, "name": self.name, "variant": self.variant,
            "origin": self.origin, "created": self.created,
            "official": asdict(self.official) if self.official else None,
            "converted": asdict(self.converted) if self.converted else None,
        }  # fmt: skip


def _read_file_entry(raw: Any, where: str) -> CachedFile | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{where}: file entries must be objects")
    name = _check_file_name(str(raw.get("file", "")), where)
    sha = str(raw.get("sha256", "")).lower()
    size = raw.get("size")
    if not _HEX64.match(sha) or not isinstance(size, int) or size < 0:
        raise CheckpointError(f"{where}: {name!r} needs a 64-hex 'sha256' and a size >= 0")
    return CachedFile(name, sha, size)


def _read_manifest(directory: Path) -> CachedWeights:
    path = directory / MANIFEST
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read the weight manifest {path}: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != _FORMAT or raw.get("version") != 1:
        raise CheckpointError(f"{path} is not an ehps weight manifest (version 1)")
    name = str(raw.get("name", ""))
    if name != directory.name:
        raise CheckpointError(f"{path}: names {name!r} but sits in folder {directory.name!r}")
    official = _read_file_entry(raw.get("official"), str(path))
    converted = _read_file_entry(raw.get("converted"), str(path))
    if official is None and converted is None:
        raise CheckpointError(f"{path} lists no file")
    return CachedWeights(name, str(raw.get("variant", "")), directory, official, converted,
                         str(raw.get("origin", "")), str(raw.get("created", "")))


def write_manifest(entry: CachedWeights) -> Path:
    """Write (atomically) the manifest of ``entry``; stamps ``created`` when empty."""
    check_name(entry.name)
    if not entry.created:
        entry = replace(entry, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    path = entry.directory / MANIFEST
    atomic_write_json(path, entry.to_json())
    return path


def list_cached(root: PathLike | None = None) -> list[CachedWeights]:
    """Every entry with a readable manifest, by name (malformed ones are logged and skipped)."""
    base = weights_dir(root)
    out = []
    for d in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (d / MANIFEST).is_file():
            try:
                out.append(_read_manifest(d))
            except CheckpointError as exc:
                log.warning("skipping %s: %s", d, exc)
    return out


def get_cached(name: str, root: PathLike | None = None) -> CachedWeights | None:
    """The entry called ``name``, or ``None`` when it is not cached."""
    if not _NAME_RE.match(name):
        return None
    d = weights_dir(root) / name
    return _read_manifest(d) if (d / MANIFEST).is_file() else None


def quarantine(path: PathLike, reason: str, root: PathLike | None = None) -> Path:
    """Move a bad file to ``<root>/.quarantine/`` (with ``<file>.reason.txt``); returns where."""
    src = Path(path)
    qdir = weights_dir(root) / ".quarantine"
    qdir.mkdir(parents=True, exist_ok=True)
    dst = qdir / f"{time.strftime('%Y%m%d-%H%M%S')}-{src.parent.name}-{src.name}"
    n = 1
    while dst.exists():
        dst = dst.with_name(f"{dst.name}.{n}")
        n += 1
    os.replace(src, dst)
    dst.with_name(dst.name + ".reason.txt").write_text(f"{src}\n{reason}\n", "utf-8")
    log.warning("quarantined %s -> %s (%s)", src, dst, reason)
    return dst


def verify_cached(entry: CachedWeights, which: str = "preferred") -> Path:
    """Hash a cached file and compare it with its manifest; returns its path.

    Args:
        entry: the cache entry.
        which: ``"preferred"`` (what inference loads), ``"official"`` or ``"converted"``.

    Raises:
        CheckpointError: the file is missing, or its size / sha256 differs from the manifest
            (the file is then quarantined); the message names the command that fetches it again.
    """
    item = entry.preferred if which == "preferred" else getattr(entry, which)
    if item is None:
        raise CheckpointError(f"cache entry {entry.name!r} has no {which} file")
    path = entry.directory / item.file
    again = f"`ehps weights download {entry.name}` (or `ehps weights add FILE --name {entry.name}`)"
    if not path.is_file():
        raise CheckpointError(f"{path} (cached weights {entry.name!r}) is missing; fetch it "
                              f"again with {again}")
    size = path.stat().st_size
    digest = sha256_file(path, f"verify {item.file}") if size == item.size else None
    if digest != item.sha256:
        got = f"sha256 {digest}" if digest else f"size {size} bytes (expected {item.size})"
        reason = f"expected sha256 {item.sha256} ({item.size} bytes), found {got}"
        moved = quarantine(path, reason, entry.directory.parent)
        raise CheckpointError(
            f"cached weights {entry.name!r}: {path.name} no longer matches the sha256 recorded "
            f"when it was stored ({reason}). It was moved to {moved}. Fetch it again with {again}."
        )
    return path


@contextlib.contextmanager
def _hashing_writer(dst: Path) -> Iterator[tuple[Any, Any]]:
    tmp = dst.with_name(f".{dst.name}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as fh:
            yield fh, digest
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def place_file(src: PathLike, directory: Path, filename: str | None = None) -> CachedFile:
    """Put ``src`` into an entry folder: a hard link when on the same file system (no copy,
    no extra disk), else a copy; returns its :class:`CachedFile` (sha256 computed here)."""
    from tqdm.auto import tqdm

    src = Path(src)
    name = _check_file_name(filename or src.name, str(src))
    directory.mkdir(parents=True, exist_ok=True)
    dst = directory / name
    if dst.exists() and dst.samefile(src):
        return CachedFile(name, sha256_file(dst), dst.stat().st_size)
    tmp = dst.with_name(f".{name}.link")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(src, tmp)
        os.replace(tmp, dst)
        return CachedFile(name, sha256_file(dst), dst.stat().st_size)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    size = src.stat().st_size
    bar = tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=f"copy {name}",
               disable=size < _PROGRESS_MIN_BYTES or None)
    with open(src, "rb") as fin, _hashing_writer(dst) as (fout, digest), bar:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
    return CachedFile(name, digest.hexdigest(), size)

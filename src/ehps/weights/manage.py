"""What ``ehps weights download / add / remove`` do: fetch or register a file, check it (sha256,
architecture), convert it on request, and record it in the cache.

Checks, in order, before anything is recorded:

1. the sha256 of the bytes equals the expected one (the Hub's LFS sha256, or a published
   checksum); otherwise the file is quarantined;
2. the file holds the expected architecture: every key and shape of the zoo variant, strictly
   (the network is built on the meta device, so this costs no weight memory); otherwise the file
   is quarantined;
3. with ``convert``: the ehps safetensors is written by streaming (``ehps convert``) and loaded
   back strictly with :func:`ehps.modeling.load_model`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import torch

from ehps.errors import CheckpointError, DownloadError, InputError
from ehps.utils.io import PathLike
from ehps.weights.catalog import WeightSource, find_source, get_source, normalize_name
from ehps.weights.store import (
    CachedFile,
    CachedWeights,
    check_name,
    get_cached,
    place_file,
    quarantine,
    sha256_file,
    verify_cached,
    weights_dir,
    write_manifest,
)

__all__ = [
    "browser_message",
    "detect_variant",
    "check_architecture",
    "download_weights",
    "add_weights",
    "convert_cached",
    "remove_weights",
]

log = logging.getLogger(__name__)



def browser_message(src: WeightSource) -> str:
    """The instructions for a release that only a browser can download."""
    name = f" --name {src.name}" if src.name != src.variant else ""
    file = src.filename or "the checkpoint"
    return (
        f"{src.title} is published on a share page that needs a browser, so ehps cannot fetch "
        f"it by itself.\n  1. open {src.location}\n     and download {file}\n"
        f"  2. ehps weights add ~/Downloads/{src.filename or 'FILE'}{name} --convert\n"
        f"Or, with a direct link to a copy you trust: ehps weights download {src.name} --url URL"
    )


def detect_variant(path: PathLike) -> tuple[str, str | None]:
    """``("safetensors" | "official", variant or None)`` from a weight file's metadata or
    shapes."""
    from ehps.modeling.weights import _is_safetensors, read_metadata

    path = Path(path)
    if _is_safetensors(path):
        return "safetensors", read_metadata(path).get("variant") or None
    from ehps.modeling.checkpoint import infer_variant, read_official_state_dict

    state, _ = read_official_state_dict(path)
    return "official", infer_variant(state)


def check_architecture(path: PathLike, variant: str,
                       config: Mapping[str, Any] | None = None) -> None:
    """Raise :class:`CheckpointError` unless the official file at ``path`` holds exactly the
    keys and shapes of ``variant`` (with ``config`` overrides)."""
    from ehps.modeling.checkpoint import check_state_dict, read_official_state_dict
    from ehps.modeling.zoo import build_model, get_config

    state, _ = read_official_state_dict(path)
    skeleton = build_model(get_config(variant, **dict(config or {})), device="meta", init=False)
    check_state_dict(skeleton, state, str(path), variant)


def _stem(filename: str) -> str:
    for suffix in (".pth.tar", ".pth", ".tar", ".pt", ".ckpt", ".bin"):
        if filename.endswith(suffix):
            return filename[: -len(suffix)]
    return Path(filename).stem


def convert_cached(entry: CachedWeights, config: Mapping[str, Any] | None = None,
                   dtype: torch.dtype | None = None) -> CachedWeights:
    """Write the ehps safetensors of a cached official file (streaming), load it back strictly,
    and record it in the manifest."""
    from ehps.modeling import convert_official_checkpoint, load_model

    official = verify_cached(entry, "official")
    dst = entry.directory / f"{_stem(official.name)}.safetensors"
    report = convert_official_checkpoint(official, dst, entry.variant, dtype=dtype,
                                         **dict(config or {}))
    try:
        model = load_model(dst)
        del model
    except CheckpointError as exc:
        moved = quarantine(dst, f"strict load failed: {exc}", entry.directory.parent)
        raise CheckpointError(f"the converted file does not load strictly ({exc}); moved to "
                              f"{moved}") from exc
    log.info("converted %s -> %s (%d tensors)", official.name, dst.name, report["tensors"])
    converted = CachedFile(dst.name, sha256_file(dst), dst.stat().st_size)
    entry = replace(entry, converted=converted)
    write_manifest(entry)
    return entry


def _reject(path: Path, what: str, root: Path) -> DownloadError:
    moved = quarantine(path, what, root)
    return DownloadError(f"{what}. The file was moved to {moved}")


def _verified_existing(name: str, root: Path) -> CachedWeights | None:
    entry = get_cached(name, root)
    if entry is None:
        return None
    try:
        for which in ("official", "converted"):
            if getattr(entry, which) is not None:
                verify_cached(entry, which)
    except CheckpointError as exc:
        log.warning("%s; downloading it again", exc)
        with contextlib.suppress(FileNotFoundError):
            (entry.directory / "manifest.json").unlink()
        return None
    return entry


def download_weights(
    name: str,
    *,
    convert: bool = False,
    url: str | None = None,
    root: PathLike | None = None,
    dtype: torch.dtype | None = None,
) -> CachedWeights:
    """Fetch the official weights called ``name`` into the cache (resuming an interrupted
    download), check them, and convert them on request. An entry already cached and intact is
    not fetched again.

    Args:
        name: a weight name (``ehps weights list``; zoo aliases accepted).
        convert: also write and check the ehps safetensors.
        url: a direct link to use instead of the catalog's source (e.g. a mirror).
        root: cache folder (default :func:`ehps.weights.store.weights_dir`).
        dtype: storage dtype of the converted file (default float32).

    Raises:
        DownloadError: a browser-only or unreleased source (the message gives the page and the
            ``ehps weights add`` command), offline mode, a network / HTTP error, or a file
            that fails its sha256 or architecture check (quarantined).
    """
    from ehps.weights import fetch

    src = get_source(name)
    base = weights_dir(root)
    entry = _verified_existing(src.name, base)
    if entry is not None:
        if convert and entry.converted is None:
            entry = convert_cached(entry, src.config, dtype)
        return entry
    if url is not None:
        remote = fetch.url_file(url, sha256=src.sha256)
        filename = src.filename or Path(unquote(urlparse(url).path)).name or f"{src.name}.pth.tar"
    elif src.kind == "hub":
        remote = fetch.hub_file(src.location, src.filename, src.revision)
        filename = src.filename
    elif src.kind == "url":
        remote = fetch.url_file(src.location, sha256=src.sha256)
        filename = src.filename or Path(urlparse(src.location).path).name
    elif src.kind == "browser":
        raise DownloadError(browser_message(src))
    else:
        raise DownloadError(f"no official {src.title} weights were released ({src.note}) "
                            f"Register your own with `ehps weights add FILE --name {src.name}`.")
    directory = base / check_name(src.name)
    dest = directory / filename
    digest, size = fetch.download(remote, dest, desc=f"{src.name} ({filename})")
    expected = remote.sha256 or src.sha256
    if expected and digest != expected:
        raise _reject(dest, f"sha256 mismatch for {filename} from {remote.origin}: expected "
                      f"{expected}, got {digest}. Run the command again; if it fails again the "
                      "source or a proxy on the way serves a different file", base)
    try:
        check_architecture(dest, src.variant, src.config)
    except CheckpointError as exc:
        raise _reject(dest, f"{filename} does not hold the {src.variant} architecture: {exc}",
                      base) from exc
    entry = CachedWeights(src.name, src.variant, directory, CachedFile(filename, digest, size),
                          None, origin=remote.origin)
    write_manifest(entry)
    if convert:
        entry = convert_cached(entry, src.config, dtype)
    return entry


def _default_name(path: Path, variant: str) -> str:
    from ehps.weights.catalog import list_sources

    for src in list_sources():
        if src.filename and src.filename == path.name and src.variant == variant:
            return src.name
    return variant


def add_weights(
    file: PathLike,
    *,
    name: str | None = None,
    variant: str | None = None,
    convert: bool = False,
    force: bool = False,
    root: PathLike | None = None,
    dtype: torch.dtype | None = None,
) -> CachedWeights:
    """Register a weight file downloaded by hand: detect its variant from its shapes (or
    metadata), check the architecture strictly, hash it and place it in the cache (a hard link
    when possible, else a copy).

    Args:
        file: an official ``.pth.tar`` or an ehps ``.safetensors``.
        name: cache name; default: the catalog entry whose file name it has, else the variant.
        variant: the zoo variant when it cannot be told from the shapes (custom widths).
        convert: also write and check the ehps safetensors (official files).
        force: replace a different file already cached under ``name``.

    Raises:
        InputError: missing file, an undetectable variant, a name whose catalog entry is
            another architecture, or a different file already cached under that name.
        CheckpointError: the file does not fit the architecture.
    """
    from ehps.modeling.zoo import resolve_name

    path = Path(file).expanduser()
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    kind, detected = detect_variant(path)
    if variant is not None:
        variant = resolve_name(variant)
        if detected is not None and detected != variant:
            raise InputError(f"{path.name} holds {detected!r} (from its shapes), not {variant!r}")
    variant = variant or detected
    if variant is None:
        raise InputError(f"cannot tell the architecture of {path} from its shapes; name it with "
                         "--variant (smplerx_s32 ... smplerx_h32, smplestx_s ... smplestx_h)")
    name = check_name(normalize_name(name) if name else
                      _default_name(path, variant))
    src = find_source(name)
    if src is not None and src.name == name and src.variant != variant:
        raise InputError(f"{name!r} is {src.title} ({src.variant}) but {path.name} holds "
                         f"{variant!r}; choose another --name")
    config = src.config if src is not None and src.name == name else {}
    if kind == "official":
        check_architecture(path, variant, config)
    else:
        from ehps.modeling import load_model

        del_model = load_model(path)
        del del_model
    base = weights_dir(root)
    directory = base / name
    old = get_cached(name, base)
    if old is not None:
        same = [f for f in (old.official, old.converted) if f is not None
                and f.size == path.stat().st_size and f.sha256 == sha256_file(path)]
        if same:
            log.info("%s is already cached as %r", path, name)
            return old
        if not force:
            raise InputError(f"another file is already cached as {name!r} ({old.path}); pass "
                             "--force to replace it, or choose another --name")
        shutil.rmtree(directory)
    placed = place_file(path, directory)
    official, converted = (placed, None) if kind == "official" else (None, placed)
    entry = CachedWeights(name, variant, directory, official, converted,
                          origin=f"added:{path.resolve()}")
    write_manifest(entry)
    if src is not None and src.sha256 and placed.sha256 != src.sha256:
        log.warning("%s differs from the published sha256 of %s (%s)", path.name, src.title,
                    src.sha256)
    if convert and official is not None:
        entry = convert_cached(entry, config, dtype)
    return entry


def remove_weights(name: str, *, original_only: bool = False,
                   root: PathLike | None = None) -> list[Path]:
    """Delete a cache entry (or, with ``original_only``, only its official file once a converted
    copy exists); returns the deleted paths."""
    entry = get_cached(normalize_name(name), root)
    if entry is None:
        raise InputError(f"{name!r} is not cached (`ehps weights list`)")
    if original_only:
        if entry.converted is None or entry.official is None:
            raise InputError(f"{entry.name!r} has no converted copy to keep; run "
                             f"`ehps weights download {entry.name} --convert` first")
        gone = entry.directory / entry.official.file
        write_manifest(replace(entry, official=None))
        gone.unlink(missing_ok=True)
        return [gone]
    gone_files = sorted(entry.directory.iterdir())
    shutil.rmtree(entry.directory)
    return gone_files

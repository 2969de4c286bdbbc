"""Weight names -> files, offline: the one function the rest of ehps calls.

``resolve_weights("smplestx_h")`` returns the cached file (verified against its recorded
sha256), ``resolve_weights("/path/x.pth.tar")`` returns the path. It never downloads: a known but
uncached name raises an error that names the command that fetches it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ehps.errors import CheckpointError

__all__ = ["resolve_weights", "fetch_hint"]

_WEIGHT_SUFFIXES = (".tar", ".pth", ".pt", ".safetensors", ".ckpt", ".bin")


def fetch_hint(name: str) -> str:
    """How a user gets the weights called ``name`` (a sentence naming the command)."""
    from ehps.weights.catalog import find_source

    src = find_source(name)
    if src is None:
        return ("It is not a known weight name (`ehps weights list`); register a file with "
                f"`ehps weights add FILE --name {name}`.")
    if src.kind in ("hub", "url"):
        return (f"Fetch it once with `ehps weights download {src.name}` (add --convert for the "
                "faster-loading safetensors); after that it is used offline.")
    if src.kind == "browser":
        named = "" if src.name == src.variant else f" --name {src.name}"
        return (f"{src.title} is published on a page that needs a browser: download it from "
                f"{src.location} and register it with `ehps weights add FILE{named}`.")
    return (f"No official {src.title} weights were released ({src.note}) Register your own file "
            f"with `ehps weights add FILE --name {src.name}`.")


def resolve_weights(name_or_path: str | os.PathLike[str], root: str | None = None) -> Path:
    """The weight file for a path or a cached weight name, without any network access.

    Args:
        name_or_path: an existing file (returned as is), or a weight name: an entry of the
            cache (``ehps weights list``), zoo aliases accepted (``smplestx_h40`` ->
            ``smplestx_h``).
        root: the cache folder (default: :func:`ehps.weights.store.weights_dir`).

    Returns:
        The file to load: for a cached name, its ehps safetensors if converted, else the
        official file, after checking its sha256 against the manifest.

    Raises:
        CheckpointError: the path does not exist, the name is not cached (the message names the
            command that fetches it), or the cached file fails its sha256 check (it is then
            quarantined and the message says how to fetch it again).
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    looks_like_path = (os.sep in text or "/" in text or text.lower().endswith(_WEIGHT_SUFFIXES))
    if looks_like_path:
        raise CheckpointError(f"weight file not found: {path}")
    from ehps.weights.catalog import find_source, normalize_name
    from ehps.weights.store import get_cached, verify_cached

    key = normalize_name(text)
    src = find_source(key)
    for candidate in dict.fromkeys([key, *([src.name] if src else [])]):
        entry = get_cached(candidate, root)
        if entry is not None:
            return verify_cached(entry)
    raise CheckpointError(
        f"{text!r} is neither a file nor a cached weight name. {fetch_hint(key)}"
    )

"""Official weights: where they are published, a verified local cache, and the explicit download.

::

    from ehps.weights import resolve_weights, download_weights, list_sources, list_cached
    for src in list_sources():               # every zoo variant: source, size, MPE, licence
        print(src.name, src.kind, src.url, src.mpe_mm)
    download_weights("smplestx_h", convert=True)   # the only network access ehps has
    path = resolve_weights("smplestx_h")     # offline, sha256-checked; raises with the command
                                             # to run when the name is not cached

Only :mod:`ehps.weights.fetch` opens network connections, and only ``download_weights`` (the
``ehps weights download`` command) imports it. Importing this package imports neither it nor
``huggingface_hub``.
"""

from __future__ import annotations

from ehps.utils.lazy import lazy_getattr

_LAZY = {
    "resolve_weights": "ehps.weights.resolve",
    "fetch_hint": "ehps.weights.resolve",
    "WeightSource": "ehps.weights.catalog",
    "list_sources": "ehps.weights.catalog",
    "get_source": "ehps.weights.catalog",
    "find_source": "ehps.weights.catalog",
    "CachedWeights": "ehps.weights.store",
    "weights_dir": "ehps.weights.store",
    "list_cached": "ehps.weights.store",
    "get_cached": "ehps.weights.store",
    "download_weights": "ehps.weights.manage",
    "add_weights": "ehps.weights.manage",
    "remove_weights": "ehps.weights.manage",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)

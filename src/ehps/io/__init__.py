"""Reading inputs and writing ehps's own outputs: images (:mod:`ehps.io.image`), the result files
of ``ehps infer`` and ``ehps demo`` (:mod:`ehps.io.results`: per-person parameters and metadata;
:mod:`ehps.io.records`: frame records and ``tracks.npz``; :mod:`ehps.io.manifest`), the overlay
video (:mod:`ehps.io.video`) and the output folder itself (:mod:`ehps.io.outdir`: checks, lock,
safe names). Conversions to other tools' formats (meshes, ONNX) live in :mod:`ehps.export`."""

from __future__ import annotations

from ehps.utils.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "ehps.io.image": ["load_image", "load_image_reduced", "read_image_size", "as_rgb_uint8"],
})



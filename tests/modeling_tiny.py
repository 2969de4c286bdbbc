"""Tiny network widths shared by the modeling and export tests (importable from every test
directory: ``tests/`` is on ``sys.path`` once pytest loads ``tests/conftest.py``)."""

from __future__ import annotations

__all__ = ["TINY"]

#: Tiny widths everywhere (ViT, SMPLer-X head/box widths, SMPLest-X decoder) for fast CPU tests.
TINY = {
    "embed_dim": 32,
    "depth": 2,
    "num_heads": 2,
    "box_dim": 32,
    "head_dim": 32,
    "decoder_depth": 2,
    "decoder_heads": 2,
    "decoder_head_dim": 16,
    "decoder_dim_out": 32,
}

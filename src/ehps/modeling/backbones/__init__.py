"""Backbones of the ehps networks (our own ViTPose-style ViT)."""

from __future__ import annotations

from ehps.modeling.backbones.vit import ViT

__all__ = ["ViT"]

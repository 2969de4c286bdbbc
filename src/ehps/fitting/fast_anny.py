"""A landmark-only view of :class:`~ehps.bodymodels.anny.AnnyBody` for fast fitting.

Two things make an ``AnnyBody`` forward slow for an optimiser that calls it a few hundred times:

1. it blends and skins all 13,718 vertices, while the fit reads a few thousand (the mediapipe
   landmark regressors, the fingertips of the T-pose calibration, the jaw pivot);
2. it rebuilds the rest model (bone heads and rest orientations: a batched Horn Procrustes over
   104 bones, and the vertex blendshapes) on every call, although during most of the fit the
   phenotype does not change.

:func:`landmark_view` returns a copy of the model whose mesh buffers are restricted to exactly
the vertices those regressors read (ids remapped), and whose rest model is memoised for the last
phenotype when the phenotype needs no gradient. Facial actions only move rest *vertices* (their
bone-head and bone-orientation blendshapes are zero, which the view checks), linearly, so the
memoised rest model stays exact for any facial actions. The view runs ``AnnyBody``'s own forward
code, so its joints and landmarks equal the full model's (tests check this for random inputs);
its ``vertices`` output holds only the subset ``view.subset_vertex_ids``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

__all__ = ["landmark_view", "LANDMARK_VIEW_ATTR", "RestModelMemo"]

#: Attribute under which the view is cached on the full model instance.
LANDMARK_VIEW_ATTR = "_ehps_fitting_landmark_view"

_VERTEX_BUFFERS = (
    "template_vertices",
    "blendshapes",
    "vertex_bone_weights",
    "vertex_bone_indices",
    "dense_vertex_bone_weights",
    "base_mesh_vertex_indices",
)
_SETS = ("body", "left_hand", "right_hand", "face")


def _module_copy(module: torch.nn.Module) -> torch.nn.Module:
    """Shallow copy with its own buffer / module / parameter dicts (tensors shared)."""
    new = copy.copy(module)
    new._buffers = dict(module._buffers)
    new._modules = dict(module._modules)
    new._parameters = dict(module._parameters)
    return new


def _slice_buffer(module: torch.nn.Module, name: str, keep: torch.Tensor, dim: int) -> None:
    buf = module._buffers.get(name)
    if buf is None:
        return
    module._buffers[name] = buf.index_select(dim, keep.to(buf.device))


class RestModelMemo:
    """Memoises ``get_rest_model`` of an anny model for the last phenotype.

    Installed on the view's inner model as instance attributes that shadow the class methods
    ``_get_phenotype_blendshape_coefficients`` (to see whether the phenotype needs a gradient
    and what it is) and ``get_rest_model``.

    Args:
        inner: the (copied) anny model.
        num_facial: number of facial-action coefficients at the end of the coefficient vector.
    """

    def __init__(self, inner: torch.nn.Module, num_facial: int) -> None:
        self.inner = inner
        self.num_facial = num_facial
        cls = type(inner)
        self._coeff_fn = cls._get_phenotype_blendshape_coefficients.__get__(inner, cls)
        self._rest_fn = cls.get_rest_model.__get__(inner, cls)
        self._pheno: torch.Tensor | None = None
        self._pheno_constant = False
        self._key: torch.Tensor | None = None
        self._rest: dict[str, torch.Tensor] | None = None
        self.hits = 0
        self.misses = 0
        if num_facial:
            orient = inner._buffers.get("bone_orientation_blendshapes")
            heads = inner._buffers["bone_heads_blendshapes"]
            facial = slice(heads.shape[0] - num_facial, None)
            if heads[facial].abs().max() > 0 or (
                orient is not None and orient[facial].abs().max() > 0
            ):
                raise ValueError("facial actions move bones in this anny version: no memo")
        inner.__dict__["_get_phenotype_blendshape_coefficients"] = self.coefficients
        inner.__dict__["get_rest_model"] = self.rest_model

    def coefficients(self, phenotype: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        self._pheno = phenotype
        self._pheno_constant = not phenotype.requires_grad
        return self._coeff_fn(phenotype, *args, **kwargs)

    def rest_model(self, coeffs: torch.Tensor) -> dict[str, torch.Tensor]:
        pheno = self._pheno
        self._pheno = None
        if pheno is None or not self._pheno_constant or pheno.shape[0] != coeffs.shape[0]:
            self.misses += 1
            return self._rest_fn(coeffs)
        if self._key is None or self._key.shape != pheno.shape or not torch.equal(
            self._key, pheno
        ):
            self.misses += 1
            base = coeffs.detach().clone()
            if self.num_facial:
                base[:, -self.num_facial :] = 0.0
            with torch.no_grad():
                self._rest = self._rest_fn(base)
            self._key = pheno.detach().clone()
        else:
            self.hits += 1
        assert self._rest is not None
        rest = dict(self._rest)
        if self.num_facial:
            face = coeffs[:, -self.num_facial :]
            bs = self.inner.blendshapes[-self.num_facial :]
            rest["rest_vertices"] = rest["rest_vertices"] + torch.einsum("cpd,bc->bpd", bs, face)
        return rest


def landmark_view(body: Any) -> Any:
    """The landmark-only copy of an ``AnnyBody`` (built once per instance, then cached on it).

    Args:
        body: an :class:`~ehps.bodymodels.anny.AnnyBody`.

    Returns:
        An ``AnnyBody`` sharing every tensor with ``body`` except the sliced mesh buffers; its
        ``joints`` and ``mediapipe_keypoints`` equal the full model's, its ``vertices`` are the
        subset ``view.subset_vertex_ids`` of the full mesh.
    """
    cached = body.__dict__.get(LANDMARK_VIEW_ATTR)
    if cached is not None:
        return cached
    from ehps.bodymodels.anny_landmarks import MediapipeRegressor

    tables = {k: np.asarray(v) for k, v in body.tables.items()}
    used = [tables[f"{s}_vertex_ids"].reshape(-1) for s in _SETS]
    used += [body.tip_vertex_ids.cpu().numpy().reshape(-1),
             body.jaw_vertex_ids.cpu().numpy().reshape(-1)]
    keep_np = np.unique(np.concatenate(used).astype(np.int64))
    remap = np.full(body.num_vertices, -1, np.int64)
    remap[keep_np] = np.arange(len(keep_np))
    keep = torch.from_numpy(keep_np)

    inner = _module_copy(body.model)
    for name in _VERTEX_BUFFERS:
        dim = 1 if name == "blendshapes" else 0
        _slice_buffer(inner, name, keep, dim)

    RestModelMemo(inner, len(body.facial_action_labels))
    view = _module_copy(body)
    view._modules["model"] = inner
    dev = body.tip_vertex_ids.device
    view._buffers["tip_vertex_ids"] = torch.from_numpy(
        remap[body.tip_vertex_ids.cpu().numpy()]).to(dev)
    view._buffers["jaw_vertex_ids"] = torch.from_numpy(
        remap[body.jaw_vertex_ids.cpu().numpy()]).to(dev)
    sub_tables = dict(tables)
    for s in _SETS:
        sub_tables[f"{s}_vertex_ids"] = remap[tables[f"{s}_vertex_ids"].astype(np.int64)]
    reg = MediapipeRegressor(sub_tables, dtype=body.dtype).to(dev)
    view._modules["mediapipe"] = reg
    view.mediapipe_valid = reg.valid
    view.subset_vertex_ids = keep_np
    body.__dict__[LANDMARK_VIEW_ATTR] = view
    return view

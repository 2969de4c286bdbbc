"""Per-body-model parametrisation of the fit: which variables are optimised, their initial values,
how they become body-model keywords, their priors and how they are exported.

Shared by every body model (SMPL-X pose layout):

- ``global_orient`` (B, 3) axis-angle of the pelvis *in the camera frame* (OpenCV axes), so that
  the body model's output plus ``transl`` is the mesh in the camera;
- ``transl`` (B, 3) metres;
- ``body_pose`` (B, 21, 3); ``left_hand_pose`` / ``right_hand_pose`` (B, 15, 3) in the
  flat-hand convention (zero = straight fingers) whatever the model's own convention.

Model specific, under the generic names ``shape`` and ``face``: Anny's ``phenotype`` (B, 6) and
``facial_actions`` (B, 52), both kept in [0, 1] by a bound penalty and clamped in the forward
pass (its jaw is the ``jawOpen`` action); SMPL-X's ``betas`` and ``expression``, plus
``jaw_pose``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ehps.bodymodels.output import BodyModelOutput
from ehps.fitting.priors import JAW_LIMITS_DEG, limit_penalty
from ehps.structures import SMPLX_PARAM_KEYS

__all__ = ["BodyAdapter", "AnnyAdapter", "SMPLXAdapter", "make_adapter"]


def _bounds_penalty(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return (torch.relu(lo - x).square() + torch.relu(x - hi).square()).flatten(1).sum(1)


class BodyAdapter:
    """Base class: the pose variables every body model shares.

    Subclasses define ``shape`` and ``face`` variables (and ``jaw_pose`` where the model has a
    jaw joint), their priors and the export of parameters.
    """

    name: str = ""
    estimator: str = ""

    def __init__(self, body_model: Any) -> None:
        self.body_model = body_model
        #: the model evaluated inside the optimisation loop (may be a faster view of
        #: ``body_model`` with the same joints and landmarks; its vertices may be a subset)
        self.fit_model = body_model

    # -- variables -------------------------------------------------------------------------
    def init_variables(self, batch: int, dtype: torch.dtype, device: torch.device
                       ) -> dict[str, torch.Tensor]:
        """Initial values of every variable (zeros pose, mean shape, neutral face)."""
        z = dict(dtype=dtype, device=device)
        return {
            "global_orient": torch.zeros(batch, 3, **z),
            "transl": torch.zeros(batch, 3, **z),
            "body_pose": torch.zeros(batch, 21, 3, **z),
            "left_hand_pose": torch.zeros(batch, 15, 3, **z),
            "right_hand_pose": torch.zeros(batch, 15, 3, **z),
            "jaw_pose": torch.zeros(batch, 3, **z),
            **self._init_model_variables(batch, z),
        }

    def _init_model_variables(self, batch: int, z: dict[str, Any]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def fitted_variables(self) -> tuple[str, ...]:
        """Names of variables the optimiser may change for this model."""
        return (
            "global_orient", "transl", "body_pose", "left_hand_pose", "right_hand_pose",
            "shape", "face", *(("jaw_pose",) if self.has_jaw else ()),
        )  # fmt: skip

    has_jaw: bool = False
    #: packing scales of the optimiser (see :class:`ehps.fitting.optimizer.Packer`)
    variable_scales: dict[str, float] = {}

    # -- forward ---------------------------------------------------------------------------
    def forward(self, v: dict[str, torch.Tensor], full: bool = False) -> BodyModelOutput:
        """Run the fitting model (``full=True``: the full body model); vertices and joints come
        out in the camera frame (metres)."""
        model = self.body_model if full else self.fit_model
        return model(**self.model_inputs(v))

    def model_inputs(self, v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The body model's keyword arguments for the variables ``v``."""
        raise NotImplementedError

    #: finite-difference step of the shape variables (skeleton surrogate)
    shape_fd_step: float = 1.0

    def shape_value(self, shape: torch.Tensor) -> torch.Tensor:
        """The shape variables as the model sees them (e.g. clamped to their range)."""
        return shape

    def shape_variable(self, value: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`shape_value` (for values inside the range)."""
        return value

    # -- priors ----------------------------------------------------------------------------
    def shape_prior(self, v: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) prior on the shape variables."""
        raise NotImplementedError

    def face_prior(self, v: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) prior on the face variables (expression / facial actions, jaw)."""
        raise NotImplementedError

    # -- export ----------------------------------------------------------------------------
    def export_params(self, v: dict[str, torch.Tensor]) -> list[dict[str, np.ndarray]]:
        """Per-person parameter dicts in the layout of ``PersonEstimate.params``: the shapes of
        :data:`~ehps.structures.SMPLX_PARAM_KEYS` (``betas``/``expression`` (1, n) with the
        model's n), model-specific keys as (1, n)."""
        out = []
        values = {**self._pose_params(v), **self._model_params(v)}
        for i in range(v["transl"].shape[0]):
            d = {}
            for k, val in values.items():
                arr = val[i].detach().cpu().numpy().astype(np.float32)
                shape = SMPLX_PARAM_KEYS.get(k)
                d[k] = arr.reshape(shape if shape is not None and k not in ("betas", "expression")
                                   else (1, -1))
            out.append(d)
        return out

    def _pose_params(self, v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        lh, rh = self.hand_params(v)
        b = v["transl"].shape[0]
        zeros = torch.zeros(b, 3, dtype=v["transl"].dtype, device=v["transl"].device)
        return {
            "global_orient": v["global_orient"].reshape(b, 1, 3),
            "body_pose": v["body_pose"],
            "left_hand_pose": lh,
            "right_hand_pose": rh,
            "jaw_pose": (v["jaw_pose"] if self.has_jaw else zeros).reshape(b, 1, 3),
            "leye_pose": zeros.reshape(b, 1, 3),
            "reye_pose": zeros.reshape(b, 1, 3),
            "transl": v["transl"].reshape(b, 1, 3),
        }

    def hand_params(self, v: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Hand poses in the model's own parameter convention (default: flat)."""
        return v["left_hand_pose"], v["right_hand_pose"]

    def _model_params(self, v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class AnnyAdapter(BodyAdapter):
    """Anny: shape = 6 phenotype values, face = 52 facial actions (jaw via ``jawOpen``)."""

    name = "anny"
    estimator = "fit-anny"
    #: prior mean and weights of (gender, age, muscle, weight, height, proportions). Anny's age
    #: anchors are baby 0, child 1/3, young adult 2/3, old 1: its default 0.5 is a teenager, so
    #: the prior is a young adult. Gender 0 = male, 1 = female.
    PHENOTYPE_MEAN = (0.5, 0.72, 0.5, 0.5, 0.5, 0.5)
    PHENOTYPE_PRIOR = (0.5, 4.0, 1.0, 1.0, 1.0, 2.0)
    #: facial actions move face points by millimetres: scale them up for the optimiser
    variable_scales = {"face": 4.0, "shape": 2.0}
    shape_fd_step = 0.05
    #: facial actions that are rare or that perspective errors imitate (sideways jaw and mouth,
    #: puckering, puffing): they cost more
    RARE_ACTIONS = frozenset((
        "jawForward", "jawLeft", "jawRight", "mouthLeft", "mouthRight", "tongueOut",
        "cheekPuff", "mouthFunnel", "mouthPucker", "mouthRollLower", "mouthRollUpper",
    ))
    RARE_ACTION_WEIGHT = 5.0
    #: weight of the left/right symmetry prior on paired actions (gaze excluded)
    SYMMETRY_WEIGHT = 3.0

    def __init__(self, body_model: Any) -> None:
        super().__init__(body_model)
        from ehps.fitting.fast_anny import landmark_view

        self.fit_model = landmark_view(body_model)
        labels = list(getattr(body_model, "facial_action_labels", ()))
        self.num_facial = len(labels)
        self.face_weights = torch.tensor(
            [self.RARE_ACTION_WEIGHT if lab in self.RARE_ACTIONS else 0.0 for lab in labels]
        )
        pairs = [(i, labels.index(lab[:-4] + "Right")) for i, lab in enumerate(labels)
                 if lab.endswith("Left") and lab[:-4] + "Right" in labels
                 and not lab.startswith("eyeLook")]
        self.face_pairs = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)

    def _init_model_variables(self, batch: int, z: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {
            "shape": torch.tensor(self.PHENOTYPE_MEAN, **z).expand(batch, 6).clone(),
            "face": torch.zeros(batch, max(self.num_facial, 1), **z),
        }

    def fitted_variables(self) -> tuple[str, ...]:
        names = super().fitted_variables()
        return names if self.num_facial else tuple(n for n in names if n != "face")

    def shape_value(self, shape: torch.Tensor) -> torch.Tensor:
        return shape.clamp(0.0, 1.0)

    def model_inputs(self, v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {
            "global_orient": v["global_orient"],
            "body_pose": v["body_pose"],
            "left_hand_pose": v["left_hand_pose"],
            "right_hand_pose": v["right_hand_pose"],
            "phenotype": v["shape"].clamp(0.0, 1.0),
            "transl": v["transl"],
        }
        if self.num_facial:
            inputs["facial_actions"] = v["face"].clamp(0.0, 1.0)
        return inputs

    def shape_prior(self, v: dict[str, torch.Tensor]) -> torch.Tensor:
        w = v["shape"].new_tensor(self.PHENOTYPE_PRIOR)
        mean = v["shape"].new_tensor(self.PHENOTYPE_MEAN)
        return (w * (v["shape"] - mean).square()).sum(1) + 100.0 * _bounds_penalty(
            v["shape"], 0.0, 1.0
        )

    def face_prior(self, v: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sparse, small, symmetric facial actions inside [0, 1]."""
        fa = v["face"]
        if not self.num_facial:
            return fa.new_zeros(fa.shape[0])
        w = self.face_weights.to(fa)
        prior = 0.05 * fa.clamp_min(0).sum(1) + ((0.5 + w) * fa.square()).sum(1)
        if len(self.face_pairs):
            left, right = self.face_pairs[:, 0], self.face_pairs[:, 1]
            prior = prior + self.SYMMETRY_WEIGHT * (fa[:, left] - fa[:, right]).square().sum(1)
        return prior + 100.0 * _bounds_penalty(fa, 0.0, 1.0)

    def _model_params(self, v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        b = v["transl"].shape[0]
        zeros10 = torch.zeros(b, 1, 10, dtype=v["transl"].dtype, device=v["transl"].device)
        return {
            "betas": zeros10,  # not fitted: Anny's shape is the phenotype
            "expression": zeros10.clone(),  # not fitted: Anny's face is the facial actions
            "phenotype": v["shape"].clamp(0.0, 1.0).reshape(b, 1, 6),
            "facial_actions": v["face"].clamp(0.0, 1.0).reshape(b, 1, -1),
        }


class SMPLXAdapter(BodyAdapter):
    """SMPL-X: shape = betas, face = expression + jaw pose. Hand poses are optimised in the flat
    convention and exported in the model's (official: ``flat_hand_mean=False``, i.e. relative to
    the mean hand)."""

    name = "smplx"
    estimator = "fit-smplx"
    has_jaw = True

    def __init__(self, body_model: Any) -> None:
        super().__init__(body_model)
        self.num_betas = int(getattr(body_model, "num_betas", 10))
        self.num_expression = int(getattr(body_model, "num_expression", 10))
        self._hand_means = _smplx_hand_means(body_model)

    def _init_model_variables(self, batch: int, z: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {
            "shape": torch.zeros(batch, self.num_betas, **z),
            "face": torch.zeros(batch, self.num_expression, **z),
        }

    def hand_params(self, v: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lh, rh = v["left_hand_pose"], v["right_hand_pose"]
        if self._hand_means is None:
            return lh, rh
        ml, mr = (torch.as_tensor(m, dtype=lh.dtype, device=lh.device) for m in self._hand_means)
        return lh - ml.reshape(15, 3), rh - mr.reshape(15, 3)

    def model_inputs(self, v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        lh, rh = self.hand_params(v)
        return {
            "global_orient": v["global_orient"],
            "body_pose": v["body_pose"],
            "left_hand_pose": lh,
            "right_hand_pose": rh,
            "jaw_pose": v["jaw_pose"],
            "betas": v["shape"],
            "expression": v["face"],
            "transl": v["transl"],
        }

    def shape_prior(self, v: dict[str, torch.Tensor]) -> torch.Tensor:
        return 0.5 * v["shape"].square().sum(1)

    def face_prior(self, v: dict[str, torch.Tensor]) -> torch.Tensor:
        jaw_lim = np.radians(np.asarray(JAW_LIMITS_DEG, np.float32))[None]
        return (
            0.2 * v["face"].square().sum(1)
            + 0.5 * v["jaw_pose"].square().sum(1)
            + 100.0 * limit_penalty(v["jaw_pose"][:, None], jaw_lim)
        )

    def _model_params(self, v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        b = v["transl"].shape[0]
        return {
            "betas": v["shape"].reshape(b, 1, -1),
            "expression": v["face"].reshape(b, 1, -1),
        }


def _smplx_hand_means(body_model: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The mean hand poses (45,) a ``flat_hand_mean=False`` SMPL-X model adds to its input, or
    ``None`` when the model takes flat hand poses."""
    if bool(getattr(body_model, "flat_hand_mean", False)):
        return None
    for left_name, right_name in (
        ("left_hand_mean", "right_hand_mean"),
        ("hands_meanl", "hands_meanr"),
        ("left_hand_mean_aa", "right_hand_mean_aa"),
    ):
        left = getattr(body_model, left_name, None)
        right = getattr(body_model, right_name, None)
        if left is not None and right is not None:
            return _as_numpy(left).reshape(45), _as_numpy(right).reshape(45)
    raise AttributeError(
        "the SMPL-X model uses flat_hand_mean=False but exposes no mean hand pose "
        "(expected attributes left_hand_mean / right_hand_mean)"
    )


def _as_numpy(t: Any) -> np.ndarray:
    arr = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
    return arr.astype(np.float32)


def make_adapter(body_model: Any) -> BodyAdapter:
    """The adapter for a body model instance (its entry in :mod:`ehps.bodymodels.registry`)."""
    from ehps.bodymodels.registry import entry_for

    return entry_for(body_model).make_adapter(body_model)

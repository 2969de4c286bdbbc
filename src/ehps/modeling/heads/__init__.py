"""SMPLer-X heads (body, box, hand, face); the SMPLest-X decoder is ``ehps.modeling.decoder``."""

from __future__ import annotations

from ehps.modeling.heads.body import BodyRegressor, PositionNet
from ehps.modeling.heads.box import BoxNet
from ehps.modeling.heads.face import FaceRegressor
from ehps.modeling.heads.hand import HandRegressor, HandRoI

__all__ = ["PositionNet", "BodyRegressor", "BoxNet", "HandRoI", "HandRegressor", "FaceRegressor"]

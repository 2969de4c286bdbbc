"""What ``ehps models install`` recognises: every licensed body-model file ehps reads, the names
it has in the official downloads, how it is checked, and which features need it.

Official downloads (after registration; layouts as the archives unpack):

===========================================  =================================================
archive (website)                            members ehps takes
===========================================  =================================================
``models_smplx_v1_1.zip`` (smpl-x)           ``models/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.{npz,pkl}``
``smplx_mano_flame_correspondences.zip``     ``MANO_SMPLX_vertex_ids.pkl``,
(smpl-x)                                     ``SMPL-X__FLAME_vertex_ids.npy``
``expose_data.zip`` (expose)                 ``data/SMPLX_to_J14.pkl``
``SMPL_python_v.1.1.0.zip`` (smpl)           ``SMPL_python_v.1.1.0/smpl/models/``
                                             ``basicmodel_{neutral,m,f}_lbs_10_207_0_v1.1.0.pkl``
``SMPL_python_v.1.0.0.zip`` (smpl)           ``smpl/models/basicModel_f_lbs_10_207_0_v1.0.0.pkl``,
                                             ``basicmodel_m_lbs_10_207_0_v1.0.0.pkl``
``mpips_smplify_public_v2.zip`` (smplify)    ``smplify_public/code/models/``
                                             ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl``
===========================================  =================================================

``smplx2smpl.pkl`` (SMPLest-X ``human_model_files``; the README does not say where it comes
from) and ``J_regressor_h36m.npy`` (the community H36M regressor of SPIN / HMR 2.0 data) are taken
as loose files or from any archive. MANO / FLAME model files are not used by ehps and are skipped.

Each file is checked with the loader ehps itself uses for it (:mod:`ehps.bodymodels.io`,
:mod:`ehps.evaluation.smpl`, :mod:`ehps.evaluation.regressors`: restricted unpickling, no
``allow_pickle``), plus the official sizes (10475 SMPL-X and 6890 SMPL vertices, 778 ids per
hand, 5023 FLAME ids).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ehps.errors import BodyModelError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ModelFile", "Feature", "MODEL_FILES", "FEATURES", "match_model_file"]

_SMPLX_V = 10475
_SMPL_V = 6890
SMPLX_SITE = "https://smpl-x.is.tue.mpg.de"
SMPL_SITE = "https://smpl.is.tue.mpg.de"


@dataclass(frozen=True)
class ModelFile:
    """A file ehps reads from the body-models folder.

    Attributes:
        target: path relative to the body-models folder (``smplx/SMPLX_NEUTRAL.npz``).
        names: file names it has in the official downloads, preferred first (matched without
            case).
        what: a short description for messages.
        source: where a user gets it.
        check: loads the file with the project's loader; returns a one-line summary or raises
            :class:`BodyModelError`.
    """

    target: str
    names: tuple[str, ...]
    what: str
    source: str
    check: Callable[[Path], str]


@dataclass(frozen=True)
class Feature:
    """Something ehps does that needs files: ``needs`` is a tuple of alternatives (any one of
    each inner tuple of targets)."""

    name: str
    needs: tuple[tuple[str, ...], ...]


def _vertex_check(path: Path, data: Mapping[str, np.ndarray], expected: int, label: str) -> str:
    """Check the template vertex count of a loaded body model file (``label``, e.g. SMPL-X)."""
    n_v = data["v_template"].shape[0]
    if n_v != expected:
        raise BodyModelError(f"{path.name}: {n_v} vertices, {label} has {expected}")
    return f"{label}, {n_v} vertices"


def _smplx_check(path: Path) -> str:
    from ehps.bodymodels.io import load_smplx_data

    data = load_smplx_data(path)
    return (f"{_vertex_check(path, data, _SMPLX_V, 'SMPL-X')}, "
            f"{data['shapedirs'].shape[-1]} shape/expression directions")


def _mano_check(path: Path) -> str:
    from ehps.bodymodels.io import load_mano_vertex_ids

    ids = load_mano_vertex_ids(path)
    for side, v in ids.items():
        if v.shape != (778,) or v.min() < 0 or v.max() >= _SMPLX_V:
            raise BodyModelError(f"{path.name}: '{side}' must hold 778 SMPL-X vertex ids, got "
                                 f"{v.shape[0]} in [{v.min()}, {v.max()}]")
    return "MANO hand vertex ids, 2 x 778"


def _flame_check(path: Path) -> str:
    from ehps.bodymodels.io import load_flame_vertex_ids

    ids = load_flame_vertex_ids(path)
    if ids.shape != (5023,) or ids.min() < 0 or ids.max() >= _SMPLX_V:
        raise BodyModelError(f"{path.name}: expected 5023 SMPL-X vertex ids, got {ids.shape}")
    return "FLAME face vertex ids, 5023"


def _j14_check(path: Path) -> str:
    from ehps.bodymodels.io import load_j14_regressor

    reg = load_j14_regressor(path)
    if reg.shape != (14, _SMPLX_V):
        raise BodyModelError(f"{path.name}: expected a (14, {_SMPLX_V}) regressor, got "
                             f"{reg.shape}")
    return f"LSP-14 joint regressor {reg.shape}"


def _smpl_check(path: Path) -> str:
    from ehps.evaluation.smpl import load_smpl_data

    return _vertex_check(path, load_smpl_data(path), _SMPL_V, "SMPL")


def _smplx2smpl_check(path: Path) -> str:
    from ehps.evaluation.regressors import load_smplx_to_smpl

    mat = load_smplx_to_smpl(path)
    return f"SMPL-X -> SMPL vertex map {tuple(mat.shape)}"


def _h36m_check(path: Path) -> str:
    from ehps.evaluation.regressors import load_h36m_regressor

    reg = load_h36m_regressor(path)
    return f"H36M joint regressor {tuple(reg.shape)}"


def _smplx_files() -> list[ModelFile]:
    out = []
    for gender in ("NEUTRAL", "MALE", "FEMALE"):
        for ext in ("npz", "pkl"):
            name = f"SMPLX_{gender}.{ext}"
            out.append(ModelFile(f"smplx/{name}", (name,), f"SMPL-X {gender.lower()} model "
                                 f"(.{ext})", f"{SMPLX_SITE} (models_smplx_v1_1.zip)",
                                 _smplx_check))
    return out


def _smpl_files() -> list[ModelFile]:
    short = {"NEUTRAL": "neutral", "MALE": "m", "FEMALE": "f"}
    out = []
    for gender, g in short.items():
        names = (f"SMPL_{gender}.pkl", f"basicmodel_{g}_lbs_10_207_0_v1.1.0.pkl",
                 f"basicmodel_{g}_lbs_10_207_0_v1.0.0.pkl")
        site = f"{SMPL_SITE} (SMPL_python_v.1.1.0.zip or v.1.0.0)"
        if gender == "NEUTRAL":
            site = (f"{SMPL_SITE} (SMPL_python_v.1.1.0.zip) or https://smplify.is.tue.mpg.de "
                    "(mpips_smplify_public_v2.zip)")
        out.append(ModelFile(f"smpl/SMPL_{gender}.pkl", names, f"SMPL {gender.lower()} model",
                             site, _smpl_check))
        out.append(ModelFile(f"smpl/SMPL_{gender}.npz", (f"SMPL_{gender}.npz",),
                             f"SMPL {gender.lower()} model (.npz)", SMPL_SITE, _smpl_check))
    return out


MODEL_FILES: tuple[ModelFile, ...] = (
    *_smplx_files(),
    ModelFile("smplx/MANO_SMPLX_vertex_ids.pkl", ("MANO_SMPLX_vertex_ids.pkl",),
              "SMPL-X hand vertex ids", f"{SMPLX_SITE} (smplx_mano_flame_correspondences.zip)",
              _mano_check),
    ModelFile("smplx/SMPL-X__FLAME_vertex_ids.npy", ("SMPL-X__FLAME_vertex_ids.npy",),
              "SMPL-X face vertex ids", f"{SMPLX_SITE} (smplx_mano_flame_correspondences.zip)",
              _flame_check),
    ModelFile("smplx/SMPLX_to_J14.pkl", ("SMPLX_to_J14.pkl",), "SMPL-X -> 14 LSP joints",
              "https://expose.is.tue.mpg.de (expose_data.zip: data/SMPLX_to_J14.pkl)",
              _j14_check),
    *_smpl_files(),
    ModelFile("smplx2smpl.pkl", ("smplx2smpl.pkl",), "SMPL-X -> SMPL vertex map",
              "SMPLest-X human_model_files (source not named in its README)", _smplx2smpl_check),
    ModelFile("J_regressor_h36m.npy", ("J_regressor_h36m.npy",), "H36M joint regressor (SMPL)",
              "SPIN / HMR 2.0 data (community file)", _h36m_check),
)

_NEUTRAL = ("smplx/SMPLX_NEUTRAL.npz", "smplx/SMPLX_NEUTRAL.pkl")
_EVAL = (_NEUTRAL, ("smplx/SMPLX_to_J14.pkl",), ("smplx/MANO_SMPLX_vertex_ids.pkl",),
         ("smplx/SMPL-X__FLAME_vertex_ids.npy",))
_SMPL = tuple((f"smpl/SMPL_{g}.pkl", f"smpl/SMPL_{g}.npz") for g in ("NEUTRAL", "MALE", "FEMALE"))

FEATURES: tuple[Feature, ...] = (
    Feature("meshes of network outputs (ehps infer --weights ...), --body-model smplx",
            (_NEUTRAL,)),
    Feature("ehps eval (EHF, AGORA, UBody, EgoBody, ARCTIC, ... SMPL-X ground truth)", _EVAL),
    Feature("ehps eval --benchmark pw3d --protocol smplerx (SMPL ground truth)", _EVAL + _SMPL),
    Feature("ehps eval --benchmark pw3d --protocol smplestx",
            _EVAL + _SMPL + (("smplx2smpl.pkl",),)),
    Feature("ehps eval --benchmark pw3d --protocol h36m",
            _EVAL + _SMPL + (("smplx2smpl.pkl",), ("J_regressor_h36m.npy",))),
    Feature("gendered SMPL-X (load_smplx(gender='male' / 'female'))",
            (("smplx/SMPLX_MALE.npz", "smplx/SMPLX_MALE.pkl"),
             ("smplx/SMPLX_FEMALE.npz", "smplx/SMPLX_FEMALE.pkl"))),
)

_BY_NAME: dict[str, tuple[ModelFile, int]] = {}
for _spec in MODEL_FILES:
    for _rank, _name in enumerate(_spec.names):
        _BY_NAME.setdefault(_name.lower(), (_spec, _rank))


def match_model_file(filename: str) -> tuple[ModelFile, int] | None:
    """The :class:`ModelFile` a file name is (case-insensitive) and its preference rank."""
    return _BY_NAME.get(Path(filename).name.lower())

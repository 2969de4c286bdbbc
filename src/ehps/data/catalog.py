"""Dataset catalog: dataset name -> :class:`DatasetSpec`, and named training mixtures.

Every dataset the official SMPLer-X configs train on (the 32 of ``config_smpler_x_*32.py``), the
benchmarks' bespoke loaders (EHF), and the SMPLest-X additions are registered with the files they
expect relative to a *data root* (the official ``dataset/`` folder; SMPLest-X calls it ``data/``),
their image root, fixed image size and camera where the official loader hard-codes them, and which
loader reads them. Mixtures (:class:`MixturePreset`) reproduce the official dataset lists, orders,
strategies, ``total_data_len`` and per-dataset sample intervals:

- ``smplerx_top5`` / ``top10`` / ``top20`` / ``top32``: the SMPLer-X scaling configs (identical for
  the S/B/L/H backbones);
- ``smplerx_ft_{agora,3dpw,egobody,ubody,arctic,renbody}``: the six specialist fine-tuning mixtures;
- ``smplestx_release``: the released SMPLest-X config (SynHand only, as a template).

The dataset *order* inside a preset matters for the ``balance`` strategy and follows the official
``trainset_3d + trainset_2d + trainset_humandata`` concatenation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ehps.errors import InputError
from ehps.utils.paths import data_dir

__all__ = [
    "System",
    "LoaderName",
    "DatasetSpec",
    "MixturePreset",
    "register_dataset",
    "get_dataset_spec",
    "list_datasets",
    "register_preset",
    "get_preset",
    "list_presets",
    "find_data_root",
    "missing_files",
]

System = Literal["smplerx", "smplestx"]
LoaderName = Literal["humandata", "mscoco", "mpii", "human36m", "agora", "ubody", "pw3d", "ehf"]


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives and how the official loader reads it.

    Attributes:
        name: registry name (the official class name, e.g. ``"GTA_Human2"``).
        loader: which reader handles the files (``"humandata"`` or a bespoke format).
        files: annotation files relative to the data root, in the order the official loader reads
            them (multi-part HumanData sets are concatenated part by part).
        image_root: folder that image paths in the annotations are relative to (data-root relative;
            ``""`` is the data root itself).
        split: ``"train"`` or ``"test"``.
        sample_interval: the official training temporal subsampling in the 32-dataset config
            (keep row ``i`` of each file when ``i % interval == 0``); presets may override it.
        image_hw: fixed (height, width) the official loader assumes when ``meta`` lacks sizes.
        focal, princpt: camera (pixels) the official loader uses to project SMPL-X fits, if any.
        flat_hand_mean_in: systems whose loader subtracts the mean hand pose from this dataset's
            hand labels (they were stored with ``flat_hand_mean=True``).
        quirks: named official loader behaviours kept on purpose (see
            :mod:`ehps.data.datasets.humandata_source`): ``"talkshow_hands"`` (right hand label
            taken from the left hand, expression truncated to 10), ``"joints_from_fit"`` (RenBody:
            3D keypoint targets replaced by the SMPL-X fit's joints), ``"hand_only"`` (SMPLest-X
            hand datasets: body pose, root and shape zeroed), ``"zero_shape"`` (SMPLest-X ARCTIC),
            ``"strip_leading_slash"`` (SMPLest-X MPI-INF-3DHP image paths).
        systems: which systems' dataset lists include it.
        documented: False when the official repositories do not publish the file names (then
            ``files`` is empty and must be given by the user).
        notes: free text.
    """

    name: str
    loader: LoaderName
    files: tuple[str, ...]
    image_root: str
    split: str = "train"
    sample_interval: int = 1
    image_hw: tuple[int, int] | None = None
    focal: tuple[float, float] | None = None
    princpt: tuple[float, float] | None = None
    flat_hand_mean_in: frozenset[str] = frozenset()
    quirks: frozenset[str] = frozenset()
    systems: frozenset[str] = frozenset({"smplerx", "smplestx"})
    documented: bool = True
    notes: str = ""

    def resolve(self, data_root: str | os.PathLike[str]) -> tuple[list[Path], Path]:
        """Absolute annotation files and image root under ``data_root``."""
        root = Path(data_root)
        if not self.files:
            raise InputError(
                f"dataset '{self.name}': the official code does not publish its annotation file "
                "names; register it with explicit files, e.g. "
                f"register_dataset(replace(get_dataset_spec('{self.name}'), "
                "files=('annot/x.npz',)))"
            )
        return [root / f for f in self.files], root / self.image_root


@dataclass(frozen=True)
class MixturePreset:
    """A named training mixture (official dataset list and sampling setup).

    Attributes:
        name: preset name.
        system: the system whose loader semantics apply (``"smplerx"`` / ``"smplestx"``).
        datasets: dataset names in the official concatenation order.
        strategy: ``"balance"``, ``"concat"`` or ``"weighted"`` (see :mod:`ehps.data.sampling`).
        total_data_len: samples per epoch for ``balance`` (``None``: the longest dataset times the
            number of datasets).
        sample_intervals: per-dataset training interval used by this preset (missing names: 1).
        weights: per-dataset sample counts for ``weighted`` (the SMPLest-X ``length_dict``).
        description: one line.
    """

    name: str
    system: System
    datasets: tuple[str, ...]
    strategy: Literal["balance", "concat", "weighted"] = "balance"
    total_data_len: int | None = None
    sample_intervals: Mapping[str, int] = field(default_factory=dict)
    weights: Mapping[str, int] | None = None
    description: str = ""

    def specs(self) -> list[DatasetSpec]:
        """The dataset specs with this preset's intervals applied."""
        return [
            replace(
                get_dataset_spec(n, self.system), sample_interval=self.sample_intervals.get(n, 1)
            )
            for n in self.datasets
        ]


_DATASETS: dict[str, DatasetSpec] = {}
_PRESETS: dict[str, MixturePreset] = {}


def register_dataset(spec: DatasetSpec, overwrite: bool = True) -> DatasetSpec:
    """Add (or replace) a dataset spec; returns it."""
    if spec.name in _DATASETS and not overwrite:
        raise InputError(f"dataset '{spec.name}' is already registered")
    _DATASETS[spec.name] = spec
    return spec


def get_dataset_spec(name: str, system: System | None = None) -> DatasetSpec:
    """The spec registered as ``name`` (``system`` only checks that the system lists it)."""
    if name not in _DATASETS:
        raise InputError(f"unknown dataset '{name}'; known: {', '.join(sorted(_DATASETS))}")
    spec = _DATASETS[name]
    if system is not None and system not in spec.systems:
        raise InputError(f"dataset '{name}' is not part of the {system} dataset lists")
    return spec


def list_datasets(system: System | None = None) -> list[str]:
    return sorted(n for n, s in _DATASETS.items() if system is None or system in s.systems)


def register_preset(preset: MixturePreset) -> MixturePreset:
    for name in preset.datasets:
        get_dataset_spec(name, preset.system)
    _PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> MixturePreset:
    if name not in _PRESETS:
        raise InputError(f"unknown mixture preset '{name}'; known: {', '.join(sorted(_PRESETS))}")
    return _PRESETS[name]


def list_presets() -> list[str]:
    return sorted(_PRESETS)


def find_data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Training data root: ``explicit``, else ``$EHPS_TRAIN_DATA``, else
    ``<user data dir>/datasets``; always absolute (a relative root is taken relative to the
    current folder once, here, so that joining data-root-relative names never repeats it)."""
    if explicit is not None:
        return Path(explicit).expanduser().absolute()
    env = os.environ.get("EHPS_TRAIN_DATA")
    return Path(env).expanduser().absolute() if env else data_dir() / "datasets"


def missing_files(spec: DatasetSpec, data_root: str | os.PathLike[str]) -> list[Path]:
    """Annotation files of ``spec`` that do not exist under ``data_root``."""
    files, _ = spec.resolve(data_root)
    return [f for f in files if not f.exists()]


# --------------------------------------------------------------------------------------------
# Registry content (facts from the official loaders; file names as the official classes use them)
# --------------------------------------------------------------------------------------------
_PRE = "preprocessed_datasets/"
_ER = frozenset({"smplerx"})
_BOTH = frozenset({"smplerx", "smplestx"})
_EST = frozenset({"smplestx"})


def _hd(
    name: str, files: tuple[str, ...], image_root: str, interval: int = 1, **kw: object
) -> None:
    register_dataset(
        DatasetSpec(name, "humandata", tuple(_PRE + f for f in files), image_root,
                    sample_interval=interval, **kw)  # type: ignore[arg-type]
    )


_HD_1080 = (1080, 1920)
_hd("BEDLAM", ("bedlam_train.npz",), "BEDLAM", 5, flat_hand_mean_in=_ER)
_hd("SPEC", ("spec_train_smpl.npz",), "SPEC", image_hw=_HD_1080)
_hd("GTA_Human2", ("gta_human2multiple_230406_04000_0.npz",), "GTA_Human2", image_hw=_HD_1080,
    focal=(1158.0337, 1158.0337), princpt=(960.0, 540.0), flat_hand_mean_in=_EST)
_hd("SynBody", ("synbody_train_230521_04000_fix_betas.npz",), "SynBody", image_hw=(720, 1280),
    focal=(540.0, 540.0), princpt=(640.0, 360.0), flat_hand_mean_in=_EST)
_hd("PoseTrack", ("eft_posetrack.npz",), "PoseTrack/data/images")
_hd("EgoBody_Egocentric", ("egobody_egocentric_train_230425_065_fix_betas.npz",), "EgoBody",
    image_hw=_HD_1080)
_hd("PROX", ("prox_train_smplx_new.npz",), "PROX", image_hw=_HD_1080)
_hd("CrowdPose", ("crowdpose_neural_annot_train_new.npz",), "CrowdPose")
_hd("EgoBody_Kinect", ("egobody_kinect_train_230503_065_fix_betas.npz",), "EgoBody", 10,
    image_hw=_HD_1080)
_hd("MPI_INF_3DHP", tuple(f"mpi_inf_3dhp_neural_annot_part{i}.npz" for i in (1, 2, 3)),
    "MPI_INF_3DHP", 5, quirks=frozenset({"strip_leading_slash"}))
_hd("RICH", ("rich_train_fix_betas.npz",), "RICH")
_hd("MuCo", ("muco3dhp_train.npz",), "MuCo", image_hw=(1024, 1024))
_hd("InstaVariety", ("insta_variety_neural_annot_train.npz",), "InstaVariety", 10,
    image_hw=(224, 224))
_hd("Behave", ("behave_train_230516_231_downsampled.npz",), "Behave", image_hw=(1536, 2048))
_hd("UP3D", ("up3d_trainval.npz",), "UP3D")
_hd("ARCTIC", ("p1_train.npz",), "ARCTIC", 10, flat_hand_mean_in=_EST,
    quirks=frozenset({"zero_shape"}), notes="zero_shape applies to SMPLest-X only")
_hd("OCHuman", ("eft_ochuman.npz",), "OCHuman")
_hd("CHI3D", tuple(f"CHI3D_train_230511_1492_{i}.npz" for i in range(2)), "", image_hw=(900, 900),
    flat_hand_mean_in=_EST)
_hd("RenBody_HiRes", tuple(f"renbody_train_highrescam_230517_399_{i}_fix_betas.npz"
                           for i in range(2)), "RenBody", 5, quirks=frozenset({"joints_from_fit"}))
_hd("MTP", ("mtp_smplx_train.npz",), "MTP")
_hd("HumanSC3D", tuple(f"HumanSC3D_train_230511_2752_{i}.npz" for i in range(3)), "",
    image_hw=(900, 900), flat_hand_mean_in=_EST)
_hd("RenBody", tuple(f"renbody_train_230525_399_{i}.npz" for i in range(10)), "RenBody",
    quirks=frozenset({"joints_from_fit"}))
_hd("FIT3D", tuple(f"FIT3D_train_230511_1504_{i}.npz" for i in range(6)), "", 10,
    image_hw=(900, 900), flat_hand_mean_in=_EST)
_hd("Talkshow", tuple(f"talkshow_smplx_{s}.npz" for s in ("chemistry", "conan", "oliver", "seth")),
    "Talkshow", 10, quirks=frozenset({"talkshow_hands"}))
_hd("SSP3D", ("ssp3d_230525_311.npz",), "SSP3D", image_hw=(512, 512))
_hd("LSPET", ("eft_lspet.npz",), "LSPET")

# Bespoke formats (OSX / Hand4Whole-style loaders).
register_dataset(DatasetSpec(
    "MSCOCO", "mscoco",
    ("MSCOCO/annotations/coco_wholebody_train_v1.0.json",
     "MSCOCO/annotations/MSCOCO_train_SMPLX_all_NeuralAnnot.json"),
    "MSCOCO/images", notes="COCO-WholeBody keypoints + NeuralAnnot SMPL-X fits; images/train2017/"))
register_dataset(DatasetSpec(
    "MPII", "mpii",
    ("MPII/data/annotations/train.json", "MPII/data/annotations/MPII_train_SMPLX_NeuralAnnot.json"),
    "MPII/data", systems=_ER))
register_dataset(DatasetSpec(
    "Human36M", "human36m",
    tuple(f"Human36M/annotations/Human36M_subject{s}_{k}.json" for s in (1, 5, 6, 7, 8)
          for k in ("data", "camera", "joint_3d", "SMPLX_NeuralAnnot")),
    "Human36M/images", systems=_ER, notes="every 5th frame (official subsampling ratio)"))
register_dataset(DatasetSpec(
    "AGORA", "agora", ("AGORA/data/AGORA_train_fix_betas.json",), "AGORA/data",
    notes="3840x2160 pre-cropped images under 3840x2160/<folder>_crop/ with crop json files"))
register_dataset(DatasetSpec(
    "UBody", "ubody", ("UBody/splits/intra_scene_test_list.npy",), "UBody/images",
    sample_interval=10,
    notes="keypoint_annotation.json + smplx_annotation.json per scene in UBody/annotations/"))
register_dataset(
    DatasetSpec("PW3D", "pw3d", ("PW3D/data/3DPW_train.json",), "PW3D/data/imageFiles")
)
register_dataset(DatasetSpec(
    "EHF", "ehf", ("EHF/data/EHF.json",), "EHF/data", split="test", systems=_ER,
    notes="100 frames; ground-truth meshes EHF/data/<nn>_align.ply"))

# SMPLest-X additions: only SynHand's files are published (data/annot, data/img layout).
register_dataset(DatasetSpec(
    "SynHand", "humandata", ("annot/synhand_20240927_241004_4628_fix_betas.npz",), "img/synbody",
    flat_hand_mean_in=_EST, systems=_EST,
    notes="test split: annot/synhand_20241018_test_241023_1188_fix_betas.npz"))
for _name, _quirks, _flat in (
    ("FreiHand", {"hand_only"}, False), ("InterHand", {"hand_only"}, False),
    ("BlurHand", {"hand_only"}, False), ("HanCo", {"hand_only"}, False),
    ("MOYO", set(), True), ("Hi4D", set(), False), ("GTA_Human_full", set(), True),
    ("SynBody_whac", set(), True), ("SynBody_Magic1", set(), True), ("SynBody_full", set(), True),
):
    register_dataset(DatasetSpec(
        _name, "humandata", (), f"img/{_name.lower()}", flat_hand_mean_in=_EST if _flat else
        frozenset(), quirks=frozenset(_quirks), systems=_EST, documented=False,
        notes="named in the SMPLest-X loader code; annotation file names are not published"))

# --------------------------------------------------------------------------------------------
# Mixtures
# --------------------------------------------------------------------------------------------
_TOP5 = ("MSCOCO", "AGORA", "BEDLAM", "SPEC", "GTA_Human2")
_TOP10 = ("MSCOCO", "AGORA", "BEDLAM", "SPEC", "GTA_Human2", "SynBody", "PoseTrack",
          "EgoBody_Egocentric", "PROX", "CrowdPose")
_TOP20 = ("MSCOCO", "AGORA", "UBody", "PW3D", "BEDLAM", "SPEC", "GTA_Human2", "SynBody",
          "PoseTrack", "EgoBody_Egocentric", "PROX", "CrowdPose", "EgoBody_Kinect", "MPI_INF_3DHP",
          "RICH", "MuCo", "InstaVariety", "Behave", "UP3D", "ARCTIC")
_TOP32 = ("MSCOCO", "AGORA", "UBody", "PW3D", "MPII", "Human36M", "BEDLAM", "SPEC", "GTA_Human2",
          "SynBody", "PoseTrack", "EgoBody_Egocentric", "PROX", "CrowdPose", "EgoBody_Kinect",
          "MPI_INF_3DHP", "RICH", "MuCo", "InstaVariety", "Behave", "UP3D", "ARCTIC", "OCHuman",
          "CHI3D", "RenBody_HiRes", "MTP", "HumanSC3D", "RenBody", "FIT3D", "Talkshow", "SSP3D",
          "LSPET")
_INTERVALS_32 = {"BEDLAM": 5, "EgoBody_Kinect": 10, "UBody": 10, "MPI_INF_3DHP": 5,
                 "InstaVariety": 10, "RenBody_HiRes": 5, "ARCTIC": 10, "FIT3D": 10, "Talkshow": 10}
_INTERVALS_TOPK = {**_INTERVALS_32, "RenBody": 10}
_INTERVALS_FT = {"Talkshow": 10, "UBody": 10}

for _k, _names, _total in ((5, _TOP5, 750_000), (10, _TOP10, 1_500_000),
                           (20, _TOP20, 3_000_000), (32, _TOP32, 4_500_000)):
    register_preset(MixturePreset(
        f"smplerx_top{_k}", "smplerx", _names, "balance", _total,
        _INTERVALS_32 if _k == 32 else _INTERVALS_TOPK,
        description=f"SMPLer-X {_k}-dataset scaling config (any backbone size)"))

for _tag, _names in (
    ("agora", ("AGORA", "GTA_Human2", "BEDLAM", "SynBody", "SPEC")),
    ("3dpw", ("PW3D", "GTA_Human2", "EgoBody_Kinect", "InstaVariety", "HumanSC3D")),
    ("egobody", ("MSCOCO", "EgoBody_Egocentric", "EgoBody_Kinect", "BEDLAM", "PROX")),
    ("ubody", ("UBody", "MSCOCO", "EgoBody_Egocentric", "PoseTrack", "Talkshow")),
    ("arctic", ("MSCOCO", "ARCTIC", "BEDLAM", "EgoBody_Egocentric", "PoseTrack")),
    ("renbody", ("RenBody_HiRes", "RenBody", "BEDLAM", "SynBody", "CHI3D")),
):
    register_preset(MixturePreset(
        f"smplerx_ft_{_tag}", "smplerx", _names, "balance", 1_000_000, _INTERVALS_FT,
        description=f"SMPLer-X {_tag} specialist fine-tuning mixture (from H32, 5 epochs)"))

register_preset(MixturePreset(
    "smplestx_release", "smplestx", ("SynHand",), "balance", 7_500_000,
    {"BEDLAM": 5, "SynBody": 10, "EgoBody_Kinect": 10, "UBody": 10, "MPI_INF_3DHP": 5,
     "InstaVariety": 10, "RenBody_HiRes": 5, "ARCTIC": 10, "RenBody": 10, "Talkshow": 10},
    description="the released SMPLest-X config (a SynHand-only template; the 40-set list is "
    "not published)"))

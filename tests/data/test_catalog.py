"""Catalog and presets against the official config lists (transcribed here from
``main/config/config_smpler_x_*.py`` / ``config_ft_*.py``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ehps.data.catalog import (
    find_data_root,
    get_dataset_spec,
    get_preset,
    list_datasets,
    list_presets,
    missing_files,
    register_dataset,
)
from ehps.errors import InputError

# trainset_3d + trainset_2d + trainset_humandata of config_smpler_x_s32.py
OFFICIAL_32 = (
    ["MSCOCO", "AGORA", "UBody"] + ["PW3D", "MPII", "Human36M"]
    + ["BEDLAM", "SPEC", "GTA_Human2", "SynBody", "PoseTrack", "EgoBody_Egocentric", "PROX",
       "CrowdPose", "EgoBody_Kinect", "MPI_INF_3DHP", "RICH", "MuCo", "InstaVariety", "Behave",
       "UP3D", "ARCTIC", "OCHuman", "CHI3D", "RenBody_HiRes", "MTP", "HumanSC3D", "RenBody",
       "FIT3D", "Talkshow", "SSP3D", "LSPET"]
)
OFFICIAL_20 = (["MSCOCO", "AGORA", "UBody"] + ["PW3D"]
               + ["BEDLAM", "SPEC", "GTA_Human2", "SynBody", "PoseTrack", "EgoBody_Egocentric",
                  "PROX", "CrowdPose", "EgoBody_Kinect", "MPI_INF_3DHP", "RICH", "MuCo",
                  "InstaVariety", "Behave", "UP3D", "ARCTIC"])
OFFICIAL_10 = ["MSCOCO", "AGORA", "BEDLAM", "SPEC", "GTA_Human2", "SynBody", "PoseTrack",
               "EgoBody_Egocentric", "PROX", "CrowdPose"]
OFFICIAL_5 = ["MSCOCO", "AGORA", "BEDLAM", "SPEC", "GTA_Human2"]
INTERVALS_32 = {"BEDLAM": 5, "EgoBody_Kinect": 10, "UBody": 10, "MPI_INF_3DHP": 5,
                "InstaVariety": 10, "RenBody_HiRes": 5, "ARCTIC": 10, "FIT3D": 10, "Talkshow": 10}
FT = {
    "agora": ["AGORA", "GTA_Human2", "BEDLAM", "SynBody", "SPEC"],
    "3dpw": ["PW3D", "GTA_Human2", "EgoBody_Kinect", "InstaVariety", "HumanSC3D"],
    "egobody": ["MSCOCO", "EgoBody_Egocentric", "EgoBody_Kinect", "BEDLAM", "PROX"],
    "ubody": ["UBody", "MSCOCO", "EgoBody_Egocentric", "PoseTrack", "Talkshow"],
    "arctic": ["MSCOCO", "ARCTIC", "BEDLAM", "EgoBody_Egocentric", "PoseTrack"],
    "renbody": ["RenBody_HiRes", "RenBody", "BEDLAM", "SynBody", "CHI3D"],
}


@pytest.mark.parametrize(("k", "names", "total"), [(32, OFFICIAL_32, 4_500_000),
                                                   (20, OFFICIAL_20, 3_000_000),
                                                   (10, OFFICIAL_10, 1_500_000),
                                                   (5, OFFICIAL_5, 750_000)])
def test_scaling_presets(k: int, names: list[str], total: int) -> None:
    p = get_preset(f"smplerx_top{k}")
    assert list(p.datasets) == names and len(names) == k
    assert p.strategy == "balance" and p.total_data_len == total and p.system == "smplerx"
    intervals = {s.name: s.sample_interval for s in p.specs()}
    for name in names:
        expected = INTERVALS_32.get(name, 1)
        if k != 32 and name == "RenBody":
            expected = 10
        assert intervals[name] == expected, name


@pytest.mark.parametrize("tag", sorted(FT))
def test_specialist_presets(tag: str) -> None:
    p = get_preset(f"smplerx_ft_{tag}")
    assert list(p.datasets) == FT[tag] and p.total_data_len == 1_000_000
    intervals = {s.name: s.sample_interval for s in p.specs()}
    for name in FT[tag]:  # only Talkshow and UBody are subsampled in the fine-tuning configs
        assert intervals[name] == {"Talkshow": 10, "UBody": 10}.get(name, 1)


def test_registry_content() -> None:
    assert set(OFFICIAL_32) <= set(list_datasets("smplerx"))
    assert "EHF" in list_datasets("smplerx") and "SynHand" in list_datasets("smplestx")
    assert len(list_presets()) == 11
    gta = get_dataset_spec("GTA_Human2")
    assert gta.focal == (1158.0337, 1158.0337) and gta.image_hw == (1080, 1920)
    assert gta.files == ("preprocessed_datasets/gta_human2multiple_230406_04000_0.npz",)
    assert len(get_dataset_spec("FIT3D").files) == 6 and get_dataset_spec("FIT3D").image_root == ""
    assert "smplerx" in get_dataset_spec("BEDLAM").flat_hand_mean_in
    assert "smplestx" not in get_dataset_spec("BEDLAM").flat_hand_mean_in
    with pytest.raises(InputError, match="unknown dataset"):
        get_dataset_spec("NotADataset")
    with pytest.raises(InputError, match="not part of the smplestx"):
        get_dataset_spec("MPII", "smplestx")


def test_files_and_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = get_dataset_spec("SPEC")
    assert missing_files(spec, tmp_path) == [tmp_path / spec.files[0]]
    (tmp_path / "preprocessed_datasets").mkdir()
    (tmp_path / spec.files[0]).write_bytes(b"")
    assert missing_files(spec, tmp_path) == []
    with pytest.raises(InputError, match="does not publish"):
        get_dataset_spec("FreiHand").resolve(tmp_path)
    register_dataset(replace(get_dataset_spec("FreiHand"), files=("annot/frei.npz",)))
    try:
        files, images = get_dataset_spec("FreiHand").resolve(tmp_path)
        assert files == [tmp_path / "annot/frei.npz"]
    finally:
        register_dataset(replace(get_dataset_spec("FreiHand"), files=()))
    monkeypatch.setenv("EHPS_TRAIN_DATA", str(tmp_path))
    assert find_data_root() == tmp_path
    assert find_data_root(tmp_path / "x") == tmp_path / "x"

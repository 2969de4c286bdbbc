"""Training configs: presets against the official recipe facts (official-spec c.3 / c.5), the YAML /
dotted override loader (unknown keys and bad types are errors) and round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehps.data import get_preset
from ehps.errors import InputError
from ehps.modeling import get_config
from ehps.training.config import (
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_yaml_overrides,
    parse_dotted,
    save_config,
)
from ehps.training.presets import SPECIALISTS, get_train_preset, list_train_presets


def test_every_zoo_variant_and_mix_has_a_preset() -> None:
    names = set(list_train_presets())
    want = {f"smplerx_{s}{k}" for s in "sblh" for k in (5, 10, 20, 32)}
    want |= {f"smplestx_{s}40" for s in "sblh"}
    want |= {f"smplerx_ft_{t}" for t in ("agora", "3dpw", "egobody", "ubody", "arctic",
                                         "renbody")}
    assert want <= names
    for name in names:
        cfg = get_train_preset(name)
        if name.startswith("synthetic_"):  # data.humandata is given by the user
            assert not cfg.data.humandata
            continue
        model = get_config(cfg.model.variant)  # resolves in the zoo
        if not cfg.data.humandata:
            mix = get_preset(cfg.data.mixture)  # exists in the data catalog
            assert mix.system == model.family, name


@pytest.mark.parametrize(
    ("name", "variant", "mixture", "batch", "lr", "min_lr", "epochs"),
    [
        ("smplerx_h32", "smplerx_h32", "smplerx_top32", 16, 1e-5, 1e-6, 10),
        ("smplerx_s32", "smplerx_s32", "smplerx_top32", 32, 1e-5, 1e-6, 10),
        ("smplerx_b10", "smplerx_b32", "smplerx_top10", 32, 1e-5, 1e-6, 10),
        ("smplerx_l5", "smplerx_l32", "smplerx_top5", 32, 2e-5, 1e-6, 10),
        ("smplerx_l20", "smplerx_l32", "smplerx_top20", 32, 1e-5, 1e-6, 10),
        ("smplestx_h40", "smplestx_h", "smplestx_release", 16, 1e-5, 1e-6, 20),
        ("smplerx_ft_agora", "smplerx_h32", "smplerx_ft_agora", 16, 1e-5, 5e-7, 5),
    ],
)
def test_preset_values_match_the_official_recipe(name, variant, mixture, batch, lr, min_lr,
                                                 epochs) -> None:
    cfg = get_train_preset(name)
    assert cfg.model.variant == variant
    assert cfg.data.mixture == mixture
    assert cfg.data.batch_size == batch
    assert cfg.optim.lr == lr and cfg.optim.min_lr == min_lr and cfg.optim.epochs == epochs
    assert cfg.optim.weight_decay == 0.0 and cfg.optim.warmup_steps == 0
    assert cfg.optim.gradient_clip_val is None
    assert cfg.trainer.seed == 2023


def test_specialists_start_from_h32_with_one_million_samples() -> None:
    for tag in SPECIALISTS:
        cfg = get_train_preset(f"smplerx_ft_{tag}")
        assert cfg.data.total_data_len == 1_000_000
        assert cfg.model.freeze == "none"  # official: full-network tuning


def test_presets_are_fresh_objects() -> None:
    a = get_train_preset("smplerx_s32")
    a.optim.lr = 1.0
    assert get_train_preset("smplerx_s32").optim.lr == 1e-5


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match="smplerx_h32"):
        get_train_preset("smplerx_x99")


def test_dict_round_trip_and_yaml_file(tmp_path: Path) -> None:
    cfg = apply_overrides(get_train_preset("synthetic_smplestx"),
                          {"optim": {"betas": [0.8, 0.9]}, "data": {"humandata": ["a.npz"]}})
    assert cfg.optim.betas == (0.8, 0.9)
    assert config_from_dict(config_to_dict(cfg)) == cfg
    path = save_config(cfg, tmp_path / "config.yaml")
    assert config_from_dict(load_yaml_overrides(path)) == cfg


def test_overrides_merge_free_form_mappings() -> None:
    cfg = get_train_preset("synthetic_smplerx")
    out = apply_overrides(cfg, {"model": {"overrides": {"depth": 3}}})
    assert out.model.overrides["depth"] == 3
    assert out.model.overrides["embed_dim"] == cfg.model.overrides["embed_dim"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"optim": {"learning_rate": 1.0}}, "optim: unknown key 'learning_rate'"),
        ({"optimiser": {}}, r"unknown key 'optimiser' \(did you mean 'optim'\?\)"),
        ({"data": {"bbox_ration": 1.3}}, r"did you mean 'bbox_ratio'"),
        ({"optim": {"lr": "fast"}}, "expected a number"),
        ({"data": {"batch_size": 2.5}}, "expected an integer"),
        ({"trainer": {"precision": "16-mixed"}}, "not one of"),
        ({"model": {"freeze": "encoder"}}, "not one of"),
        ({"optim": {"betas": [0.9]}}, "expected 2 values"),
    ],
)
def test_bad_overrides_are_errors(override, message) -> None:
    with pytest.raises(InputError, match=message):
        apply_overrides(TrainConfig(), override)


def test_parse_dotted() -> None:
    got = parse_dotted(["optim.lr=2e-5", "data.humandata=[a.npz, b.npz]", "trainer.devices=2",
                        "model.vitpose=null", "data.augment=false", "optim.min_lr=1e-6"])
    assert got == {"optim": {"lr": 2e-5, "min_lr": 1e-6}, "data": {"humandata": ["a.npz", "b.npz"],
                                                    "augment": False},
                   "trainer": {"devices": 2}, "model": {"vitpose": None}}
    with pytest.raises(InputError):
        parse_dotted(["optim.lr"])


def test_yaml_must_be_a_mapping(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="mapping"):
        load_yaml_overrides(p)
    with pytest.raises(InputError, match="not found"):
        load_yaml_overrides(tmp_path / "missing.yaml")


def test_shipped_example_configs_load() -> None:
    configs = Path(__file__).resolve().parents[2] / "configs"
    files = sorted(configs.glob("*.yaml"))
    assert files, "configs/*.yaml examples are missing"
    for f in files:
        data = load_yaml_overrides(f)
        preset = data.pop("preset")
        cfg = apply_overrides(get_train_preset(preset), data)
        assert isinstance(cfg, TrainConfig)


def test_pose2d_pretraining_keeps_only_the_heatmap_terms_and_fits_both_families() -> None:
    from dataclasses import fields

    from ehps.losses.smplerx import SMPLerXLossWeights
    from ehps.modeling import build_model

    cfg = get_train_preset("synthetic_pose2d")
    w = SMPLerXLossWeights(**cfg.loss_weights)
    active = {f.name for f in fields(w)
              if isinstance(getattr(w, f.name), float) and getattr(w, f.name) > 0}
    assert active == {"joint_img", "smplx_joint_img"}
    assert cfg.model.variant == "smplerx_s32"
    # its encoder must load into both synthetic networks (model.vitpose): same names and shapes
    shapes = {}
    for name in ("synthetic_pose2d", "synthetic_smplerx", "synthetic_smplestx"):
        m = get_train_preset(name).model
        enc = build_model(m.variant, device="meta", init=False, **m.overrides).encoder
        shapes[name] = {k: tuple(v.shape) for k, v in enc.state_dict().items()
                        if k != "task_tokens"}
    assert shapes["synthetic_pose2d"] == shapes["synthetic_smplerx"]
    assert shapes["synthetic_pose2d"] == shapes["synthetic_smplestx"]

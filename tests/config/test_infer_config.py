"""The inference config is one strict tree: unknown options are errors that name the closest valid
one in the Python API, YAML, dotted overrides and command-line flags alike; values are checked
once (in the dataclasses) whatever the layer; the layers stack in the documented order; every
field is reachable from the command line; the crop ratio has one default shared with training."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
import yaml

from ehps.cli.main import main
from ehps.config.cli import add_config_flags, config_from_args, flag_fields
from ehps.config.infer import InferConfig
from ehps.config.loader import build_config, config_to_dict, load_yaml_overrides, save_config
from ehps.errors import InputError
from ehps.geometry.crop import DEFAULT_BBOX_RATIO
from ehps.inference.predictor import Predictor


def _parse(argv: list[str]) -> InferConfig:
    parser = argparse.ArgumentParser()
    add_config_flags(parser, InferConfig)
    return config_from_args(parser.parse_args(argv), InferConfig)


@pytest.mark.parametrize(("option", "closest"), [("bbox_ration", "bbox_ratio"),
                                                 ("max_peopel", "max_people"),
                                                 ("batchsize", "batch_size")])
def test_python_api_rejects_typos(option, closest):
    with pytest.raises(InputError, match=f"unknown key '{option}'.*did you mean '{closest}'"):
        Predictor.from_pretrained(**{option: 1})


def test_yaml_rejects_unknown_keys(tmp_path):
    path = tmp_path / "infer.yaml"
    path.write_text(yaml.safe_dump({"detection": {"min_scor": 0.3}}))
    with pytest.raises(InputError, match="did you mean 'min_score'"):
        _parse(["--config", str(path)])
    path.write_text(yaml.safe_dump({"detections": {"min_score": 0.3}}))
    with pytest.raises(InputError, match="did you mean 'detection'"):
        _parse(["--config", str(path)])


def test_dotted_overrides_and_flags_reject_unknown_names(tmp_path, capsys):
    with pytest.raises(InputError, match="did you mean 'min_score'"):
        _parse(["--set", "detection.min_scor=0.3"])
    assert main(["infer", "x.png", "--set", "smoothing.bta=0.1", "--out",
                 str(tmp_path / "o")]) == 2
    assert "did you mean 'beta'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["infer", "x.png", "--bbox-ration", "1.5", "--out", str(tmp_path / "o")])
    assert "did you mean '--bbox-ratio'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--min-score", "1.5"], ["--batch-size", "0"],
                                  ["--set", "input.fps=-2"], ["--overlay-alpha", "2"],
                                  ["--set", "output.save_mesh=[stl]"], ["--resume", "--overwrite"],
                                  ["--set", "estimator.batch_size=two"]])
def test_values_are_checked_in_every_layer(argv):
    with pytest.raises(InputError):
        _parse(argv)


def test_layers_stack_defaults_yaml_overrides_flags(tmp_path):
    path = tmp_path / "infer.yaml"
    path.write_text(yaml.safe_dump({"detection": {"min_score": 0.3, "max_people": 4},
                                    "output": {"save_mesh": ["obj"]}}))
    cfg = _parse(["--config", str(path)])
    assert (cfg.detection.min_score, cfg.detection.max_people) == (0.3, 4)
    assert cfg.output.save_mesh == ("obj",) and cfg.detection.bbox_ratio == DEFAULT_BBOX_RATIO
    cfg = _parse(["--config", str(path), "--set", "detection.min_score=0.4"])
    assert cfg.detection.min_score == 0.4
    cfg = _parse(["--config", str(path), "--set", "detection.min_score=0.4", "--min-score",
                  "0.6", "--no-smooth", "--intrinsics", "900,900,320,240", "--quiet"])
    assert cfg.detection.min_score == 0.6 and cfg.detection.max_people == 4
    assert not cfg.smoothing.enabled and not cfg.progress
    assert cfg.input.intrinsics == (900.0, 900.0, 320.0, 240.0)


def test_every_field_has_a_flag_or_a_dotted_name_and_round_trips(tmp_path):
    flagged = {path for path, _, _ in flag_fields(InferConfig)}
    leaves: set[str] = set()
    cfg = InferConfig()
    for section in dataclasses.fields(cfg):
        value = getattr(cfg, section.name)
        if dataclasses.is_dataclass(value):
            leaves |= {f"{section.name}.{f.name}" for f in dataclasses.fields(value)}
    # internal tuning knobs are set with --set (or YAML) only
    assert leaves - flagged == {"estimator.pose_batch", "tracking.max_misses"}
    for path in sorted(leaves - flagged):
        section, name = path.split(".")
        got = _parse(["--set", f"{path}=7"])
        assert getattr(getattr(got, section), name) == 7
    custom = _parse(["--save-mesh", "obj", "glb", "--max-people", "2", "--device", "cpu"])
    assert build_config(InferConfig, config_to_dict(custom)) == custom
    saved = save_config(custom, tmp_path / "resolved.yaml")
    assert build_config(InferConfig, load_yaml_overrides(saved)) == custom


def test_one_crop_ratio_for_inference_and_training():
    from ehps.training.config import TrainConfig

    assert InferConfig().detection.bbox_ratio == TrainConfig().data.bbox_ratio == 1.2
    assert DEFAULT_BBOX_RATIO == 1.2

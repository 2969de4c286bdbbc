"""The person search and fitter options of issue 19 live in the inference config: ``--search``,
``--search-preset`` and ``--fit-preset`` reach the detector and the fitter that ``ehps infer``
builds, bad values are refused in every layer, and the config's list of search modes is the
detector's."""

from __future__ import annotations

import argparse

import pytest

from ehps.config.cli import add_config_flags, config_from_args
from ehps.config.infer import PRESETS, SEARCH_MODES, DetectionConfig, InferConfig
from ehps.errors import InputError


def _parse(argv: list[str]) -> InferConfig:
    parser = argparse.ArgumentParser()
    add_config_flags(parser, InferConfig)
    return config_from_args(parser.parse_args(argv), InferConfig)


def test_search_modes_are_the_detectors():
    from ehps.detection.search import SEARCH_MODES as DETECTOR_MODES

    assert SEARCH_MODES == DETECTOR_MODES
    assert PRESETS == ("default", "baseline")


def test_flags_and_overrides_set_the_presets():
    cfg = _parse(["--search", "dense", "--search-preset", "baseline", "--fit-preset", "baseline"])
    assert (cfg.detection.search, cfg.detection.search_preset) == ("dense", "baseline")
    assert cfg.estimator.fit_preset == "baseline"
    cfg = _parse(["--set", "detection.search=wide"])
    assert cfg.detection.search == "wide" and cfg.detection.search_preset == "default"


@pytest.mark.parametrize("kwargs", [{"search": "everywhere"}, {"search_preset": "old"}])
def test_bad_values_are_refused(kwargs):
    with pytest.raises(InputError, match="must be one of"):
        DetectionConfig(**kwargs)
    with pytest.raises(InputError, match="fit_preset"):
        _parse(["--set", "estimator.fit_preset=old"])


@pytest.mark.parametrize("preset", PRESETS)
def test_predictor_builds_the_chosen_search_and_fit(preset):
    from ehps.detection.person_search import SearchConfig
    from ehps.fitting import FitConfig
    from ehps.inference.predictor import Predictor

    cfg = _parse(["--search", "wide", "--search-preset", preset, "--fit-preset", preset])
    predictor = Predictor.from_pretrained(config=cfg)
    finder = predictor.finder
    options = finder._detector_options()  # what the lazily built detector gets
    assert options["search"] == "wide"
    want = SearchConfig.baseline() if preset == "baseline" else SearchConfig()
    assert options["search_config"] == want
    fit = predictor.estimator.embedded.fit_config
    assert fit == (FitConfig.baseline() if preset == "baseline" else FitConfig())


def make_fake_detector():
    """A plug-in factory for the test below (``tests.config...:make_fake_detector``)."""
    from ehps.detection.plugins import BoxDetector

    return BoxDetector(lambda image: ([[1.0, 2.0, 30.0, 60.0]], [0.9]))


def test_detector_plugin_from_the_config():
    from ehps.detection.plugins import BoxDetector
    from ehps.inference.predictor import Predictor

    spec = f"{__name__}:make_fake_detector"
    predictor = Predictor.from_pretrained(config=_parse(["--detector", spec]))
    assert isinstance(predictor.finder.detector, BoxDetector)
    with pytest.raises(InputError, match="cannot load detector"):
        Predictor.from_pretrained(config=_parse(["--detector", "no_such_module_x:make"]))

"""Weight files from strangers: configs in metadata are validated like user input before anything
is built, and every broken file is a CheckpointError naming it.

References: the ranges of :class:`ehps.modeling.ModelConfig` (a forged ``depth`` of 10,000,000 is
refused in milliseconds, where building it would exhaust memory); numpy values that training
scripts leave in checkpoints still load (and equal what was saved); an object-array bomb does not.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ehps.errors import CheckpointError, InputError
from ehps.modeling import build_model, load_model, save_model
from ehps.modeling.checkpoint import torch_load_safely
from ehps.modeling.config import ModelConfig
from ehps.modeling.weights import write_safetensors
from ehps.testing.crafted import ForgedArray
from ehps.testing.fuzz_targets import TINY_NET


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ckpt")
    return save_model(build_model("smplestx_s", **TINY_NET), d / "tiny.safetensors")


def _with_config(tmp_path: Path, src: Path, edit) -> Path:
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    cfg = json.loads(meta["config"])
    meta["config"] = edit(cfg)
    out = tmp_path / "forged.safetensors"
    write_safetensors(out, tensors, meta)
    return out


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("depth", 10_000_000, "'depth' must be an integer"),
    ("embed_dim", -64, "'embed_dim'"),
    ("num_heads", "2", "'num_heads'"),
    ("mlp_ratio", 1e9, "'mlp_ratio'"),
    ("drop_path_rate", [0.1], "'drop_path_rate'"),
    ("decoder_depth", True, "'decoder_depth'"),
    ("family", {"x": 1}, "'family'"),
])
def test_forged_architecture_is_refused_before_building(tmp_path, tiny_file, field, value,
                                                         needle):
    def edit(cfg):
        cfg[field] = value
        return json.dumps(cfg)

    path = _with_config(tmp_path, tiny_file, edit)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=needle) as info:
        load_model(path)
    assert time.perf_counter() - t0 < 5.0
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text", ["[" * 100_000, "not json", "{}", '{"family": "smplestx"}'])
def test_unreadable_config_metadata(tmp_path, tiny_file, text):
    path = _with_config(tmp_path, tiny_file, lambda cfg: text)
    with pytest.raises(CheckpointError, match="embedded model config"):
        load_model(path)


def test_config_ranges_accept_every_registered_variant():
    from ehps.modeling.zoo import get_config, list_models

    for name in list_models():
        assert ModelConfig.from_json(get_config(name).to_json()) == get_config(name)
    with pytest.raises(InputError, match="depth"):
        ModelConfig("smplerx", 64, 0, 2)


def test_numpy_values_load_and_object_bombs_do_not(tmp_path):
    good = tmp_path / "np.pth"
    hist = np.arange(6, dtype=np.float32).reshape(2, 3)
    torch.save({"epoch": np.int64(3), "hist": hist, "w": torch.ones(2)}, good)
    obj = torch_load_safely(good)
    np.testing.assert_array_equal(obj["hist"], hist)
    assert obj["epoch"] == 3 and torch.equal(obj["w"], torch.ones(2))
    bomb = tmp_path / "bomb.pth"
    torch.save({"w": torch.ones(2), "x": ForgedArray((2**36,), "O", [1, 2])}, bomb)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match="bomb.pth"):
        torch_load_safely(bomb)
    assert time.perf_counter() - t0 < 5.0


def test_wrong_tensor_dtype_and_truncated_files(tmp_path, tiny_file):
    from safetensors import safe_open

    with safe_open(str(tiny_file), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    key = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[key] = tensors[key].to(torch.int32)
    bad = tmp_path / "int.safetensors"
    write_safetensors(bad, tensors, meta)
    with pytest.raises(CheckpointError, match="dtype"):
        load_model(bad)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(tiny_file.read_bytes()[: tiny_file.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        load_model(cut)
    pth = tmp_path / "w.pth.tar"
    torch.save({"network": {"a": torch.ones(3)}}, pth)
    short = tmp_path / "short.pth.tar"
    short.write_bytes(pth.read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="short.pth.tar"):
        torch_load_safely(short)


def test_infer_cli_prints_one_line_for_a_forged_depth(tmp_path, tiny_file, run_cli):
    from robust_helpers import assert_one_line_error

    def edit(cfg):
        cfg["depth"] = 10_000_000
        return json.dumps(cfg)

    path = _with_config(tmp_path, tiny_file, edit)
    image = tmp_path / "x.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    rc, _, err = run_cli(["infer", image, "--checkpoint", path, "--out", tmp_path / "out"])
    assert_one_line_error(rc, err, "infer", "forged.safetensors", "'depth'")

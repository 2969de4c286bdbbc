"""``ehps train`` / ``ehps finetune`` end to end on tiny networks (in-process ``main()``).

References: the run folder's files; the step counter across ``--resume``; for fine-tuning, the
source weights themselves (frozen parts must come out bit-identical, trained parts must move).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from traintest_helpers import TINY

from ehps.cli.main import main
from ehps.modeling import load_model
from ehps.modeling.synthetic import write_synthetic_official_checkpoint
from ehps.training.checkpointing import load_network_weights, read_training_checkpoint
from ehps.training.launch import read_metrics


def _tops(model: torch.nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    return {name: {k: v.detach().clone() for k, v in m.state_dict().items()}
            for name, m in model.named_children()}


def _changed(before: torch.nn.Module, after: torch.nn.Module) -> set[str]:
    """Top-level modules whose parameters differ."""
    a, b = _tops(before), _tops(after)
    return {name for name in a
            if any(not torch.equal(a[name][k], b[name][k]) for k in a[name]
                   if a[name][k].is_floating_point() and "running" not in k)}


def _common(root: Path, smplx_dir: Path, out: Path) -> list[str]:
    return ["--data-root", str(root), "--smplx-dir", str(smplx_dir), "--out", str(out),
            "--workers", "0", "--batch-size", "2", "--set", "data.augment=false",
            "--set", "data.humandata=[annotations/train.npz]"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, synth_root, synthetic_smplx_dir) -> Path:
    """``ehps train`` for 2 steps from a YAML config, then ``--resume`` to 4 steps."""
    d = tmp_path_factory.mktemp("cli_train")
    config = d / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "preset": "synthetic_smplestx",
        "model": {"overrides": TINY["smplestx"]},
        "optim": {"lr": 1e-3},
        "trainer": {"val_every_n_steps": None, "log_every_n_steps": 1, "accelerator": "cpu",
                    "devices": 1},
        "checkpoint": {"every_n_steps": 1, "keep_last": 1},
    }))
    out = d / "run"
    assert main(["train", "--config", str(config), "--max-steps", "2",
                 *_common(synth_root, synthetic_smplx_dir, out)]) == 0
    assert read_training_checkpoint(out / "checkpoints" / "last.ckpt")["global_step"] == 2
    # continue the same run folder: its saved config is reused, the step budget raised
    assert main(["train", "--out", str(out), "--resume", "--max-steps", "4"]) == 0
    return out


def test_train_writes_a_complete_run_folder_and_resumes(trained_run: Path, capsys) -> None:
    out = trained_run
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["variant"] == "smplestx_s"
    assert saved["model"]["overrides"]["embed_dim"] == TINY["smplestx"]["embed_dim"]
    assert saved["optim"]["max_steps"] == 4
    ckpt = read_training_checkpoint(out / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 4
    steps = [s for s, _ in read_metrics(out / "metrics.csv")["train/loss"]]
    assert steps == [0, 1, 2, 3]
    assert (out / "curves.png").is_file()
    net = load_model(out / "model.safetensors")
    ref = load_network_weights(out / "checkpoints" / "last.ckpt")
    assert not _changed(ref, net)  # exported weights == the last checkpoint's


def test_train_lists_presets_and_rejects_bad_overrides(capsys) -> None:
    assert main(["train", "--list-presets"]) == 0
    listing = capsys.readouterr().out
    for name in ("smplerx_h32", "smplestx_h40", "smplerx_ft_agora", "synthetic_smplerx"):
        assert name in listing
    assert main(["train", "--preset", "smplerx_s32", "--set", "optim.learning_rate=1"]) == 2
    assert "optim: unknown key 'learning_rate'" in capsys.readouterr().err


def _finetune(source: Path, out: Path, root: Path, smplx_dir: Path, *extra: str) -> None:
    assert main(["finetune", "--from", str(source), "--specialist", "agora", "--max-steps", "1",
                 *_common(root, smplx_dir, out), *extra]) == 0
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["model"]["init_from"] == str(source.resolve())
    assert cfg["optim"]["min_lr"] == 5e-7  # the specialist recipe


def test_finetune_official_checkpoint_with_head_freezing(tmp_path, synth_root,
                                                         synthetic_smplx_dir) -> None:
    src = write_synthetic_official_checkpoint(tmp_path / "tiny.pth.tar", "smplerx_s32", seed=1,
                                              **TINY["smplerx"])
    sets = [x for k, v in TINY["smplerx"].items()
            for x in ("--set", f"model.overrides.{k}={v}")]
    out = tmp_path / "ft"
    _finetune(src, out, synth_root, synthetic_smplx_dir, "--variant", "smplerx_s32",
              "--freeze", "head", "--set", "optim.lr=1e-3", *sets)
    before = load_network_weights(src, variant="smplerx_s32", **TINY["smplerx"])
    after = load_model(out / "model.safetensors")
    # official fine_tune='head': encoder and neck (box net, hand RoI net) frozen, heads trained
    # (the hand position net gets no gradient until the predicted hand boxes hold the hand
    # keypoints: official truncation rule, so it may not move in one step)
    changed = _changed(before, after)
    assert changed.isdisjoint({"encoder", "box_net", "hand_roi_net"})
    assert {"body_position_net", "body_regressor", "hand_regressor", "face_regressor"} <= changed


def test_finetune_from_safetensors_and_training_checkpoint(tmp_path, trained_run, synth_root,
                                                           synthetic_smplx_dir) -> None:
    src = trained_run / "model.safetensors"
    _finetune(src, tmp_path / "a", synth_root, synthetic_smplx_dir, "--freeze", "backbone",
              "--set", "optim.lr=1e-3")
    assert _changed(load_model(src), load_model(tmp_path / "a" / "model.safetensors")) == {
        "encoder"}
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    _finetune(ckpt, tmp_path / "b", synth_root, synthetic_smplx_dir, "--freeze", "neck_and_head",
              "--set", "optim.lr=1e-3")
    assert _changed(load_network_weights(ckpt),
                    load_model(tmp_path / "b" / "model.safetensors")) == {"decoder"}

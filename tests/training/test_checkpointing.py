"""Checkpoint files: atomic writes, safe (weights-only) loading, RNG state round trips, and
network weights from the three accepted formats (reference: the source network's state dict)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from traintest_helpers import TINY

from ehps.errors import CheckpointError
from ehps.modeling import load_official_checkpoint, save_model
from ehps.modeling.synthetic import write_synthetic_official_checkpoint
from ehps.training.checkpointing import (
    AtomicCheckpointIO,
    capture_rng_state,
    find_last_checkpoint,
    load_network_weights,
    read_training_checkpoint,
    restore_rng_state,
    weights_config,
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_atomic_checkpoint_write_keeps_the_old_file_on_failure(tmp_path, monkeypatch) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "ckpts" / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.arange(4.0)}, path)
    before = _sha(path)
    assert io.load_checkpoint(path)["global_step"] == 1

    real_save = torch.save

    def crash(obj, fh, *a, **k):  # write part of the file, then die
        real_save(obj, fh, *a, **k)
        fh.truncate(10)
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"global_step": 2, "w": torch.zeros(4)}, path)
    monkeypatch.undo()
    assert _sha(path) == before  # the previous checkpoint is intact
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]  # no temp files


class _Payload:
    """Unpickling this runs code (creates a marker file): a weights-only loader must refuse."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_loading_refuses_arbitrary_pickles(tmp_path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "x": _Payload(marker)}, evil)
    with pytest.raises(CheckpointError, match="cannot read"):
        read_training_checkpoint(evil)
    with pytest.raises(CheckpointError):
        load_network_weights(evil)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="not found"):
        read_training_checkpoint(tmp_path / "missing.ckpt")


def test_rng_state_round_trip() -> None:
    state = capture_rng_state()
    # the saved state holds plain, weights-only-loadable types
    buf = __import__("io").BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    first = (torch.rand(5), np.random.rand(5), [random.random() for _ in range(5)])  # noqa: NPY002
    torch.rand(7), np.random.rand(3), random.random()  # noqa: NPY002 (move the global states on)
    restore_rng_state(state)
    again = (torch.rand(5), np.random.rand(5), [random.random() for _ in range(5)])  # noqa: NPY002
    assert torch.equal(first[0], again[0])
    assert np.array_equal(first[1], again[1])
    assert first[2] == again[2]


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k].float(), sb[k].float()), k


@pytest.mark.parametrize("family,variant", [("smplerx", "smplerx_s32"),
                                            ("smplestx", "smplestx_s")])
def test_network_weights_from_official_and_safetensors(tmp_path, family, variant) -> None:
    official = write_synthetic_official_checkpoint(tmp_path / "net.pth.tar", variant, seed=3,
                                                   **TINY[family])
    ref = load_official_checkpoint(official, variant, **TINY[family])
    before = _sha(official)
    net = load_network_weights(official, variant=variant, **TINY[family])
    _same_weights(net, ref)
    assert net.training
    # training the loaded network never touches the file (tensors are private copies)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    assert _sha(official) == before
    assert weights_config(official, variant=variant, overrides=TINY[family]) == ref.config
    with pytest.raises(CheckpointError, match="--variant"):
        weights_config(official)  # tiny widths fit no zoo variant

    st = save_model(ref, tmp_path / "net.safetensors")
    _same_weights(load_network_weights(st), ref)
    assert weights_config(st) == ref.config


def test_find_last_checkpoint(tmp_path) -> None:
    assert find_last_checkpoint(tmp_path) is None
    d = tmp_path / "checkpoints"
    d.mkdir()
    (d / "step=2.ckpt").write_bytes(b"x")
    assert find_last_checkpoint(tmp_path) == d / "step=2.ckpt"
    (d / "last.ckpt").write_bytes(b"x")
    assert find_last_checkpoint(tmp_path) == d / "last.ckpt"

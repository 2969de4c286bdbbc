"""Ordinary failures of outputs: one line naming the path and the reason, checked before the long
work, and nothing left behind. Read-only and full filesystems are real ones (a small tmpfs
mounted for the test) where the machine allows mounting; otherwise those cases are skipped."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from robust_helpers import assert_one_line_error

from ehps.cli.main import main
from ehps.errors import OutputError
from ehps.utils.io import atomic_write_bytes
from ehps.utils.writable import check_writable


@contextlib.contextmanager
def _tmpfs(path: Path, size: str, readonly: bool = False):
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                              capture_output=True)
    except FileNotFoundError:
        pytest.skip("no mount command")
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.suffix == ".tmp" or p.name.startswith(".")]


def test_convert_output_under_a_file_and_a_folder(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    missing_source = tmp_path / "never_read.pth.tar"  # the output is checked before the source
    rc = main(["convert", str(missing_source), str(afile / "out.safetensors")])
    assert_one_line_error(rc, capsys.readouterr().err, "convert", "afile", "is a file")
    rc = main(["convert", str(missing_source), str(tmp_path)])
    assert_one_line_error(rc, capsys.readouterr().err, "convert", str(tmp_path), "is a folder")
    assert _leftovers(tmp_path) == []


def test_convert_to_a_read_only_filesystem(tmp_path, capsys):
    with _tmpfs(tmp_path / "ro", "1m", readonly=True) as ro:
        rc = main(["convert", str(tmp_path / "x.pth.tar"), str(ro / "out.safetensors")])
        assert_one_line_error(rc, capsys.readouterr().err, "convert", "out.safetensors",
                              "read-only file system")


def test_convert_to_a_full_disk(tmp_path, capsys):
    from ehps.modeling.synthetic import write_synthetic_official_checkpoint

    src = write_synthetic_official_checkpoint(tmp_path / "s.pth.tar", "smplerx_s32",
                                              with_optimizer=False)
    with _tmpfs(tmp_path / "full", "2m") as full:
        rc = main(["convert", str(src), str(full / "out.safetensors")])
        assert_one_line_error(rc, capsys.readouterr().err, "convert", "out.safetensors",
                              "is free there")
        assert os.listdir(full) == []


def test_a_write_that_fills_the_disk_names_the_target_and_leaves_nothing(tmp_path):
    with _tmpfs(tmp_path / "small", "256k") as small:
        target = small / "big.bin"
        with pytest.raises(OutputError, match="big.bin.*no space left on the disk") as info:
            atomic_write_bytes(target, np.zeros(1 << 20, np.uint8).tobytes())
        assert isinstance(info.value, OSError)  # callers catching OSError still do
        assert os.listdir(small) == []


def test_check_writable_cases(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_writable(f, folder=True)
    with pytest.raises(OutputError, match="is a folder"):
        check_writable(tmp_path)
    with pytest.raises(OutputError, match="'.*f' is a file"):
        check_writable(f / "sub" / "x.npz")
    with pytest.raises(OutputError, match="only .* is free"):
        check_writable(tmp_path / "x", need_bytes=1 << 60)
    assert check_writable(tmp_path / "new" / "deeper" / "x.npz") == tmp_path / "new" / "deeper" \
        / "x.npz"
    assert not (tmp_path / "new").exists() and _leftovers(tmp_path) == []


def test_relative_data_root_is_not_doubled(tmp_path, monkeypatch):
    from ehps.data.catalog import find_data_root
    from ehps.data.humandata_writer import write_humandata
    from ehps.training.datamodule import humandata_sources

    root = tmp_path / "data" / "synth"
    (root / "annotations").mkdir(parents=True)
    write_humandata(root / "annotations" / "train.npz", image_path=["a.png"],
                    bbox_xywh=np.ones((1, 5), np.float32),
                    meta={"height": np.array([480]), "width": np.array([640])})
    monkeypatch.chdir(tmp_path)
    sources = humandata_sources(["annotations/train.npz"], find_data_root("data/synth"),
                                "smplestx", None)
    assert [f.hd.path for f in sources[0]._files] == [root / "annotations" / "train.npz"]
    assert sources[0].image_root == root
    assert find_data_root("data/synth") == root

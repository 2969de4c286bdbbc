"""The error contract: ehps's errors carry the file, the cause and the fix, and the command line
prints each as one line (exit status 2), including ordinary system failures (disk full,
permission denied) and running out of memory."""

from __future__ import annotations

import errno
import pickle

import pytest
from robust_helpers import assert_one_line_error

import ehps.cli.convert
from ehps.cli.main import main
from ehps.errors import EhpsError, InputError, OutputError, describe_os_error


def test_parts_make_one_message():
    err = OutputError(path="/data/out", cause="the disk is full", fix="free some space")
    assert str(err) == "/data/out: the disk is full; free some space"
    assert (err.path, err.cause, err.fix) == ("/data/out", "the disk is full", "free some space")
    assert isinstance(err, OSError) and isinstance(err, EhpsError)
    plain = InputError("cannot read 'a.png':\n  the file is empty\n")
    assert plain.one_line() == "cannot read 'a.png': the file is empty"
    assert str(pickle.loads(pickle.dumps(err))) == str(err)  # DataLoader workers pickle errors


@pytest.mark.parametrize(("exc", "needles"), [
    (OSError(errno.ENOSPC, "No space left on device", "/out/x.npz"),
     ["'/out/x.npz'", "no space left on the disk", "free some space"]),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"),
     ["'/root/x'", "permission denied", "permissions"]),
    (MemoryError(), ["out of memory"]),
    (InputError("first line\nsecond line"), ["first line second line"]),
])
def test_cli_prints_one_line_for_system_failures(monkeypatch, capsys, exc, needles):
    def fail(args):
        raise exc

    monkeypatch.setattr(ehps.cli.convert, "run", fail)
    rc = main(["convert", "a.pth.tar", "b.safetensors"])
    assert_one_line_error(rc, capsys.readouterr().err, "convert", *needles)


def test_describe_os_error_without_a_path():
    assert describe_os_error(OSError(errno.EROFS, "Read-only file system")) == (
        "read-only file system; write somewhere else")

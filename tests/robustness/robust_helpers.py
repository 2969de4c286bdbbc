"""Assertions shared by the robustness tests (the CLI's one-line error contract)."""

from __future__ import annotations

__all__ = ["error_lines", "assert_one_line_error"]


def error_lines(stderr: str, command: str) -> list[str]:
    """The ``ehps <command>: error:`` lines of a CLI's stderr (library log lines ignored)."""
    return [ln for ln in stderr.splitlines() if ln.startswith(f"ehps {command}: error:")]


def assert_one_line_error(rc: int, stderr: str, command: str, *needles: str) -> str:
    """Exit status 2, one error line naming every ``needle``, and no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    assert rc == 2, (rc, stderr[-2000:])
    lines = error_lines(stderr, command)
    assert len(lines) == 1, stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]

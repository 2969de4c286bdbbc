"""Progress bars: drawn only when asked for and on a terminal, with items/s and an ETA."""

from __future__ import annotations

import io

from ehps.utils.progress import NullBar, progress_bar, progress_iter, show_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_off_a_terminal_or_when_quiet(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not show_progress(True)
    assert isinstance(progress_bar(10, "x"), NullBar)
    monkeypatch.setattr("sys.stderr", _Terminal())
    assert show_progress(True) and not show_progress(False)
    assert isinstance(progress_bar(10, "x", enabled=False), NullBar)


def test_a_terminal_gets_rate_and_eta(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    items = list(progress_iter(list(range(5)), "frames", "frame"))
    assert items == [0, 1, 2, 3, 4]
    text = term.getvalue()
    assert "frames" in text and "5/5" in text and "frame/s" in text and "<" in text  # ETA


def test_progress_iter_closes_its_bar_when_the_loop_stops(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    for i in progress_iter([1, 2, 3], "early", "it"):
        if i == 2:
            break
    assert "early" in term.getvalue()

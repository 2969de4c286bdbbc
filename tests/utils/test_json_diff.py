"""``ehps.testing.compare_outputs.json_diff``: the one JSON comparison of the output-folder
checks (scale-out) and the golden-output tests, on hand-made documents whose differences are
known."""

from __future__ import annotations

from ehps.testing.compare_outputs import json_diff


def test_equal_documents_give_no_line():
    doc = {"a": [1, 2.5, {"b": "x", "c": None}], "d": True}
    assert json_diff(doc, {"d": True, "a": [1, 2.5, {"c": None, "b": "x"}]}) == []


def test_floats_within_the_tolerance_only():
    assert json_diff({"x": 1.0}, {"x": 1.0 + 5e-7}, atol=1e-6) == []
    assert json_diff({"x": 100.0}, {"x": 100.009}, rtol=1e-4) == []
    lines = json_diff({"x": 100.0}, {"x": 100.02}, rtol=1e-4)
    assert lines == [".x: 100.0 (a) != 100.02 (b)"]
    # an int against a float is a number pair; a bool is not a number
    assert json_diff([3], [3.0]) == []
    assert json_diff([1.0], [True]) == ["[0]: 1.0 (a) != True (b)"]


def test_every_structural_difference_is_named_with_its_path():
    golden = {"files": ["a.npz", "b.json"], "meta": {"n": 2, "only_old": 1}}
    run = {"files": ["a.npz"], "meta": {"n": 3, "only_new": 1}}
    lines = json_diff(golden, run, names=("golden", "this run"))
    assert lines == [
        ".files: length 2 (golden) != 1 (this run)",
        ".meta.n: 2 (golden) != 3 (this run)",
        ".meta.only_new: only in this run",
        ".meta.only_old: only in golden",
    ]

"""User box files: the accepted JSON layouts and the errors for the rest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ehps.detection.boxes import load_boxes, parse_boxes
from ehps.errors import InputError


def test_layouts(tmp_path):
    expect = np.array([[10, 20, 30, 40], [1, 2, 3, 4]], np.float32)
    np.testing.assert_array_equal(parse_boxes([[10, 20, 30, 40], [1, 2, 3, 4]]), expect)
    xyxy = {"boxes": [[10, 20, 40, 60], [1, 2, 4, 6]], "format": "xyxy"}
    np.testing.assert_array_equal(parse_boxes(xyxy), expect)
    coco = {"annotations": [{"bbox": [10, 20, 30, 40], "category_id": 1},
                            {"bbox": [5, 5, 5, 5], "category_id": 3},
                            {"bbox": [1, 2, 3, 4]}]}
    np.testing.assert_array_equal(parse_boxes(coco), expect)
    path = tmp_path / "b.json"
    path.write_text(json.dumps(xyxy))
    np.testing.assert_array_equal(load_boxes(path), expect)
    assert parse_boxes([]).shape == (0, 4)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"people": []}, "expected a list"),
        ([[1, 2, 3]], "4 finite numbers"),
        ([[1, 2, 0, 4]], "non-positive"),
        ([["a", 2, 3, 4]], "not a list of numbers|4 finite"),
        ({"boxes": [[1, 2, 3, 4]], "format": "cxcywh"}, "format"),
        ([{"score": 1}], "no 'bbox'"),
    ],
)
def test_bad_layouts(data, message):
    with pytest.raises(InputError, match=message):
        parse_boxes(data)


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_boxes(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.json.*not valid JSON"):
        load_boxes(bad)

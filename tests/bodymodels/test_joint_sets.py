"""Joint tables checked against the ``smplx`` reference package and against each other by name
(left/right mirroring, the 137 -> 144 mapping), so that a wrong index shows up as a name clash."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ehps.bodymodels import joint_sets as js

smplx = pytest.importorskip("smplx")


def test_names_parents_and_vertex_ids_match_smplx():
    from smplx.joint_names import JOINT_NAMES
    from smplx.utils import find_joint_kin_chain
    from smplx.vertex_ids import vertex_ids

    assert js.SMPLX_JOINT_NAMES == tuple(JOINT_NAMES[:144])
    assert len(js.SMPLX_JOINT_NAMES) == js.NUM_JOINTS_WITH_CONTOUR
    ref_ids = vertex_ids["smplx"]
    order = ["nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe",
             "RSmallToe", "RHeel"] + [s + f for s in "lr"
                                      for f in ("thumb", "index", "middle", "ring", "pinky")]
    np.testing.assert_array_equal(js.VERTEX_JOINT_IDS, [ref_ids[k] for k in order])
    assert js.NECK_KIN_CHAIN == tuple(find_joint_kin_chain(js.NECK_IDX, js.SMPLX_PARENTS))


def test_parents_follow_the_names():
    names = js.SMPLX_SKELETON_NAMES
    par = {names[j]: names[p] for j, p in enumerate(js.SMPLX_PARENTS) if p >= 0}
    assert par["left_knee"] == "left_hip" and par["right_foot"] == "right_ankle"
    assert par["jaw"] == par["left_eye_smplhf"] == "head"
    for side in ("left", "right"):
        for f in ("index", "middle", "pinky", "ring", "thumb"):
            assert par[f"{side}_{f}1"] == f"{side}_wrist"
            assert par[f"{side}_{f}3"] == f"{side}_{f}2"
    assert all(p < j for j, p in enumerate(js.SMPLX_PARENTS))


def _mirror(name: str) -> str:
    swapped = re.sub(r"(left|right|L_|R_)", lambda m: {"left": "right", "right": "left",
                                                       "L_": "R_", "R_": "L_"}[m.group(0)], name)
    return swapped


def test_flip_pairs_mirror_names():
    for a, b in js.FLIP_PAIRS_55:
        assert _mirror(js.SMPLX_SKELETON_NAMES[a]) == js.SMPLX_SKELETON_NAMES[b]
    named_144 = [js.SMPLX_JOINT_NAMES[i] for i in js.JOINT_137_IDX]
    for a, b in js.JOINT_137_FLIP_PAIRS:
        assert _mirror(named_144[a]) == named_144[b], (a, b)
    # Every 137 joint whose 144 name has a side appears in exactly one flip pair.
    in_pairs = {i for p in js.JOINT_137_FLIP_PAIRS for i in p}
    sided = {i for i, n in enumerate(named_144) if re.search("left|right", n)}
    assert sided == in_pairs
    for a, b in js.ORIG_53_FLIP_PAIRS:
        assert _mirror(js.ORIG_53_NAMES[a]) == js.ORIG_53_NAMES[b]


def _to_smplx_name(name: str) -> str:
    """Translate an official 137-set name into the smplx 144 name it must select."""
    if name.startswith("Face_"):
        k = int(name[5:])
        face = ["jaw", "head", "left_eye", "right_eye", *js.FACE_LANDMARK_NAMES,
                *js.CONTOUR_LANDMARK_NAMES]
        return face[k - 1]
    side = {"L": "left", "R": "right"}
    m = re.fullmatch(r"([LR])_(Thumb|Index|Middle|Ring|Pinky)_([1-4])", name)
    if m:
        s, f, k = side[m.group(1)], m.group(2).lower(), m.group(3)
        return f"{s}_{f}" if k == "4" else f"{s}_{f}{k}"
    m = re.fullmatch(r"([LR])_(\w+)", name)
    if m:
        return f"{side[m.group(1)]}_{m.group(2).lower()}"
    return name.lower()


def test_137_table_selects_the_named_joints():
    assert len(js.JOINT_137_NAMES) == len(js.JOINT_137_IDX) == 137
    for i, name in enumerate(js.JOINT_137_NAMES):
        assert js.SMPLX_JOINT_NAMES[js.JOINT_137_IDX[i]] == _to_smplx_name(name), name
    parts = js.JOINT_137_PARTS
    assert (len(parts["body"]), len(parts["lhand"]), len(parts["rhand"]), len(parts["face"])) == (
        25, 20, 20, 72)
    assert js.JOINT_137_NAMES[js.JOINT_137_LWRIST_IDX] == "L_Wrist"
    assert js.JOINT_137_NAMES[js.JOINT_137_NECK_IDX] == "Neck"
    assert js.JOINT_65_NAMES == js.JOINT_137_NAMES[:65]
    for side in ("L", "R"):
        block = js.JOINT_65_NAMES[25:45] if side == "L" else js.JOINT_65_NAMES[45:65]
        assert [block[i] for i in js.JOINT_65_MCP[f"{side}_MCP"]] == [
            f"{side}_{f}_1" for f in ("Index", "Middle", "Ring", "Pinky")]


def test_orig_53_and_hand_regressor_layout():
    for i, name in enumerate(js.ORIG_53_NAMES):
        assert js.SMPLX_SKELETON_NAMES[js.ORIG_53_IDX[i]] == _to_smplx_name(
            name.replace("Spine_", "Spine"))
    for side, s in (("left", "left"), ("right", "right")):
        rows = [js.SMPLX_SKELETON_NAMES[j] for j in js.HAND_REGRESSOR_JOINTS[side]]
        expected = [f"{s}_wrist"] + [f"{s}_{f}{k}" for f in ("thumb", "index", "middle", "ring",
                                                            "pinky") for k in (1, 2, 3)]
        assert rows == expected
        tips = [js.VERTEX_JOINT_IDS[js.VERTEX_JOINT_NAMES.index(f"{s}_{f}")]
                for f in ("thumb", "index", "middle", "ring", "pinky")]
        assert list(js.HAND_REGRESSOR_TIP_VERTICES[side]) == tips
    assert len(js.HAND_REGRESSOR_NAMES) == 21 and len(js.LSP14_NAMES) == 14


def test_tables_are_read_only():
    with pytest.raises(ValueError):
        js.SMPLX_PARENTS[0] = 3

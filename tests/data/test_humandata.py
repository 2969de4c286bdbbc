"""HumanData reader / writer: round trips in both dict layouts, keypoint compression and priority,
memory mapping, the restricted unpickler and errors that name the key."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ehps.bodymodels.joint_sets import JOINT_137_IDX
from ehps.data.humandata import HumanData
from ehps.data.humandata_conventions import (
    HUMAN_DATA_KEYPOINTS,
    SMPLX_137_MAPPING,
    SMPLX_HAND_MEAN_LEFT,
    SMPLX_HAND_MEAN_RIGHT,
)
from ehps.data.humandata_writer import (
    flatten_humandata,
    keypoints_to_human_data,
    write_humandata,
)
from ehps.errors import InputError

N = 7


def _content(rng: np.random.Generator) -> dict:
    j144 = rng.normal(size=(N, 144, 3)).astype(np.float32)
    k3, m3 = keypoints_to_human_data(np.concatenate([j144, np.ones((N, 144, 1))], -1))
    k2, m2 = keypoints_to_human_data(np.concatenate([j144[..., :2], np.ones((N, 144, 1))], -1))
    m2[60:66] = 0.0  # a dataset without foot keypoints
    return {
        "j144": j144,
        "kw": dict(
            image_path=[f"seq/{i:04d}.jpg" for i in range(N)],
            bbox_xywh=rng.uniform(10, 100, size=(N, 5)).astype(np.float32),
            keypoints3d=k3, keypoints3d_mask=m3, keypoints2d=k2, keypoints2d_mask=m2,
            lhand_bbox_xywh=rng.uniform(0, 50, size=(N, 5)).astype(np.float32),
            smplx={"global_orient": rng.normal(size=(N, 3)),
                   "body_pose": rng.normal(size=(N, 21, 3)),
                   "betas": rng.normal(size=(N, 10)), "betas_neutral": rng.normal(size=(N, 10))},
            meta={"height": np.full(N, 480), "width": np.full(N, 640),
                  "gender": np.array(["male", "female"] * 3 + ["neutral"])},
        ),
    }


@pytest.mark.parametrize("layout", ["flat", "official"])
@pytest.mark.parametrize("compress_keypoints", [False, True])
@pytest.mark.parametrize("deflate", [False, True])
def test_round_trip(tmp_path: Path, layout: str, compress_keypoints: bool, deflate: bool) -> None:
    c = _content(np.random.default_rng(0))
    path = write_humandata(tmp_path / "hd.npz", layout=layout,
                           compress_keypoints=compress_keypoints, compressed=deflate, **c["kw"])
    hd = HumanData(path, cache_dir=tmp_path / "cache")
    assert hd.num_rows == N and len(hd) == N
    assert {"image_path", "bbox_xywh", "smplx", "meta", "keypoints3d"} <= set(hd.keys())
    assert list(hd.array("image_path")) == c["kw"]["image_path"]
    np.testing.assert_array_equal(hd.array("bbox_xywh"), c["kw"]["bbox_xywh"])
    kind, params = hd.body_params()
    assert kind == "smplx"
    for key, value in c["kw"]["smplx"].items():
        np.testing.assert_allclose(params[key], np.asarray(value, np.float32), rtol=0, atol=0)
    assert list(hd.param_dict("meta")["gender"]) == list(c["kw"]["meta"]["gender"])
    np.testing.assert_array_equal(hd.image_hw(), np.tile([480, 640], (N, 1)))
    kp3 = hd.first_keypoints("3d")
    assert kp3.compressed == compress_keypoints
    # the 137 joints read back through the official 190 -> 137 table
    np.testing.assert_array_equal(kp3.take(np.arange(N)), c["j144"][:, SMPLX_137_MAPPING])
    np.testing.assert_array_equal(kp3.take(3), c["j144"][3, SMPLX_137_MAPPING])
    kp2 = hd.first_keypoints("2d")
    got2 = kp2.take(np.arange(N), dims=2)
    expect2 = c["j144"][:, SMPLX_137_MAPPING, :2].copy()
    absent = kp2.mask[SMPLX_137_MAPPING] == 0
    expect2[:, absent] = 0.0 if compress_keypoints else expect2[:, absent]
    np.testing.assert_array_equal(got2, expect2)
    np.testing.assert_array_equal(kp2.mask_of(), (~absent).astype(np.float32))
    if not deflate:  # stored members are memory-mapped straight from the archive
        assert isinstance(hd.array("bbox_xywh"), np.memmap)
        assert isinstance(kp3.data, np.memmap)
    else:  # deflated members are decompressed once into the cache and mapped from there
        assert isinstance(kp3.data, np.memmap)
        assert list((tmp_path / "cache").glob("*.npy"))


def test_decompression_matches_scatter_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    full = rng.normal(size=(N, 190, 4)).astype(np.float32)
    mask = (rng.random(190) > 0.4).astype(np.float32)
    full[:, mask == 0] = 0.0
    write_humandata(tmp_path / "c.npz", image_path=["a"] * N, bbox_xywh=np.ones((N, 4)),
                    keypoints3d=full, keypoints3d_mask=mask, compress_keypoints=True)
    with zipfile.ZipFile(tmp_path / "c.npz") as zf:
        raw = np.load(io.BytesIO(zf.read("keypoints3d.npy")))
    assert raw.shape == (N, int(mask.sum()), 4)
    kp = HumanData(tmp_path / "c.npz").keypoints("keypoints3d")
    index = np.arange(190)
    ref = np.zeros((N, 190, 3), np.float32)  # loop reference: scatter column by column
    col = 0
    for k in range(190):
        if mask[k] == 1:
            ref[:, k] = raw[:, col, :3]
            col += 1
    np.testing.assert_array_equal(kp.take(np.arange(N), index=index, dims=3), ref)


def test_keypoint_priority(tmp_path: Path) -> None:
    k = np.zeros((2, 190, 4), np.float32)
    p = tmp_path / "p.npz"
    np.savez(p, image_path=np.array(["a", "b"]), bbox_xywh=np.ones((2, 5), np.float32),
             keypoints3d_original=k + 1, keypoints3d_cam=k + 2, keypoints3d_smplx=k + 3,
             keypoints2d_original=k[..., :3] + 4, keypoints2d_smplx=k[..., :3] + 5)
    hd = HumanData(p)
    assert hd.first_keypoints("3d").key == "keypoints3d_cam"
    assert hd.first_keypoints("2d").key == "keypoints2d_smplx"
    assert not hd.keypoints_compressed  # flag absent in this file


def test_137_conventions() -> None:
    assert len(HUMAN_DATA_KEYPOINTS) == 190
    # the 190 table agrees with the SMPL-X 144 -> 137 table except the two eyeball points
    diff = np.flatnonzero(SMPLX_137_MAPPING != np.asarray(JOINT_137_IDX))
    assert diff.tolist() == [67, 68]
    assert [HUMAN_DATA_KEYPOINTS[i] for i in SMPLX_137_MAPPING[67:69]] == ["right_eye", "left_eye"]
    np.testing.assert_allclose(SMPLX_HAND_MEAN_LEFT[:, 0], SMPLX_HAND_MEAN_RIGHT[:, 0])
    np.testing.assert_allclose(SMPLX_HAND_MEAN_LEFT[:, 1:], -SMPLX_HAND_MEAN_RIGHT[:, 1:])
    j = np.random.default_rng(2).normal(size=(3, 137, 3)).astype(np.float32)
    kps, mask = keypoints_to_human_data(j, "smplx137")
    assert mask.sum() == 135  # 137 slots, two HUMAN_DATA eye points shared by body and face
    back = kps[:, SMPLX_137_MAPPING]
    np.testing.assert_array_equal(np.delete(back, [67, 68], 1), np.delete(j, [67, 68], 1))
    np.testing.assert_array_equal(back[:, [67, 68]], j[:, [23, 22]])


class _Evil:
    def __reduce__(self) -> tuple:
        return (print, ("owned",))


def test_restricted_unpickler_refuses_code(tmp_path: Path) -> None:
    holder = np.empty((), dtype=object)
    holder[()] = {"global_orient": np.zeros((1, 3)), "payload": _Evil()}
    p = tmp_path / "evil.npz"
    np.savez(p, image_path=np.array(["a"]), bbox_xywh=np.ones((1, 5)), smplx=holder)
    hd = HumanData(p)
    with pytest.raises(InputError, match="builtins.print"):
        hd.param_dict("smplx")
    # and a legitimate pickled dict with nested numpy arrays is accepted
    holder[()] = {"global_orient": np.zeros((1, 3), np.float32), "betas": [[0.5] * 10]}
    np.savez(p, image_path=np.array(["a"]), bbox_xywh=np.ones((1, 5)), smplx=holder)
    params = HumanData(p).param_dict("smplx")
    assert params["global_orient"].shape == (1, 3) and np.shape(params["betas"]) == (1, 10)
    holder[()] = {"global_orient": np.zeros((1, 3)), "note": "x"}  # a non-row field is refused
    np.savez(p, image_path=np.array(["a"]), bbox_xywh=np.ones((1, 5)), smplx=holder)
    with pytest.raises(InputError, match="'smplx.note'"):
        HumanData(p).param_dict("smplx")
    assert pickle.loads(pickle.dumps(1)) == 1  # the unpickler does not alter global pickle state


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"image_path": np.array(["a"])}, "'bbox_xywh' is missing"),
        ({"image_path": np.array(["a"]), "bbox_xywh": np.ones((2, 5))}, "'bbox_xywh' must have"),
        ({"image_path": np.array(["a"]), "bbox_xywh": np.ones((1, 5)),
          "keypoints2d": np.ones((1, 190, 3)), "keypoints2d_mask": np.ones(137)},
         "'keypoints2d_mask' must have shape"),
        ({"image_path": np.array(["a"]), "bbox_xywh": np.ones((1, 5)),
          "smplx.body_pose": np.ones((1, 20, 3))}, "'smplx.body_pose' must hold"),
        ({"image_path": np.array(["a", "b"]), "bbox_xywh": np.ones((2, 5)),
          "smplx.global_orient": np.ones((1, 3))}, "'smplx.global_orient' must have 2 rows"),
    ],
)
def test_malformed_files_name_the_key(tmp_path: Path, members: dict, message: str) -> None:
    p = tmp_path / "bad.npz"
    np.savez(p, **members)
    with pytest.raises(InputError, match=message):
        HumanData(p)


def test_compressed_keypoints_inconsistent_mask(tmp_path: Path) -> None:
    p = tmp_path / "bad.npz"
    mask = np.zeros(190)
    mask[:10] = 1
    np.savez(p, image_path=np.array(["a"]), bbox_xywh=np.ones((1, 5)),
             keypoints3d=np.ones((1, 12, 4)), keypoints3d_mask=mask,
             __keypoints_compressed__=np.array(True))
    with pytest.raises(InputError, match="stores 12 keypoints but 'keypoints3d_mask' marks 10"):
        HumanData(p).keypoints("keypoints3d")
    np.savez(p, image_path=np.array(["a"]), bbox_xywh=np.ones((1, 5)),
             keypoints3d=np.ones((1, 12, 4)), __keypoints_compressed__=np.array(True))
    with pytest.raises(InputError, match="'keypoints3d_mask' is missing"):
        HumanData(p).keypoints("keypoints3d")


def test_not_an_npz_and_writer_validation(tmp_path: Path) -> None:
    p = tmp_path / "x.npz"
    p.write_text("hello")
    with pytest.raises(InputError, match="not a .npz"):
        HumanData(p)
    with pytest.raises(InputError, match="'bbox_xywh' must have 3 rows"):
        write_humandata(tmp_path / "w.npz", image_path=["a", "b", "c"], bbox_xywh=np.ones((2, 4)))
    with pytest.raises(InputError, match=r"must have shape \(N, 190, 4\)"):
        write_humandata(tmp_path / "w.npz", image_path=["a"], bbox_xywh=np.ones((1, 4)),
                        keypoints3d=np.ones((1, 137, 4)))
    assert not (tmp_path / "w.npz").exists()  # nothing half-written


def test_lazy_open_of_a_large_file(tmp_path: Path) -> None:
    """A 300k-row file opens without reading its arrays; one row is served from the mapping."""
    n = 300_000
    p = tmp_path / "big.npz"
    kps = np.lib.format.open_memmap(tmp_path / "k.npy", mode="w+", dtype=np.float32,
                                    shape=(n, 190, 3))
    kps[123456, 0] = (1.0, 2.0, 3.0)
    kps.flush()
    np.savez(p, image_path=np.array([f"{i}" for i in range(n)]), bbox_xywh=np.ones((n, 5)),
             keypoints2d=kps, keypoints2d_mask=np.ones(190))
    hd = HumanData(p)
    kp = hd.first_keypoints("2d")
    assert isinstance(kp.data, np.memmap) and kp.data.shape == (n, 190, 3)
    np.testing.assert_array_equal(kp.take(123456, index=np.array([0]), dims=3), [[1, 2, 3]])


def test_flatten_official_file(tmp_path: Path) -> None:
    c = _content(np.random.default_rng(3))
    src = write_humandata(tmp_path / "off.npz", layout="official", compress_keypoints=True,
                          compressed=True, **c["kw"])
    with zipfile.ZipFile(src) as zf:
        assert "smplx.npy" in zf.namelist()  # a pickled dict, as mmhuman3d writes it
    flat = flatten_humandata(src, tmp_path / "flat.npz")
    a, b = HumanData(src, cache_dir=tmp_path / "c"), HumanData(flat)
    assert a.keys() == b.keys()
    for key in ("smplx", "meta"):
        for field, value in a.param_dict(key).items():
            np.testing.assert_array_equal(b.param_dict(key)[field], value)
    np.testing.assert_array_equal(b.first_keypoints("3d").take(np.arange(N)),
                                  a.first_keypoints("3d").take(np.arange(N)))
    assert isinstance(b.param_dict("smplx")["body_pose"], np.memmap)
    assert b.keypoints_compressed

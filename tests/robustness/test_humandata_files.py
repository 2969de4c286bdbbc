"""Corrupt and hostile HumanData files: each case is an InputError naming the file and the key.

The cases are the classes a fuzz of the reader found escaping as 13 foreign exception types (bad
``.npy`` magic, a member that is not ``.npy``, truncated deflate data, a pickle of the wrong type)
plus the resource bombs (a 1 KB pickle of shared nested lists, a forged 2 TiB shape, an object
array declaring 2**36 items, lists nested 100,000 deep): refused in well under 20 s.
"""

from __future__ import annotations

import pickle
import resource
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ehps.data.humandata import HumanData
from ehps.data.humandata_writer import write_humandata
from ehps.errors import InputError
from ehps.testing.crafted import deep_list_pickle, forged_array_pickle, shared_list_bomb
from ehps.testing.mutations import rezip

N = 3


def _content() -> dict:
    rng = np.random.default_rng(0)
    return {
        "image_path": [f"img_{i}.png" for i in range(N)],
        "bbox_xywh": np.ones((N, 5), np.float32),
        "keypoints3d": rng.normal(size=(N, 190, 4)).astype(np.float32),
        "keypoints3d_mask": np.ones(190, np.float32),
        "smplx": {"global_orient": np.zeros((N, 3), np.float32),
                  "body_pose": np.zeros((N, 21, 3), np.float32)},
        "meta": {"height": np.full(N, 480), "width": np.full(N, 640)},
    }


@pytest.fixture
def official(tmp_path: Path) -> Path:
    return write_humandata(tmp_path / "ok.npz", layout="official", **_content())


def _replace(src: Path, dst: Path, member: str, content: bytes | None,
             compress: int | None = None) -> Path:
    with zipfile.ZipFile(src) as zf:
        members = [(i, zf.read(i)) for i in zf.infolist()]
    out = []
    for info, data in members:
        if info.filename == member:
            if content is None:
                continue
            info = zipfile.ZipInfo(member, date_time=info.date_time)
            info.compress_type = compress if compress is not None else zipfile.ZIP_STORED
            data = content
        out.append((info, data))
    if member not in {i.filename for i, _ in members} and content is not None:
        out.append((zipfile.ZipInfo(member), content))
    dst.write_bytes(rezip(out))
    return dst


def _object_npy(payload: bytes) -> bytes:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (), }"
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + payload


def _touch_everything(path: Path) -> None:
    hd = HumanData(path)
    for key in hd.keys():
        if key in ("smplx", "meta"):
            hd.param_dict(key)
        elif key.startswith("keypoints3d") and not key.endswith("_mask"):
            hd.keypoints(key).take(0)
        else:
            np.asarray(hd.array(key)).reshape(-1)[:1].tolist()


@pytest.mark.parametrize(("member", "content", "needle"), [
    ("bbox_xywh.npy", b"NOTNUMPY" + b"\0" * 120, "'bbox_xywh'"),
    ("keypoints3d.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'", "'keypoints3d'"),
    ("notes.txt", b"just some text", "'notes.txt'"),
])
def test_corrupt_members_name_file_and_key(official, tmp_path, member, content, needle):
    bad = _replace(official, tmp_path / "bad.npz", member, content)
    with pytest.raises(InputError) as info:
        _touch_everything(bad)
    assert str(bad) in str(info.value) and needle in str(info.value), info.value


def test_corrupt_and_truncated_deflated_data(tmp_path):
    src = write_humandata(tmp_path / "c.npz", compressed=True, **_content())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo("keypoints3d.npy")
    data = bytearray(src.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:
                                                    info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    half = start + info.compress_size // 2
    data[half : start + info.compress_size] = bytes(start + info.compress_size - half)
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(bytes(data))
    for cache in (None, tmp_path / "cache"):
        with pytest.raises(InputError, match="keypoints3d") as info_:
            HumanData(bad, cache_dir=cache).keypoints("keypoints3d").take(0)
        assert str(bad) in str(info_.value)
    leftovers = [p for p in (tmp_path / "cache").iterdir() if p.suffix == ".tmp"]
    assert not leftovers  # no half-written cache file stays
    cut = tmp_path / "cut.npz"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])  # the whole file truncated
    with pytest.raises(InputError, match="cut.npz"):
        HumanData(cut)


@pytest.mark.parametrize("payload", ["list", "string", "number"])
def test_pickled_dict_of_the_wrong_type(official, tmp_path, payload):
    value = {"list": [1, 2, 3], "string": "smplx", "number": 3.5}[payload]
    bad = _replace(official, tmp_path / "bad.npz", "smplx.npy",
                   _object_npy(pickle.dumps(value, protocol=2)))
    with pytest.raises(InputError, match="'smplx' must be a dict"):
        HumanData(bad).param_dict("smplx")


@pytest.mark.parametrize("bomb", ["shared_lists_1kb", "deep_lists", "object_array_2e36",
                                  "declared_2tib"])
def test_resource_bombs_are_refused_fast_with_bounded_memory(official, tmp_path, bomb):
    if bomb == "shared_lists_1kb":
        payload = shared_list_bomb(100, wrap_dict="global_orient")
        assert len(payload) <= 1024
    elif bomb == "deep_lists":
        payload = deep_list_pickle(100_000)
    elif bomb == "object_array_2e36":
        payload = forged_array_pickle((2**36,), "O", [{"a": 1}, 2])
    else:
        payload = forged_array_pickle((2**38,), "f8")  # 2 TiB of float64
    bad = _replace(official, tmp_path / "bomb.npz", "smplx.npy", _object_npy(payload))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(InputError) as info:
        HumanData(bad).param_dict("smplx")
    assert time.perf_counter() - t0 < 20.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 200_000  # KiB
    assert str(bad) in str(info.value) and "'smplx'" in str(info.value)


@pytest.mark.parametrize("compress", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_forged_2tib_plain_member(official, tmp_path, compress):
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 190, 963770516), }"
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    forged = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 256
    bad = _replace(official, tmp_path / "big.npz", "keypoints3d.npy", forged, compress)
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"'keypoints3d'.*TiB"):
        _touch_everything(bad)
    assert time.perf_counter() - t0 < 5.0


def test_pickled_members_keep_loading(official, tmp_path):
    """The checks refuse nothing a real file holds: both layouts read back the same values."""
    flat = write_humandata(tmp_path / "flat.npz", **_content())
    a, b = HumanData(official), HumanData(flat)
    for key in ("smplx", "meta"):
        for field, value in a.param_dict(key).items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(b.param_dict(key)[field]))

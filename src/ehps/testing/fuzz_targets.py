"""The file loaders under fuzz, each with its valid seed files and its structural mutations.

A :class:`Target` knows how to write a few valid seed files (small, built here, nothing
downloaded), how to mutate one (byte-level edits plus edits that know the format: zip members,
``.npy`` headers, crafted pickles, forged metadata) and how to load a file the way ``ehps`` does.
A load either succeeds or raises :class:`~ehps.errors.EhpsError` (a clear error); any other
exception, a crash or a hang is a finding.

Targets: ``image`` (:func:`ehps.detection.load_image`), ``video``
(:func:`ehps.inference.sources.iter_video`), ``humandata`` (:class:`ehps.data.HumanData`, every
key touched), ``checkpoint`` (official ``.pth.tar`` and ehps ``.safetensors`` through
:func:`ehps.modeling.load_model`), ``bodymodel`` (SMPL-X ``.npz`` / ``.pkl`` into an
:class:`ehps.bodymodels.smplx.SMPLX` and one forward pass).
"""

from __future__ import annotations

import io
import json
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ehps.testing import crafted
from ehps.testing.mutations import (
    INTERESTING_INTS,
    mutate_bytes,
    mutate_npy_header,
    mutate_zip,
    mutate_zip_in_place,
)

__all__ = ["Target", "TARGETS", "get_target"]

#: Tiny network widths for checkpoint seeds (a few hundred kB per file).
TINY_NET: dict[str, int] = {
    "embed_dim": 32, "depth": 2, "num_heads": 2, "box_dim": 32, "head_dim": 32,
    "decoder_depth": 2, "decoder_heads": 2, "decoder_head_dim": 16, "decoder_dim_out": 32,
}


@dataclass(frozen=True)
class Target:
    """One loader under fuzz.

    Attributes:
        name: the target name.
        make_seeds: ``(folder) -> [valid seed files]``.
        mutate: ``(rng, seed bytes, seed path) -> mutated bytes``.
        load: ``(path) -> None``; raises on a bad file.
    """

    name: str
    make_seeds: Callable[[Path], list[Path]]
    mutate: Callable[[np.random.Generator, bytes, Path], bytes]
    load: Callable[[Path], None]


# ----------------------------------------------------------------------------------- image


def _image_seeds(folder: Path) -> list[Path]:
    import cv2
    from PIL import Image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    out = []
    for ext in (".png", ".jpg", ".bmp", ".tiff", ".webp", ".ppm"):
        p = folder / f"seed{ext}"
        cv2.imwrite(str(p), img)
        out.append(p)
    p16 = folder / "seed16.png"
    cv2.imwrite(str(p16), (img.astype(np.uint16) * 257)[:, :, 0])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate
    pe = folder / "seed_exif.jpg"
    Image.fromarray(img).save(pe, exif=exif)
    return [*out, p16, pe]


def _png_dims(rng: np.random.Generator, data: bytes) -> bytes:
    """PNG / JPEG / BMP size fields set to interesting values."""
    b = bytearray(data)
    value = int(rng.choice(INTERESTING_INTS)) % (1 << 32)
    k = 4 * int(rng.integers(2))  # width or height
    if data.startswith(b"\x89PNG") and len(b) > 24:
        b[16 + k : 20 + k] = struct.pack(">I", value)
    elif data.startswith(b"BM") and len(b) > 26:
        b[18 + k : 22 + k] = struct.pack("<I", value)
    elif data.startswith(b"\xff\xd8"):
        i = data.find(b"\xff\xc0")
        if i > 0 and len(b) > i + 9:
            b[i + 5 : i + 9] = struct.pack(">HH", value & 0xFFFF, (value >> 16) & 0xFFFF)
    return bytes(b)


def _image_mutate(rng: np.random.Generator, data: bytes, seed: Path) -> bytes:
    return _png_dims(rng, data) if rng.random() < 0.2 else mutate_bytes(rng, data)


def _image_load(path: Path) -> None:
    from ehps.detection import load_image

    img = load_image(path)
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8, img.shape


# ----------------------------------------------------------------------------------- video


def _video_seeds(folder: Path) -> list[Path]:
    import av

    ramp = np.linspace(0, 200, 32)[None, :, None]
    frames = [np.broadcast_to(ramp + 3 * i, (24, 32, 3)).astype(np.uint8) for i in range(12)]
    out = []
    for name, codec, fmt in (("seed.mkv", "ffv1", "bgr0"), ("seed.mp4", "mpeg4", "yuv420p"),
                             ("seed.avi", "mpeg4", "yuv420p"), ("seed2.mkv", "mpeg4", "yuv420p")):
        p = folder / name
        with av.open(str(p), "w") as c:
            s = c.add_stream(codec, rate=10)
            s.width, s.height, s.pix_fmt = 32, 24, fmt
            s.codec_context.gop_size = 4
            for img in frames:
                for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
        out.append(p)
    return out


def _video_mutate(rng: np.random.Generator, data: bytes, seed: Path) -> bytes:
    if rng.random() < 0.15:
        return data[: int(rng.integers(1, len(data)))]  # truncated
    return mutate_bytes(rng, data, max_ops=int(rng.integers(1, 12)))


def _video_load(path: Path) -> None:
    from ehps.inference.sources import VideoStats, iter_video, probe_video

    probe_video(path)
    stats = VideoStats(str(path))
    last = -1
    for frame in iter_video(path, stats=stats):
        assert frame.image is not None or frame.error
        if frame.image is not None:
            assert frame.index > last, "frame indices must increase"
            last = frame.index


# ----------------------------------------------------------------------------------- humandata


def _humandata_content(n: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    kp3 = rng.normal(size=(n, 190, 4)).astype(np.float32)
    return {
        "image_path": [f"img_{i}.png" for i in range(n)],
        "bbox_xywh": np.abs(rng.normal(size=(n, 5))).astype(np.float32) + 1,
        "keypoints3d": kp3, "keypoints3d_mask": np.ones(190, np.float32),
        "keypoints2d": kp3[..., :3].copy(), "keypoints2d_mask": np.ones(190, np.float32),
        "smplx": {"global_orient": rng.normal(size=(n, 3)).astype(np.float32),
                  "body_pose": rng.normal(size=(n, 21, 3)).astype(np.float32),
                  "betas": rng.normal(size=(n, 10)).astype(np.float32)},
        "meta": {"height": np.full(n, 480), "width": np.full(n, 640),
                 "gender": ["neutral"] * n},
    }


def _humandata_seeds(folder: Path) -> list[Path]:
    from ehps.data.humandata import write_humandata

    out = []
    for layout in ("flat", "official"):
        for compressed in (False, True):
            p = folder / f"seed_{layout}_{int(compressed)}.npz"
            write_humandata(p, layout=layout, compressed=compressed, **_humandata_content())
            out.append(p)
    return out


def _object_member(payload: bytes) -> bytes:
    """A ``.npy`` holding a 0-d object array whose pickle is ``payload``."""
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (), }"
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + payload


def _crafted_payload(rng: np.random.Generator) -> bytes:
    choice = int(rng.integers(6))
    if choice == 0:
        return crafted.shared_list_bomb(int(rng.integers(20, 80)), wrap_dict="global_orient")
    if choice == 1:
        return crafted.deep_list_pickle(int(rng.integers(200, 200_000)))
    if choice == 2:
        shape = (int(rng.choice(INTERESTING_INTS[8:])) % 2**45,)
        return pickle.dumps({"global_orient": crafted.ForgedArray(shape, "f8", b"\0" * 8)},
                            protocol=2)
    if choice == 3:
        return crafted.forged_array_pickle((2**36,), "O", [{"a": 1}, 2])
    if choice == 4:
        return pickle.dumps({"global_orient": [[1.0, "x"], [2.0]], "betas": {"a": [1, 2]}},
                            protocol=2)
    return mutate_bytes(rng, pickle.dumps({"global_orient": np.zeros((3, 3))}, protocol=2))


def _humandata_mutate(rng: np.random.Generator, data: bytes, seed: Path) -> bytes:
    r = rng.random()
    if r < 0.15 and "official" in seed.name:  # a crafted pickle in a dict member
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
            for info in src.infolist():
                content = src.read(info)
                if info.filename in ("smplx.npy", "meta.npy") and rng.random() < 0.7:
                    content = _object_member(_crafted_payload(rng))
                dst.writestr(info, content)
        return buf.getvalue()
    if r < 0.35:
        return mutate_zip_in_place(rng, data)
    if r < 0.8:
        return mutate_zip(rng, data)
    return mutate_bytes(rng, data)


def _humandata_load(path: Path) -> None:
    import tempfile

    from ehps.data.humandata import HumanData

    with tempfile.TemporaryDirectory() as cache:
        for cache_dir in (None, cache):
            hd = HumanData(path, cache_dir=cache_dir)
            for key in hd.keys():
                if key in ("smplx", "smpl", "smplh", "meta", "misc"):
                    hd.param_dict(key)
                elif key.startswith("keypoints") and not key.endswith("_mask"):
                    kp = hd.keypoints(key)
                    if len(hd):
                        kp.take(0)
                else:
                    np.asarray(hd.array(key)).reshape(-1)[:2].tolist()
            hd.image_hw()
            hd.body_params()


# ----------------------------------------------------------------------------------- checkpoint


def _checkpoint_seeds(folder: Path) -> list[Path]:
    from ehps.modeling import build_model, save_model
    from ehps.modeling.synthetic import write_synthetic_official_checkpoint

    out = [write_synthetic_official_checkpoint(folder / "seed_smplestx.pth.tar", "smplestx_s",
                                               **TINY_NET),
           write_synthetic_official_checkpoint(folder / "seed_smplerx.pth.tar", "smplerx_s32",
                                               with_optimizer=False, **TINY_NET)]
    model = build_model("smplestx_s", **TINY_NET)
    out.append(save_model(model, folder / "seed.safetensors"))
    return out


def _safetensors_mutate(rng: np.random.Generator, data: bytes) -> bytes:
    n = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8 : 8 + n])
    except (ValueError, UnicodeDecodeError):
        return mutate_bytes(rng, data)
    choice = int(rng.integers(5))
    meta = header.get("__metadata__", {})
    if choice == 0 and "config" in meta:  # forged architecture
        cfg = json.loads(meta["config"])
        key = str(rng.choice(sorted(cfg)))
        cfg[key] = [10_000_000, -1, 0, "2", 2.5, None, [1], {"a": 1}, 2**70, True][
            int(rng.integers(10))]
        meta["config"] = json.dumps(cfg)
    elif choice == 1 and "config" in meta:
        meta["config"] = "[" * int(rng.integers(10, 100_000)) if rng.random() < 0.5 else "{}"
    else:
        names = [k for k in header if k != "__metadata__"]
        if not names:
            return mutate_bytes(rng, data)
        entry = header[str(rng.choice(names))]
        field = ["shape", "data_offsets", "dtype"][int(rng.integers(3))]
        if field == "dtype":
            entry["dtype"] = str(rng.choice(["F64", "I64", "BOOL", "C64", "U8", "X9", "F8_E4M3"]))
        elif field == "shape":
            entry["shape"] = [int(rng.choice(INTERESTING_INTS[:14]))] * int(rng.integers(0, 4))
        else:
            entry["data_offsets"] = [int(rng.choice(INTERESTING_INTS[:14])) for _ in range(2)]
    new = json.dumps(header).encode()
    return len(new).to_bytes(8, "little") + new + data[8 + n :]


def _checkpoint_mutate(rng: np.random.Generator, data: bytes, seed: Path) -> bytes:
    if seed.suffix == ".safetensors":
        return _safetensors_mutate(rng, data) if rng.random() < 0.6 else mutate_bytes(rng, data)
    r = rng.random()
    if r < 0.15:  # a crafted data.pkl
        payload = _crafted_payload(rng)
        return mutate_zip(rng, data, member_op=lambda _rng, content: payload
                          if content.startswith(b"\x80") else content)
    if r < 0.5:  # in place: keeps torch's aligned, memory-mappable layout
        return mutate_zip_in_place(rng, data)
    return mutate_zip(rng, data) if r < 0.85 else mutate_bytes(rng, data)


def _checkpoint_load(path: Path) -> None:
    from ehps.modeling import load_model
    from ehps.modeling.weights import _is_safetensors

    if _is_safetensors(path):
        load_model(path)
    else:
        variant = "smplestx_s" if "smplestx" in path.name else "smplerx_s32"
        load_model(path, variant=variant, **TINY_NET)


# ----------------------------------------------------------------------------------- body model


def _bodymodel_seeds(folder: Path) -> list[Path]:
    from ehps.bodymodels.synthetic import write_synthetic_smplx

    d = write_synthetic_smplx(folder / "smplx", genders=("neutral",))
    return [d / "SMPLX_NEUTRAL.npz", d / "SMPLX_NEUTRAL.pkl"]


def _bodymodel_crafted(rng: np.random.Generator, data: bytes) -> bytes:
    raw = pickle.loads(data)  # our own seed file: trusted
    key = str(rng.choice(["J_regressor", "f", "kintree_table", "lmk_faces_idx", "posedirs",
                          "shapedirs", "v_template", "dynamic_lmk_faces_idx", "weights"]))
    choice = int(rng.integers(7))
    if key == "J_regressor" or choice == 0:
        n_v = raw["v_template"].shape[0]
        dense = np.asarray(raw["J_regressor"].toarray() if hasattr(raw["J_regressor"], "toarray")
                           else raw["J_regressor"])
        rows, cols = np.nonzero(dense.T)  # CSC of (55, V): columns are vertices
        indptr = np.searchsorted(rows, np.arange(n_v + 1)).astype(np.int32)
        indices, values = cols.astype(np.int32), dense.T[rows, cols]
        pick = int(rng.integers(5))
        if pick == 0:
            indices[int(rng.integers(len(indices)))] = int(rng.choice([55, 10**7, -1, 2**31 - 1]))
        elif pick == 1:
            indptr[int(rng.integers(1, len(indptr)))] = int(rng.choice([10**9, -5, 0]))
        elif pick == 2:
            indptr = indptr[:-5]
        elif pick == 3:
            values = values[:-3]
        shape = (55, n_v) if pick != 4 else (int(rng.choice([2**31, 2**40, 0])), n_v)
        raw["J_regressor"] = crafted.forged_sparse("csc", shape, data=values, indices=indices,
                                                   indptr=indptr)
    elif choice == 1:
        arr = np.asarray(raw[key])
        raw[key] = arr.astype(np.int64) * 0 + int(rng.choice([-1, 10**6, 2**40, 54]))
    elif choice == 2:
        raw[key] = np.asarray(raw[key]).reshape(-1)[: int(rng.integers(0, 10))]
    elif choice == 3:
        raw[key] = np.array(["x"] * 3) if rng.random() < 0.5 else np.array([{"a": 1}], object)
    elif choice == 4:
        return pickle.dumps({**raw, key: crafted.ForgedArray((2**38, 3), "f8", b"\0" * 8)},
                            protocol=2)
    elif choice == 5:
        kin = np.asarray(raw["kintree_table"]).copy()
        kin[0, int(rng.integers(1, 55))] = int(rng.integers(1, 60))
        raw["kintree_table"] = kin
    else:
        raw[key] = np.asarray(raw[key]).astype(np.complex64)
    return pickle.dumps(raw, protocol=2)


def _bodymodel_mutate(rng: np.random.Generator, data: bytes, seed: Path) -> bytes:
    if seed.suffix == ".pkl":
        if rng.random() < 0.5:
            return _bodymodel_crafted(rng, data)
        return mutate_bytes(rng, data, max_ops=8)
    if rng.random() < 0.3:
        return mutate_zip(rng, data, member_op=mutate_npy_header)
    return mutate_zip(rng, data) if rng.random() < 0.7 else mutate_bytes(rng, data)


def _bodymodel_load(path: Path) -> None:
    import torch

    from ehps.bodymodels.io import load_smplx_data
    from ehps.bodymodels.smplx import SMPLX

    model = SMPLX(load_smplx_data(path))
    model(betas=torch.zeros(1, 10), body_pose=torch.full((1, 21, 3), 0.1))


def _selftest_load(path: Path) -> None:
    """Does what the file says (``segv``, ``hang``, ``raise``, ``clear``): checks the harness."""
    import os
    import signal
    import time

    from ehps.errors import InputError

    word = path.read_bytes().strip()
    if word == b"segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif word == b"hang":
        time.sleep(3600)
    elif word == b"raise":
        raise ValueError("a foreign exception")
    elif word == b"clear":
        raise InputError(f"{path}: a clear error")


def _selftest_seeds(folder: Path) -> list[Path]:
    p = folder / "ok.txt"
    p.write_bytes(b"ok")
    return [p]


TARGETS: dict[str, Target] = {
    "image": Target("image", _image_seeds, _image_mutate, _image_load),
    "video": Target("video", _video_seeds, _video_mutate, _video_load),
    "humandata": Target("humandata", _humandata_seeds, _humandata_mutate, _humandata_load),
    "checkpoint": Target("checkpoint", _checkpoint_seeds, _checkpoint_mutate, _checkpoint_load),
    "bodymodel": Target("bodymodel", _bodymodel_seeds, _bodymodel_mutate, _bodymodel_load),
}
#: Checks the harness itself (not fuzzed; see :func:`_selftest_load`).
SELFTEST = Target("selftest", _selftest_seeds, lambda rng, data, seed: data, _selftest_load)


def get_target(name: str) -> Target:
    """The target called ``name`` (see :data:`TARGETS`)."""
    if name == SELFTEST.name:
        return SELFTEST
    if name not in TARGETS:
        raise KeyError(f"unknown fuzz target {name!r}; choose from {sorted(TARGETS)}")
    return TARGETS[name]

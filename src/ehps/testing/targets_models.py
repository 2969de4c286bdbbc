"""Fuzz targets for data and model files: HumanData (:class:`ehps.data.HumanData`, every key
touched), checkpoints (official ``.pth.tar`` and ehps ``.safetensors`` through
:func:`ehps.modeling.load_model`) and SMPL-X body models (``.npz`` / ``.pkl`` into an
:class:`ehps.bodymodels.smplx.SMPLX` and one forward pass).

Each target is three functions (``*_seeds``, ``*_mutate``, ``*_load``, as in
:mod:`ehps.testing.targets_media`); the mutations add crafted pickles, forged ``.npy`` headers
and forged weight-file metadata to the byte-level edits.
"""

from __future__ import annotations

import io
import json
import pickle
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

__all__ = ["TINY_NET", "humandata_seeds", "humandata_mutate", "humandata_load",
           "checkpoint_seeds", "checkpoint_mutate", "checkpoint_load", "bodymodel_seeds",
           "bodymodel_mutate", "bodymodel_load"]

#: Tiny network widths for checkpoint seeds (a few hundred kB per file).
TINY_NET: dict[str, int] = {
    "embed_dim": 32, "depth": 2, "num_heads": 2, "box_dim": 32, "head_dim": 32,
    "decoder_depth": 2, "decoder_heads": 2, "decoder_head_dim": 16, "decoder_dim_out": 32,
}




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


def humandata_seeds(folder: Path) -> list[Path]:
    from ehps.data.humandata_writer import write_humandata

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


def humandata_mutate(rng: np.random.Generator, data: bytes, seed: Path) -> bytes:
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


def humandata_load(path: Path) -> None:
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


def checkpoint_seeds(folder: Path) -> list[Path]:
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


def checkpoint_mutate(rng: np.random.Generator, data: bytes, seed: Path) -> bytes:
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


def checkpoint_load(path: Path) -> None:
    from ehps.modeling import load_model
    from ehps.modeling.weights import _is_safetensors

    if _is_safetensors(path):
        load_model(path)
    else:
        variant = "smplestx_s" if "smplestx" in path.name else "smplerx_s32"
        load_model(path, variant=variant, **TINY_NET)


# ----------------------------------------------------------------------------------- body model


def bodymodel_seeds(folder: Path) -> list[Path]:
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


def bodymodel_mutate(rng: np.random.Generator, data: bytes, seed: Path) -> bytes:
    if seed.suffix == ".pkl":
        if rng.random() < 0.5:
            return _bodymodel_crafted(rng, data)
        return mutate_bytes(rng, data, max_ops=8)
    if rng.random() < 0.3:
        return mutate_zip(rng, data, member_op=mutate_npy_header)
    return mutate_zip(rng, data) if rng.random() < 0.7 else mutate_bytes(rng, data)


def bodymodel_load(path: Path) -> None:
    import torch

    from ehps.bodymodels.io import load_smplx_data
    from ehps.bodymodels.smplx import SMPLX

    model = SMPLX(load_smplx_data(path))
    model(betas=torch.zeros(1, 10), body_pose=torch.full((1, 21, 3), 0.1))

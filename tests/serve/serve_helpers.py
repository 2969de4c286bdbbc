"""Helpers of the ``ehps serve`` tests: small media files and job polling."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

_REPO = Path(__file__).resolve().parents[2]
#: The shared real video (``../shared/data/vtest.avi`` beside the repository; a worktree in
#: ``<root>/wt/<name>`` finds ``<root>/shared`` too).
VTEST = next((p for p in (_REPO.parent / "shared" / "data" / "vtest.avi",
                          _REPO.parent.parent / "shared" / "data" / "vtest.avi") if p.is_file()),
             _REPO.parent / "shared" / "data" / "vtest.avi")


def png_bytes(width: int, height: int, value: int = 128) -> bytes:
    """A flat grey PNG (compresses to a few kB whatever its size)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """Encode (H, W, 3) uint8 RGB frames as an H.264 (or MPEG-4) MP4 with PyAV."""
    import av

    with av.open(str(path), "w") as out:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = out.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def cut_vtest(path: Path, start: int, count: int) -> Path:
    """``count`` frames of the shared real video ``vtest.avi`` from ``start``, as an MP4."""
    import av

    if not VTEST.is_file():
        pytest.skip(f"{VTEST} (shared test data) is not here")
    frames = []
    with av.open(str(VTEST)) as src:
        for i, frame in enumerate(src.decode(video=0)):
            if i >= start + count:
                break
            if i >= start:
                frames.append(frame.to_ndarray(format="rgb24"))
    return write_clip(path, frames, fps=10)


def wait_job(client: Any, job_id: str, timeout_s: float = 600.0,
             until: tuple[str, ...] = ("done", "error", "cancelled")) -> dict[str, Any]:
    """Poll ``GET /api/jobs/{id}`` until its status is in ``until``."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get(f"/api/jobs/{job_id}").json()
        if body.get("status") in until:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {body.get('status')} after {timeout_s} s")
        time.sleep(0.2)


def write_animated_glb(path: Path, duration_s: float, shift_x_m: float) -> Path:
    """A small animated glTF scene as an animation exporter writes one: a skinned box
    ("person_0", one joint "root" whose translation moves by ``shift_x_m`` along x over
    ``duration_s``) standing 3 m in front of the world origin, and a static "floor" quad at y = 0.
    """
    import pygltflib as g

    box = np.array([[x, y, z] for x in (-0.25, 0.25) for y in (0.0, 1.7) for z in (-0.15, 0.15)],
                   np.float32)
    tris = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                     [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.uint16)
    joints = np.zeros((8, 4), np.uint8)
    weights = np.tile(np.array([1, 0, 0, 0], np.float32), (8, 1))
    ibm = np.eye(4, dtype=np.float32)[None]
    floor = np.array([[-3, 0, -6], [3, 0, -6], [3, 0, 0], [-3, 0, 0]], np.float32)
    floor_tris = np.array([[0, 2, 1], [0, 3, 2]], np.uint16)
    times = np.linspace(0.0, duration_s, 5, dtype=np.float32)
    moves = np.stack([np.linspace(0.0, shift_x_m, 5), np.zeros(5), np.full(5, -3.0)], 1)
    parts = [(box, g.ARRAY_BUFFER, g.FLOAT, g.VEC3), (tris.ravel(), g.ELEMENT_ARRAY_BUFFER,
             g.UNSIGNED_SHORT, g.SCALAR), (joints, g.ARRAY_BUFFER, g.UNSIGNED_BYTE, g.VEC4),
             (weights, g.ARRAY_BUFFER, g.FLOAT, g.VEC4), (ibm, None, g.FLOAT, g.MAT4),
             (times, None, g.FLOAT, g.SCALAR), (moves.astype(np.float32), None, g.FLOAT, g.VEC3),
             (floor, g.ARRAY_BUFFER, g.FLOAT, g.VEC3),
             (floor_tris.ravel(), g.ELEMENT_ARRAY_BUFFER, g.UNSIGNED_SHORT, g.SCALAR)]
    blob, views, accessors = b"", [], []
    for arr, target, ctype, kind in parts:
        data = np.ascontiguousarray(arr).tobytes()
        views.append(g.BufferView(buffer=0, byteOffset=len(blob), byteLength=len(data),
                                  target=target))
        count = len(arr) if arr.ndim > 1 or kind == g.SCALAR else 1
        extra = {}
        if kind in (g.VEC3, g.SCALAR) and ctype == g.FLOAT:
            flat = arr.reshape(count, -1)
            extra = {"min": flat.min(0).tolist(), "max": flat.max(0).tolist()}
        accessors.append(g.Accessor(bufferView=len(views) - 1, componentType=ctype,
                                    count=count, type=kind, **extra))
        blob += data + b"\0" * (-len(data) % 4)
    gl = g.GLTF2(
        scene=0, scenes=[g.Scene(nodes=[0, 1, 2])],
        nodes=[g.Node(name="root", translation=[0.0, 0.0, -3.0]),
               g.Node(name="person_0", mesh=0, skin=0), g.Node(name="floor", mesh=1)],
        meshes=[g.Mesh(primitives=[g.Primitive(attributes=g.Attributes(
                    POSITION=0, JOINTS_0=2, WEIGHTS_0=3), indices=1)]),
                g.Mesh(primitives=[g.Primitive(attributes=g.Attributes(POSITION=7),
                                               indices=8)])],
        skins=[g.Skin(joints=[0], inverseBindMatrices=4)],
        animations=[g.Animation(
            samplers=[g.AnimationSampler(input=5, output=6)],
            channels=[g.AnimationChannel(
                sampler=0, target=g.AnimationChannelTarget(node=0, path="translation"))])],
        buffers=[g.Buffer(byteLength=len(blob))], bufferViews=views, accessors=accessors)
    gl.set_binary_blob(blob)
    gl.save_binary(str(path))
    return path

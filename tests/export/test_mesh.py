"""Mesh writers: trimesh reads back exactly what was written (vertex order kept), and independent
parsers agree (a tiny OBJ reader, a numpy PLY reader, pygltflib for GLB)."""

from __future__ import annotations

import numpy as np
import pygltflib
import pytest
import torch
import trimesh

from ehps.errors import InputError
from ehps.export.mesh import save_glb, save_mesh, save_obj, save_ply, save_scene_glb


@pytest.fixture()
def mesh():
    rng = np.random.default_rng(0)
    sphere = trimesh.creation.icosphere(subdivisions=2)
    perm = rng.permutation(len(sphere.vertices))  # an order trimesh processing would not keep
    inv = np.argsort(perm)
    verts = (np.asarray(sphere.vertices)[perm] * [0.3, 0.9, 0.2] + [0.1, -0.2, 3.0]).astype(
        np.float32
    )
    faces = inv[np.asarray(sphere.faces)]
    colors = rng.uniform(size=(len(verts), 3)).astype(np.float32)
    return verts, faces, colors


def _read_obj(path):
    verts, cols, faces = [], [], []
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
            cols.append([float(x) for x in parts[4:7]])
        elif parts[0] == "f":
            faces.append([int(p.split("/")[0]) - 1 for p in parts[1:]])
    return np.array(verts), np.array(cols), np.array(faces)


def _read_ply(path):
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    assert header[1] == "format binary_little_endian 1.0"
    nv = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    nf = int(next(h for h in header if h.startswith("element face")).split()[-1])
    props = [h.split()[-1] for h in header if h.startswith("property") and "list" not in h]
    vdt = np.dtype([(p, "<f4" if p in "xyz" else "u1") for p in props])
    v = np.frombuffer(data, vdt, count=nv, offset=end)
    f = np.frombuffer(data, np.dtype([("n", "u1"), ("i", "<i4", (3,))]), count=nf,
                      offset=end + nv * vdt.itemsize)
    assert (f["n"] == 3).all()
    assert end + nv * vdt.itemsize + nf * 13 == len(data)
    return v, f["i"]


def test_obj_roundtrip(tmp_path, mesh):
    verts, faces, colors = mesh
    path = save_obj(tmp_path / "m.obj", torch.from_numpy(verts), faces, colors)
    v, c, f = _read_obj(path)
    np.testing.assert_allclose(v, verts, atol=1e-6)
    np.testing.assert_allclose(c, colors, atol=1.0 / 255 + 1e-4)
    np.testing.assert_array_equal(f, faces)
    loaded = trimesh.load(path, process=False, force="mesh")
    np.testing.assert_allclose(loaded.vertices, verts, atol=1e-6)
    np.testing.assert_array_equal(loaded.faces, faces)
    # no colours: plain 'v x y z' lines
    save_obj(tmp_path / "plain.obj", verts, faces)
    first_v = next(ln for ln in (tmp_path / "plain.obj").read_text().splitlines() if ln[:2] == "v ")
    assert len(first_v.split()) == 4


def test_ply_roundtrip(tmp_path, mesh):
    verts, faces, colors = mesh
    path = save_ply(tmp_path / "m.ply", verts, faces, colors)
    v, f = _read_ply(path)
    np.testing.assert_array_equal(np.stack([v["x"], v["y"], v["z"]], 1), verts)
    np.testing.assert_array_equal(f, faces)
    np.testing.assert_array_equal(
        np.stack([v["red"], v["green"], v["blue"]], 1), np.rint(colors * 255).astype(np.uint8)
    )
    loaded = trimesh.load(path, process=False, force="mesh")
    np.testing.assert_array_equal(np.asarray(loaded.vertices, np.float32), verts)
    np.testing.assert_array_equal(loaded.faces, faces)
    np.testing.assert_array_equal(loaded.visual.vertex_colors[:, :3], np.rint(colors * 255))
    v2, _ = _read_ply(save_ply(tmp_path / "plain.ply", verts, faces))
    assert v2.dtype.names == ("x", "y", "z")


def test_glb_roundtrip(tmp_path, mesh):
    verts, faces, colors = mesh
    path = save_glb(tmp_path / "m.glb", verts, faces, colors, name="person_7")
    gltf = pygltflib.GLTF2().load(str(path))
    assert [n.name for n in gltf.nodes] == ["person_7"]
    prim = gltf.meshes[gltf.nodes[0].mesh].primitives[0]
    blob = gltf.binary_blob()

    def accessor(i, dtype, width):
        acc = gltf.accessors[i]
        view = gltf.bufferViews[acc.bufferView]
        start = (view.byteOffset or 0) + (acc.byteOffset or 0)
        count = acc.count * width
        return np.frombuffer(blob, dtype, count=count, offset=start).reshape(acc.count, width)

    np.testing.assert_array_equal(accessor(prim.attributes.POSITION, "<f4", 3), verts)
    idx = gltf.accessors[prim.indices]
    idx_dtype = {5125: "<u4", 5123: "<u2"}[idx.componentType]
    np.testing.assert_array_equal(accessor(prim.indices, idx_dtype, 1).reshape(-1, 3), faces)
    col = accessor(prim.attributes.COLOR_0, "u1", 4)
    np.testing.assert_array_equal(col[:, :3], np.rint(colors * 255))
    loaded = trimesh.load(path, process=False, force="mesh")
    np.testing.assert_array_equal(np.asarray(loaded.vertices, np.float32), verts)
    np.testing.assert_array_equal(loaded.faces, faces)


def test_scene_glb_and_flip(tmp_path, mesh):
    verts, faces, _ = mesh
    path = save_scene_glb(tmp_path / "s.glb", [(verts, faces), (verts + 1.0, faces)], flip_yz=True)
    gltf = pygltflib.GLTF2().load(str(path))
    assert sorted(n.name for n in gltf.nodes if n.mesh is not None) == ["person_0", "person_1"]
    scene = trimesh.load(path, process=False)
    geoms = {name: g for name, g in scene.geometry.items()}
    np.testing.assert_allclose(geoms["person_1"].vertices, (verts + 1.0) * [1, -1, -1], atol=1e-6)
    # flipping y and z is a rotation: winding (outward normals) is preserved
    flipped = trimesh.Trimesh(verts * [1, -1, -1], faces, process=False)
    assert flipped.volume > 0
    with pytest.raises(InputError, match="unique"):
        save_scene_glb(tmp_path / "x.glb", [(verts, faces)] * 2, names=["a", "a"])


def test_save_mesh_dispatch_and_errors(tmp_path, mesh):
    verts, faces, _ = mesh
    for suffix in ("obj", "ply", "glb"):
        p = save_mesh(tmp_path / f"m.{suffix.upper()}", verts, faces)
        loaded = trimesh.load(p, process=False, force="mesh")
        np.testing.assert_array_equal(loaded.faces, faces)
    p = save_mesh(tmp_path / "noext", verts, faces, file_format="ply")
    assert p.read_bytes().startswith(b"ply\n")
    with pytest.raises(InputError, match="unknown mesh format"):
        save_mesh(tmp_path / "m.stl", verts, faces)
    with pytest.raises(InputError, match="face indices"):
        save_obj(tmp_path / "bad.obj", verts, faces + len(verts))
    with pytest.raises(InputError, match="NaN"):
        save_ply(tmp_path / "bad.ply", np.full_like(verts, np.nan), faces)
    with pytest.raises(InputError, match="vertex_colors"):
        save_obj(tmp_path / "bad.obj", verts, faces, np.zeros((3, 3)))
    assert not (tmp_path / "bad.obj").exists() and not (tmp_path / "bad.ply").exists()
    # an existing file is replaced whole (atomic write leaves no temporary behind)
    save_obj(tmp_path / "m.obj", verts[:3], np.array([[0, 1, 2]]))
    assert _read_obj(tmp_path / "m.obj")[0].shape == (3, 3)
    assert not [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]

"""Independent readers of the animation files ehps writes, for the exactness tests.

Nothing here imports ehps: the GLB is read with pygltflib and decoded by hand (accessors, sparse
accessors, animation samplers), the BVH by a small parser, and both are evaluated with forward
kinematics written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32,
           5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


# ------------------------------------------------------------------------------------- GLB


def read_accessor(gltf, blob: bytes, index: int) -> np.ndarray:
    """Decode accessor ``index`` into a (count, width) array (sparse accessors included)."""
    acc = gltf.accessors[index]
    width = _WIDTH[acc.type]
    dtype = np.dtype(_DTYPES[acc.componentType])
    if acc.bufferView is None:
        out = np.zeros((acc.count, width), dtype)
    else:
        view = gltf.bufferViews[acc.bufferView]
        start = (view.byteOffset or 0) + (acc.byteOffset or 0)
        stride = view.byteStride or dtype.itemsize * width
        assert stride == dtype.itemsize * width, "interleaved views are not used by ehps"
        out = np.frombuffer(blob, dtype, acc.count * width, start).reshape(acc.count, width).copy()
    if acc.sparse is not None:
        sp = acc.sparse
        iv = gltf.bufferViews[sp.indices.bufferView]
        idx = np.frombuffer(blob, _DTYPES[sp.indices.componentType], sp.count,
                            (iv.byteOffset or 0) + (sp.indices.byteOffset or 0))
        vv = gltf.bufferViews[sp.values.bufferView]
        vals = np.frombuffer(blob, dtype, sp.count * width,
                             (vv.byteOffset or 0) + (sp.values.byteOffset or 0))
        out[idx.astype(np.int64)] = vals.reshape(sp.count, width)
    return out


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (x, y, z, w) -> (..., 3, 3), normalising first."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


@dataclass
class GlbScene:
    """Nodes, their default TRS, the animation channels and the skins of a GLB."""

    names: list[str]
    parent: np.ndarray
    trs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    channels: dict[tuple[int, str], tuple[np.ndarray, np.ndarray, str]] = field(
        default_factory=dict)
    gltf: object = None
    blob: bytes = b""

    def node(self, name: str) -> int:
        return self.names.index(name)

    def sample(self, node: int, path: str, t, default: np.ndarray | None) -> np.ndarray:
        """Channel value(s) at time(s) ``t`` (glTF LINEAR / STEP rules, slerp for rotations);
        ``default`` where the node has no such channel."""
        ts = np.atleast_1d(np.asarray(t, np.float64))
        if (node, path) not in self.channels:
            out = np.broadcast_to(default, (len(ts), len(default)))
            return out if np.ndim(t) else out[0]
        times, values, interp = self.channels[(node, path)]
        values = values.reshape(len(times), -1)
        i = np.clip(np.searchsorted(times, ts, side="right") - 1, 0, len(times) - 1)
        j = np.minimum(i + 1, len(times) - 1)
        span = np.where(j > i, times[j] - times[i], 1.0)
        u = np.clip((ts - times[i]) / span, 0.0, 1.0)[:, None]
        a, b = values[i], values[j]
        if interp == "STEP":
            out = a
        elif path != "rotation":
            out = a + u * (b - a)
        else:
            dot = (a * b).sum(-1, keepdims=True)
            b = np.where(dot < 0, -b, b)
            dot = np.abs(dot)
            th = np.arccos(np.clip(dot, -1.0, 1.0))
            small = th < 1e-6
            sin = np.where(small, 1.0, np.sin(th))
            wa = np.where(small, 1 - u, np.sin((1 - u) * th) / sin)
            wb = np.where(small, u, np.sin(u * th) / sin)
            out = wa * a + wb * b
            out /= np.linalg.norm(out, axis=-1, keepdims=True)
        return out if np.ndim(t) else out[0]

    def world_all(self, times: np.ndarray) -> np.ndarray:
        """(T, N, 4, 4) world matrices of every node at each time (parents before children
        are found by recursion over the node tree)."""
        n = len(self.names)
        local = np.zeros((len(times), n, 4, 4))
        for i in range(n):
            tr, rot, sc = self.trs[i]
            t_ = self.sample(i, "translation", times, tr)
            r_ = self.sample(i, "rotation", times, rot)
            s_ = self.sample(i, "scale", times, sc)
            local[:, i, :3, :3] = quat_to_matrix(r_) * s_[:, None, :]
            local[:, i, :3, 3] = t_
            local[:, i, 3, 3] = 1.0
        world = np.zeros_like(local)
        done = np.zeros(n, bool)

        def solve(i: int) -> None:
            if done[i]:
                return
            p = self.parent[i]
            if p < 0:
                world[:, i] = local[:, i]
            else:
                solve(p)
                world[:, i] = world[:, p] @ local[:, i]
            done[i] = True

        for i in range(n):
            solve(i)
        return world

    def world(self, t: float) -> np.ndarray:
        """(N, 4, 4) world matrices of every node at time ``t``."""
        return self.world_all(np.array([t]))[0]


def read_glb(path) -> GlbScene:
    import pygltflib

    gltf = pygltflib.GLTF2.load_binary(str(path))
    blob = gltf.binary_blob()
    n = len(gltf.nodes)
    parent = -np.ones(n, np.int64)
    for i, node in enumerate(gltf.nodes):
        for c in node.children or []:
            parent[c] = i
    trs = []
    for node in gltf.nodes:
        assert node.matrix is None
        trs.append((np.asarray(node.translation or [0, 0, 0], np.float64),
                    np.asarray(node.rotation or [0, 0, 0, 1], np.float64),
                    np.asarray(node.scale or [1, 1, 1], np.float64)))
    scene = GlbScene([nd.name for nd in gltf.nodes], parent, trs, gltf=gltf, blob=blob)
    for anim in gltf.animations:
        for ch in anim.channels:
            s = anim.samplers[ch.sampler]
            times = read_accessor(gltf, blob, s.input)[:, 0].astype(np.float64)
            vals = read_accessor(gltf, blob, s.output).astype(np.float64)
            scene.channels[(ch.target.node, ch.target.path)] = (times, vals, s.interpolation)
    return scene


# ------------------------------------------------------------------------------------- BVH


@dataclass
class BvhJoint:
    name: str
    parent: int
    offset: np.ndarray
    channels: list[str]


@dataclass
class Bvh:
    joints: list[BvhJoint]
    frame_time: float
    motion: np.ndarray  # (frames, channels)
    header_comments: list[str]

    def names(self) -> list[str]:
        return [j.name for j in self.joints]

    def world_all(self) -> tuple[np.ndarray, np.ndarray]:
        """(frames, J, 3) positions and (frames, J, 3, 3) rotations at every frame."""
        m = self.motion
        n_f = len(m)
        pos = np.zeros((n_f, len(self.joints), 3))
        rot = np.zeros((n_f, len(self.joints), 3, 3))
        col = 0
        for i, j in enumerate(self.joints):
            local_t = np.broadcast_to(j.offset, (n_f, 3)).copy()
            local_r = np.broadcast_to(np.eye(3), (n_f, 3, 3)).copy()
            given = {c: m[:, col + k] for k, c in enumerate(j.channels)}
            col += len(j.channels)
            if "Xposition" in given:
                local_t = np.stack([given["Xposition"], given["Yposition"], given["Zposition"]],
                                   1)
            for c in j.channels:
                if c.endswith("rotation"):
                    local_r = local_r @ _axis_rot(c[0], np.radians(given[c]))
            if j.parent < 0:
                pos[:, i], rot[:, i] = local_t, local_r
            else:
                pos[:, i] = pos[:, j.parent] + (rot[:, j.parent] @ local_t[..., None])[..., 0]
                rot[:, i] = rot[:, j.parent] @ local_r
        return pos, rot


def _axis_rot(axis: str, a: np.ndarray) -> np.ndarray:
    """(N,) angles (radians) -> (N, 3, 3) rotations about one axis."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    rows = {"X": [[o, z, z], [z, c, -s], [z, s, c]], "Y": [[c, z, s], [z, o, z], [-s, z, c]],
            "Z": [[c, -s, z], [s, c, z], [z, z, o]]}[axis]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def parse_bvh(path) -> Bvh:
    text = open(path, encoding="utf-8").read().splitlines()
    assert text[0].strip() == "HIERARCHY", "BVH files start with HIERARCHY (Blender needs it)"
    comments = [line for line in text if line.startswith("#")]
    body = [line for line in text[1:] if not line.startswith("#")]
    tokens = " ".join(body).replace("{", " { ").replace("}", " } ").split()
    joints: list[BvhJoint] = []
    stack: list[int] = []
    k = 0
    in_end = False
    while tokens[k] != "MOTION":
        tok = tokens[k]
        if tok in ("ROOT", "JOINT"):
            joints.append(BvhJoint(tokens[k + 1], stack[-1] if stack else -1, np.zeros(3), []))
            k += 2
        elif tok == "End":
            in_end = True
            k += 2
        elif tok == "{":
            stack.append(-2 if in_end else len(joints) - 1)
            k += 1
        elif tok == "}":
            if stack.pop() == -2:
                in_end = False
            k += 1
        elif tok == "OFFSET":
            if not in_end:
                joints[-1].offset = np.array([float(x) for x in tokens[k + 1:k + 4]])
            k += 4
        elif tok == "CHANNELS":
            n = int(tokens[k + 1])
            joints[-1].channels = tokens[k + 2:k + 2 + n]
            k += 2 + n
        else:
            raise ValueError(f"unexpected BVH token {tok!r}")
    assert tokens[k + 1] == "Frames:"
    frames = int(tokens[k + 2])
    assert tokens[k + 3:k + 5] == ["Frame", "Time:"]
    frame_time = float(tokens[k + 5])
    values = np.array([float(x) for x in tokens[k + 6:]])
    motion = values.reshape(frames, -1)
    assert motion.shape[1] == sum(len(j.channels) for j in joints)
    return Bvh(joints, frame_time, motion, comments)

"""A synthetic SMPL-X-format model, so that every SMPL-X code path runs without licensed files.

:func:`write_synthetic_smplx` writes a directory laid out like the official
``human_model_files/smplx/``: ``SMPLX_{NEUTRAL,MALE,FEMALE}.npz``, a plain-pickle
``SMPLX_NEUTRAL.pkl`` (same content, ``J_regressor`` as ``scipy.sparse.csc_matrix`` like the
official pickle, but no chumpy), ``MANO_SMPLX_vertex_ids.pkl``, ``SMPL-X__FLAME_vertex_ids.npy``
and ``SMPLX_to_J14.pkl``. The files load in ehps and in the ``smplx`` package alike.

The content is made up but shaped like the real thing:

- the real 55-joint SMPL-X kinematic tree, with rest joints at plausible SMPL-X locations
  (metres, y up, the person faces +z, x = the person's left, T-pose, about 1.70 m tall);
- 10475 vertices on closed capsule surfaces around the bones (torso, limbs, palms, 15 phalanges
  per hand, feet, toes, an ellipsoid head with nose / ears, two eyeballs), triangulated with
  outward normals (20734 triangles, a few fewer than the official 20908);
- the official vertex ids land on the right parts: the 21 vertex joints (nose 9120, eyes, ears,
  toes, heels, fingertips), ``MANO_SMPLX_vertex_ids`` (hands), ``SMPL-X__FLAME_vertex_ids``
  (head incl. eyeballs 9383-10474);
- skinning weights with at most 3 influences per vertex (rows sum to 1); a joint regressor whose
  rows are convex combinations of two vertex rings bracketing each joint;
- shape directions (height, girth, shoulder width, then smooth random fields), expression
  directions on the face, pose correctives (local to each vertex's influences), hand PCA (an
  orthonormal basis, right = mirror of left) and a curled mean hand;
- 51 static face landmarks and the 79 x 17 dynamic contour table on the head's front.

Numbers are quantised to dyadic fractions so the compressed files stay small (about 2 MB per
``.npz``); ``posedirs`` is stored as float16, which holds those values exactly.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ehps.bodymodels.joint_sets import (
    FLAME_VERTEX_COUNT,
    MANO_VERTEX_COUNT,
    NUM_SMPLX_JOINTS,
    NUM_SMPLX_VERTICES,
    SMPLX_PARENTS,
    SMPLX_SKELETON_NAMES,
    VERTEX_JOINT_IDS,
    VERTEX_JOINT_NAMES,
)
from ehps.utils.io import atomic_open, atomic_save_npz

__all__ = ["build_synthetic_smplx", "write_synthetic_smplx", "synthetic_rest_joints"]

_V = NUM_SMPLX_VERTICES
_VID = dict(zip(VERTEX_JOINT_NAMES, (int(i) for i in VERTEX_JOINT_IDS)))

# Vertex id pools per part (chosen so the official vertex-joint ids fall on the right parts).
_HEAD_POOL = np.r_[0:3448, 8900:9383]  # skull + face (3931); with the eyeballs = FLAME (5023)
_LEYE_POOL = np.arange(9383, 9929)  # 546, holds leye 9448
_REYE_POOL = np.arange(9929, 10475)  # 546, holds reye 9929
_LHAND_POOL = np.arange(4700, 4700 + MANO_VERTEX_COUNT)  # holds 4933 ... 5361
_RHAND_POOL = np.arange(7400, 7400 + MANO_VERTEX_COUNT)  # holds 7669 ... 8079
_LFOOT_POOL = np.r_[5600:5900, 8800:8900]  # holds 5770, 5780, 8846
_RFOOT_POOL = np.arange(8400, 8800)  # holds 8463, 8474, 8635
_BODY_POOL = np.r_[3448:4700, 5478:5600, 5900:7400, 8178:8400]  # 3096


def _q(x: np.ndarray, bits: int) -> np.ndarray:
    """Round to multiples of 2**-bits (exact in float32; compresses well)."""
    return np.round(np.asarray(x, np.float64) * 2.0**bits) / 2.0**bits


def _mirror(p: tuple[float, float, float]) -> tuple[float, float, float]:
    return (-p[0], p[1], p[2])


def synthetic_rest_joints() -> np.ndarray:
    """(55, 3) float64 designed rest joint locations of the synthetic neutral model (metres).

    The regressed rest joints of the written model are within 1 mm of these.
    """
    j = np.zeros((NUM_SMPLX_JOINTS, 3))
    left = {
        1: (0.065, -0.44, 0.0), 4: (0.10, -0.82, 0.005), 7: (0.085, -1.22, -0.04),
        10: (0.11, -1.285, 0.075), 13: (0.07, 0.05, -0.01), 16: (0.175, 0.05, -0.02),
        18: (0.43, 0.035, -0.03), 20: (0.68, 0.035, -0.02), 23: (0.031, 0.305, 0.088),
    }  # fmt: skip
    centre = {0: (0.0, -0.35, 0.01), 3: (0.0, -0.24, -0.005), 6: (0.0, -0.11, 0.0),
              9: (0.0, -0.055, 0.02), 12: (0.0, 0.12, -0.01), 15: (0.0, 0.235, 0.0),
              22: (0.0, 0.255, 0.015)}  # fmt: skip
    for k, p in centre.items():
        j[k] = p
    for k, p in left.items():
        j[k] = p
        j[k + 1] = _mirror(p)
    # Fingers of the left hand (SMPL-X order index, middle, pinky, ring, thumb), mirrored to right.
    wrist = np.array(left[20])
    fingers = {  # base offset from the wrist, phalanx lengths
        "index": ((0.088, -0.005, 0.022), (0.037, 0.023)),
        "middle": ((0.092, -0.005, 0.0), (0.042, 0.027)),
        "pinky": ((0.080, -0.005, -0.038), (0.030, 0.019)),
        "ring": ((0.088, -0.005, -0.02), (0.038, 0.026)),
    }
    for f_idx, name in enumerate(("index", "middle", "pinky", "ring")):
        off, (l1, l2) = fingers[name]
        base = wrist + np.array(off)
        k = 25 + 3 * f_idx
        j[k] = base
        j[k + 1] = base + (l1, 0.0, 0.0)
        j[k + 2] = base + (l1 + l2, 0.0, 0.0)
    tdir = np.array([1.0, -0.2, 0.8]) / np.linalg.norm([1.0, -0.2, 0.8])
    t1 = wrist + (0.025, -0.01, 0.025)
    j[37], j[38], j[39] = t1, t1 + 0.035 * tdir, t1 + 0.065 * tdir
    j[40:55] = j[25:40] * (-1.0, 1.0, 1.0)
    return j


_FINGER_TIP_LEN = {"index": 0.02, "middle": 0.022, "pinky": 0.018, "ring": 0.02, "thumb": 0.025}
_HEAD_C = np.array([0.0, 0.29, 0.015])
_HEAD_R = np.array([0.075, 0.115, 0.095])
_EYE_R = 0.0125


# --------------------------------------------------------------------------- mesh building


@dataclass
class _Seg:
    ids: np.ndarray  # (n,) global vertex ids in local order
    ring_local: list[np.ndarray]  # local indices of each ring
    ring_t: np.ndarray  # ring parameters along [p0, p1]
    p0: np.ndarray
    p1: np.ndarray


@dataclass
class _Mesh:
    pos: np.ndarray = field(default_factory=lambda: np.full((_V, 3), np.nan))
    axis: np.ndarray = field(default_factory=lambda: np.zeros((_V, 3)))
    weights: np.ndarray = field(default_factory=lambda: np.zeros((_V, NUM_SMPLX_JOINTS)))
    faces: list[np.ndarray] = field(default_factory=list)
    segs: dict[str, _Seg] = field(default_factory=dict)


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _zipper(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Triangulate the band between ring ``a`` and the next ring ``b`` (outward normals).

    Walks both rings by their angular fraction; each step adds one triangle with two vertices
    on the ring that advances. Returns (len(a) + len(b), 3) vertex indices.
    """
    m, n = len(a), len(b)
    keys = np.r_[(np.arange(m) + 1.0) / m, (np.arange(n) + 1.0) / n]
    is_a = np.r_[np.ones(m, bool), np.zeros(n, bool)]
    order = np.lexsort((~is_a, keys))  # by fraction, ring a first on ties
    step_a = is_a[order]
    i = np.cumsum(step_a) - step_a  # a-steps taken before this one
    j = np.cumsum(~step_a) - ~step_a
    tri_a = np.stack([a[i % m], a[(i + 1) % m], b[j % n]], axis=1)
    tri_b = np.stack([a[i % m], b[(j + 1) % n], b[j % n]], axis=1)
    return np.where(step_a[:, None], tri_a, tri_b)


def _capsule(
    mesh: _Mesh,
    name: str,
    ids: np.ndarray,
    p0: np.ndarray,
    p1: np.ndarray,
    radius: tuple[tuple[float, float], tuple[float, float]],
    *,
    sectors: int,
    u_hint: np.ndarray,
    power: float = 4.0,
    pins: list[tuple[np.ndarray, int]] | None = None,
) -> _Seg:
    """A closed surface of revolution from pole ``p0`` to pole ``p1`` on the vertex ``ids``.

    ``radius`` = ((ru0, rw0), (ru1, rw1)) elliptic half-axes at the two ends (linear in between),
    shaped by the profile ``(1 - |2t - 1|**power)**(1/power)``. ``pins`` put given global ids at
    the local vertices nearest to target points (used for the official vertex-joint ids).
    """
    n = len(ids)
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    d /= np.linalg.norm(d)
    u = np.asarray(u_hint, float) - np.dot(u_hint, d) * d
    u /= np.linalg.norm(u)
    w = np.cross(d, u)
    n_rings = max(2, round((n - 2) / sectors))
    base, extra = divmod(n - 2, n_rings)
    sizes = [base + (1 if r < extra else 0) for r in range(n_rings)]
    ring_t = (np.arange(n_rings) + 1.0) / (n_rings + 1.0)
    local = np.zeros((n, 3))
    local[0] = p0
    local[n - 1] = p1
    ring_local: list[np.ndarray] = []
    start = 1
    (ru0, rw0), (ru1, rw1) = radius
    for r, (m, t) in enumerate(zip(sizes, ring_t)):
        idx = np.arange(start, start + m)
        prof = (1.0 - abs(2.0 * t - 1.0) ** power) ** (1.0 / power)
        ru = (ru0 + (ru1 - ru0) * t) * prof
        rw = (rw0 + (rw1 - rw0) * t) * prof
        phi = 2.0 * np.pi * np.arange(m) / m + (np.pi / m if r % 2 else 0.0)
        centre = p0 + t * (p1 - p0)
        local[idx] = centre + np.outer(ru * np.cos(phi), u) + np.outer(rw * np.sin(phi), w)
        ring_local.append(idx)
        start += m
    # Triangles: pole fans plus zipped bands (phase offsets keep bands well shaped).
    r0, rl = ring_local[0], ring_local[-1]
    tris = [np.stack([np.zeros_like(r0), np.roll(r0, -1), r0], axis=1)]
    tris += [_zipper(ra, rb) for ra, rb in zip(ring_local[:-1], ring_local[1:])]
    tris.append(np.stack([np.full_like(rl, n - 1), rl, np.roll(rl, -1)], axis=1))
    # Place pinned ids at the nearest local vertices.
    order = np.array(ids, dtype=np.int64)
    if pins:
        taken: set[int] = set()
        for target, gid in pins:
            dist = np.linalg.norm(local - np.asarray(target), axis=1)
            dist[list(taken)] = np.inf
            li = int(np.argmin(dist))
            cur = int(np.flatnonzero(order == gid)[0])
            order[cur], order[li] = order[li], order[cur]
            taken.add(li)
    mesh.pos[order] = local
    along = np.clip(((local - p0) @ d) / np.linalg.norm(p1 - p0), 0.0, 1.0)
    mesh.axis[order] = p0 + along[:, None] * (p1 - p0)
    mesh.faces.append(order[np.concatenate(tris).astype(np.int64)])
    seg = _Seg(order, ring_local, ring_t, p0, p1)
    mesh.segs[name] = seg
    return seg


def _tube_weights(
    mesh: _Mesh,
    seg: _Seg,
    a: np.ndarray,
    b: np.ndarray,
    owner: int,
    parent: int | None,
    child: int | None,
) -> None:
    """Skin a bone segment from joint ``a`` to ``b``: the owner, blended 50/50 with the parent
    at ``a`` and with the child at ``b`` (fading over a quarter of the bone)."""
    pos = mesh.pos[seg.ids]
    d = b - a
    s = ((pos - a) @ d) / float(d @ d)
    wp = 0.5 * (1.0 - _smooth(s / 0.25)) if parent is not None else np.zeros(len(s))
    wc = 0.5 * _smooth((s - 0.75) / 0.25) if child is not None else np.zeros(len(s))
    w = np.zeros((len(s), NUM_SMPLX_JOINTS))
    w[:, owner] = 1.0 - wp - wc
    if parent is not None:
        w[:, parent] += wp
    if child is not None:
        w[:, child] += wc
    mesh.weights[seg.ids] = w


def _split(pool: np.ndarray, sizes: dict[str, int], required: dict[str, list[int]]) -> dict:
    """Split a part's id pool among its segments; ``required`` ids go to the named segment."""
    assert sum(sizes.values()) == len(pool), (sum(sizes.values()), len(pool))
    req_all = {g for v in required.values() for g in v}
    rest = [int(g) for g in pool if int(g) not in req_all]
    out, pos = {}, 0
    for name, n in sizes.items():
        req = required.get(name, [])
        take = n - len(req)
        out[name] = np.array(req + rest[pos : pos + take], dtype=np.int64)
        pos += take
    return out


def _build_mesh(j: np.ndarray) -> _Mesh:
    mesh = _Mesh()
    x, y, z = np.eye(3)
    P = SMPLX_PARENTS

    # ---- body (torso, neck, collars, limbs)
    sizes = {"pelvis": 356, "spine1": 220, "spine2": 220, "spine3": 360, "neck": 120,
             "lcollar": 90, "rcollar": 90, "lthigh": 280, "rthigh": 280, "lshin": 230,
             "rshin": 230, "luparm": 170, "ruparm": 170, "lforearm": 140,
             "rforearm": 140}  # fmt: skip
    ids = _split(_BODY_POOL, sizes, {})
    crotch = j[0] + 0.9 * (j[0] - j[3])
    torso = [  # name, owner, a, b, child, (ru, rw) at a and b (ru = depth z, rw = width x)
        ("pelvis", 0, crotch, j[3], 3, (0.10, 0.15), (0.10, 0.15)),
        ("spine1", 3, j[3], j[6], 6, (0.10, 0.145), (0.105, 0.15)),
        ("spine2", 6, j[6], j[9], 9, (0.105, 0.15), (0.11, 0.165)),
        ("spine3", 9, j[9], j[12], 12, (0.11, 0.17), (0.065, 0.09)),
        ("neck", 12, j[12], j[15], 15, (0.05, 0.05), (0.05, 0.05)),
    ]
    for name, owner, a, b, child, ra, rb in torso:
        ext = 0.3 * min(ra) if name != "pelvis" else 0.0
        dd = (b - a) / np.linalg.norm(b - a)
        seg = _capsule(mesh, name, ids[name], a - ext * dd, b + ext * dd, (ra, rb),
                       sectors=24 if name != "neck" else 16, u_hint=z, power=6.0)
        _tube_weights(mesh, seg, a, b, owner, None if owner == 0 else int(P[owner]), child)
    limbs = [  # name, owner, child, radius at a, radius at b, sectors, u_hint
        ("collar", 13, 16, 0.055, 0.05, 12, y),
        ("thigh", 1, 4, 0.085, 0.055, 16, z),
        ("shin", 4, 7, 0.055, 0.035, 16, z),
        ("uparm", 16, 18, 0.05, 0.04, 16, y),
        ("forearm", 18, 20, 0.04, 0.03, 16, y),
    ]
    for base, owner, child, r0, r1, sec, uh in limbs:
        for side, off in (("l", 0), ("r", 1)):
            o, c = owner + off, child + off
            a, b = j[o], j[c]
            dd = (b - a) / np.linalg.norm(b - a)
            ext = 0.35 * min(r0, r1)
            seg = _capsule(mesh, side + base, ids[side + base], a - ext * dd, b + ext * dd,
                           ((r0, r0), (r1, r1)), sectors=sec, u_hint=uh)
            _tube_weights(mesh, seg, a, b, o, int(P[o]), c)

    # ---- feet
    for side, off, pool, (big, small, heel) in (
        ("l", 0, _LFOOT_POOL, ("left_big_toe", "left_small_toe", "left_heel")),
        ("r", 1, _RFOOT_POOL, ("right_big_toe", "right_small_toe", "right_heel")),
    ):
        ankle, foot = j[7 + off], j[10 + off]
        sgn = 1.0 if off == 0 else -1.0
        ids_f = _split(pool, {"foot": 250, "toes": 150},
                       {"foot": [_VID[heel]], "toes": [_VID[big], _VID[small]]})
        heel_p = np.array([ankle[0], -1.265, -0.075])
        seg = _capsule(mesh, side + "foot", ids_f["foot"], heel_p, foot + 0.01 * z,
                       ((0.035, 0.04), (0.025, 0.048)), sectors=16, u_hint=y,
                       pins=[(np.array([ankle[0], -1.30, -0.08]), _VID[heel])])
        _tube_weights(mesh, seg, heel_p, foot, 7 + off, None, 10 + off)
        tip = foot + np.array([0.005 * sgn, -0.005, 0.085])
        seg = _capsule(mesh, side + "toes", ids_f["toes"], foot - 0.01 * z, tip,
                       ((0.022, 0.048), (0.014, 0.042)), sectors=12, u_hint=y,
                       pins=[(tip - (0.02 * sgn, 0.0, 0.0), _VID[big]),
                             (tip + (0.03 * sgn, 0.0, -0.02), _VID[small])])
        _tube_weights(mesh, seg, foot, tip, 10 + off, 7 + off, None)

    # ---- hands: palm + 15 phalanges each
    finger_names = ("index", "middle", "pinky", "ring", "thumb")
    for side, off, pool, pre in (("l", 0, _LHAND_POOL, "left_"), ("r", 15, _RHAND_POOL, "right_")):
        wrist_j = 20 if side == "l" else 21
        seg_sizes = {"palm": 178}
        required: dict[str, list[int]] = {}
        for f in finger_names:
            for k in (1, 2, 3):
                seg_sizes[f"{f}{k}"] = 40
            required[f"{f}3"] = [_VID[pre + f]]
        ids_h = _split(pool, seg_sizes, required)
        wrist = j[wrist_j]
        mid1 = j[28 + off]
        dpalm = (mid1 - wrist) / np.linalg.norm(mid1 - wrist)
        seg = _capsule(mesh, side + "palm", ids_h["palm"], wrist - 0.01 * dpalm,
                       mid1 + 0.005 * dpalm, ((0.016, 0.04), (0.012, 0.045)), sectors=12,
                       u_hint=y)
        _tube_weights(mesh, seg, wrist, mid1, wrist_j, int(P[wrist_j]), None)
        for f_idx, f in enumerate(finger_names):
            k0 = 25 + off + 3 * f_idx
            chain = [j[k0], j[k0 + 1], j[k0 + 2]]
            dtip = (chain[2] - chain[1]) / np.linalg.norm(chain[2] - chain[1])
            chain.append(chain[2] + _FINGER_TIP_LEN[f] * dtip)
            rad = 0.0095 if f != "thumb" else 0.011
            for k in range(3):
                a, b = chain[k], chain[k + 1]
                dd = (b - a) / np.linalg.norm(b - a)
                r_a, r_b = rad * (1.0 - 0.1 * k), rad * (0.9 - 0.1 * k)
                pins = [(b, _VID[pre + f])] if k == 2 else None
                seg = _capsule(mesh, f"{side}{f}{k + 1}", ids_h[f"{f}{k + 1}"],
                               a - 0.4 * r_a * dd, b if k == 2 else b + 0.4 * r_b * dd,
                               ((r_a, r_a), (r_b, r_b)), sectors=8, u_hint=y, pins=pins)
                _tube_weights(mesh, seg, a, b, k0 + k, int(P[k0 + k]),
                              k0 + k + 1 if k < 2 else None)

    # ---- head (ellipsoid with a nose and ears) and eyeballs
    lo, hi = _HEAD_C - _HEAD_R[1] * y, _HEAD_C + _HEAD_R[1] * y
    ear_l = np.array([_HEAD_C[0] + _HEAD_R[0] + 0.008, 0.29, 0.0])
    ear_r = ear_l * (-1.0, 1.0, 1.0)
    seg = _capsule(mesh, "head", _HEAD_POOL, lo, hi,
                   ((_HEAD_R[2], _HEAD_R[0]), (_HEAD_R[2], _HEAD_R[0])), sectors=64,
                   u_hint=z, power=2.0)
    hid = seg.ids
    p = mesh.pos[hid]
    rel = (p - _HEAD_C) / _HEAD_R
    # Nose: a bump on the front, centred at nose height; ears: small bumps on the sides.
    g_nose = np.exp(-(((p[:, 0]) / 0.012) ** 2) - ((p[:, 1] - 0.285) / 0.022) ** 2)
    g_nose *= rel[:, 2] > 0.3
    p[:, 2] += 0.024 * g_nose
    for ear, sgn in ((ear_l, 1.0), (ear_r, -1.0)):
        g = np.exp(-((p[:, 1] - ear[1]) / 0.02) ** 2 - ((p[:, 2] - ear[2]) / 0.015) ** 2)
        g *= sgn * rel[:, 0] > 0.5
        p[:, 0] += sgn * 0.01 * g
    mesh.pos[hid] = p
    # Pin the nose and ear vertex ids to the bump apexes (most frontal / lateral vertices).
    apex = {_VID["nose"]: lambda q: q[:, 2], _VID["left_ear"]: lambda q: q[:, 0],
            _VID["right_ear"]: lambda q: -q[:, 0]}
    for gid, score in apex.items():
        li = int(np.argmax(score(mesh.pos[hid])))
        cur = int(np.flatnonzero(hid == gid)[0])
        a, b = int(hid[li]), int(hid[cur])
        mesh.pos[[a, b]] = mesh.pos[[b, a]]
        mesh.axis[[a, b]] = mesh.axis[[b, a]]
        fc = mesh.faces[-1]
        fa, fb = fc == a, fc == b
        fc[fa], fc[fb] = b, a
        hid[li], hid[cur] = hid[cur], hid[li]
    p = mesh.pos[hid]
    w = np.zeros((len(hid), NUM_SMPLX_JOINTS))
    w_neck = 0.5 * _smooth((_HEAD_C[1] - 0.07 - p[:, 1]) / 0.04)
    w_jaw = 0.9 * _smooth((0.262 - p[:, 1]) / 0.03) * _smooth((p[:, 2] - _HEAD_C[2]) / 0.05)
    w_jaw = np.minimum(w_jaw, 1.0 - w_neck)
    w[:, 15] = 1.0 - w_neck - w_jaw
    w[:, 12] = w_neck
    w[:, 22] = w_jaw
    mesh.weights[hid] = w
    for side, eye_j, pool, gid in (("l", 23, _LEYE_POOL, _VID["left_eye"]),
                                   ("r", 24, _REYE_POOL, _VID["right_eye"])):
        c = j[eye_j]
        seg = _capsule(mesh, side + "eye", pool, c - _EYE_R * z, c + _EYE_R * z,
                       ((_EYE_R, _EYE_R), (_EYE_R, _EYE_R)), sectors=18, u_hint=y, power=2.0,
                       pins=[(c + _EYE_R * z, gid)])
        mesh.weights[seg.ids] = np.eye(NUM_SMPLX_JOINTS)[eye_j]
    assert not np.isnan(mesh.pos).any(), "every vertex must be placed"
    return mesh


# ----------------------------------------------------------------------- regressors, landmarks


def _ring_regressor(seg: _Seg, point: np.ndarray) -> np.ndarray:
    """(V,) weights over the two rings (or pole and ring) of ``seg`` that bracket ``point``'s
    projection on the segment axis; ring means lie on the axis, so the result does too."""
    n = len(seg.ids)
    levels = [np.array([0])] + seg.ring_local + [np.array([n - 1])]
    level_t = np.r_[0.0, seg.ring_t, 1.0]
    d = seg.p1 - seg.p0
    t = float(np.clip(((point - seg.p0) @ d) / (d @ d), 0.0, 1.0))
    r = int(np.clip(np.searchsorted(level_t, t) - 1, 0, len(level_t) - 2))
    lam = (t - level_t[r]) / (level_t[r + 1] - level_t[r])
    row = np.zeros(_V)
    for rr, wt in ((r, 1.0 - lam), (r + 1, lam)):
        gids = seg.ids[levels[rr]]
        row[gids] += wt / len(gids)
    return row


def _joint_regressor(mesh: _Mesh, j: np.ndarray) -> np.ndarray:
    seg_of = {0: "pelvis", 3: "spine1", 6: "spine2", 9: "spine3", 12: "neck", 15: "neck",
              22: "head", 23: "leye", 24: "reye"}  # fmt: skip
    for side, off in (("l", 0), ("r", 1)):
        seg_of.update({1 + off: side + "thigh", 4 + off: side + "shin", 7 + off: side + "shin",
                       10 + off: side + "toes", 13 + off: side + "collar",
                       16 + off: side + "uparm", 18 + off: side + "forearm",
                       20 + off: side + "palm"})  # fmt: skip
    for side, off in (("l", 0), ("r", 15)):
        for f_idx, f in enumerate(("index", "middle", "pinky", "ring", "thumb")):
            for k in range(3):
                seg_of[25 + off + 3 * f_idx + k] = f"{side}{f}{k + 1}"
    reg = np.zeros((NUM_SMPLX_JOINTS, _V))
    for k in range(NUM_SMPLX_JOINTS):
        reg[k] = _ring_regressor(mesh.segs[seg_of[k]], j[k])
    return reg


def _face_frame_point(xy: tuple[float, float], depth_shift: float = 0.0) -> np.ndarray:
    """A point on the head ellipsoid's front at face-plane coordinates ``xy`` (x, y metres)."""
    px, py = xy
    rel = 1.0 - (px / _HEAD_R[0]) ** 2 - ((py - _HEAD_C[1]) / _HEAD_R[1]) ** 2
    pz = _HEAD_C[2] + _HEAD_R[2] * np.sqrt(max(rel, 0.0)) + depth_shift
    return np.array([px, py, pz])


def _landmark_targets() -> np.ndarray:
    """(51, 3) target points of the static landmarks, in the official (iBUG 18..68) order."""
    pts: list[tuple[float, float]] = []
    for k in range(10):  # brows: right outer -> inner, left inner -> outer
        xx = -0.05 + 0.0095 * k + (0.005 if k >= 5 else 0.0)
        pts.append((xx, 0.333 + 0.005 * np.sin(np.pi * ((k % 5) + 0.5) / 5)))
    pts += [(0.0, 0.31 - 0.011 * k) for k in range(4)]  # nose bridge to tip
    pts += [(-0.016, 0.262), (-0.008, 0.259), (0.0, 0.257), (0.008, 0.259), (0.016, 0.262)]
    # Eyes (iBUG 37..42 and 43..48): both go image-left -> right along the top, then back.
    ring = [(-0.013, 0.0), (-0.005, 0.004), (0.005, 0.004), (0.013, 0.0), (0.005, -0.004),
            (-0.005, -0.004)]  # fmt: skip
    for cx in (-0.031, 0.031):
        pts += [(cx + dx, 0.305 + dy) for dx, dy in ring]
    outer = [(-0.025, 0.245), (-0.016, 0.25), (-0.007, 0.253), (0.0, 0.252), (0.007, 0.253),
             (0.016, 0.25), (0.025, 0.245), (0.016, 0.238), (0.007, 0.235), (0.0, 0.234),
             (-0.007, 0.235), (-0.016, 0.238)]  # fmt: skip
    inner = [(-0.018, 0.245), (-0.007, 0.247), (0.0, 0.247), (0.007, 0.247), (0.018, 0.245),
             (0.007, 0.242), (0.0, 0.241), (-0.007, 0.242)]  # fmt: skip
    pts += outer + inner
    assert len(pts) == 51
    return np.array([_face_frame_point(p) for p in pts])


def _nearest_faces(points: np.ndarray, tree: object) -> np.ndarray:
    return tree.query(points)[1]  # type: ignore[attr-defined]


def _landmarks(mesh: _Mesh, faces: np.ndarray, rng: np.random.Generator) -> dict:
    in_head = np.zeros(_V, dtype=bool)
    in_head[mesh.segs["head"].ids] = True
    head_faces = np.flatnonzero(in_head[faces].all(axis=1))
    from scipy.spatial import cKDTree

    cent = cKDTree(mesh.pos[faces[head_faces]].mean(axis=1))
    static = head_faces[_nearest_faces(_landmark_targets(), cent)]
    bary = rng.dirichlet((4.0, 4.0, 4.0), size=len(static))
    # Contour: 17 points along the jaw line; row r of the 79-row table is for a head yaw of
    # r degrees (r <= 39) or -(r - 39) degrees (r >= 40): the line slides around the face.
    alpha = np.linspace(-np.pi / 2, np.pi / 2, 17)
    dyn = np.zeros((79, 17), dtype=np.int64)
    for r in range(79):
        yaw = np.deg2rad(r if r <= 39 else -(r - 39)) * 0.8
        a = np.clip(alpha + yaw, -np.pi / 2, np.pi / 2)
        ring = np.stack([_HEAD_R[0] * 0.97 * np.sin(a), 0.285 - 0.1 * np.cos(a) ** 1.5,
                         _HEAD_C[2] + _HEAD_R[2] * 0.9 * np.cos(a)], axis=1)
        dyn[r] = head_faces[_nearest_faces(ring, cent)]
    dyn_bary = rng.dirichlet((4.0, 4.0, 4.0), size=(79, 17))
    return {
        "lmk_faces_idx": static.astype(np.int64),
        "lmk_bary_coords": _q(bary, 20),
        "dynamic_lmk_faces_idx": dyn,
        "dynamic_lmk_bary_coords": _q(dyn_bary, 20),
    }


# ------------------------------------------------------------------------ blend shapes, hands


def _smooth_field(pos: np.ndarray, rng: np.random.Generator, n_waves: int = 3) -> np.ndarray:
    """(V, 3) a smooth random displacement field (sum of a few plane waves), unit scale."""
    out = np.zeros_like(pos)
    for _ in range(n_waves):
        omega = rng.normal(size=(3, 3)) * 4.0
        phase = rng.uniform(0, 2 * np.pi, size=3)
        amp = rng.normal(size=3)
        out += amp * np.sin(pos @ omega + phase)
    return out / n_waves


def _shape_dirs(mesh: _Mesh, j: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    pos, axis = mesh.pos, mesh.axis
    dirs = np.zeros((_V, 3, n))
    radial = pos - axis
    if n > 0:  # height
        dirs[:, 1, 0] = 0.045 * (pos[:, 1] - j[0, 1])
    if n > 1:  # girth
        dirs[:, :, 1] = 0.12 * radial
    if n > 2:  # shoulder width / arm length
        dirs[:, 0, 2] = 0.03 * np.sign(pos[:, 0]) * _smooth((np.abs(pos[:, 0]) - 0.05) / 0.2)
    if n > 3:  # random mixes of a few smooth fields, decaying with the component index
        fields = np.stack([_smooth_field(pos, rng) for _ in range(min(n - 3, 24))], axis=-1)
        mix = rng.normal(size=(fields.shape[-1], n - 3)) / np.sqrt(fields.shape[-1])
        dirs[:, :, 3:] = 0.004 * (fields @ mix) / (1.0 + 0.02 * np.arange(3, n))
    return dirs


def _expr_dirs(mesh: _Mesh, n: int, rng: np.random.Generator) -> np.ndarray:
    pos = mesh.pos
    dirs = np.zeros((_V, 3, n))
    head = mesh.segs["head"].ids
    p = pos[head]
    front = _smooth((p[:, 2] - _HEAD_C[2]) / 0.06)
    lower = _smooth((0.27 - p[:, 1]) / 0.04)
    if n > 0:  # mouth open: the lower face drops
        dirs[head, 1, 0] = -0.008 * front * lower
    if n > 1:  # smile: mouth corners up and out
        dirs[head, 0, 1] = 0.004 * np.sign(p[:, 0]) * front * lower
        dirs[head, 1, 1] = 0.003 * front * lower * np.abs(p[:, 0]) / 0.03
    if n > 2:
        fields = np.stack([_smooth_field(p, rng) for _ in range(min(n - 2, 16))], axis=-1)
        mix = rng.normal(size=(fields.shape[-1], n - 2)) / np.sqrt(fields.shape[-1])
        dirs[head, :, 2:] = 0.003 * front[:, None, None] * (fields @ mix)
    return dirs


def _pose_dirs(mesh: _Mesh, rng: np.random.Generator) -> np.ndarray:
    """(V, 3, 486) correctives: each vertex responds only to its skinning joints' features.

    Values are multiples of 2**-16 below 2**-5 in magnitude, which float16 holds exactly.
    """
    mats = rng.normal(size=(NUM_SMPLX_JOINTS, 3, 9)) * 0.004
    dirs = np.zeros((_V, 3, 9 * (NUM_SMPLX_JOINTS - 1)), dtype=np.float16)
    lim = 2047 / 2**16
    for k in range(1, NUM_SMPLX_JOINTS):
        wk = mesh.weights[:, k]
        nz = np.flatnonzero(wk > 0)
        block = np.clip(_q(wk[nz, None, None] * mats[k], 16), -lim, lim)
        dirs[nz, :, 9 * (k - 1) : 9 * k] = block.astype(np.float16)
    return dirs


def _hand_pca(rng: np.random.Generator) -> dict[str, np.ndarray]:
    q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    comps_l = q.T  # rows = components, orthonormal
    mean_l = np.zeros((15, 3))
    for f in range(5):
        for k in range(3):
            flex = (0.15, 0.25, 0.2)[k]
            axis = np.array([0.0, 0.0, -1.0]) if f < 4 else np.array([0.3, 0.6, -0.4])
            mean_l[3 * f + k] = flex * axis + rng.normal(scale=0.02, size=3)
    mirror = np.tile(np.array([1.0, -1.0, -1.0]), 15)
    return {
        "hands_componentsl": _q(comps_l, 24),
        "hands_componentsr": _q(comps_l * mirror, 24),
        "hands_meanl": _q(mean_l.reshape(45), 24),
        "hands_meanr": _q(mean_l.reshape(45) * mirror, 24),
    }


# ------------------------------------------------------------------------------ public API


def build_synthetic_smplx(
    seed: int = 0,
    *,
    num_betas: int = 10,
    num_expression: int = 10,
    gender: str = "neutral",
) -> dict[str, np.ndarray]:
    """The content of a synthetic ``SMPLX_<GENDER>.npz`` as a dict of numpy arrays.

    Args:
        seed: seeds every random part (blend shapes, hand PCA, barycentric coordinates).
        num_betas: shape components written. Official v1.1 files have 300 (+100 expression);
            with fewer than 300 + 100 columns in total, readers (ehps and ``smplx``) use 10 betas
            and 10 expression components (the v1.0 layout), so only 10/10 and 300/100 are
            meaningful.
        num_expression: expression components written after the betas.
        gender: ``"neutral"``, ``"male"`` (4% taller, broader) or ``"female"`` (4% shorter,
            narrower); only the template differs.

    Returns:
        Keys ``v_template`` (10475, 3) f8, ``f`` (F, 3) u4, ``shapedirs`` (10475, 3, nb+ne) f8,
        ``posedirs`` (10475, 3, 486) f2, ``J_regressor`` (55, 10475) f8, ``weights``
        (10475, 55) f8, ``kintree_table`` (2, 55) i8, ``hands_components{l,r}`` (45, 45),
        ``hands_mean{l,r}`` (45,), ``lmk_faces_idx`` (51,), ``lmk_bary_coords`` (51, 3),
        ``dynamic_lmk_faces_idx`` (79, 17), ``dynamic_lmk_bary_coords`` (79, 17, 3), plus
        ``joint2num`` (an object array, as in official files, that a pickle-free reader skips).
    """
    if gender not in _GENDER_SCALE:
        raise ValueError(f"gender must be neutral, male or female, not {gender!r}")
    return _with_gender(_build_neutral(seed, num_betas, num_expression), gender)


_GENDER_SCALE = {
    "neutral": np.ones(3),
    "male": np.array([1.05, 1.04, 1.03]),
    "female": np.array([0.95, 0.96, 0.98]),
}


def _build_neutral(seed: int, num_betas: int, num_expression: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    j = synthetic_rest_joints()
    mesh = _build_mesh(j)
    faces = np.concatenate(mesh.faces).astype(np.int64)
    jreg = _joint_regressor(mesh, j)
    weights = _q(mesh.weights, 24)
    weights /= weights.sum(axis=1, keepdims=True)
    out: dict[str, np.ndarray] = {
        "v_template": _q(mesh.pos, 24),
        "f": faces.astype(np.uint32),
        "J_regressor": jreg,
        "weights": weights,
        "kintree_table": np.stack(
            [np.where(SMPLX_PARENTS < 0, 2**32 - 1, SMPLX_PARENTS), np.arange(55)]
        ).astype(np.int64),
        "shapedirs": _q(
            np.concatenate(
                [_shape_dirs(mesh, j, num_betas, rng), _expr_dirs(mesh, num_expression, rng)],
                axis=2,
            ),
            24,
        ),
        "posedirs": _pose_dirs(mesh, rng),
        **_hand_pca(rng),
        **_landmarks(mesh, faces, rng),
    }
    # Every float is made exactly representable in float32: the ``smplx`` reference layer rounds
    # model arrays to float32 even when it runs in float64, so this keeps the two comparable to
    # float64 precision.
    out = {k: _f32_exact(v) for k, v in out.items()}
    out["joint2num"] = np.array({n: i for i, n in enumerate(SMPLX_SKELETON_NAMES)}, dtype=object)
    return out


def _f32_exact(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32).astype(np.float64) if a.dtype == np.float64 else a


def _with_gender(neutral: dict[str, np.ndarray], gender: str) -> dict[str, np.ndarray]:
    """The neutral model with its template scaled about the pelvis (4-5% per axis)."""
    out = dict(neutral)
    if gender != "neutral":
        v = neutral["v_template"]
        pelvis = neutral["J_regressor"][0] @ v
        out["v_template"] = _f32_exact(_q(pelvis + (v - pelvis) * _GENDER_SCALE[gender], 24))
    return out


def _j14_regressor(model: dict[str, np.ndarray]) -> np.ndarray:
    jreg = model["J_regressor"]
    rows = [8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12]
    top = np.zeros(_V)
    v = model["v_template"]
    head = np.asarray(_HEAD_POOL)
    near_top = head[np.argsort(-v[head, 1])[:8]]
    top[near_top] = 1.0 / len(near_top)
    return np.concatenate([jreg[rows], top[None]], axis=0)


def _dump_pickle(path: Path, obj: object) -> None:
    with atomic_open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def write_synthetic_smplx(
    out_dir: str | Path,
    seed: int = 0,
    *,
    num_betas: int = 10,
    num_expression: int = 10,
    genders: tuple[str, ...] = ("neutral", "male", "female"),
    write_pkl: bool = True,
) -> Path:
    """Write a synthetic SMPL-X model directory (the official ``human_model_files/smplx`` layout).

    Files: ``SMPLX_{NEUTRAL,MALE,FEMALE}.npz`` (compressed), ``SMPLX_NEUTRAL.pkl`` (plain pickle,
    ``J_regressor`` as ``scipy.sparse.csc_matrix``, no chumpy; with ``write_pkl``),
    ``MANO_SMPLX_vertex_ids.pkl`` (dict ``left_hand`` / ``right_hand`` -> (778,) int64),
    ``SMPL-X__FLAME_vertex_ids.npy`` ((5023,) int64) and ``SMPLX_to_J14.pkl`` ((14, 10475) f8).
    Takes about two seconds; about 7 MB on disk with the pickle.

    Args:
        out_dir: directory to create / fill.
        seed: random seed (same seed, same files).
        num_betas, num_expression: shape / expression columns (see :func:`build_synthetic_smplx`).
        genders: which ``SMPLX_<GENDER>.npz`` files to write.
        write_pkl: also write ``SMPLX_NEUTRAL.pkl``.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for gender in genders:
        if gender not in _GENDER_SCALE:
            raise ValueError(f"gender must be neutral, male or female, not {gender!r}")
    neutral = _build_neutral(seed, num_betas, num_expression)
    for gender in genders:
        model = _with_gender(neutral, gender)
        atomic_save_npz(out / f"SMPLX_{gender.upper()}.npz", compressed=True, **model)
    if write_pkl:
        import scipy.sparse

        pkl = {k: v for k, v in neutral.items() if k != "joint2num"}
        pkl["J_regressor"] = scipy.sparse.csc_matrix(neutral["J_regressor"])
        pkl["joint2num"] = {n: i for i, n in enumerate(SMPLX_SKELETON_NAMES)}
        _dump_pickle(out / "SMPLX_NEUTRAL.pkl", pkl)
    mano = {"left_hand": _LHAND_POOL.astype(np.int64), "right_hand": _RHAND_POOL.astype(np.int64)}
    _dump_pickle(out / "MANO_SMPLX_vertex_ids.pkl", mano)
    flame = np.sort(np.r_[_HEAD_POOL, _LEYE_POOL, _REYE_POOL]).astype(np.int64)
    assert len(flame) == FLAME_VERTEX_COUNT
    with atomic_open(out / "SMPL-X__FLAME_vertex_ids.npy", "wb") as fh:
        np.save(fh, flame, allow_pickle=False)
    _dump_pickle(out / "SMPLX_to_J14.pkl", _j14_regressor(neutral))
    return out

"""Build ``src/ehps/assets/anny_landmarks.npz``: the data tables AnnyBody needs besides anny itself.

Run from anywhere (offline; the first run may build Anny's cache, ~40 s)::

    python scripts/build_anny_landmarks.py [--out PATH] [--check-image PNG]
        [--face-obj /work/shared/data/mediapipe_canonical_face_model.obj]

Everything is computed on Anny's rest mesh at the default phenotype (0.5), with no facial action,
in the SMPL-X frame:

- ``tip_vertex_ids`` (10,): the most distal vertex of each distal phalanx along the finger
  (thumb..pinky, left then right); used for the T-pose calibration and the hand tips.
- ``jaw_vertex_ids``/``jaw_vertex_weights`` (4,): the SMPL-X jaw joint (between the
  temporomandibular joints, from the registered face) as an affine combination of four head
  vertices that no facial action moves; ``jaw_open_rad``: the jaw pitch about it that Anny's
  ``jawOpen = 1`` amounts to (see :func:`jaw_tables`).
- the mediapipe landmark regressors described in :mod:`ehps.bodymodels.anny_landmarks`; the body
  set and the hand wrists are then fitted to mediapipe's own detections on renders of Anny
  (``anny_landmark_calibration.py``, needs mediapipe 0.10.21; ``--no-calibrate`` skips it). The face
  table registers mediapipe's canonical face mesh (468 points, centimetres, y up, facing +z, which
  is the SMPL-X frame) onto Anny's head: similarity from the eye centres and the nose tip, refined
  by trimmed similarity ICP against the face skin, then each point is projected onto the closest
  skin/eye triangle and stored as barycentric coordinates.

``--check-image`` renders the landmarks on the zero-pose (T-pose) AnnyBody for a visual check.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "src" / "ehps" / "assets" / "anny_landmarks.npz"
DEFAULT_FACE_OBJ = Path("/work/shared/data/mediapipe_canonical_face_model.obj")

IRIS_RADIUS_M = 0.00585  # mediapipe's iris model assumes an 11.7 mm iris diameter
FACE_VALID_MAX_SHIFT_M = 0.012  # projection moving a registered point further: no correspondence


# ----------------------------------------------------------------------------- geometry helpers
def closest_points_on_triangles(
    points: np.ndarray, tri: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest point of each query on a triangle soup (exact, brute force).

    Args:
        points: (P, 3). tri: (T, 3, 3) triangle corners.

    Returns:
        triangle index (P,), barycentric coordinates (P, 3), distance (P,).
    """
    best_t = np.zeros(len(points), np.int64)
    best_b = np.zeros((len(points), 3))
    best_d = np.full(len(points), np.inf)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    ab, ac = b - a, c - a
    for i, p in enumerate(points):
        bary = _closest_barycentric(p, a, ab, ac)
        q = a + bary[:, 1:2] * ab + bary[:, 2:3] * ac
        d = np.linalg.norm(q - p, axis=1)
        k = int(np.argmin(d))
        best_t[i], best_b[i], best_d[i] = k, bary[k], d[k]
    return best_t, best_b, best_d


def _closest_barycentric(
    p: np.ndarray, a: np.ndarray, ab: np.ndarray, ac: np.ndarray
) -> np.ndarray:
    """Barycentric coordinates (T, 3) of the closest point to ``p`` on each triangle (Ericson's
    region tests, vectorised over triangles)."""
    ap = p - a
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    bp = ap - ab
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    cp = ap - ac
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    out = np.zeros((len(a), 3))
    done = np.zeros(len(a), bool)

    def put(mask: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> None:
        m = mask & ~done
        out[m, 0], out[m, 1], out[m, 2] = u[m], v[m], w[m]
        done[m] = True

    one, zero = np.ones(len(a)), np.zeros(len(a))
    put((d1 <= 0) & (d2 <= 0), one, zero, zero)
    put((d3 >= 0) & (d4 <= d3), zero, one, zero)
    put((d6 >= 0) & (d5 <= d6), zero, zero, one)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = d1 / (d1 - d3)
        put((vc <= 0) & (d1 >= 0) & (d3 <= 0), 1 - v, v, zero)
        w = d2 / (d2 - d6)
        put((vb <= 0) & (d2 >= 0) & (d6 <= 0), 1 - w, zero, w)
        w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        put((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), zero, 1 - w, w)
        denom = 1.0 / (va + vb + vc)
        v, w = vb * denom, vc * denom
    put(np.ones(len(a), bool), 1 - v - w, v, w)
    return out


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (Umeyama): ``dst ~ s * R @ src + t``."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(xd.T @ xs / len(src))
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag(d) @ vt
    scale = float((sig * d).sum() / (xs**2).sum(1).mean())
    return scale, rot, mu_d - scale * rot @ mu_s


def read_obj_vertices(path: Path) -> np.ndarray:
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    return np.asarray(rows, dtype=np.float64)


# ----------------------------------------------------------------------------- the model
def load_rest(cache_dir: str | None):
    from anny.face_segmentation import get_face_segmentation_mask

    from ehps.bodymodels.anny_build import build_anny_model, resolve_anny_cache_dir
    from ehps.bodymodels.anny_mapping import ANNY_TO_SMPLX

    model = build_anny_model(resolve_anny_cache_dir(cache_dir), facial_actions=True)
    model = model.to(torch.float64)
    n_fa = len(model.facial_action_labels)
    pheno = torch.full((1, 6), 0.5, dtype=torch.float64)
    with torch.no_grad():
        coeffs = model._get_phenotype_blendshape_coefficients(
            pheno, pheno.new_zeros(1, 0), pheno.new_zeros(1, n_fa)
        )
        rest = model.get_rest_model(coeffs)
    f = np.asarray(ANNY_TO_SMPLX)
    verts = rest["rest_vertices"][0].numpy() @ f.T
    heads = rest["rest_bone_heads"][0].numpy() @ f.T
    labels = [f"facial_action:{x}" for x in model.facial_action_labels]
    rows = [model.blendshape_labels.index(x) for x in labels]
    facial = model.blendshapes[rows].numpy() @ f.T  # (52, V, 3)
    segments = {}
    for name in ("head", "eye_front.L", "eye_front.R", "hand.L", "hand.R"):
        segments[name] = get_face_segmentation_mask(model, [name]).numpy()
    weights = torch.zeros(verts.shape[0], len(model.bone_labels), dtype=torch.float64)
    weights.scatter_add_(1, model.vertex_bone_indices.long(), model.vertex_bone_weights)
    for name in ("eye_back.L", "eye_back.R", "eye_cavity.L", "eye_cavity.R", "mouth_cavity",
                 "tongue"):  # fmt: skip
        segments[name] = get_face_segmentation_mask(model, [name]).numpy()
    return {
        "weights": weights.numpy(),
        "model": model,
        "verts": verts,
        "heads": heads,
        "faces": model.faces.numpy().astype(np.int64),
        "labels": list(model.bone_labels),
        "facial": facial,
        "facial_labels": list(model.facial_action_labels),
        "segments": segments,
        "dominant": weights.argmax(1).numpy(),
    }


def coco_regressors(model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Anny's bundled COCO(+feet) keypoints as (vertex ids, weights) over this mesh."""
    from anny.keypoints import KeypointsRegressor

    reg = KeypointsRegressor.coco(model)
    out = {}
    for k, label in enumerate(reg.labels):
        w = reg.regression_weights[k].numpy()
        ids = np.nonzero(w)[0]
        out[label] = (ids, w[ids] / w[ids].sum())
    return out


# ----------------------------------------------------------------------------- tables
def fingertips(rest) -> np.ndarray:
    idx = {b: i for i, b in enumerate(rest["labels"])}
    verts, heads, dom = rest["verts"], rest["heads"], rest["dominant"]
    tips = []
    for s in ("L", "R"):
        for k in (1, 2, 3, 4, 5):
            b3, b2 = idx[f"finger{k}-3.{s}"], idx[f"finger{k}-2.{s}"]
            axis = heads[b3] - heads[b2]
            axis /= np.linalg.norm(axis)
            cand = np.nonzero(dom == b3)[0]
            tips.append(int(cand[np.argmax((verts[cand] - heads[b3]) @ axis)]))
    return np.asarray(tips, np.int64)


def jaw_tables(rest, pivot: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The jaw joint as an affine combination of four still head vertices, and the jaw pitch
    that ``jawOpen = 1`` amounts to about it.

    ``pivot`` is the rest jaw joint, between the temporomandibular joints (see :func:`build`).
    (A free rigid fit of the ``jawOpen`` displacement does not pin the pivot down: the
    blendshape also glides the jaw forward.) The angle is the 1-D least-squares rotation about
    the x axis through the pivot that best explains the vertices ``jawOpen`` moves by more
    than 1 cm.
    """
    verts = rest["verts"]
    shift = rest["facial"][rest["facial_labels"].index("jawOpen")]
    sel = np.linalg.norm(shift, axis=1) > 0.01
    rel, moved = verts[sel] - pivot, verts[sel] + shift[sel] - pivot
    angles = np.radians(np.linspace(0.0, 45.0, 4501))
    cost = []
    for a in angles:
        c, s = np.cos(a), np.sin(a)
        y = c * rel[:, 1] - s * rel[:, 2]
        z = s * rel[:, 1] + c * rel[:, 2]
        cost.append(((y - moved[:, 1]) ** 2 + (z - moved[:, 2]) ** 2).sum())
    angle = float(angles[int(np.argmin(cost))])
    # Four head vertices that no facial action moves, around the pivot; affine weights.
    still = np.abs(rest["facial"]).max(axis=(0, 2)) < 1e-9
    head_bone = rest["labels"].index("head")
    cand = np.nonzero(still & (rest["dominant"] == head_bone))[0]
    ids = []
    for direction in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, 0, -1)):
        target = pivot + 0.1 * np.asarray(direction)
        ids.append(int(cand[np.argmin(np.linalg.norm(verts[cand] - target, axis=1))]))
    ids = np.asarray(ids, np.int64)
    system = np.vstack([verts[ids].T, np.ones(4)])
    weights = np.linalg.solve(system, np.append(pivot, 1.0))
    return angle, ids, weights


def register_face(rest, coco, face_obj: Path):
    verts, faces, seg = rest["verts"], rest["faces"], rest["segments"]
    canon = read_obj_vertices(face_obj) * 0.01  # cm -> m, already in the SMPL-X axes

    def coco_point(label: str) -> np.ndarray:
        ids, w = coco[label]
        return (verts[ids] * w[:, None]).sum(0)

    src = np.stack([canon[[33, 133]].mean(0), canon[[362, 263]].mean(0), canon[4]])
    dst = np.stack([coco_point("right_eye"), coco_point("left_eye"), coco_point("nose")])
    scale, rot, trans = similarity_fit(src, dst)
    skin = faces[seg["head"]]
    # Front of the head only (no back of the skull, ears or neck) for the ICP targets.
    center = verts[np.unique(skin)].mean(0)
    front = skin[(verts[skin].mean(1)[:, 2] > center[2]) & (verts[skin].mean(1)[:, 1] > 0.0)]
    tri_front = verts[front]
    for _ in range(15):
        cur = scale * canon @ rot.T + trans
        t, b, d = closest_points_on_triangles(cur, tri_front)
        target = (tri_front[t] * b[:, :, None]).sum(1)
        keep = d <= np.quantile(d, 0.8)
        scale, rot, trans = similarity_fit(canon[keep], target[keep])
    registered = scale * canon @ rot.T + trans
    allowed = faces[seg["head"] | seg["eye_front.L"] | seg["eye_front.R"]]
    t, b, d = closest_points_on_triangles(registered, verts[allowed])
    ids = allowed[t]
    valid = d < FACE_VALID_MAX_SHIFT_M

    # Irises: front pole of each eyeball, and a 5.85 mm circle projected onto it.
    iris_ids, iris_w = [], []
    for side in ("R", "L"):  # mediapipe: 468-472 = the person's right iris, 473-477 = left
        eye_tris = faces[seg[f"eye_front.{side}"]]
        eye_center = rest["heads"][rest["labels"].index(f"eye.{side}")]
        pole = eye_center + np.array([0.0, 0.0, 0.03])
        tt, bb, _ = closest_points_on_triangles(pole[None], verts[eye_tris])
        c = (verts[eye_tris[tt[0]]] * bb[0][:, None]).sum(0)
        r = IRIS_RADIUS_M
        pts = [c, c + [r, 0, 0], c + [0, r, 0], c - [r, 0, 0], c - [0, r, 0]]
        tt, bb, _ = closest_points_on_triangles(np.stack(pts), verts[eye_tris])
        iris_ids.append(eye_tris[tt])
        iris_w.append(bb)
    ids = np.concatenate([ids] + iris_ids)
    weights = np.concatenate([b] + iris_w)
    valid = np.concatenate([valid, np.ones(10, bool)])
    info = {"scale": scale, "shift_mm": d * 1000, "registered": registered}
    return ids, weights, valid, info


Row = tuple[list[int], list[float], list[int], list[float]]


def pack(rows: list[Row]) -> dict[str, np.ndarray]:
    """Pad per-point (vertex ids, vertex weights, joint ids, joint weights) into arrays."""
    k = max(1, max(len(r[0]) for r in rows))
    m = max(1, max(len(r[2]) for r in rows))
    vid = np.zeros((len(rows), k), np.int64)
    vw = np.zeros((len(rows), k))
    jid = np.zeros((len(rows), m), np.int64)
    jw = np.zeros((len(rows), m))
    for i, (a, aw, j, w) in enumerate(rows):
        vid[i, : len(a)], vw[i, : len(a)] = a, aw
        jid[i, : len(j)], jw[i, : len(j)] = j, w
    return {"vertex_ids": vid, "vertex_weights": vw, "joint_ids": jid, "joint_weights": jw}


def build(
    cache_dir: str | None, face_obj: Path, calibrate: bool = True
) -> tuple[dict[str, np.ndarray], dict]:
    from ehps.bodymodels.anny_landmarks import HAND_LANDMARK_NAMES, POSE_LANDMARK_NAMES
    from ehps.bodymodels.anny_mapping import SMPLX_JOINT_NAMES_55

    rest = load_rest(cache_dir)
    coco = coco_regressors(rest["model"])
    joint = {n: i for i, n in enumerate(SMPLX_JOINT_NAMES_55)}
    tips = fingertips(rest)
    face_ids, face_w, face_valid, face_info = register_face(rest, coco, face_obj)
    # Jaw joint: halfway between the ears (COCO) and the face contour points in front of them
    # (mediapipe 234 / 454), i.e. ~1.5 cm in front of the ear canals, where the TMJs are.
    contour = [(rest["verts"][face_ids[k]] * face_w[k][:, None]).sum(0) for k in (234, 454)]
    ears = [
        (rest["verts"][coco[k][0]] * coco[k][1][:, None]).sum(0) for k in ("left_ear", "right_ear")
    ]
    jaw_pivot = 0.5 * (np.mean(contour, axis=0) + np.mean(ears, axis=0))
    jaw_pivot[0] = 0.0
    jaw_angle, jaw_ids, jaw_w = jaw_tables(rest, jaw_pivot)

    def face(i: int):
        return list(face_ids[i]), list(face_w[i]), [], []

    def joints(*names: str):
        return [], [], [joint[n] for n in names], [1.0 / len(names)] * len(names)

    def coco_pt(label: str):
        ids, w = coco[label]
        return list(ids), list(w), [], []

    body_def = {
        "nose": face(1), "left_eye_inner": face(362), "left_eye": face(473),
        "left_eye_outer": face(263), "right_eye_inner": face(133), "right_eye": face(468),
        "right_eye_outer": face(33), "left_ear": coco_pt("left_ear"),
        "right_ear": coco_pt("right_ear"), "mouth_left": face(291), "mouth_right": face(61),
    }  # fmt: skip
    for side in ("left", "right"):
        body_def[f"{side}_shoulder"] = joints(f"{side}_shoulder")
        body_def[f"{side}_elbow"] = joints(f"{side}_elbow")
        body_def[f"{side}_wrist"] = joints(f"{side}_wrist")
        body_def[f"{side}_pinky"] = joints(f"{side}_pinky1")
        body_def[f"{side}_index"] = joints(f"{side}_index1")
        body_def[f"{side}_thumb"] = joints(f"{side}_thumb2")
        body_def[f"{side}_hip"] = joints(f"{side}_hip")
        body_def[f"{side}_knee"] = joints(f"{side}_knee")
        body_def[f"{side}_ankle"] = joints(f"{side}_ankle")
        body_def[f"{side}_heel"] = coco_pt(f"{side}_heel")
        body_def[f"{side}_foot_index"] = coco_pt(f"{side}_big_toe")
    rows_of: dict[str, list[Row]] = {"body": [body_def[n] for n in POSE_LANDMARK_NAMES]}
    fingers = {"thumb": 0, "index": 1, "middle": 2, "ring": 3, "pinky": 4}
    for side, offset in (("left", 0), ("right", 5)):
        rows: list[Row] = []
        for name in HAND_LANDMARK_NAMES:
            if name == "wrist":
                rows.append(joints(f"{side}_wrist"))
                continue
            finger, part = name.split("_")
            if part == "tip":
                rows.append(([int(tips[offset + fingers[finger]])], [1.0], [], []))
            else:
                seg = {"cmc": 1, "mcp": 1, "pip": 2, "dip": 3, "ip": 3}[part]
                if finger == "thumb":
                    seg = {"cmc": 1, "mcp": 2, "ip": 3}[part]
                rows.append(joints(f"{side}_{finger}{seg}"))
        rows_of[f"{side}_hand"] = rows

    empty = np.zeros((len(face_ids), 1), np.int64)
    tables: dict[str, np.ndarray] = {}
    tables.update(
        face_vertex_ids=face_ids.astype(np.int64), face_vertex_weights=face_w,
        face_joint_ids=empty, face_joint_weights=np.zeros((len(face_ids), 1)),
        face_valid=face_valid, tip_vertex_ids=tips, jaw_vertex_ids=jaw_ids,
        jaw_vertex_weights=jaw_w, jaw_open_rad=np.float64(jaw_angle),
        num_vertices=np.int64(rest["verts"].shape[0]),
    )  # fmt: skip
    put_rows(tables, rows_of)
    info = {"jaw_angle": jaw_angle, "jaw_pivot": jaw_pivot, "face": face_info, "rest": rest}
    if calibrate:
        from anny_landmark_calibration import calibrate_rows

        rows_of, info["calibration"] = calibrate_rows(tables, rows_of, rest, cache_dir)
        put_rows(tables, rows_of)
    return tables, info


def put_rows(tables: dict[str, np.ndarray], rows_of: dict[str, list[Row]]) -> None:
    """Pack the landmark rows of each set into ``tables`` (float32 weights, all valid)."""
    for name, rows in rows_of.items():
        for key, arr in pack(rows).items():
            tables[f"{name}_{key}"] = arr
        tables[f"{name}_valid"] = np.ones(len(rows), bool)
    for key in list(tables):
        if tables[key].dtype == np.float64 and key != "jaw_open_rad":
            tables[key] = tables[key].astype(np.float32)


def check_image(path: Path, cache_dir: str | None, info: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ehps.bodymodels.anny import AnnyBody

    body = AnnyBody(cache_dir, dtype=torch.float64)
    with torch.no_grad():
        out = body()
        kp = {k: v[0].numpy() for k, v in body.mediapipe_keypoints(out).items()}
    verts = out.vertices[0].numpy()
    joints = out.joints[0].numpy()
    fig, axes = plt.subplots(2, 3, figsize=(21, 14))
    views = [
        (axes[0, 0], "T-pose front (x, y): body 33 + joints 55", (0, 1), None),
        (axes[0, 1], "face front (x, y): 468 + irises", (0, 1), "face"),
        (axes[0, 2], "face side (z, y)", (2, 1), "face"),
        (axes[1, 0], "left hand from above (x, -z)", (0, 2), "left_hand"),
        (axes[1, 1], "right hand from above (x, -z)", (0, 2), "right_hand"),
        (axes[1, 2], "T-pose side (z, y)", (2, 1), None),
    ]
    for ax, title, (i, j), zoom in views:
        sign_j = -1.0 if j == 2 else 1.0
        if zoom is None:
            sel = np.arange(0, len(verts), 3)
        else:
            center = kp[zoom].mean(0)
            radius = 0.13 if zoom == "face" else 0.14
            sel = np.nonzero(np.linalg.norm(verts - center, axis=1) < radius)[0]
            if zoom == "face":
                sel = sel[verts[sel, 2] > center[2] - 0.1]
        ax.scatter(verts[sel, i], sign_j * verts[sel, j], s=0.3, c="0.7")
        if zoom is None:
            ax.scatter(joints[:, i], sign_j * joints[:, j], s=12, c="b", label="SMPL-X joints")
            ax.scatter(kp["body"][:, i], sign_j * kp["body"][:, j], s=14, c="r", label="pose 33")
            for k in (0, 11, 12, 15, 16, 23, 24, 27, 28, 31, 32):
                ax.annotate(str(k), (kp["body"][k, i], sign_j * kp["body"][k, j]), fontsize=7)
        elif zoom == "face":
            f = kp["face"]
            ax.scatter(f[:468, i], f[:468, j], s=4, c="r")
            ax.scatter(f[468:, i], f[468:, j], s=10, c="g")
            bad = ~body.mediapipe_valid["face"]
            ax.scatter(f[bad, i], f[bad, j], s=30, facecolors="none", edgecolors="k")
            for k in (1, 4, 33, 133, 263, 362, 61, 291, 152, 10, 468, 473):
                ax.annotate(str(k), (f[k, i], f[k, j]), fontsize=7)
        else:
            h = kp[zoom]
            ax.scatter(h[:, i], sign_j * h[:, j], s=16, c="r")
            for k in range(21):
                ax.annotate(str(k), (h[k, i], sign_j * h[k, j]), fontsize=7)
        ax.set_title(title)
        ax.set_aspect("equal")
    axes[0, 0].legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--face-obj", type=Path, default=DEFAULT_FACE_OBJ)
    parser.add_argument("--cache-dir", default=None, help="Anny cache dir (default: ehps's)")
    parser.add_argument("--check-image", type=Path, default=None)
    parser.add_argument(
        "--no-calibrate", action="store_true",
        help="skip fitting the body landmarks to mediapipe's detections on renders (~3 min)",
    )  # fmt: skip
    args = parser.parse_args()
    from ehps.utils.io import atomic_save_npz

    tables, info = build(args.cache_dir, args.face_obj, calibrate=not args.no_calibrate)
    atomic_save_npz(args.out, compressed=True, **tables)
    shift = info["face"]["shift_mm"]
    print(f"wrote {args.out}")
    print(f"jaw: jawOpen=1 <-> {np.degrees(info['jaw_angle']):.1f} deg, pivot {info['jaw_pivot']}")
    print(
        f"face: scale {info['face']['scale']:.4f} (m per canonical m), projection shift "
        f"median {np.median(shift):.1f} mm, max {shift.max():.1f} mm, "
        f"invalid {(~tables['face_valid']).sum()} of {len(tables['face_valid'])}"
    )
    cal = info.get("calibration")
    if cal is not None:
        from ehps.bodymodels.anny_landmarks import POSE_LANDMARK_NAMES

        print(f"mediapipe calibration on renders {cal['detections']}: mean distance between")
        print("mediapipe's landmark and ours, cm at the body (fit scenes / held-out scenes):")
        for i, name in enumerate(POSE_LANDMARK_NAMES):
            o = cal["offsets_cm"][i]
            print(
                f"  {i:2d} {name:17s} offset ({o[0]:5.1f},{o[1]:5.1f},{o[2]:5.1f}) "
                f"n={cal['used'][i]:2d}  fit {cal['fit_before_cm'][i]:4.1f} -> "
                f"{cal['fit_after_cm'][i]:4.1f}  held-out {cal['held_before_cm'][i]:4.1f} -> "
                f"{cal['held_after_cm'][i]:4.1f}"
            )
        print(
            f"  all: fit {cal['fit_before_cm'].mean():.2f} -> {cal['fit_after_cm'].mean():.2f}, "
            f"held-out {cal['held_before_cm'].mean():.2f} -> {cal['held_after_cm'].mean():.2f}"
        )
        hb, ha = cal["hand_before_cm"], cal["hand_after_cm"]
        print(
            f"  hands (Holistic, {cal['hand_used'][[0, 21]]} wrist detections): wrist "
            f"{hb[[0, 21]].round(1)} -> {ha[[0, 21]].round(1)} cm, all 42 points "
            f"{hb.mean():.2f} -> {ha.mean():.2f} cm; wrist offsets "
            f"{cal['hand_offsets_cm'].round(1).tolist()}"
        )
    if args.check_image is not None:
        check_image(args.check_image, args.cache_dir, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What a finished job offers, read from the files the pipeline wrote in its folder.

Nothing here knows a fixed list of outputs: :func:`scan_results` walks the job's output folder and
classifies what it finds, so that a new output of ``ehps infer`` (a ``world.json``, an animated
scene GLB, BVH or FBX files) shows up in the page's downloads and viewer without a change here.

* Per-frame folders (``smplx/``, ``meta/``, ``mesh/``, ``overlay/``) give the viewer's timeline:
  one GLB per frame and person, the overlay PNG of an image.
* Every other file of the sequence folder (or of a sub-folder such as ``anim/``) with a known
  suffix is a download of its own (``overlay.mp4``, ``tracks.npz``, ``world.json``,
  ``anim/scene.glb``, ``anim/track_00.bvh``, ...); ``.glb`` files outside ``mesh/`` are also
  offered to the viewer as animations.
* ``params.zip`` (built on request) holds the parameters: ``smplx/*.npz``, ``meta/*.json`` and the
  sequence-level ``.npz`` / ``.json`` files.

Only the relative paths listed in :attr:`Results.files` can be fetched through the API.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehps.render.shading import color_for_index
from ehps.utils.io import atomic_open

__all__ = ["Results", "scan_results", "build_zip", "ZIP_KINDS"]

_PER_FRAME = {"smplx", "meta", "mesh", "overlay", "state"}
_INTERNAL = {"manifest.json", "summary.json"}
_FRAME_FILE = re.compile(r"^(\d{6})_(\d{2,})\.(\w+)$")
_OVERLAY_PNG = re.compile(r"^(\d{6})\.png$")
#: suffix -> (group, label) of a sequence-level file.
_SUFFIXES: dict[str, tuple[str, str]] = {
    ".mp4": ("overlay", "Overlay video (MP4)"),
    ".glb": ("animation", "Animated scene (glTF binary)"),
    ".gltf": ("animation", "Animated scene (glTF)"),
    ".bvh": ("animation", "Motion (BVH)"),
    ".fbx": ("animation", "Animated character (FBX)"),
    ".npz": ("params", "Arrays (NumPy .npz)"),
    ".json": ("params", "Metadata (JSON)"),
    ".png": ("overlay", "Picture (PNG)"),
    ".csv": ("params", "Table (CSV)"),
}
#: Zips the API builds on request: name -> what goes in.
ZIP_KINDS = ("params", "meshes")
_MEDIA = {".mp4": "video/mp4", ".png": "image/png", ".glb": "model/gltf-binary",
          ".gltf": "model/gltf+json", ".json": "application/json", ".bvh": "text/plain",
          ".npz": "application/octet-stream", ".fbx": "application/octet-stream",
          ".csv": "text/csv", ".zip": "application/zip"}


def media_type(name: str) -> str:
    """The Content-Type for a result file."""
    return _MEDIA.get(Path(name).suffix.lower(), "application/octet-stream")


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(min(max(c, 0.0), 1.0) * 255):02x}" for c in rgb)


@dataclass
class Results:
    """What a job folder holds (paths relative to the job's ``out/`` folder)."""

    root: Path
    sequence: str = ""
    files: dict[str, Path] = field(default_factory=dict)
    meshes: list[tuple[int, int, str]] = field(default_factory=list)
    overlay_images: list[tuple[int, str]] = field(default_factory=list)
    extras: list[tuple[str, str, str]] = field(default_factory=list)  # (rel, group, label)
    params: list[str] = field(default_factory=list)
    camera: dict[str, Any] | None = None
    world: dict[str, Any] | None = None

    def url(self, base: str, rel: str) -> str:
        return f"{base}/files/{rel}"

    def scene(self, base: str, kind: str, fps: float, frames: int) -> dict[str, Any]:
        """The viewer's description (URLs under ``base``, the job's API prefix)."""
        people = sorted({p for _, p, _ in self.meshes})
        by_frame: dict[int, list[dict[str, Any]]] = {}
        for f, p, rel in self.meshes:
            by_frame.setdefault(f, []).append({"person": p, "url": self.url(base, rel)})
        overlay = None
        video = next((rel for rel, g, _ in self.extras if g == "overlay"
                      and rel.endswith(".mp4")), None)
        if video:
            overlay = {"type": "video", "url": self.url(base, video)}
        elif self.overlay_images:
            overlay = {"type": "image", "url": self.url(base, self.overlay_images[0][1]),
                       "frames": {str(f): self.url(base, r) for f, r in self.overlay_images}}
        anims = [{"url": self.url(base, rel), "name": Path(rel).name}
                 for rel, g, _ in self.extras if g == "animation" and rel.endswith((".glb",
                                                                                     ".gltf"))]
        world = None if self.world is None else {
            "url": self.url(base, self.world["rel"]), "data": self.world["data"]}
        return {
            "kind": kind, "fps": fps, "frames": frames, "camera": self.camera,
            "world": world, "overlay": overlay,
            "people": [{"id": p, "color": _hex(color_for_index(p))} for p in people],
            "meshes": [{"frame": f, "people": by_frame[f]} for f in sorted(by_frame)],
            "animations": anims,
        }

    def downloads(self, base: str) -> list[dict[str, Any]]:
        """The page's download list: zips first, then every other file of the sequence."""
        out: list[dict[str, Any]] = []
        if self.params:
            out.append({"label": "Parameters (zip: SMPL-X npz + json)", "group": "params",
                        "url": f"{base}/download/params.zip", "name": "params.zip"})
        glbs = [rel for _, _, rel in self.meshes if rel.endswith(".glb")]
        frames = {f for f, _, _ in self.meshes}
        if len(frames) == 1:
            for _f, p, rel in self.meshes:
                if rel.endswith(".glb"):
                    out.append({"label": f"Mesh of person {p} (GLB)", "group": "mesh",
                                "url": self.url(base, rel), "name": Path(rel).name,
                                "bytes": self.files[rel].stat().st_size})
        elif glbs:
            out.append({"label": f"Meshes per frame and person ({len(glbs)} GLB, zip)",
                        "group": "mesh", "url": f"{base}/download/meshes.zip",
                        "name": "meshes.zip"})
        for rel, group, label in self.extras:
            out.append({"label": label, "group": group, "url": self.url(base, rel),
                        "name": Path(rel).name, "bytes": self.files[rel].stat().st_size})
        for f, rel in self.overlay_images[:1]:
            out.append({"label": "Overlay (PNG)", "group": "overlay", "url": self.url(base, rel),
                        "name": f"overlay_{f:06d}.png", "bytes": self.files[rel].stat().st_size})
        return out


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _camera(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    if not meta:
        return None
    try:
        focal = [float(v) for v in meta.get("focal_full") or meta["focal"]][:2]
        princpt = [float(v) for v in meta.get("princpt_full") or meta["princpt"]][:2]
        hw = [int(v) for v in meta["image_hw"]][:2]
    except (KeyError, TypeError, ValueError):
        return None
    if len(focal) != 2 or len(princpt) != 2 or len(hw) != 2 or min(focal) <= 0 or min(hw) <= 0:
        return None
    return {"focal": focal, "princpt": princpt, "image_hw": hw}


def scan_results(out_dir: Path) -> Results:
    """Classify the files of a finished job's output folder.

    The sequence folder is ``out_dir`` itself (an image) or its only sub-folder with a
    ``manifest.json`` (a video).
    """
    out_dir = Path(out_dir)
    seq_dir = out_dir
    if not (out_dir / "manifest.json").is_file():
        subs = [p for p in sorted(out_dir.iterdir()) if (p / "manifest.json").is_file()]
        if subs:
            seq_dir = subs[0]
    res = Results(out_dir, "" if seq_dir == out_dir else seq_dir.name)
    prefix = f"{res.sequence}/" if res.sequence else ""
    first_meta: Path | None = None
    for path in sorted(seq_dir.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.name.startswith("."):
            continue
        rel_seq = path.relative_to(seq_dir)
        rel = prefix + rel_seq.as_posix()
        top = rel_seq.parts[0] if len(rel_seq.parts) > 1 else ""
        if top in _PER_FRAME:
            m = _FRAME_FILE.match(path.name)
            if top == "mesh" and m and path.suffix == ".glb":
                res.meshes.append((int(m.group(1)), int(m.group(2)), rel))
            elif top == "overlay" and _OVERLAY_PNG.match(path.name):
                res.overlay_images.append((int(path.name[:6]), rel))
            elif top in ("smplx", "meta") and m:
                res.params.append(rel)
                if top == "meta" and first_meta is None:
                    first_meta = path
            else:
                continue
            res.files[rel] = path
            continue
        if len(rel_seq.parts) > 3 or path.name in _INTERNAL:
            continue
        kind = _SUFFIXES.get(path.suffix.lower())
        if kind is None:
            continue
        res.files[rel] = path
        group, label = kind
        if group == "params":
            res.params.append(rel)
        res.extras.append((rel, group, f"{label}: {path.name}"))
        if path.name == "world.json":
            res.world = {"rel": rel, "data": _read_json(path)}
    res.camera = _camera(_read_json(first_meta) if first_meta else None)
    return res


def build_zip(results: Results, which: str, target: Path) -> Path:
    """Write ``params.zip`` (parameters) or ``meshes.zip`` (per-frame GLBs) of a job, once.

    Args:
        results: from :func:`scan_results`.
        which: ``"params"`` or ``"meshes"``.
        target: the zip file to write (atomically); kept and reused when it exists.
    """
    if target.is_file():
        return target
    if which == "params":
        members = list(results.params)
    elif which == "meshes":
        members = [rel for _, _, rel in results.meshes]
    else:
        raise ValueError(f"unknown zip {which!r}")
    cut = len(results.sequence) + 1 if results.sequence else 0
    with atomic_open(target, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
        for rel in members:
            method = zipfile.ZIP_DEFLATED if rel.endswith(".json") else zipfile.ZIP_STORED
            zf.write(results.files[rel], arcname=rel[cut:], compress_type=method)
    return target

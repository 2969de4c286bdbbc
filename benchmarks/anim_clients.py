"""Real clients play ehps's animation exports: Blender (the ``bpy`` wheel) and headless Chromium
with three.js. Prints, per body model and file, the largest distance between the joint positions
each client computes and ehps's own, and saves browser screenshots.

    .venv/bin/python benchmarks/anim_clients.py [--quick] [--sequence DIR] [--out DIR]

Without ``--sequence`` it builds synthetic walks (Anny, and the synthetic SMPL-X model from
``ehps.bodymodels.synthetic``) written as ``ehps infer`` sequence folders; with it, it exports that
folder (e.g. an ``ehps infer`` run on a video). Needs: ``bpy`` (``pip install --no-deps
bpy==5.0.1 zstandard``) for Blender, Debian's ``chromium`` and ``./setup.sh --dev`` (three.js in
web/node_modules) for the browser; a missing client is reported and skipped.

Blender: each GLB, BVH and FBX is imported headless (glTF, BVH and FBX importers of Blender),
the scene is stepped to 3 frames (first, middle, last), and every bone head is read in world
coordinates. The documented axis conversion (Blender is z up; the GLB and the y-up BVH are y up)
is (x, y, z)_blender = (x, -z, y)_file. Browser: the player page (benchmarks/anim_clients/
player.html) is served on 127.0.0.1, loads three.js and the GLB locally, sets the animation time
and reports every bone's world position; screenshots are taken at two times.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "anim_clients"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--enable-unsafe-swiftshader"]  # software WebGL (no GPU here), opted in


def _synthetic_sequences(work: Path, n_frames: int) -> list[tuple[str, Path, str | None]]:
    from ehps.bodymodels.anny import load_anny
    from ehps.bodymodels.smplx import load_smplx
    from ehps.bodymodels.synthetic import write_synthetic_smplx
    from ehps.world.synthetic import make_scene, write_fake_sequence

    out = []
    anny = load_anny()
    scene = make_scene(anny, n_frames=n_frames, camera_height=2.2, pitch_deg=15.0)
    write_fake_sequence(scene, work / "anny", bm=anny, noise_m=0.005, noise_deg=1.0, seed=1)
    out.append(("anny", work / "anny", None))
    model_dir = write_synthetic_smplx(work / "smplx_model", seed=0, write_pkl=False)
    smplx = load_smplx(model_dir)
    scene = make_scene(smplx, n_frames=n_frames, camera_height=2.2, pitch_deg=15.0,
                       walkers=(((-1.0, 0.0), 90.0, 0.0),))
    write_fake_sequence(scene, work / "smplx", body_model="smplx", bm=smplx, noise_m=0.005,
                        noise_deg=1.0, seed=2)
    out.append(("smplx", work / "smplx", str(model_dir)))
    return out


def _export(folder: Path, smplx_path: str | None, fbx: bool):
    from ehps.world.animation import export_animation
    from ehps.world.io import write_world
    from ehps.world.sequence import WorldOptions, solve_world

    sol = solve_world(folder, WorldOptions(smplx_path=smplx_path))
    res = export_animation(sol, ("glb", "bvh", "fbx") if fbx else ("glb", "bvh"))
    write_world(sol, res.to_json())
    return sol, res


def _blender(files: list[Path], fps: float, frames: list[int]) -> dict:
    from ehps.export.anim.fbx import fbx_backend

    cmd = fbx_backend()
    if cmd is None:
        raise RuntimeError("no Blender (pip install --no-deps bpy==5.0.1 zstandard)")
    proc = subprocess.run([cmd[0], str(HERE / "blender_read.py"), "--fps", str(fps),
                           "--frames", *map(str, frames), "--", *map(str, files)],
                          capture_output=True, text=True, timeout=1200)
    if proc.returncode:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _from_blender(p: np.ndarray) -> np.ndarray:
    """Blender world (z up) -> the y-up file frame: the inverse of (x, -z, y)."""
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)


def _sanitize(name: str) -> str:
    """three.js PropertyBinding.sanitizeNodeName."""
    return re.sub(r"[\[\]\.:/]", "", re.sub(r"\s", "_", name))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _serve(root: Path) -> tuple[socketserver.TCPServer, int]:
    handler = lambda *a, **k: _Quiet(*a, directory=str(root), **k)  # noqa: E731
    httpd = socketserver.TCPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, httpd.server_address[1]


def _chromium(url: str, *, screenshot: Path | None = None, size: str = "960,720") -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise RuntimeError("no chromium (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        args = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
                "--virtual-time-budget=30000"]
        args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        proc = subprocess.run([*args, url], capture_output=True, text=True, timeout=300)
    return proc.stdout


def _browser_joints(port: int, glb: str, t: float) -> dict:
    html = _chromium(f"http://127.0.0.1:{port}/player.html?glb=/{glb}&t={t:.6f}")
    m = re.search(r'<pre id="out">(.*?)</pre>', html, re.S)
    if not m:
        raise RuntimeError("the player page wrote no result")
    data = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    if "error" in data:
        raise RuntimeError(data["error"])
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short synthetic clips (30 frames)")
    ap.add_argument("--sequence", default=None, help="an ehps infer sequence folder instead")
    ap.add_argument("--smplx-path", default=None)
    ap.add_argument("--out", default="anim_clients_out", help="screenshots and JSON report")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ehps_anim_clients_"))
    from ehps.export.anim.fbx import fbx_backend

    have_blender = fbx_backend() is not None
    seqs = ([("sequence", Path(args.sequence), args.smplx_path)] if args.sequence
            else _synthetic_sequences(work, 30 if args.quick else 80))
    report: dict = {}
    print(f"{'model':8s} {'file':18s} {'client':9s} {'frames':>10s} {'joints':>6s} "
          f"{'max err mm':>10s}")
    for name, folder, smplx_path in seqs:
        sol, res = _export(folder, smplx_path, have_blender)
        m = sol.motions[0]
        tid = m.track_id
        clip = m.clip(sol.world.with_up("y").world_from_camera, sol.fps)
        ref = clip.transforms[..., :3, 3]  # (T, J, 3) every bone, y-up world
        names = list(m.rig.joint_names)
        n_t = len(ref)
        frames = [0, n_t // 2, n_t - 1]
        stem = f"track_{tid:02d}"
        files = [res.out_dir / f"{stem}.{ext}" for ext in ("glb", "bvh", "fbx")
                 if (res.out_dir / f"{stem}.{ext}").exists()]
        rows = report.setdefault(name, {})
        if have_blender:
            data = _blender(files, sol.fps, frames)
            for path in files:
                arm = next(iter(data[str(path)]["armatures"].values()))
                got = np.stack([np.asarray(arm[n]) for n in names], 1)  # (3, J, 3)
                err = np.linalg.norm(_from_blender(got) - ref[frames], axis=-1)
                loose = [i for i, n in enumerate(names) if n == "jaw"] if path.suffix == ".bvh" \
                    else []
                keep = [i for i in range(len(names)) if i not in loose]
                rows[f"blender {path.suffix[1:]}"] = {
                    "max_mm": float(err[:, keep].max() * 1000),
                    "jaw_mm": float(err[:, loose].max() * 1000) if loose else None,
                    "frames": frames, "blender": data[str(path)]["blender"]}
                extra = f"  (jaw {err[:, loose].max() * 1000:.2f})" if loose else ""
                print(f"{name:8s} {path.name:18s} {'blender':9s} {str(frames):>10s} "
                      f"{len(keep):6d} {err[:, keep].max() * 1000:10.4f}{extra}")
        else:
            print(f"{name:8s} {'-':18s} {'blender':9s} skipped: no bpy")
        site = work / f"site_{name}"
        site.mkdir()
        (site / "three").symlink_to(ROOT / "web" / "node_modules" / "three")
        shutil.copy(HERE / "player.html", site / "player.html")
        for path in (res.out_dir / f"{stem}.glb", res.out_dir / "scene.glb"):
            shutil.copy(path, site / path.name)
        httpd, port = _serve(site)
        try:
            errs = []
            for k in (0, n_t // 2):
                data = _browser_joints(port, f"{stem}.glb", k / sol.fps)
                got = np.stack([data["joints"][_sanitize(n)] for n in names])
                errs.append(float(np.linalg.norm(got - ref[k], axis=-1).max()))
            rows["chromium three.js"] = {"max_mm": max(errs) * 1000, "frames": [0, n_t // 2],
                                         "three_revision": data["revision"]}
            print(f"{name:8s} {stem + '.glb':18s} {'three.js':9s} {str([0, n_t // 2]):>10s} "
                  f"{len(names):6d} {max(errs) * 1000:10.4f}")
            for k, t in enumerate((0.4, 1.2)):
                _chromium(f"http://127.0.0.1:{port}/player.html?glb=/{stem}.glb&t={t}",
                          screenshot=out / f"{name}_{stem}_t{k}.png")
                _chromium(f"http://127.0.0.1:{port}/player.html?glb=/scene.glb&t={t}&view=video",
                          screenshot=out / f"{name}_scene_video_t{k}.png")
        except RuntimeError as exc:
            print(f"{name:8s} browser skipped: {exc}")
        finally:
            httpd.shutdown()
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"screenshots and report.json in {out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())

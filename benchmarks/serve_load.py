"""``ehps serve`` under load, on 127.0.0.1 only: first-result time, per-frame time, and a burst of
concurrent clients.

Starts a real ``ehps serve`` process on a free loopback port (its own temporary work folder) and:

1. **photo**: uploads the bundled photo to the idle server and times upload -> result ready
   (the server's estimator is already loaded: ``warm``), then once more;
2. **clip**: uploads a clip of ``--clip-frames`` frames cut from ``../shared/data/vtest.avi``
   and reports seconds per frame (job time / frames);
3. **burst**: ``--clients`` clients upload at the same moment (images and short videos, from
   threads), then poll their jobs. Every client must end with its job ``done`` or be told
   ``busy`` (HTTP 429) at upload; queued jobs report their position. Then, for every finished job,
   its result URLs name only its own job id, its parameters zip holds only its own input's path,
   and jobs of the same input give the same parameters while different inputs give different
   ones (nothing of one job in another's results).

Throughout, the resident memory of the server process and of all its worker processes is
sampled from ``/proc`` every 0.25 s; the peak is printed. The run is bounded: every wait has a
deadline (``--timeout``) and the server is stopped at the end.

Run (serialised with the other benchmarks on a shared machine):

    flock /tmp/ehps_bench.lock .venv/bin/python benchmarks/serve_load.py
    .venv/bin/python benchmarks/serve_load.py --quick      # 4 clients, 2-frame videos

Pass criteria (printed at the end): the server is alive, every client is done or busy, no
isolation violation.
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "src" / "ehps" / "assets"
VTEST_CANDIDATES = (REPO.parent / "shared" / "data" / "vtest.avi",
                    REPO.parent.parent / "shared" / "data" / "vtest.avi")


# ------------------------------------------------------------------------------ HTTP helpers
def http(method: str, url: str, data: bytes | None = None,
         timeout: float = 120.0) -> tuple[int, dict[str, Any] | bytes]:
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def wait_job(base: str, job_id: str, deadline: float) -> dict[str, Any]:
    seen_queued = 0
    while True:
        _, body = http("GET", f"{base}/api/jobs/{job_id}")
        assert isinstance(body, dict)
        if body.get("status") == "queued":
            seen_queued = max(seen_queued, body.get("position", 0))
        if body.get("status") in ("done", "error", "cancelled"):
            body["max_position"] = seen_queued
            return body
        if time.monotonic() > deadline:
            body["max_position"] = seen_queued
            body["status"] = f"timeout ({body.get('status')})"
            return body
        time.sleep(0.3)


# ------------------------------------------------------------------------------ memory
def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


class MemorySampler(threading.Thread):
    """Peak RSS of a process tree (the server and its workers), from /proc."""

    def __init__(self, pid: int, period_s: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.period = pid, period_s
        self.peak_total_kb = self.peak_server_kb = self.peak_workers = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.period):
            tree, todo = [], [self.pid]
            while todo:
                p = todo.pop()
                tree.append(p)
                todo += _children(p)
            total = sum(_rss_kb(p) for p in tree)
            self.peak_total_kb = max(self.peak_total_kb, total)
            self.peak_server_kb = max(self.peak_server_kb, _rss_kb(self.pid))
            self.peak_workers = max(self.peak_workers, len(tree) - 1)


# ------------------------------------------------------------------------------ inputs
def clip_bytes(start: int, frames: int) -> bytes:
    import av

    vtest = next((p for p in VTEST_CANDIDATES if p.is_file()), None)
    if vtest is None:
        raise SystemExit("vtest.avi not found next to the repository (../shared/data)")
    buf = io.BytesIO()
    with av.open(str(vtest)) as src, av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4",
                                rate=10)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i >= start + frames:
                break
            if i >= start:
                img = frame.to_ndarray(format="rgb24")
                for p in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(p)
        for p in stream.encode():
            out.mux(p)
    return buf.getvalue()


# ------------------------------------------------------------------------------ checks
def isolation_problems(base: str, jobs: list[dict[str, Any]]) -> list[str]:
    """Result URLs and zipped parameters of each job name only that job; same input -> same
    parameters, different inputs -> different parameters."""
    problems: list[str] = []
    params: dict[str, dict[str, np.ndarray]] = {}
    for job in jobs:
        jid = job["id"]
        _, result = http("GET", f"{base}/api/jobs/{jid}/result")
        assert isinstance(result, dict)
        text = json.dumps(result)
        others = [j["id"] for j in jobs if j["id"] != jid and j["id"] in text]
        if others:
            problems.append(f"{jid}: result names other jobs {others}")
        status, data = http("GET", f"{base}/api/jobs/{jid}/download/params.zip")
        if status != 200 or not isinstance(data, bytes):
            problems.append(f"{jid}: params.zip HTTP {status}")
            continue
        zf = zipfile.ZipFile(io.BytesIO(data))
        arrays = {}
        for name in zf.namelist():
            if name.endswith(".json") and name.startswith("meta/"):
                meta = json.loads(zf.read(name))
                if jid not in meta.get("img_path", ""):
                    problems.append(f"{jid}: {name} is about {meta.get('img_path')}")
            if name.endswith(".npz") and name.startswith("smplx/"):
                with np.load(io.BytesIO(zf.read(name)), allow_pickle=False) as z:
                    arrays[name] = np.concatenate([np.ravel(z[k]) for k in sorted(z.files)
                                                   if z[k].dtype.kind == "f"])
        params[jid] = arrays
    by_input: dict[str, list[str]] = {}
    for job in jobs:
        by_input.setdefault(job["input"], []).append(job["id"])
    for name, ids in by_input.items():
        ref = params.get(ids[0], {})
        for other in ids[1:]:
            got = params.get(other, {})
            if got.keys() != ref.keys() or any(
                    not np.allclose(got[k], ref[k], atol=1e-4) for k in ref):
                problems.append(f"{name}: jobs {ids[0]} and {other} differ")
    firsts = {n: params.get(ids[0], {}) for n, ids in by_input.items()}
    names = sorted(firsts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = firsts[a].keys() & firsts[b].keys()
            if shared and all(np.allclose(firsts[a][k], firsts[b][k]) for k in shared):
                problems.append(f"{a} and {b} gave the same parameters")
    return problems


# ------------------------------------------------------------------------------ main
def start_server(args: argparse.Namespace, work: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(work / "server.log", "w")
    cmd = [sys.executable, "-m", "ehps", "serve", "--port", str(port), "--work-dir",
           str(work / "jobs"), "--workers", str(args.workers), "--queue", str(args.queue),
           "--max-video-s", "30", "--render-backend", "torch"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/health", timeout=2).read()
            return proc, base
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((work / "server.log").read_text()) from None
            time.sleep(0.5)


def one_job(base: str, data: bytes, name: str, deadline: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    status, body = http("POST", f"{base}/api/jobs?name={name}", data)
    if status != 202:
        return {"input": name, "http": status, "status": "busy" if status == 429 else "rejected",
                "error": body.get("error") if isinstance(body, dict) else str(body)[:200]}
    assert isinstance(body, dict)
    first_position = body.get("position", 0)
    job = wait_job(base, body["id"], deadline)
    job.update(input=name, http=status, first_position=first_position,
               wall_s=time.perf_counter() - t0)
    return job


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 clients, 2-frame videos")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--videos", type=int, default=2, help="clients that upload a video")
    ap.add_argument("--video-frames", type=int, default=3, help="frames of the burst's videos")
    ap.add_argument("--clip-frames", type=int, default=10, help="frames of the per-frame clip")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--queue", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=3600.0, help="deadline of the whole run")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.video_frames, args.clip_frames = 4, 2, 3
        args.videos = min(args.videos, 1)
    deadline = time.monotonic() + args.timeout
    photo = (ASSETS / "basketball1.png").read_bytes()
    photo2 = (ASSETS / "basketball2.png").read_bytes()
    figures: dict[str, Any] = {"workers": args.workers, "queue": args.queue}
    with tempfile.TemporaryDirectory(prefix="ehps-serve-load-") as tmp:
        proc, base = start_server(args, Path(tmp))
        mem = MemorySampler(proc.pid)
        mem.start()
        try:
            # 1. first result for the photo (the worker warms up its estimator at start)
            t0 = time.perf_counter()
            while http("GET", f"{base}/api/health")[1].get("ok") is not True:  # type: ignore
                time.sleep(0.2)
            ttfr, inside = [], []
            for _ in range(2):
                job = one_job(base, photo, "basketball1.png", deadline)
                ttfr.append(job.get("wall_s") or float("nan"))
                inside.append(job.get("summary", {}).get("seconds") or float("nan"))
                if job["status"] != "done":
                    print("photo job:", job)
            figures["photo_first_result_s"] = {
                "cold": round(ttfr[0], 2), "warm": round(ttfr[1], 2),
                "pipeline_warm": round(inside[1], 2),
                "server_overhead_warm": round(ttfr[1] - inside[1], 2),
                "server_up_to_first_result": round(time.perf_counter() - t0, 2)}
            print(f"photo: upload -> result {ttfr[0]:.1f} s cold (the worker still loading its "
                  f"estimator), {ttfr[1]:.1f} s warm = pipeline {inside[1]:.1f} s + upload, "
                  f"queue, polling {ttfr[1] - inside[1]:.1f} s "
                  f"(ratio {ttfr[1] / inside[1]:.2f})")
            # 2. per-frame time on a clip of vtest
            clip = clip_bytes(100, args.clip_frames)
            job = one_job(base, clip, "vtest_clip.mp4", deadline)
            per_frame = job["summary"]["seconds"] / max(job["frames_done"], 1) \
                if job["status"] == "done" else None
            figures["clip"] = {"frames": job.get("frames_done"), "people": job.get("people"),
                               "job_s": job.get("summary", {}).get("seconds"),
                               "s_per_frame": per_frame and round(per_frame, 2),
                               "timings_s": job.get("summary", {}).get("timings_s")}
            print(f"clip: {job.get('frames_done')} frames, {job.get('people')} people, "
                  f"{per_frame and round(per_frame, 2)} s/frame  ({job['status']})")
            # 3. burst: every client at once
            inputs = []
            for i in range(args.clients):
                if i < args.videos:
                    inputs.append((clip_bytes(200 + 40 * i, args.video_frames), f"video{i}.mp4"))
                else:
                    inputs.append((photo if i % 2 else photo2,
                                   "basketball1.png" if i % 2 else "basketball2.png"))
            results: list[dict[str, Any]] = [{} for _ in inputs]
            go = threading.Barrier(len(inputs))

            def client(k: int) -> None:
                go.wait()
                results[k] = one_job(base, inputs[k][0], inputs[k][1], deadline)

            threads = [threading.Thread(target=client, args=(k,)) for k in range(len(inputs))]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join(max(deadline - time.monotonic(), 1.0))
            burst_s = time.perf_counter() - t0
            alive = proc.poll() is None and http("GET", f"{base}/api/health")[1].get("ok")
            print(f"\nburst: {len(inputs)} clients at once, {args.workers} worker(s), queue "
                  f"{args.queue}, {burst_s:.0f} s")
            print(f"{'client':>6} {'input':<16} {'http':>4} {'queued at':>9} {'status':<10} "
                  f"{'frames':>6} {'people':>6} {'s':>7}")
            for k, r in enumerate(results):
                print(f"{k:>6} {r.get('input', ''):<16} {r.get('http', ''):>4} "
                      f"{r.get('first_position', '') or '-':>9} {r.get('status', ''):<10} "
                      f"{r.get('frames_done', ''):>6} {r.get('people', ''):>6} "
                      f"{r.get('wall_s', 0):>7.1f}")
            done = [r for r in results if r.get("status") == "done"]
            busy = [r for r in results if r.get("status") == "busy"]
            other = [r for r in results if r not in done and r not in busy]
            problems = isolation_problems(base, done)
            figures["burst"] = {"clients": len(inputs), "done": len(done), "busy_429": len(busy),
                                "other": [(r.get("input"), r.get("status"), r.get("error"))
                                          for r in other],
                                "queued_positions": sorted({r.get("first_position", 0)
                                                            for r in done}),
                                "seconds": round(burst_s, 1), "isolation_problems": problems,
                                "server_alive": bool(alive)}
        finally:
            mem.stop.set()
            mem.join()
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    figures["peak_rss_mb"] = {"server_and_workers": round(mem.peak_total_kb / 1024),
                              "server_process": round(mem.peak_server_kb / 1024),
                              "child_processes": mem.peak_workers}
    ok = figures["burst"]["server_alive"] and not figures["burst"]["other"] and not problems
    print(f"done {len(done)}, busy (429) {len(busy)}, other {len(other)}; isolation problems: "
          f"{len(problems)}; server alive: {figures['burst']['server_alive']}")
    for p in problems:
        print("  ", p)
    print(f"peak memory: {figures['peak_rss_mb']['server_and_workers']} MB (server + "
          f"{mem.peak_workers} child processes; server alone "
          f"{figures['peak_rss_mb']['server_process']} MB)")
    print("PASS" if ok else "FAIL")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when piped to a file
    raise SystemExit(main())

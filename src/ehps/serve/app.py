"""The HTTP side of ``ehps serve``: a FastAPI app with one page and a small JSON API.

API (every job URL carries the job's random id; anything else is a 404):

========================================  ==================================================
``GET  /``                                the page
``GET  /api/config``                      limits and estimators
``POST /api/jobs?estimator=ID&name=N``    body = the file's bytes -> 202 + the job, or 400 /
                                          413 (too large/long) / 415 (not an image or video) /
                                          422 (unreadable) / 429 (queue full)
``GET  /api/jobs/{id}``                   status, queue position, progress, ETA, error
``POST /api/jobs/{id}/cancel``            cancel (``DELETE /api/jobs/{id}`` too)
``GET  /api/jobs/{id}/result``            viewer scene + downloads (when done)
``GET  /api/jobs/{id}/files/{path}``      one result file listed by ``result``
``GET  /api/jobs/{id}/download/{z}.zip``  ``params.zip`` / ``meshes.zip``
``GET  /api/health``                      queue and worker counts
========================================  ==================================================

The upload is the raw request body (``curl --data-binary @photo.jpg``), streamed to disk and
stopped at the size limit; its name is kept for display only.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from ehps import __version__
from ehps.serve.assets import STATIC_DIR, missing_assets, missing_message
from ehps.serve.config import ServeConfig
from ehps.serve.jobs import Job, JobManager, QueueFull
from ehps.serve.probe import HEAD_BYTES, UploadRejected, sniff
from ehps.serve.results import ZIP_KINDS, build_zip, media_type, scan_results

__all__ = ["create_app", "display_name"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_IMPORTMAP = re.compile(r'<script type="importmap">(.*?)</script>', re.S)


def display_name(name: str) -> str:
    """The uploaded file name as shown on the page: its last component, printable, <= 80 chars.
    It is never used as a path."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:80] or "upload"


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers or None)


def _page(static_dir: Path) -> tuple[str, str]:
    html = (static_dir / "index.html").read_text(encoding="utf-8")
    hashes = [base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode()
              for m in _IMPORTMAP.finditer(html)]
    script = " ".join(["'self'", *[f"'sha256-{h}'" for h in hashes]])
    csp = (f"default-src 'self'; script-src {script}; style-src 'self'; "
           "img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self' blob:; "
           "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
    return html, csp


def create_app(config: ServeConfig, static_dir: Path = STATIC_DIR) -> FastAPI:
    """The ASGI app of ``ehps serve``.

    Args:
        config: limits, estimators, workers; ``config.work_dir`` (or a fresh temporary folder,
            removed at shutdown) holds the jobs.
        static_dir: the page's files.

    The worker processes start with the app (its lifespan) and stop with it.
    """
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        temp = config.work_dir is None
        work = Path(tempfile.mkdtemp(prefix="ehps-serve-")) if temp else Path(config.work_dir)
        manager = JobManager(config, work)
        manager.start()
        state["manager"] = app.state.manager = manager
        try:
            yield
        finally:
            manager.stop()
            if temp:
                shutil.rmtree(work, ignore_errors=True)

    app = FastAPI(title="ehps serve", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.mount("/static", StaticFiles(directory=static_dir), name="static")
    loopback_only = config.host in _LOOPBACK

    def manager() -> JobManager:
        return state["manager"]

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0] if loopback_only else ""
        if loopback_only and host.strip("[]") not in {h.strip("[]") for h in _LOOPBACK}:
            # a page on another site that resolves its name to 127.0.0.1 (DNS rebinding)
            return _error(421, "bad_host", "this server answers only to 127.0.0.1/localhost")
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/", response_class=HTMLResponse)
    def index() -> Response:
        missing = missing_assets(static_dir)
        if missing:
            text = missing_message(missing)
            return HTMLResponse(f"<!doctype html><title>ehps serve</title><h1>ehps serve</h1>"
                                f"<p>{text}</p>", status_code=503)
        html, csp = _page(static_dir)
        return HTMLResponse(html, headers={"Content-Security-Policy": csp})

    @app.get("/api/config")
    def api_config() -> dict[str, Any]:
        return {"version": __version__, "limits": config.limits_json(),
                "estimators": [e.to_json() for e in config.estimators]}

    @app.get("/api/health")
    def api_health() -> dict[str, Any]:
        m = manager()
        counts = m.counts()
        return {"ok": True, "queued": counts["queued"], "running": counts["running"],
                "completed": m.completed, "workers": config.workers}

    @app.post("/api/jobs", status_code=202)
    async def create_job(request: Request, estimator: str = "", name: str = "") -> Response:
        m = manager()
        choice = config.estimator(estimator)
        if choice is None:
            known = ", ".join(e.id for e in config.estimators)
            return _error(400, "bad_estimator", f"unknown estimator {estimator!r}; use one of "
                          f"{known}")
        limit = config.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _error(413, "too_large", f"the file is {int(declared) / 2**20:.1f} MB; this "
                          f"server takes at most {config.max_upload_mb:g} MB")
        if m.queue_free() <= 0:
            return _error(429, "busy", f"busy: {config.queue_size} jobs are already waiting; "
                          "try again in a minute", **{"Retry-After": "60"})
        job = m.new_job(display_name(name), choice)
        part = job.folder / "input" / "upload.part"
        try:
            total, head = 0, bytearray()
            with part.open("wb") as fh:
                async for chunk in request.stream():
                    total += len(chunk)
                    if total > limit:
                        raise UploadRejected("too_large", f"the file is larger than "
                                             f"{config.max_upload_mb:g} MB, the limit of this "
                                             "server", 413)
                    if len(head) < HEAD_BYTES:
                        head += chunk[: HEAD_BYTES - len(head)]
                    fh.write(chunk)
            if total == 0:
                raise UploadRejected("empty", "the upload is empty", 400)
            kind_suffix = sniff(bytes(head))
            if kind_suffix is None:
                raise UploadRejected(
                    "unsupported_type", "this is not an image or a video that ehps reads (its "
                    "content is neither JPEG, PNG, BMP, TIFF, WebP nor MP4, MOV, AVI, MKV, WebM, "
                    "MPEG, GIF; the file name does not matter)", 415)
            kind, suffix = kind_suffix
            path = part.rename(job.folder / "input" / f"input{suffix}")
            info = await run_in_threadpool(m.probe, path, kind)
            m.submit(job, path, info)
        except UploadRejected as exc:
            m.discard(job)
            return _error(exc.status, exc.code, str(exc))
        except QueueFull:
            m.discard(job)
            return _error(429, "busy", f"busy: {config.queue_size} jobs are already waiting; "
                          "try again in a minute", **{"Retry-After": "60"})
        except ClientDisconnect:
            m.discard(job)
            return _error(400, "disconnected", "the upload was interrupted")
        return JSONResponse(job.to_json(), status_code=202,
                            headers={"Location": f"/api/jobs/{job.id}"})

    def find(job_id: str) -> Job | None:
        job = manager().get(job_id)
        return job if job is not None and job.status != "uploading" else None

    @app.get("/api/jobs/{job_id}")
    def get_job(job_id: str) -> Response:
        job = find(job_id)
        if job is None:
            return _error(404, "not_found", "no such job (it may have expired)")
        return JSONResponse(job.to_json())

    @app.post("/api/jobs/{job_id}/cancel")
    @app.delete("/api/jobs/{job_id}")
    def cancel_job(job_id: str) -> Response:
        job = find(job_id)
        if job is None:
            return _error(404, "not_found", "no such job (it may have expired)")
        manager().cancel(job)
        return JSONResponse(job.to_json(), status_code=202)

    def results_of(job: Job) -> Any:
        if job.status != "done":
            return None
        if job.results is None:
            job.results = scan_results(job.out_dir)
        return job.results

    @app.get("/api/jobs/{job_id}/result")
    def get_result(job_id: str) -> Response:
        job = find(job_id)
        if job is None:
            return _error(404, "not_found", "no such job (it may have expired)")
        res = results_of(job)
        if res is None:
            return _error(409, "not_done", f"the job is {job.status}", **{"Retry-After": "1"})
        base = f"/api/jobs/{job.id}"
        fps = job.info.fps if job.info else 0.0
        frames = max([f for f, _, _ in res.meshes] + [job.frames_done - 1, 0]) + 1
        return JSONResponse({"job": job.to_json(), "scene": res.scene(base, job.kind, fps, frames),
                             "downloads": res.downloads(base)})

    def serve_file(path: Path, name: str, download: bool) -> Response:
        disp = "attachment" if download else "inline"
        return FileResponse(path, media_type=media_type(name), content_disposition_type=disp,
                            filename=f"ehps_{name}")

    @app.get("/api/jobs/{job_id}/files/{rel:path}")
    def get_file(job_id: str, rel: str, download: int = 0) -> Response:
        job = find(job_id)
        res = results_of(job) if job is not None else None
        path = res.files.get(rel) if res is not None else None
        if job is None or path is None or not path.resolve().is_relative_to(
                job.out_dir.resolve()):
            return _error(404, "not_found", "no such file")
        return serve_file(path, rel.replace("/", "_"), bool(download))

    @app.get("/api/jobs/{job_id}/download/{name}")
    async def get_zip(job_id: str, name: str) -> Response:
        job = find(job_id)
        res = results_of(job) if job is not None else None
        which = name.removesuffix(".zip")
        if job is None or res is None or not name.endswith(".zip") or which not in ZIP_KINDS:
            return _error(404, "not_found", "no such download")
        target = job.folder / "downloads" / name
        await run_in_threadpool(build_zip, res, which, target)
        return serve_file(target, f"{job.kind}_{name}", True)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    return app

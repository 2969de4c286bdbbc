"""Jobs of ``ehps serve``: one bounded queue, a fixed number of worker processes, cancel, time
limits and clean-up.

A job is created by an upload (:meth:`JobManager.create`), waits in the queue (at most
``queue_size`` jobs; one more is refused with :class:`QueueFull`), runs in one of ``workers``
processes, and ends ``done``, ``error`` or ``cancelled``. One dispatcher thread per worker slot
moves jobs from the queue to its process and follows its messages; a cancel or a time limit
kills that process (a fresh one starts for the next job), and a process that dies fails only its
job. Finished jobs and their files are deleted ``result_ttl_s`` after they end.

Job ids are 128-bit random (``secrets.token_urlsafe(16)``); a job's files live in
``<work_dir>/jobs/<id>/`` and nothing in them is named by the client.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehps.serve.adapter import JobSpec
from ehps.serve.config import EstimatorChoice, ServeConfig
from ehps.serve.probe import MediaInfo, UploadRejected
from ehps.serve.worker import ProcessSlot, SlotDied, job_worker_main, probe_worker_main

__all__ = ["Job", "JobManager", "QueueFull", "JOB_ID_RE", "new_job_id"]

log = logging.getLogger(__name__)

#: What :func:`new_job_id` makes (22 URL-safe characters, 128 random bits).
JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
_TERMINAL = ("done", "error", "cancelled")


def new_job_id() -> str:
    """A random, unguessable job id (128 bits from the OS's CSPRNG)."""
    return secrets.token_urlsafe(16)


class QueueFull(Exception):
    """The queue holds ``queue_size`` jobs already."""


@dataclass
class Job:
    """One upload and what became of it (the server's view; :meth:`to_json` is the page's)."""

    id: str
    folder: Path
    display_name: str
    estimator: EstimatorChoice
    created: float = field(default_factory=time.time)
    kind: str = ""
    info: MediaInfo | None = None
    input_path: Path | None = None
    status: str = "uploading"
    stage: str = ""
    started: float | None = None
    ended: float | None = None
    frames_done: int = 0
    frames_total: int = 0
    people: int = 0
    error_code: str = ""
    error: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    cancel_requested: bool = False
    position: int = 0
    results: Any = None  # ehps.serve.results.Results, once done and asked for
    last_frame_at: float | None = None

    @property
    def out_dir(self) -> Path:
        return self.folder / "out"

    @property
    def finished(self) -> bool:
        return self.status in _TERMINAL

    def eta_s(self, now: float) -> float | None:
        """Seconds left, from the pace of the frames done so far (``None`` until one is done).

        The time per frame is measured up to the last finished frame; the time already spent
        on the next one is taken off (never below a tenth of a frame per frame left)."""
        if self.status != "running" or self.started is None or not self.frames_done:
            return None
        left = max(self.frames_total - self.frames_done, 0)
        last = self.last_frame_at or now
        per_frame = max(last - self.started, 0.0) / self.frames_done
        return max(per_frame * left - (now - last), 0.1 * per_frame * left)

    def to_json(self) -> dict[str, Any]:
        now = time.time()
        end = self.ended or now
        eta = self.eta_s(now)
        out: dict[str, Any] = {
            "id": self.id, "name": self.display_name, "kind": self.kind,
            "estimator": self.estimator.id, "status": self.status, "stage": self.stage,
            "position": self.position if self.status == "queued" else 0,
            "frames_done": self.frames_done, "frames_total": self.frames_total,
            "people": self.people,
            "elapsed_s": round(end - self.started, 2) if self.started else 0.0,
            "eta_s": None if eta is None else round(eta, 1),
            "info": self.info.to_json() if self.info else None,
        }
        if self.error:
            out["error"] = {"code": self.error_code, "message": self.error}
        if self.status == "done":
            s = self.summary
            out["summary"] = {k: s.get(k) for k in ("estimator", "frames_done", "people",
                                                     "seconds", "frames_per_s", "timings_s",
                                                     "failures", "has_meshes")}
        return out


class JobManager:
    """The queue and the worker processes of one server.

    Args:
        config: limits and sizes (:class:`ServeConfig`).
        work_dir: where job folders go (created).
    """

    def __init__(self, config: ServeConfig, work_dir: Path) -> None:
        self.config = config
        self.jobs_dir = Path(work_dir) / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        threads = max(1, (os.cpu_count() or 1) // max(config.workers, 1))
        warm = config.estimators[0] if (config.warm and config.estimators) else None
        self._slots = [ProcessSlot(job_worker_main, (warm, threads), f"ehps-serve-job-{i}")
                       for i in range(config.workers)]
        self._probe = ProcessSlot(probe_worker_main, (), "ehps-serve-probe")
        self._probe_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.completed = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the worker processes and their dispatcher threads, and the clean-up thread."""
        for i, slot in enumerate(self._slots):
            slot.start()
            t = threading.Thread(target=self._dispatch, args=(slot,), daemon=True,
                                 name=f"ehps-serve-dispatch-{i}")
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._cleanup_loop, daemon=True, name="ehps-serve-cleanup")
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Kill every worker and stop the threads (queued jobs are dropped)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for slot in [*self._slots, self._probe]:
            slot.kill(grace_s=1.0)

    # ------------------------------------------------------------------ jobs
    def new_job(self, display_name: str, estimator: EstimatorChoice) -> Job:
        """A job folder for an upload that is about to stream in (not queued yet)."""
        while True:
            job_id = new_job_id()
            if job_id not in self.jobs:
                break
        folder = self.jobs_dir / job_id
        (folder / "input").mkdir(parents=True)
        job = Job(job_id, folder, display_name, estimator)
        with self._cond:
            self.jobs[job_id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        if not JOB_ID_RE.match(job_id or ""):
            return None
        return self.jobs.get(job_id)

    def counts(self) -> dict[str, int]:
        """Jobs per status (a consistent snapshot)."""
        with self._cond:
            statuses = [j.status for j in self.jobs.values()]
        return {s: statuses.count(s) for s in ("queued", "running", "done", "error",
                                               "cancelled")}

    def queue_free(self) -> int:
        """Places left in the queue."""
        with self._cond:
            return self.config.queue_size - len(self._queue)

    def discard(self, job: Job) -> None:
        """Forget a job that never made it into the queue (rejected upload) and its files."""
        with self._cond:
            self.jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def probe(self, path: Path, kind: str) -> MediaInfo:
        """Check an upload in the probe process (see :func:`ehps.serve.probe.probe_file`).

        Raises:
            UploadRejected: over a limit or unreadable (also when the decoder crashed).
        """
        c = self.config
        limits = {"max_pixels": c.max_pixels, "max_video_s": c.max_video_s,
                  "max_video_frames": c.max_video_frames}
        with self._probe_lock:
            try:
                self._probe.start()
                self._probe.send(("probe", str(path), kind, limits))
                deadline = time.monotonic() + 60.0
                while True:
                    msg = self._probe.recv(0.5)
                    if msg is not None:
                        break
                    if time.monotonic() > deadline:
                        self._probe.kill()
                        raise UploadRejected("unreadable", "the file took too long to read")
            except SlotDied as exc:
                self._probe.kill()
                raise UploadRejected("unreadable", "the file could not be read (the decoder "
                                     f"crashed: {exc})") from exc
        if msg[0] == "probed":
            return msg[1]
        raise UploadRejected(msg[1], msg[2], 413 if msg[1].startswith("too_") else 422)

    def submit(self, job: Job, input_path: Path, info: MediaInfo) -> None:
        """Queue a checked upload.

        Raises:
            QueueFull: ``queue_size`` jobs are waiting already.
        """
        with self._cond:
            if len(self._queue) >= self.config.queue_size or self._stopping:
                raise QueueFull(len(self._queue))
            job.input_path, job.info, job.kind = input_path, info, info.kind
            job.frames_total = info.frames
            job.status = "queued"
            self._queue.append(job)
            self._renumber()
            self._cond.notify_all()

    def cancel(self, job: Job) -> None:
        """Cancel a queued job at once, or a running one by killing its process."""
        with self._cond:
            if job.status == "queued":
                with contextlib.suppress(ValueError):
                    self._queue.remove(job)
                self._renumber()
                self._end(job, "cancelled", "cancelled", "cancelled before it started")
            elif job.status == "running":
                job.cancel_requested = True

    def _renumber(self) -> None:
        for i, j in enumerate(self._queue):
            j.position = i + 1

    def _end(self, job: Job, status: str, code: str = "", message: str = "") -> None:
        job.status, job.error_code, job.error = status, code, message
        job.ended = time.time()
        job.stage = ""
        self.completed += status == "done"

    # ------------------------------------------------------------------ dispatch
    def _next(self) -> Job | None:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait(1.0)
            if self._stopping:
                return None
            job = self._queue.popleft()
            self._renumber()
            job.status, job.started, job.stage = "running", time.time(), "starting"
            return job

    def _dispatch(self, slot: ProcessSlot) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                self._run(slot, job)
            except Exception as exc:  # never let a dispatcher die
                log.exception("job %s", job.id)
                slot.kill()
                if not job.finished:
                    self._end(job, "error", "internal", f"internal error: {exc}")

    def _run(self, slot: ProcessSlot, job: Job) -> None:
        assert job.input_path is not None and job.info is not None
        spec = JobSpec(job.id, str(job.input_path), job.kind, str(job.out_dir), job.display_name,
                       job.estimator, max_frames=self.config.max_video_frames,
                       render_backend=self.config.render_backend)
        deadline = time.monotonic() + self.config.job_timeout_s
        try:
            slot.start()
            if not slot.ready:
                job.stage = "loading the estimator"
            slot.send(("run", spec, job.frames_total))
            while True:
                if job.cancel_requested:
                    slot.kill()
                    self._end(job, "cancelled", "cancelled", "cancelled while running")
                    return
                if time.monotonic() > deadline:
                    slot.kill()
                    self._end(job, "error", "timeout",
                              f"the job ran past the time limit of {self.config.job_timeout_s:g}"
                              " s and was stopped (try a shorter video, or start the server "
                              "with a larger --job-timeout)")
                    return
                msg = slot.recv(0.2)
                if msg is None:
                    continue
                if msg[0] == "ready":
                    slot.ready = True
                if msg[0] == "stage":
                    job.stage = msg[1]
                elif msg[0] == "progress":
                    if msg[1] > job.frames_done:
                        job.last_frame_at = time.time()
                    job.frames_done, total, job.people = msg[1], msg[2], msg[3]
                    job.frames_total = max(total, job.frames_total)
                elif msg[0] == "done":
                    job.summary = msg[1]
                    job.frames_done = int(job.summary.get("frames_done", job.frames_done))
                    self._end(job, "done")
                    return
                elif msg[0] == "failed":
                    self._end(job, "error", msg[1], msg[2])
                    return
        except SlotDied as exc:
            slot.kill()
            self._end(job, "error", "crashed",
                      f"the worker process crashed while reading {job.display_name} ({exc}); "
                      "the file may be corrupt. Other jobs are not affected.")

    # ------------------------------------------------------------------ clean-up
    def cleanup(self, now: float | None = None) -> int:
        """Delete jobs that ended more than ``result_ttl_s`` ago (and stale uploads). Returns
        how many were deleted."""
        now = time.time() if now is None else now
        ttl = self.config.result_ttl_s
        with self._cond:
            old = [j for j in self.jobs.values()
                   if (j.finished and j.ended is not None and now - j.ended > ttl)
                   or (j.status == "uploading" and now - j.created > max(ttl, 3600.0))]
            for j in old:
                del self.jobs[j.id]
        for j in old:
            shutil.rmtree(j.folder, ignore_errors=True)
        return len(old)

    def _cleanup_loop(self) -> None:
        period = min(60.0, max(1.0, self.config.result_ttl_s / 4))
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._cond.wait(period)
                if self._stopping:
                    return
            self.cleanup()

"""Worker processes of ``ehps serve``: jobs and file probes run outside the server process.

A :class:`ProcessSlot` is one long-lived child process (``spawn`` start method: no forked
threads, no inherited torch state) talking over a pipe. The server kills a slot to cancel a job
or to end one that ran past its time limit, and starts a fresh one on the next job; a child
that crashes (a segfault in a decoder, out of memory) only fails the job it was running.

Messages (tuples, first item the type):
    server -> job worker:   ("run", JobSpec, frames_total) | ("stop",)
    job worker -> server:   ("ready",) | ("stage", text) | ("progress", frames, total, people)
                            | ("done", summary) | ("failed", code, message)
    server -> probe worker: ("probe", path, kind, limits) ; probe -> server: ("probed", info)
                            | ("rejected", code, message)
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import threading
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from ehps.serve.adapter import (
    JobFailed,
    JobSpec,
    Progress,
    clean_message,
    load_predictor,
    run_job,
)
from ehps.serve.config import EstimatorChoice

__all__ = ["ProcessSlot", "SlotDied", "job_worker_main", "probe_worker_main"]

log = logging.getLogger(__name__)


class SlotDied(Exception):
    """The child process of a slot exited (crash, kill) while the server waited for it."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(f"worker process exited (code {exitcode})")
        self.exitcode = exitcode


class ProcessSlot:
    """One child process running ``target(conn, *args)``, started on demand.

    Args:
        target: the child's main function (module level, picklable).
        args: its extra arguments.
        name: process name (shows in ``ps``).
    """

    def __init__(self, target: Any, args: tuple[Any, ...] = (), name: str = "ehps-worker"):
        self._ctx = mp.get_context("spawn")
        self._target, self._args, self._name = target, args, name
        self.process: Any = None
        self.conn: Connection | None = None
        self.ready = False  # the child said "ready" (its estimator is loaded)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def start(self) -> None:
        """Start the child (a no-op while it is alive)."""
        if self.alive:
            return
        self.kill()
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=self._target, args=(child, *self._args),
                                 name=self._name, daemon=True)
        proc.start()
        child.close()
        self.process, self.conn, self.ready = proc, parent, False

    def send(self, message: tuple[Any, ...]) -> None:
        if self.conn is None:
            raise SlotDied(None)
        try:
            self.conn.send(message)
        except (BrokenPipeError, OSError) as exc:
            raise SlotDied(self.exitcode()) from exc

    def recv(self, timeout_s: float) -> tuple[Any, ...] | None:
        """The next message, or ``None`` after ``timeout_s``.

        Raises:
            SlotDied: the child is gone.
        """
        if self.conn is None:
            raise SlotDied(None)
        try:
            if self.conn.poll(timeout_s):
                return self.conn.recv()
        except (EOFError, OSError) as exc:
            raise SlotDied(self.exitcode()) from exc
        if not self.alive:
            raise SlotDied(self.exitcode())
        return None

    def exitcode(self) -> int | None:
        if self.process is None:
            return None
        self.process.join(timeout=1.0)
        return self.process.exitcode

    def kill(self, grace_s: float = 2.0) -> None:
        """Stop the child: SIGTERM, then SIGKILL after ``grace_s``."""
        proc, conn = self.process, self.conn
        self.process, self.conn = None, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()
        if proc is None:
            return
        if proc.is_alive():
            proc.terminate()
            proc.join(grace_s)
            if proc.is_alive():
                proc.kill()
                proc.join(grace_s)
        with contextlib.suppress(ValueError):
            proc.close()


# ---------------------------------------------------------------------------- child side


def _requests(conn: Connection) -> Iterator[tuple[Any, ...]]:
    """The parent's messages to a worker (in the child), until "stop" or a closed pipe."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        yield msg


def _quiet_child() -> None:
    """Children get one torch thread pool each and no progress bars."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def job_worker_main(conn: Connection, warm: EstimatorChoice | None, threads: int) -> None:
    """Main loop of a job worker (runs in the child)."""
    _quiet_child()
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    lock = threading.Lock()

    def send(*msg: Any) -> None:
        with lock:
            conn.send(msg)

    cache: dict[str, Any] = {}
    if warm is not None:
        with contextlib.suppress(Exception):  # a broken estimator is reported by its first job
            cache[warm.id] = load_predictor(warm)
    send("ready")
    for msg in _requests(conn):
        if msg[0] != "run":
            continue
        spec: JobSpec = msg[1]
        total: int = msg[2]
        try:
            predictor = cache.get(spec.estimator.id)
            if predictor is None:
                send("stage", "loading the estimator")
                cache.clear()  # one estimator in memory at a time
                predictor = cache[spec.estimator.id] = load_predictor(spec.estimator)
            send("stage", "running")

            def on_progress(p: Progress) -> None:
                send("progress", p.frames_done, p.frames_total, p.people)

            summary = run_job(spec, predictor, on_progress, frames_total=total)
            send("done", summary)
        except JobFailed as exc:
            send("failed", exc.code, str(exc))
        except Exception as exc:  # the job fails, the worker goes on
            from ehps.errors import EhpsError

            text = clean_message(str(exc), spec)
            code = "error" if isinstance(exc, EhpsError) else "internal"
            if code == "internal":
                log.error("job %s failed:\n%s", spec.job_id, traceback.format_exc())
                text = f"internal error ({type(exc).__name__}: {text})"
            send("failed", code, text)


def probe_worker_main(conn: Connection) -> None:
    """Main loop of the probe worker (runs in the child): checks uploads with real decoders."""
    _quiet_child()
    from ehps.serve.probe import UploadRejected, probe_file

    for msg in _requests(conn):
        _, path, kind, limits = msg
        try:
            conn.send(("probed", probe_file(path, kind, **limits)))
        except UploadRejected as exc:
            conn.send(("rejected", exc.code, str(exc)))
        except Exception as exc:
            conn.send(("rejected", "unreadable", f"the file could not be read ({exc})"))

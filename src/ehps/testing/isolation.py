"""Crash-isolated loading: each file is loaded in a persistent worker process.

The worker (``python -m ehps.testing.isolation``) limits its own address space (a memory bomb
then fails as ``MemoryError`` instead of taking the machine), keeps its imports between loads,
and answers one JSON line per ``TARGET<tab>PATH`` line it reads. :class:`IsolatedRunner` feeds
it and classifies each load:

- ``ok``: the file loaded;
- ``clear``: it raised :class:`~ehps.errors.EhpsError` (the project's own, one-line error);
- ``foreign``: it raised anything else (a finding: type, message and where);
- ``crash``: the worker died (a signal such as SIGSEGV; it is restarted);
- ``hang``: no answer within the timeout (the worker is killed and restarted).
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["Outcome", "IsolatedRunner", "STATUSES"]

#: Every status a load can end in, in report order.
STATUSES: tuple[str, ...] = ("ok", "clear", "foreign", "crash", "hang")


@dataclass(frozen=True)
class Outcome:
    """How one load ended: ``status`` (see :data:`STATUSES`), ``detail`` (error type and
    message, or the signal) and the wall time in seconds."""

    status: str
    detail: str
    seconds: float


class IsolatedRunner:
    """Loads files with a target's loader in a worker process (see the module docstring).

    Args:
        target: the default target, a name from :data:`ehps.testing.fuzz_targets.TARGETS`.
        timeout_s: a load taking longer is a hang.
        memory_limit_bytes: address-space limit of the worker.
        startup_timeout_s: time allowed for the worker's imports (at each (re)start).
        preload: import the heavy libraries (torch, PyAV, OpenCV...) at start, so that their
            import time never counts as a load's.
    """

    def __init__(self, target: str, timeout_s: float = 20.0,
                 memory_limit_bytes: int = 6 << 30, startup_timeout_s: float = 300.0,
                 preload: bool = True) -> None:
        self.target, self.timeout_s, self.preload = target, timeout_s, preload
        self.memory_limit_bytes, self.startup_timeout_s = memory_limit_bytes, startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def __enter__(self) -> IsolatedRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ, OMP_NUM_THREADS="1", EHPS_WORKER_MEMORY=str(
            self.memory_limit_bytes), EHPS_WORKER_PRELOAD="1" if self.preload else "0")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "ehps.testing.isolation"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )
        assert self._proc.stdout is not None
        ready = self._read_line(self._proc.stdout, self.startup_timeout_s)
        if ready != b"ready\n":
            self._proc.kill()
            self._proc.wait()
            raise RuntimeError(f"the fuzz worker did not start (got {ready!r})")
        return self._proc

    def close(self) -> None:
        """Stop the worker."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()

    def _read_line(self, out: IO[bytes], timeout: float) -> bytes | None:
        ready, _, _ = select.select([out], [], [], timeout)
        return out.readline() if ready else None

    def run(self, path: str | os.PathLike[str], target: str | None = None) -> Outcome:
        """Load ``path`` with ``target``'s loader (default: the runner's) in the worker and
        classify the result."""
        proc = self._proc if self._proc is not None and self._proc.poll() is None \
            else self._start()
        assert proc.stdin is not None and proc.stdout is not None
        timeout = self.timeout_s
        t0 = time.perf_counter()
        try:
            request = f"{target or self.target}\t{os.path.abspath(path)}\n"
            proc.stdin.write(os.fsencode(request))
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self._read_line(proc.stdout, timeout)
        seconds = time.perf_counter() - t0
        if line is None:  # no answer: a hang
            proc.kill()
            proc.wait()
            self._proc, self.restarts = None, self.restarts + 1
            return Outcome("hang", f"no answer within {timeout:.0f} s", seconds)
        if not line:  # the worker died
            code = proc.wait()
            self._proc, self.restarts = None, self.restarts + 1
            name = signal.Signals(-code).name if code < 0 else f"exit status {code}"
            return Outcome("crash", name, seconds)
        reply = json.loads(line)
        return Outcome(reply["status"], reply.get("detail", ""), seconds)


def _classify(exc: BaseException) -> dict[str, str]:
    from ehps.errors import EhpsError

    if isinstance(exc, EhpsError):
        return {"status": "clear", "detail": f"{type(exc).__name__}: {exc.one_line()[:300]}"}
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames))
    return {"status": "foreign", "detail": f"{type(exc).__name__}: {str(exc)[:300]} at {where}"}


_PRELOAD = ("numpy", "cv2", "PIL.Image", "torch", "av", "scipy.sparse", "safetensors",
            "ehps.detection", "ehps.inference.sources", "ehps.data.humandata", "ehps.modeling",
            "ehps.bodymodels.smplx")


def _worker() -> None:
    """The worker loop: one ``TARGET<tab>PATH`` per stdin line, one JSON answer per line on the
    original stdout (library noise on stdout / stderr goes to /dev/null)."""
    limit = int(os.environ.get("EHPS_WORKER_MEMORY", str(6 << 30)))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    answer = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # lives as long as the worker
    import importlib

    from ehps.testing.fuzz_targets import get_target

    if os.environ.get("EHPS_WORKER_PRELOAD", "1") == "1":
        for module in _PRELOAD:  # imports are not part of a load's time
            importlib.import_module(module)
    answer.write("ready\n")
    for raw in sys.stdin:
        name, _, path = raw.rstrip("\n").partition("\t")
        try:
            get_target(name).load(Path(path))
            reply = {"status": "ok"}
        except (Exception, MemoryError, RecursionError) as exc:  # classify, never stop
            reply = _classify(exc)
        answer.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    _worker()

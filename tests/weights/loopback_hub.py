"""A loopback HTTP server that speaks the Hugging Face Hub file protocol ``huggingface_hub``
uses, plus a plain file server, for the ``ehps weights download`` tests.

Hub (on ``http://127.0.0.1:<port>``, used as ``HF_ENDPOINT``):

- ``HEAD|GET /<owner>/<repo>/resolve/<revision>/<file>``: for a known file, ``302`` to the
  "CDN" ``http://localhost:<port>/cdn/<sha256>?sig=<n>`` (another host name, as the real Hub
  redirects LFS files to a signed CDN URL) with ``X-Repo-Commit``, ``X-Linked-Etag: "<sha256>"``,
  ``X-Linked-Size`` and ``ETag``; ``404`` with ``X-Error-Code: RepoNotFound`` /
  ``EntryNotFound`` / ``RevisionNotFound``; a gated repository without the right
  ``Authorization: Bearer`` token answers ``401`` with ``X-Error-Code: GatedRepo``.
- ``HEAD|GET /cdn/<sha256>?sig=<n>``: the bytes (``403`` for an old signature when the file
  is ``expiring``), with ``Accept-Ranges``, ``ETag`` and ``Range``
  (``206`` + ``Content-Range``; ``416`` beyond the end).

Plain: ``HEAD|GET /plain/<name>`` with ``ETag``, ``Last-Modified`` and ``Range``.

Fault injection per served path: ``throttle`` (seconds between 64 KiB chunks), ``drop_after``
(close the connection once after that many body bytes), ``serve`` (bytes sent instead of the
registered ones: a corrupted file whose headers still claim the original sha256).
Every request is recorded (method, path, Range, Authorization, Host) in ``requests``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["HubFile", "LoopbackHub"]

_CHUNK = 64 << 10


@dataclass
class HubFile:
    data: bytes
    throttle: float = 0.0
    drop_after: int | None = None
    serve: bytes | None = None
    expiring: bool = False  # signed CDN URLs: only the latest one is valid, and a dropped
    # connection also expires it
    signature: int = 0
    sent: int = 0  # body bytes sent so far (all requests)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class _Repo:
    commit: str
    files: dict[str, HubFile] = field(default_factory=dict)
    token: str | None = None  # gated: this token is required


class LoopbackHub:
    """Start with ``with LoopbackHub() as hub:``; ``hub.endpoint`` is the Hub URL."""

    def __init__(self) -> None:
        self.repos: dict[str, _Repo] = {}
        self.plain: dict[str, HubFile] = {}
        self.cdn: dict[str, HubFile] = {}
        self.requests: list[dict[str, str | None]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_repo_file(self, repo_id: str, filename: str, data: bytes, *,
                      token: str | None = None, **faults: object) -> HubFile:
        repo = self.repos.setdefault(repo_id, _Repo(hashlib.sha1(repo_id.encode()).hexdigest()))
        repo.token = token if token is not None else repo.token
        f = HubFile(data, **faults)  # type: ignore[arg-type]
        repo.files[filename] = f
        self.cdn[f.sha256] = f
        return f

    def add_plain(self, name: str, data: bytes, **faults: object) -> str:
        self.plain[name] = HubFile(data, **faults)  # type: ignore[arg-type]
        return f"{self.endpoint}/plain/{name}"

    def ranges(self, prefix: str = "") -> list[str | None]:
        """The Range headers of the GET requests whose path starts with ``prefix``."""
        return [r["range"] for r in self.requests
                if r["method"] == "GET" and str(r["path"]).startswith(prefix)]

    def __enter__(self) -> LoopbackHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _make_handler(hub: LoopbackHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _record(self) -> None:
            with hub._lock:
                hub.requests.append({
                    "method": self.command, "path": self.path,
                    "range": self.headers.get("Range"),
                    "if_range": self.headers.get("If-Range"),
                    "authorization": self.headers.get("Authorization"),
                    "host": self.headers.get("Host"),
                })  # fmt: skip

        def _empty(self, status: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:
            self._handle(body=False)

        def do_GET(self) -> None:
            self._handle(body=True)

        def _handle(self, body: bool) -> None:
            self._record()
            m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.path)
            if m:
                return self._resolve(*m.groups())
            m = re.match(r"^/cdn/([0-9a-f]{64})\?sig=(\d+)$", self.path)
            if m and m.group(1) in hub.cdn:
                f = hub.cdn[m.group(1)]
                if f.expiring and int(m.group(2)) != f.signature:
                    return self._empty(403, {})
                return self._serve(f, m.group(1), body)
            m = re.match(r"^/plain/(.+)$", self.path)
            if m and m.group(1) in hub.plain:
                f = hub.plain[m.group(1)]
                return self._serve(f, f'"{f.sha256[:16]}"', body)
            self._empty(404, {})

        def _resolve(self, repo_id: str, revision: str, filename: str) -> None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._empty(404, {"X-Error-Code": "RepoNotFound"})
            if repo.token is not None and \
                    self.headers.get("Authorization") != f"Bearer {repo.token}":
                return self._empty(401, {"X-Error-Code": "GatedRepo",
                                         "X-Error-Message": "Access to this repo is restricted"})
            if revision not in ("main", repo.commit):
                return self._empty(404, {"X-Error-Code": "RevisionNotFound"})
            f = repo.files.get(filename)
            if f is None:
                return self._empty(404, {"X-Error-Code": "EntryNotFound",
                                         "X-Repo-Commit": repo.commit})
            f.signature += 1
            self._empty(302, {
                "Location": f"http://localhost:{hub.port}/cdn/{f.sha256}?sig={f.signature}",
                "X-Repo-Commit": repo.commit, "X-Linked-Etag": f'"{f.sha256}"',
                "X-Linked-Size": str(len(f.data)), "ETag": f'"{f.sha256[:40]}"',
            })  # fmt: skip

        def _serve(self, f: HubFile, etag: str, body: bool) -> None:
            data = f.serve if f.serve is not None else f.data
            start, status = 0, 200
            rng = self.headers.get("Range")
            if rng:
                m = re.match(r"^bytes=(\d+)-$", rng)
                if m is None:
                    return self._empty(400, {})
                start, status = int(m.group(1)), 206
                if start >= len(data):
                    return self._empty(416, {"Content-Range": f"bytes */{len(data)}"})
            self.send_response(status)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag if etag.startswith('"') else f'"{etag}"')
            self.send_header("Last-Modified", formatdate(0, usegmt=True))
            self.send_header("Content-Length", str(len(data) - start))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if not body:
                return
            sent_here = 0
            for i in range(start, len(data), _CHUNK):
                chunk = data[i:i + _CHUNK]
                if f.drop_after is not None and sent_here + len(chunk) > f.drop_after:
                    cut = max(0, f.drop_after - sent_here)
                    self.wfile.write(chunk[:cut])
                    self.wfile.flush()
                    f.drop_after = None  # drop once
                    f.signature += f.expiring  # ...and the signed URL expires meanwhile
                    f.sent += cut
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                try:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                sent_here += len(chunk)
                f.sent += len(chunk)
                if f.throttle:
                    threading.Event().wait(f.throttle)

    return Handler

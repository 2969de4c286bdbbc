"""Every network access of ehps lives here, and only ``ehps weights download`` reaches it.

- **Hub files** (Hugging Face): :func:`hub_file` asks the Hub for the file's metadata through
  ``huggingface_hub`` (``get_hf_file_metadata``): the user's token (``HF_TOKEN`` or ``hf auth
  login``), mirrors through ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` (refused here with a clear
  message), the commit, the size and the LFS sha256 (the ETag of an LFS file). The bytes are then
  fetched by :func:`download` from the location the Hub resolved (a CDN URL for LFS files,
  without the token, as ``huggingface_hub`` does). Why not ``hf_hub_download``: since
  huggingface_hub 2.x it downloads into a process-unique temporary file that an interrupted run
  cannot resume, and multi-GB checkpoints need resuming.
- **Direct links**: :func:`url_file` + :func:`download`.

:func:`download` writes ``<dest>.part`` and resumes it with an HTTP ``Range`` request on the next
run (or on a dropped connection, up to :data:`RETRIES` times per run); ``<dest>.part.json``
remembers what the part belongs to (expected sha256 / size, the server's ETag or Last-Modified,
sent back as ``If-Range``), so a part of another file version is never continued. The sha256 is
computed while writing and the finished file is moved into place atomically. urllib (stdlib) is
the HTTP client: it honours ``HTTPS_PROXY`` / ``NO_PROXY`` like every other tool.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ehps.errors import DownloadError

__all__ = ["RETRIES", "RemoteFile", "hub_offline", "hub_file", "url_file", "download"]

log = logging.getLogger(__name__)

#: Automatic resumes of a dropped connection within one run.
RETRIES = 3
_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: where, with which headers, and what it must be.

    Attributes:
        url: the URL the bytes are read from (for Hub files: the resolved location).
        size: expected size in bytes (``None``: unknown).
        sha256: expected hex digest (``None``: unknown; the digest is still recorded).
        origin: provenance for the cache manifest (``hub:<repo>@<commit>/<file>`` or
            ``url:<url>``).
        headers: request headers (user agent; the Hub token only for Hub hosts).
        refresh: resolves the file again (Hub files: a fresh signed CDN URL).
    """

    url: str
    size: int | None = None
    sha256: str | None = None
    origin: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    refresh: Callable[[], RemoteFile] | None = field(default=None, repr=False, compare=False)


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) asks for no Hub access."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _hub_error(exc: Exception, repo_id: str, filename: str, endpoint: str) -> DownloadError:
    try:
        from huggingface_hub import errors as hf_errors
    except ImportError:  # older huggingface_hub: the classes live in .utils
        from huggingface_hub import utils as hf_errors

    where = f"{filename} in {repo_id} on {endpoint}"
    login = ("log in with `hf auth login` (or set HF_TOKEN) with an account that has accepted "
             "the repository's conditions")
    table: list[tuple[str, str]] = [
        ("GatedRepoError", f"access to {where} is gated: {login}"),
        ("RepositoryNotFoundError", f"repository {repo_id} not found on {endpoint} (or it is "
         f"private: {login}); is HF_ENDPOINT right?"),
        ("RevisionNotFoundError", f"revision not found for {where}"),
        ("RemoteEntryNotFoundError", f"{where} does not exist"),
        ("EntryNotFoundError", f"{where} does not exist"),
        ("OfflineModeIsEnabled", f"cannot reach {endpoint}: HF_HUB_OFFLINE is set"),
    ]
    for cls_name, text in table:
        cls = getattr(hf_errors, cls_name, None)
        if cls is not None and isinstance(exc, cls):
            return DownloadError(text)
    if isinstance(exc, getattr(hf_errors, "HfHubHTTPError", ())):
        return DownloadError(f"the Hub answered an error for {where}: {exc}")
    return DownloadError(
        f"cannot reach {endpoint} for {repo_id}/{filename} ({type(exc).__name__}: {exc}). Check "
        "the network, the proxy settings and HF_ENDPOINT"
    )


def hub_file(
    repo_id: str, filename: str, revision: str = "main", *, token: str | bool | None = None
) -> RemoteFile:
    """Metadata of a Hub file through ``huggingface_hub``: resolved URL, size, LFS sha256.

    Args:
        repo_id: ``"owner/name"`` of a model repository.
        filename: path of the file in the repository.
        revision: branch, tag or commit.
        token: Hub token; ``None`` uses ``HF_TOKEN`` / the stored login.

    Raises:
        DownloadError: offline mode, no such repository / file, gated or private without a
            valid token, or the endpoint cannot be reached (the message says which).
        MissingDependencyError: ``huggingface_hub`` is not installed.
    """
    from ehps.errors import require

    endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/") or "https://huggingface.co"
    if hub_offline():
        raise DownloadError(
            f"HF_HUB_OFFLINE is set, so {filename} cannot be fetched from {repo_id} on {endpoint}."
            " Unset HF_HUB_OFFLINE to download, or download the file on another machine and "
            "register it here with `ehps weights add FILE`"
        )
    hf = require("huggingface_hub", "weights", "downloading weights from the Hugging Face Hub")
    from huggingface_hub.utils import build_hf_headers

    url = hf.hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
    try:
        meta = hf.get_hf_file_metadata(url, token=token)
    except Exception as exc:  # huggingface_hub / httpx / requests errors: all become one message
        raise _hub_error(exc, repo_id, filename, endpoint) from exc
    if not meta.commit_hash or not meta.location:
        raise DownloadError(f"{endpoint} did not answer like a Hugging Face Hub (no X-Repo-Commit "
                            "header); check HF_ENDPOINT")
    headers = dict(build_hf_headers(token=token))
    if urlparse(meta.location).netloc != urlparse(url).netloc:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    etag = (meta.etag or "").strip('"').lower()
    commit = meta.commit_hash
    return RemoteFile(
        url=meta.location,
        size=meta.size,
        sha256=etag if _HEX64.match(etag) else None,
        origin=f"hub:{repo_id}@{commit}/{filename}",
        headers=headers,
        refresh=lambda: hub_file(repo_id, filename, commit, token=token),
    )


def url_file(url: str, sha256: str | None = None, size: int | None = None) -> RemoteFile:
    """A direct link (http or https); ``sha256`` / ``size``: what the file must be, if known."""
    if urlparse(url).scheme not in ("http", "https"):
        raise DownloadError(f"only http(s) links can be downloaded, not {url!r}")
    return RemoteFile(url=url, size=size, sha256=sha256.lower() if sha256 else None,
                      origin=f"url:{url}", headers={"User-Agent": "ehps"})


def _identity(remote: RemoteFile) -> dict[str, object]:
    return {"url": remote.origin or remote.url, "sha256": remote.sha256, "size": remote.size}


def _read_part_state(state_path: Path, remote: RemoteFile) -> str | None:
    """The If-Range validator of a part that belongs to ``remote``, ``""`` for a part without
    one, ``None`` when the part must be discarded."""
    try:
        state = json.loads(state_path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("identity") != _identity(remote):
        return None
    validator = state.get("validator") or ""
    return validator if isinstance(validator, str) else None


def _content_range_start(value: str | None) -> int | None:
    m = re.match(r"^\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*$", value or "")
    return int(m.group(1)) if m else None


def _http_error(exc: urllib.error.HTTPError, url: str) -> DownloadError:
    host = urlparse(url).netloc
    if exc.code in (401, 403):
        err = DownloadError(f"{host} refused access to the file (HTTP {exc.code}); a signed or "
                            "shared link may have expired or need a browser login")
    elif exc.code == 404:
        err = DownloadError(f"no file at {url} (HTTP 404)")
    else:
        err = DownloadError(f"{host} answered HTTP {exc.code} {exc.reason} for {url}")
    err.status = exc.code  # type: ignore[attr-defined]
    return err


def _open(remote: RemoteFile, offset: int, validator: str) -> tuple[object, int]:
    """GET from ``offset``; returns the response and the offset the body starts at."""
    headers = dict(remote.headers)
    headers["Accept-Encoding"] = "identity"
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
        if validator:
            headers["If-Range"] = validator
    request = urllib.request.Request(remote.url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset > 0:  # our part is already whole (or bigger): start over
            return None, -1
        raise _http_error(exc, remote.url) from exc
    if response.status == 206:
        start = _content_range_start(response.headers.get("Content-Range"))
        if start != offset:
            response.close()
            raise DownloadError(f"{remote.url}: the server resumed at byte {start}, not {offset}")
        return response, offset
    return response, 0  # 200: the whole file (range ignored, or the file changed)


def _validator(response: object) -> str:
    headers = getattr(response, "headers", {})
    etag = headers.get("ETag") or ""
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified") or ""


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One downloader per destination (POSIX ``flock``; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(lock_path, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise DownloadError(f"another process is downloading {lock_path.name[:-5]} into "
                                f"{lock_path.parent} (lock {lock_path}); wait for it") from exc
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _check_space(folder: Path, needed: int | None) -> None:
    if needed is None or needed <= 0:
        return
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DownloadError(f"{needed / 1e9:.2f} GB more are needed in {folder}, but only "
                            f"{free / 1e9:.2f} GB are free; free some space or set "
                            "EHPS_WEIGHTS_DIR to a larger disk")


def _resume_state(part: Path, state_path: Path, remote: RemoteFile) -> tuple[int, str, Any]:
    """(offset, If-Range validator, running sha256) of a part file that can be continued."""
    digest = hashlib.sha256()
    validator = _read_part_state(state_path, remote) if part.exists() else None
    size = part.stat().st_size if part.exists() else 0
    if validator is None or (remote.size is not None and size > remote.size):
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        return 0, "", digest
    with open(part, "rb") as fh:
        while chunk := fh.read(_CHUNK << 3):
            digest.update(chunk)
    return size, validator, digest


def download(remote: RemoteFile, dest: Path, *, desc: str = "") -> tuple[str, int]:
    """Fetch ``remote`` into ``dest`` (resuming ``dest.part``), with a progress bar.

    A dropped connection is resumed up to :data:`RETRIES` times; an expired signed URL (401 /
    403 while resuming) is resolved again once through ``remote.refresh``.

    Returns:
        ``(sha256, size)`` of the finished file, which is moved to ``dest`` atomically. The
        digest is *not* compared here with ``remote.sha256``: the caller decides (and
        quarantines).

    Raises:
        DownloadError: HTTP error, unreachable host, not enough disk space, another process
            downloading the same file, or a connection that kept dropping; the part is kept and
            the message says that the same command resumes it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(dest.with_name(dest.name + ".lock")):
        return _download_locked(remote, dest, desc)


def _download_locked(remote: RemoteFile, dest: Path, desc: str) -> tuple[str, int]:
    from tqdm.auto import tqdm

    part = dest.with_name(dest.name + ".part")
    state_path = dest.with_name(dest.name + ".part.json")
    offset, validator, digest = _resume_state(part, state_path, remote)
    _check_space(dest.parent, None if remote.size is None else remote.size - offset)
    bar = tqdm(total=remote.size, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
               desc=desc or dest.name, disable=None)
    tries, refreshed = 0, False
    with bar:
        while remote.size is None or offset < remote.size or offset == 0:
            try:
                response, start = _open(remote, offset, validator)
            except DownloadError as exc:
                if getattr(exc, "status", None) in (401, 403) and offset > 0 \
                        and remote.refresh is not None and not refreshed:
                    log.info("access to %s refused while resuming; resolving it again", remote.url)
                    remote, refreshed = remote.refresh(), True
                    continue
                raise
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                raise DownloadError(
                    f"cannot reach {urlparse(remote.url).netloc} ({exc}); check the network and "
                    "proxy settings" + (f". {offset} bytes are kept in {part}: run the same "
                                        "command again to resume" if offset else "")
                ) from exc
            if response is None:  # 416: discard the part and start again
                part.unlink()
                digest, offset, validator = hashlib.sha256(), 0, ""
                bar.reset(total=remote.size)
                continue
            if start == 0 and offset > 0:
                log.info("%s: the server sent the whole file; restarting", remote.url)
                digest, offset = hashlib.sha256(), 0
                bar.reset(total=remote.size)
            validator = _validator(response) or validator
            state_path.write_text(json.dumps({"identity": _identity(remote),
                                              "validator": validator}), "utf-8")
            length = response.headers.get("Content-Length")
            expected_end = offset + int(length) if length and length.isdigit() else None
            if remote.size is None and start == 0 and expected_end is not None:
                _check_space(dest.parent, expected_end)  # size learnt from the first answer
                bar.reset(total=expected_end)
            read = getattr(response, "read1", response.read)
            try:
                with response, open(part, "ab" if offset else "wb") as fh:
                    while chunk := read(_CHUNK):
                        fh.write(chunk)
                        digest.update(chunk)
                        offset += len(chunk)
                        bar.update(len(chunk))
                    fh.flush()
                    os.fsync(fh.fileno())
            except (OSError, http.client.HTTPException) as exc:  # dropped connection: resume
                tries += 1
                if tries > RETRIES:
                    raise DownloadError(
                        f"the connection to {urlparse(remote.url).netloc} dropped {tries} times "
                        f"({exc}); {offset} bytes are kept in {part}: run the same command again "
                        "to resume") from exc
                log.warning("connection dropped at byte %d (%s); resuming", offset, exc)
                time.sleep(min(2.0**tries, 10.0) * 0.1)
                continue
            if expected_end is not None and offset < expected_end:
                tries += 1
                if tries > RETRIES:
                    raise DownloadError(f"{remote.url}: the body ended at byte {offset} of "
                                        f"{expected_end}; run the same command again to resume")
                continue
            if remote.size is None or offset >= remote.size:
                break
    if remote.size is not None and offset != remote.size:
        raise DownloadError(f"{remote.url}: got {offset} bytes, expected {remote.size}")
    os.replace(part, dest)
    with contextlib.suppress(FileNotFoundError):
        state_path.unlink()
    return digest.hexdigest(), offset

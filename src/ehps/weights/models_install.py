"""``ehps models install``: put the licensed body-model files where ehps looks for them.

Inputs are the official zip archives, tar archives, loose files or folders (searched
recursively for known files and ``.zip`` archives). Files are recognised by name
(:mod:`ehps.weights.model_files`), copied out of the archive into a temporary file next to
their destination (member paths are never used as destinations, so an archive cannot write
elsewhere), checked with ehps's own loaders, and moved into place atomically:

- an identical file already installed is left alone;
- a different installed file is never replaced silently: it is reported as a conflict, unless
  ``force`` (the old file is then kept as ``<name>.replaced-<time>``);
- a file that fails its check is reported and not installed.

Destination: ``<user data dir>/body_models`` (where :mod:`ehps.bodymodels.paths` and the
evaluation code look by default) or an explicit folder.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ehps.bodymodels.paths import default_body_models_dir
from ehps.errors import EhpsError, InputError
from ehps.utils.io import PathLike
from ehps.weights.model_files import FEATURES, MODEL_FILES, ModelFile, match_model_file

__all__ = ["Candidate", "InstallResult", "InstallReport", "scan_inputs", "install_model_files",
           "feature_status"]

#: Largest member copied out of an archive (the SMPL-X v1.1 pkl is ~0.55 GB).
MAX_MEMBER_BYTES = 4 << 30
_CHUNK = 4 << 20
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")



@dataclass
class Candidate:
    """A file found in the inputs that ehps knows."""

    spec: ModelFile
    rank: int
    label: str
    size: int
    opener: Callable[[], IO[bytes]] = field(repr=False)


@dataclass
class InstallResult:
    """What happened to one destination file. ``status``: ``installed``, ``identical``,
    ``replaced``, ``conflict``, ``invalid``, ``checked`` (dry run)."""

    target: str
    status: str
    source: str
    detail: str = ""


@dataclass
class InstallReport:
    destination: Path
    results: list[InstallResult]
    skipped: list[str]

    @property
    def ok(self) -> bool:
        return not any(r.status in ("conflict", "invalid") for r in self.results)


def _is_tar_name(name: str) -> bool:
    return name.lower().endswith(_TAR_SUFFIXES)


def _archive_members(path: Path, tar: bool) -> list[tuple[str, int, bool]]:
    """(name, size in bytes, regular file?) of every member of a tar or zip archive (zip
    folders left out)."""
    kind = "tar" if tar else "zip"
    try:
        archive = tarfile.open(path) if tar else zipfile.ZipFile(path)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"cannot read the {kind} archive {path}: {exc}") from exc
    with archive:
        if isinstance(archive, tarfile.TarFile):
            return [(m.name, m.size, m.isfile()) for m in archive.getmembers()]
        return [(i.filename, i.file_size, True) for i in archive.infolist() if not i.is_dir()]


def _open_zip_member(path: Path, name: str) -> IO[bytes]:
    z = zipfile.ZipFile(path)
    return _ClosingMember(z.open(name), z)


def _open_tar_member(path: Path, name: str) -> IO[bytes]:
    t = tarfile.open(path)
    fh = t.extractfile(name)
    if fh is None:
        t.close()
        raise InputError(f"{path}: cannot read {name}")
    return _ClosingMember(fh, t)


def _scan_archive(path: Path, out: list[Candidate], skipped: list[str], tar: bool) -> None:
    """Add the known model files inside a zip (or tar) archive to ``out``, each opened only when
    it is read, and name the other members in ``skipped``. Zip folders are passed over; tar
    links and devices are never followed."""
    open_member = _open_tar_member if tar else _open_zip_member
    for name, size, regular in _archive_members(path, tar):
        label = f"{path.name}:{name}"
        hit = match_model_file(name)
        if not regular:
            if hit is not None:
                skipped.append(f"{label} (not a regular file)")
            continue
        if hit is None:
            skipped.append(label)
            continue
        opener = functools.partial(open_member, path, name)
        out.append(Candidate(hit[0], hit[1], label, size, opener))


class _ClosingMember:
    """A member stream that also closes its archive."""

    def __init__(self, stream: IO[bytes], archive: object) -> None:
        self._stream, self._archive = stream, archive

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)

    def __enter__(self) -> _ClosingMember:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()
        self._archive.close()  # type: ignore[attr-defined]


def _add_file(path: Path, out: list[Candidate], skipped: list[str], explicit: bool) -> None:
    hit = match_model_file(path.name)
    if hit is not None:
        out.append(Candidate(hit[0], hit[1], str(path), path.stat().st_size,
                             lambda p=path: open(p, "rb")))
    elif path.suffix.lower() == ".zip" or (explicit and zipfile.is_zipfile(path)
                                           and not _is_tar_name(path.name)):
        _scan_archive(path, out, skipped, tar=False)
    elif explicit and _is_tar_name(path.name):
        _scan_archive(path, out, skipped, tar=True)
    else:
        skipped.append(str(path))


def scan_inputs(inputs: list[PathLike]) -> tuple[list[Candidate], list[str]]:
    """Known files in ``inputs`` (files, archives, folders) and the names that were skipped.

    Folders are searched recursively for known files and ``.zip`` archives (tar archives only
    when named explicitly: listing a compressed tar means decompressing it).

    Raises:
        InputError: an input does not exist or an archive is unreadable.
    """
    found: list[Candidate] = []
    skipped: list[str] = []
    for raw in inputs:
        path = Path(raw).expanduser()
        if path.is_dir():
            for d, dirs, files in os.walk(path):
                dirs[:] = sorted(x for x in dirs if not (Path(d) / x).is_symlink())
                for name in sorted(files):
                    p = Path(d) / name
                    if p.is_file() and not p.is_symlink():
                        _add_file(p, found, skipped, explicit=False)
        elif path.is_file():
            _add_file(path, found, skipped, explicit=True)
        else:
            raise InputError(f"no such file or folder: {path}")
    return found, skipped


@contextlib.contextmanager
def _staged(candidate: Candidate, dest: Path, n: int = 0) -> Iterator[tuple[Path, str]]:
    """Copy a candidate next to ``dest`` (hidden name, same suffix: the loaders go by it);
    yields (path, sha256)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".incoming-{os.getpid()}-{n}-{dest.name}")
    digest = hashlib.sha256()
    written = 0
    try:
        with candidate.opener() as src, open(tmp, "wb") as out:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > MAX_MEMBER_BYTES:
                    raise InputError(f"{candidate.label} is larger than {MAX_MEMBER_BYTES} bytes")
                out.write(chunk)
                digest.update(chunk)
            out.flush()
            os.fsync(out.fileno())
        yield tmp, digest.hexdigest()
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _select(found: list[Candidate]) -> dict[str, list[Candidate]]:
    """Per target, the candidates of the best (lowest) rank."""
    by_target: dict[str, list[Candidate]] = {}
    for c in found:
        by_target.setdefault(c.spec.target, []).append(c)
    out = {}
    for target, cands in by_target.items():
        best = min(c.rank for c in cands)
        out[target] = [c for c in cands if c.rank == best]
    return out


def _install_one(cands: list[Candidate], root: Path, force: bool, dry_run: bool
                 ) -> InstallResult:
    spec = cands[0].spec
    dest = root / spec.target
    with contextlib.ExitStack() as stack:
        stage_dest = dest
        if dry_run:  # stage outside the destination: a dry run creates nothing there
            stage_dest = Path(stack.enter_context(tempfile.TemporaryDirectory())) / dest.name
        staged = [(c, *stack.enter_context(_staged(c, stage_dest, i)))
                  for i, c in enumerate(cands[:4])]
        digests = {d for _, _, d in staged}
        labels = ", ".join(c.label for c in cands)
        if len(digests) > 1:
            return InstallResult(spec.target, "conflict", labels, "the inputs hold different "
                                 "files with this name; pass only one of them")
        cand, tmp, digest = staged[0]
        try:
            detail = spec.check(tmp)
        except (EhpsError, ValueError) as exc:  # any loader refusal: reported, not raised
            return InstallResult(spec.target, "invalid", cand.label, str(exc))
        if dest.exists() and _sha256(dest) == digest:
            return InstallResult(spec.target, "identical", cand.label, detail)
        if dry_run:
            return InstallResult(spec.target, "checked", cand.label, detail)
        status = "installed"
        if dest.exists():
            if not force:
                return InstallResult(spec.target, "conflict", cand.label,
                                     f"differs from the installed {dest}; not replaced (pass "
                                     "--force to replace it, the old file is kept)")
            backup = dest.with_name(f"{dest.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(dest, backup)
            status, detail = "replaced", f"{detail}; old file kept as {backup.name}"
        os.replace(tmp, dest)
        return InstallResult(spec.target, status, cand.label, detail)
    raise AssertionError("unreachable")  # pragma: no cover


def install_model_files(
    inputs: list[PathLike],
    destination: PathLike | None = None,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> InstallReport:
    """Install every known body-model file found in ``inputs`` under ``destination``.

    Args:
        inputs: archives, files or folders.
        destination: the body-models folder (holds ``smplx/``, ``smpl/``); default
            ``<user data dir>/body_models``.
        force: replace different installed files (the old ones are kept, renamed).
        dry_run: check everything, install nothing.

    Returns:
        The per-file results (never raises for one bad file: it is reported) and the skipped
        names.

    Raises:
        InputError: an input is missing or unreadable, or nothing in the inputs is a file ehps
            uses (the message lists the expected names).
    """
    root = Path(destination).expanduser() if destination is not None else \
        default_body_models_dir()
    found, skipped = scan_inputs(inputs)
    if not found:
        names = sorted({n for spec in MODEL_FILES for n in spec.names})
        raise InputError(
            "none of the inputs holds a body-model file ehps uses (looked for "
            + ", ".join(names) + " in files, folders and .zip / .tar archives)"
        )
    results = [_install_one(c, root, force, dry_run)
               for _, c in sorted(_select(found).items())]
    return InstallReport(root.resolve(), results, skipped)


def feature_status(root: PathLike | None = None) -> list[tuple[str, list[str]]]:
    """For each feature, the destination files still missing (one name per unmet need)."""
    base = Path(root).expanduser() if root is not None else default_body_models_dir()
    out = []
    for feature in FEATURES:
        missing = [" or ".join(alts) for alts in feature.needs
                   if not any((base / a).is_file() for a in alts)]
        out.append((feature.name, missing))
    return out

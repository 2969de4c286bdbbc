"""``manifest.json`` of a sequence folder: which frames are finished or failed, from which
source, with which settings; what ``--resume`` reads back (and checks against the new run's
settings) to continue an interrupted run exactly.

Keys: ``format`` ("ehps-infer"), ``version``, ``settings`` (what must match for ``--resume``:
estimator, weights, boxes, smoothing, ...), ``frames_done`` (inclusive ``[first, last]`` runs),
``num_done``, ``failed`` (frame -> reason), ``sources`` (image frames: frame -> path),
``complete`` (the run finished) and ``updated`` (UTC time).

Scale-out (:mod:`ehps.utils.scaleout`): when several ranks share one sequence folder (the images
of a run), each writes its own part, ``state/manifest.rank{R}.json`` (:func:`part_name`), and
rank 0 merges the parts into ``manifest.json`` at the end (:func:`merge_parts`). ``--resume``
reads the manifest and every part left by an interrupted run.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehps.errors import InputError
from ehps.utils.io import to_jsonable

__all__ = ["MANIFEST_NAME", "MANIFEST_FORMAT", "Manifest", "frame_ranges", "part_name",
           "merge_parts"]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "ehps-infer"
_FORMAT = MANIFEST_FORMAT
_VERSION = 1


def frame_ranges(indices: set[int] | list[int]) -> list[list[int]]:
    """Sorted indices -> inclusive ``[first, last]`` runs (compact manifest storage)."""
    out: list[list[int]] = []
    for i in sorted(indices):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out



@dataclass
class Manifest:
    """Finished and failed frames of a sequence, and the settings that produced them."""

    path: Path
    settings: dict[str, Any]
    done: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)
    sources: dict[int, str] = field(default_factory=dict)
    complete: bool = False

    @classmethod
    def open(cls, folder: Path, settings: dict[str, Any], resume: bool,
             name: str = MANIFEST_NAME) -> Manifest:
        """A fresh manifest, or with ``resume`` the existing one (checked against ``settings``;
        with the finished frames of the parts an interrupted scale-out run left).

        Args:
            folder: the sequence folder.
            settings: what must match for ``--resume``.
            resume: continue an earlier run.
            name: where this manifest is written, relative to ``folder`` (a rank's part:
                :func:`part_name`).

        Raises:
            InputError: ``resume`` and the folder was written with other settings or by
                something else.
        """
        settings = to_jsonable(settings)
        manifest = cls(folder / name, settings)
        if resume:
            for path in [folder / MANIFEST_NAME, *_parts(folder)]:
                if path.exists():
                    old = cls._read(path, folder, settings)
                    manifest.done |= old.done
                    manifest.sources.update(old.sources)
        return manifest

    @classmethod
    def _read(cls, path: Path, folder: Path, settings: dict[str, Any]) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot resume: {path} is unreadable ({exc}); run without --resume "
                             "to start over") from exc
        if data.get("format") != _FORMAT or data.get("version") != _VERSION:
            raise InputError(f"cannot resume: {path} was not written by this ehps infer")
        old = data.get("settings", {})
        diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if diff:
            detail = "; ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in diff[:4])
            raise InputError(
                f"cannot resume in {folder}: settings changed since the interrupted run ({detail})"
                ". Run with the same options, or without --resume (or another --out) to start "
                "over"
            )
        done = {i for a, b in data.get("frames_done", []) for i in range(int(a), int(b) + 1)}
        sources = {int(k): str(v) for k, v in data.get("sources", {}).items()}
        failed = {int(k): str(v) for k, v in data.get("failed", {}).items()}
        return cls(path, settings, done, failed, sources, bool(data.get("complete")))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "settings": self.settings,
            "frames_done": frame_ranges(self.done),
            "num_done": len(self.done),
            "failed": {str(k): v for k, v in sorted(self.failed.items())},
            "sources": {str(k): v for k, v in sorted(self.sources.items())},
            "complete": self.complete,
            "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }


def part_name(rank: int) -> str:
    """The manifest part of scale-out rank ``rank``, relative to its sequence folder."""
    return f"state/manifest.rank{int(rank)}.json"


def _parts(folder: Path) -> list[Path]:
    return sorted((folder / "state").glob("manifest.rank*.json"))


def merge_parts(folder: Path, complete: bool) -> Path | None:
    """Merge the ranks' manifest parts of ``folder`` into its ``manifest.json`` (finished frames,
    failures and sources united; a frame finished by any rank is not failed) and remove the
    parts. Nothing happens when there are none.

    Args:
        folder: the sequence folder.
        complete: every rank finished its share.

    Returns:
        the written ``manifest.json``, or ``None`` (no parts).
    """
    from ehps.utils.io import atomic_write_json

    parts = _parts(folder)
    if not parts:
        return None
    merged: Manifest | None = None
    for path in parts:
        data = json.loads(path.read_text(encoding="utf-8"))
        part = Manifest._read(path, folder, data.get("settings", {}))
        if merged is None:
            merged = Manifest(folder / MANIFEST_NAME, part.settings)
        merged.done |= part.done
        merged.failed.update(part.failed)
        merged.sources.update(part.sources)
    assert merged is not None
    merged.failed = {k: v for k, v in merged.failed.items() if k not in merged.done}
    merged.complete = bool(complete)
    atomic_write_json(merged.path, merged.to_json())
    for path in parts:
        path.unlink(missing_ok=True)
    return merged.path

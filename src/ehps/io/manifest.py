"""``manifest.json`` of a sequence folder: which frames are finished or failed, from which
source, with which settings; what ``--resume`` reads back (and checks against the new run's
settings) to continue an interrupted run exactly.

Keys: ``format`` ("ehps-infer"), ``version``, ``settings`` (what must match for ``--resume``:
estimator, weights, boxes, smoothing, ...), ``frames_done`` (inclusive ``[first, last]`` runs),
``num_done``, ``failed`` (frame -> reason), ``sources`` (image frames: frame -> path),
``complete`` (the run finished) and ``updated`` (UTC time).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehps.errors import InputError
from ehps.utils.io import to_jsonable

__all__ = ["MANIFEST_NAME", "MANIFEST_FORMAT", "Manifest", "frame_ranges"]

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
    def open(cls, folder: Path, settings: dict[str, Any], resume: bool) -> Manifest:
        """A fresh manifest, or with ``resume`` the existing one (checked against ``settings``).

        Raises:
            InputError: ``resume`` and the folder was written with other settings or by
                something else.
        """
        path = folder / MANIFEST_NAME
        settings = to_jsonable(settings)
        if not resume or not path.exists():
            return cls(path, settings)
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
        return cls(path, settings, done, {}, sources, False)

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

"""The world of a static-camera video: floor plane and gravity from the tracked people, a world
frame (y or z up, floor at 0) with the camera's pose in it, foot contacts and foot-skate cleanup.

It is a post-processing step over a finished ``ehps infer`` sequence folder
(:func:`solve_world` + :func:`write_world`); ``ehps export anim`` runs it and then writes the
rigged animation files (:mod:`ehps.export.anim`).
"""

from __future__ import annotations

from ehps.utils.lazy import lazy_getattr

__all__ = ["FloorFit", "fit_floor", "WorldFrame", "make_world_frame", "detect_contacts",
           "clean_foot_skate", "solve_world", "WorldOptions", "WorldSolution", "write_world",
           "load_sequence_tracks"]

_LAZY = {
    "FloorFit": "ehps.world.floor", "fit_floor": "ehps.world.floor",
    "WorldFrame": "ehps.world.frame", "make_world_frame": "ehps.world.frame",
    "detect_contacts": "ehps.world.contacts", "clean_foot_skate": "ehps.world.skate",
    "solve_world": "ehps.world.sequence", "WorldOptions": "ehps.world.sequence",
    "WorldSolution": "ehps.world.sequence", "write_world": "ehps.world.io",
    "load_sequence_tracks": "ehps.world.tracks",
}  # fmt: skip
__getattr__ = lazy_getattr(__name__, _LAZY)

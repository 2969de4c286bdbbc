"""Regenerate ``canonical_face_vertices.npz``: the 468 vertices (cm; x = the face's left, y up,
z towards the viewer) of mediapipe's canonical face mesh (Apache-2.0), read from
``mediapipe_canonical_face_model.obj``.

Usage: python tests/fitting/golden/make_canonical_face.py [path/to/canonical_face_model.obj]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

DEFAULT_OBJ = Path("/work/shared/data/mediapipe_canonical_face_model.obj")


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OBJ
    rows = [ln.split()[1:4] for ln in src.read_text().splitlines() if ln.startswith("v ")]
    verts = np.asarray(rows, np.float32)
    assert verts.shape == (468, 3), verts.shape
    out = Path(__file__).with_name("canonical_face_vertices.npz")
    np.savez_compressed(out, vertices=verts)
    print(f"wrote {out} {verts.shape}")


if __name__ == "__main__":
    main()

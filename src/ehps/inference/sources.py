"""Inputs of ``ehps infer``: image files, folders, globs and videos, decoded in-process.

- :func:`expand_inputs` turns the command-line arguments into an ordered list of image and video
  items (folders: their image and video files, non-recursive, in natural order; globs: matches in
  natural order). Arguments that match nothing become failed items (named in the summary).
- :func:`iter_images` reads images one by one; an unreadable or corrupt file yields a
  :class:`Frame` with ``error`` set instead of stopping the run.
- :func:`iter_video` decodes a video with PyAV frame by frame (constant memory, no frame dumps).
  Frame indices are true to the container's timestamps (time x frame rate), so a lost or broken
  packet never shifts the frames after it; a packet the decoder rejects (a broken frame) yields a
  :class:`Frame` with ``error`` set at its own index, and decoding goes on. Frames the stream
  skips (corrupt data) and a video that stops before its declared length (truncated) are
  warned about and counted in a :class:`~ehps.inference.video_timing.VideoStats` (pass
  ``stats=``) for the summary. A container that cannot be read any further ends the video with
  an error frame. Frames come out upright, as a player shows them: the display rotation that
  phones write for portrait videos is applied (:func:`upright`).
- :func:`load_boxes_json` reads person boxes given instead of the detector.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ehps.errors import InputError, require
from ehps.inference.video_timing import (
    FrameClock,
    VideoStats,
    check_length,
    declared_frames,
    frame_rate,
)
from ehps.utils.safe_yaml import load_json_file

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "InputItem",
    "Frame",
    "VideoInfo",
    "expand_inputs",
    "iter_images",
    "probe_video",
    "iter_video",
    "upright",
    "VideoStats",
    "BoxesTable",
    "load_boxes_json",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".jp2"}
)
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif",
     ".ts", ".mts", ".3gp", ".ogv"}
)
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class InputItem:
    """One input: ``kind`` is ``"image"``, ``"video"`` or ``"missing"`` (an argument that matched
    nothing; ``error`` says why)."""

    kind: Literal["image", "video", "missing"]
    path: Path
    error: str = ""


@dataclass
class Frame:
    """One decoded image or video frame.

    Attributes:
        index: frame index within its sequence (video: decoded-frame counter; images: position
            in the image list).
        source: the image path, or ``"<video path>#<index>"``.
        image: (H, W, 3) uint8 RGB, or ``None`` when the frame could not be read.
        time_s: presentation time in seconds (video timestamp; images: ``index / fps``).
        error: why the frame could not be read, or ``""``.
        path: the file the frame came from.
    """

    index: int
    source: str
    image: np.ndarray | None
    time_s: float
    error: str = ""
    path: Path | None = None


@dataclass(frozen=True)
class VideoInfo:
    """Stream facts of a video: frame rate (frames/s), frame count (0 = unknown), size."""

    fps: float
    num_frames: int
    width: int
    height: int
    codec: str


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


def _kind(path: Path) -> Literal["image", "video"]:
    return "video" if path.suffix.lower() in VIDEO_EXTENSIONS else "image"


def expand_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[InputItem]:
    """Resolve command-line inputs into image and video items, in the given order.

    Args:
        inputs: file paths, folders (their images and videos, not recursive, natural order),
            or glob patterns (``*``, ``?``, ``[...]``; ``**`` recurses).

    Returns:
        the items; an argument that matches nothing gives one ``"missing"`` item.

    Raises:
        InputError: no input was given at all.
    """
    if not inputs:
        raise InputError("no input given: pass image files, folders, globs or videos")
    items: list[InputItem] = []
    for raw in inputs:
        text = os.fspath(raw)
        path = Path(text).expanduser()
        if path.is_dir():
            found = sorted(
                (p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                 and p.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS),
                key=_natural_key,
            )
            if not found:
                items.append(InputItem("missing", path, f"folder '{path}' holds no image or "
                                       "video files"))
            items.extend(InputItem(_kind(p), p) for p in found)
        elif path.is_file():
            items.append(InputItem(_kind(path), path))
        elif _GLOB_CHARS.search(text):
            found = sorted((Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True)
                            if Path(p).is_file()), key=_natural_key)
            if not found:
                items.append(InputItem("missing", path, f"no file matches '{text}'"))
            items.extend(InputItem(_kind(p), p) for p in found)
        else:
            items.append(InputItem("missing", path, f"'{text}' does not exist"))
    return items


def iter_images(paths: Sequence[Path], fps: float = 1.0, start_index: int = 0,
                indices: Sequence[int] | None = None) -> Iterator[Frame]:
    """Read image files one by one (:func:`ehps.io.load_image`); an unreadable file
    yields a :class:`Frame` with ``error`` set. ``fps`` only sets ``time_s``. Frame indices
    count from ``start_index``, or are given (``indices``, one per path: a scale-out rank's
    share of a longer list keeps the indices of the whole list)."""
    from ehps.io.image import load_image

    for i, path in enumerate(paths):
        idx = start_index + i if indices is None else int(indices[i])
        try:
            image = load_image(path)
        except InputError as exc:
            yield Frame(idx, str(path), None, idx / fps, str(exc), Path(path))
            continue
        yield Frame(idx, str(path), image, idx / fps, "", Path(path))


def _open(path: Path) -> Any:
    av = require("av", "video", "video decoding")
    if not path.is_file():
        raise InputError(f"cannot open video '{path}': the file does not exist")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"cannot open video '{path}': {exc}") from exc


def _video_stream(container: Any, path: Path) -> Any:
    if not container.streams.video:
        raise InputError(f"'{path}' holds no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise InputError(f"'{path}': its video codec is unknown or not supported by this FFmpeg; "
                         "re-encode it (e.g. to H.264)")
    return stream


def upright(image: np.ndarray, rotation_deg: float) -> np.ndarray:
    """A decoded frame turned as a player shows it.

    Args:
        image: (H, W, C) frame as stored in the stream.
        rotation_deg: PyAV's ``VideoFrame.rotation``: the counter-clockwise angle of the
            stream's display matrix, in degrees (a phone's portrait video stores -90: the
            picture is shown turned a quarter clockwise). Rounded to a quarter turn.

    Returns:
        The frame, (H, W, C) or (W, H, C) after a quarter turn (a view when not turned).
    """
    k = int(round(float(rotation_deg) / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def _display_rotation(container: Any, stream: Any) -> float:
    """The display rotation (degrees, see :func:`upright`) of the stream's first frame."""
    try:
        for frame in container.decode(stream):
            return float(frame.rotation or 0.0)
    except Exception:  # an undecodable start is reported by iter_video
        return 0.0
    return 0.0


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame rate, frame count and size (as shown: a display rotation is applied) of a video's
    first video stream.

    Raises:
        InputError: the file cannot be opened or has no video stream.
    """
    path = Path(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        fps, frames = float(frame_rate(stream)), int(stream.frames or 0)
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        codec = str(stream.codec_context.name)
        if int(round(_display_rotation(container, stream) / 90.0)) % 2:
            width, height = height, width
        return VideoInfo(fps=fps, num_frames=frames, width=width, height=height, codec=codec)


def iter_video(
    path: str | os.PathLike[str], start: int = 0, max_frames: int | None = None,
    stats: VideoStats | None = None,
) -> Iterator[Frame]:
    """Decode a video frame by frame (see the module docstring for indices, broken and lost
    frames).

    Args:
        path: the video file.
        start: first frame index to yield (earlier frames are decoded and dropped).
        max_frames: stop before frame index ``start + max_frames`` (``None``: all).
        stats: filled while decoding: decoded, broken and missing frames, an early end, and
            the warnings (also logged), for the caller's summary.

    Yields:
        :class:`Frame` objects with ``source = "<path>#<index>"``.

    Raises:
        InputError: the file cannot be opened or has no video stream (nothing was decoded).
    """
    av = require("av", "video", "video decoding")
    path = Path(path)
    stats = stats if stats is not None else VideoStats(str(path))
    stats.path = str(path)
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        fps = frame_rate(stream)
        stats.declared_frames = declared_frames(container, stream, fps)
        clock = FrameClock(stream, fps, stats)
        end = None if max_frames is None else start + max_frames
        demux = container.demux(stream)
        reached_end = False
        while end is None or clock.last + 1 < end:
            try:
                packet = next(demux)
            except StopIteration:
                reached_end = True
                break
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                at = clock.last + 1
                stats.ended_early = True
                stats.warn(f"video '{path}' cannot be read past frame {at}: {exc}")
                yield Frame(at, f"{path}#{at}", None, float(at / fps),
                            f"video '{path}' cannot be read past frame {at}: {exc}", path)
                break
            try:
                decoded = packet.decode()
            except (av.error.FFmpegError, ValueError) as exc:
                if packet.size:  # a broken frame: name it, skip it, go on
                    at = clock.index_of(packet.pts)
                    at = clock.last + 1 if at is None else at
                    stats.broken.append(at)
                    if at >= start and (end is None or at < end):
                        yield Frame(at, f"{path}#{at}", None, clock.seconds(packet.pts, at),
                                    f"broken frame {at} in '{path}': {exc}", path)
                continue
            for frame in decoded:
                index, ts = clock.next_index(frame.pts)
                if (end is not None and index >= end) or index < start:
                    continue
                try:
                    image = upright(frame.to_ndarray(format="rgb24"), frame.rotation or 0.0)
                except (av.error.FFmpegError, ValueError) as exc:
                    yield Frame(index, f"{path}#{index}", None, ts,
                                f"frame {index} of '{path}' cannot be converted: {exc}", path)
                else:
                    stats.decoded += 1
                    yield Frame(index, f"{path}#{index}", image, ts, "", path)
        if reached_end:
            check_length(stats, clock, start, end)
    finally:
        container.close()


# --------------------------------------------------------------------------- boxes JSON


class BoxesTable:
    """Person boxes given by the user, looked up per image or video frame.

    Keys (tried in this order for a frame): ``"<source>"`` (the image path or
    ``"<video path>#<index>"``), ``"<file name>#<index>"`` (videos), the file path, name and
    stem, the frame index as a string, and finally ``"*"`` (boxes for every frame: what a
    single-image boxes file gives). A frame without an entry has no people.
    """

    def __init__(self, table: dict[str, tuple[np.ndarray, np.ndarray]], path: str = "") -> None:
        self.table = table
        self.path = path

    def __len__(self) -> int:
        return len(self.table)

    def lookup(self, source: str, frame_index: int,
               file_path: Path | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """``(boxes_xywh (N, 4) float32, scores (N,) float32)`` for a frame, or ``None``."""
        keys = [source]
        if file_path is not None:
            if "#" in source:
                keys.append(f"{file_path.name}#{frame_index}")
            keys += [str(file_path), file_path.name, file_path.stem]
        keys += [str(frame_index), "*"]
        for key in keys:
            if key in self.table:
                return self.table[key]
        return None


def _arrays(entries: list[Any], fmt: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A box list (``[x, y, w, h]`` or ``{"bbox": ..., "score": ...}`` items) -> boxes, scores."""
    from ehps.detection.boxes import parse_boxes

    kept = [e for e in entries if not (isinstance(e, dict) and e.get("category_id", 1) != 1)]
    boxes = parse_boxes({"boxes": [e.get("bbox", e) if isinstance(e, dict) else e for e in kept],
                         "format": fmt}, where)
    try:
        scores = [float(e.get("score", 1.0)) if isinstance(e, dict) else 1.0 for e in kept]
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{where}: a 'score' is not a number") from exc
    return boxes, np.asarray(scores, np.float32).reshape(-1)


def load_boxes_json(path: str | os.PathLike[str]) -> BoxesTable:
    """Read person boxes to use instead of the detector, per image or video frame.

    Layouts (boxes ``[x, y, w, h]`` in pixels, or ``{"bbox": [...], "score": s}``)::

        {"format": "xywh", "boxes": {"img_001.png": [[x, y, w, h], ...],
                                      "12": [{"bbox": [x, y, w, h], "score": 0.9}, ...]}}
        {"img_001.png": [[x, y, w, h]], "video.mp4#12": [[x, y, w, h]]}
        [{"image": "img_001.png", "bbox": [x, y, w, h], "score": 0.9},
         {"frame": 12, "bbox": [x, y, w, h]}, ...]

    and every single-image layout of :func:`ehps.detection.boxes.load_boxes` (a box list,
    ``{"boxes": [...]}``, COCO-style ``{"annotations": [...]}``), whose boxes then apply to every
    frame. ``format`` is ``"xywh"`` (default) or ``"xyxy"``. Keys are matched as described in
    :class:`BoxesTable`.

    Raises:
        InputError: unreadable file or malformed content (the message says where).
    """
    path = Path(path)
    where = f"boxes file '{path}'"
    data = load_json_file(path, InputError, "boxes file")
    fmt = "xywh"
    entries: dict[str, list[Any]] = {}
    if isinstance(data, dict) and isinstance(data.get("boxes"), dict):
        fmt = str(data.get("format", "xywh")).lower()
        body: dict[str, Any] = data["boxes"]
    elif isinstance(data, dict) and not ({"boxes", "annotations"} & set(data)):
        fmt = str(data.get("format", "xywh")).lower()
        body = {k: v for k, v in data.items() if k != "format"}
    elif isinstance(data, list) and data and all(
            isinstance(r, dict) and ({"image", "frame"} & set(r)) for r in data):
        body = {}
        for rec in data:
            key = str(rec["image"]) if "image" in rec else str(rec["frame"])
            body.setdefault(key, []).append(rec)
    else:  # a single-image layout: the same boxes for every frame
        from ehps.detection.boxes import parse_boxes

        boxes = parse_boxes(data, where)
        return BoxesTable({"*": (boxes, np.ones(len(boxes), np.float32))}, str(path))
    for key, boxes in body.items():
        if not isinstance(boxes, list):
            raise InputError(f"{where}, key {key!r}: expected a list of boxes")
        entries[str(key)] = boxes
    table = {key: _arrays(boxes, fmt, f"{where}, key {key!r}") for key, boxes in entries.items()}
    return BoxesTable(table, str(path))

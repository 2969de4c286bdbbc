"""What an upload is, judged by its bytes (never by its name), and whether it is within limits.

:func:`sniff` reads the magic numbers of the first bytes; :func:`probe_file` then opens the file
with the real decoders (Pillow for images, PyAV for videos), reads its size, duration and frame
count, decodes one frame, and rejects anything over the limits with a message for the page. The
server runs :func:`probe_file` in a worker process (:mod:`ehps.serve.worker`), so a decoder that
crashes on a hostile file takes only that process down.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["UploadRejected", "MediaInfo", "sniff", "probe_file", "HEAD_BYTES"]

#: Bytes :func:`sniff` needs.
HEAD_BYTES = 512


class UploadRejected(Exception):
    """An upload the server will not run; ``status`` is the HTTP status, ``code`` a short id."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code, self.status = code, status


@dataclass
class MediaInfo:
    """Facts of an accepted upload.

    Attributes:
        kind: ``"image"`` or ``"video"``.
        format: container or image format as the decoder names it.
        width, height: pixels.
        frames: frames the job will read (images: 1).
        fps: frames per second (images: 0).
        duration_s: seconds (images: 0).
    """

    kind: str
    format: str
    width: int
    height: int
    frames: int = 1
    fps: float = 0.0
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# (kind, suffix): the suffix only tells ``ehps infer`` which reader to use.
def sniff(head: bytes) -> tuple[str, str] | None:
    """Kind and file suffix of a file from its first bytes (:data:`HEAD_BYTES`), or ``None``.

    Images: JPEG, PNG, BMP, TIFF, WebP, PNM, JPEG 2000. Videos: MP4/MOV/3GP (ISO base media),
    AVI, Matroska/WebM, MPEG-PS, MPEG-TS, FLV, Ogg, ASF/WMV, and GIF (read as a video).
    """
    h = head
    if h[:3] == b"\xff\xd8\xff":
        return "image", ".jpg"
    if h[:8] == b"\x89PNG\r\n\x1a\n":
        return "image", ".png"
    if h[:2] == b"BM" and len(h) >= 26:
        return "image", ".bmp"
    if h[:4] in (b"II*\x00", b"MM\x00*"):
        return "image", ".tif"
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return "image", ".webp"
    if h[:2] in (b"P5", b"P6") and h[2:3] in (b"\n", b" ", b"\r", b"\t"):
        return "image", ".ppm"
    if h[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n":
        return "image", ".jp2"
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return "video", ".gif"
    if h[4:8] == b"ftyp":
        return "video", ".mov" if h[8:12] == b"qt  " else ".mp4"
    if h[:4] == b"RIFF" and h[8:12] == b"AVI ":
        return "video", ".avi"
    if h[:4] == b"\x1a\x45\xdf\xa3":
        return "video", ".mkv"
    if h[:4] == b"\x00\x00\x01\xba":
        return "video", ".mpg"
    if h[:1] == b"\x47" and len(h) > 376 and h[188:189] == b"\x47" and h[376:377] == b"\x47":
        return "video", ".ts"
    if h[:3] == b"FLV":
        return "video", ".flv"
    if h[:4] == b"OggS":
        return "video", ".ogv"
    if h[:16] == bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"):
        return "video", ".wmv"
    return None


def _check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise UploadRejected("unreadable", f"the {what} has no size ({width}x{height})")
    if width * height > max_pixels:
        raise UploadRejected(
            "too_many_pixels",
            f"the {what} is {width}x{height} = {width * height / 1e6:.1f} megapixels; this "
            f"server takes at most {max_pixels / 1e6:.1f} (scale it down, or start the server "
            "with a larger --max-pixels)", status=413)


def _probe_image(path: Path, max_pixels: int) -> MediaInfo:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:  # reads the header only: size before any decoding
            width, height, fmt = int(im.width), int(im.height), str(im.format)
            _check_pixels(width, height, max_pixels, "image")
            im.verify()
        with Image.open(path) as im:
            im.load()  # decode: a truncated or corrupt file fails here, not in the job
    except UploadRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UploadRejected("unreadable", f"the image could not be decoded ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise UploadRejected("too_many_pixels", f"the image is too large ({exc})", 413) from exc
    return MediaInfo("image", fmt, width, height)


def _probe_video(path: Path, max_pixels: int, max_video_s: float,
                 max_video_frames: int) -> MediaInfo:
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise UploadRejected("unreadable", f"the video could not be opened ({exc})") from exc
    with container:
        if not container.streams.video:
            raise UploadRejected("unreadable", "the file holds no video stream")
        stream = container.streams.video[0]
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        _check_pixels(width, height, max_pixels, "video frame")
        fps = 0.0
        for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
            if rate and float(rate) > 0:
                fps = float(rate)
                break
        fps = fps or 25.0
        frames = int(stream.frames or 0)
        duration = 0.0
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1e6
        if frames <= 0:  # count packets (no decoding), but never past the limit
            for packet in container.demux(stream):
                if packet.size:
                    frames += 1
                if frames > max_video_frames:
                    break
            container.seek(0)
        duration = max(duration, frames / fps)
        if duration > max_video_s + 1e-6:
            raise UploadRejected(
                "too_long", f"the video lasts {duration:.1f} s; this server takes at most "
                f"{max_video_s:g} s (cut it, or start the server with a larger --max-video-s)",
                413)
        if frames > max_video_frames:
            raise UploadRejected(
                "too_many_frames", f"the video has more than {max_video_frames} frames, the "
                "limit of this server (cut it, or start the server with a larger --max-frames)",
                413)
        try:
            first = next(iter(container.decode(stream)), None)
        except (av.error.FFmpegError, ValueError) as exc:
            raise UploadRejected("unreadable", f"the video could not be decoded ({exc})") from exc
        if first is None:
            raise UploadRejected("unreadable", "the video has no decodable frame")
        fmt = str(container.format.name)
    return MediaInfo("video", fmt, width, height, max(frames, 1), fps, duration)


def probe_file(path: str | Path, kind: str, max_pixels: int, max_video_s: float,
               max_video_frames: int) -> MediaInfo:
    """Open an upload with the real decoders and check it against the limits.

    Args:
        path: the saved upload.
        kind: what :func:`sniff` said (``"image"`` or ``"video"``).
        max_pixels: width x height limit (images and video frames).
        max_video_s: duration limit in seconds.
        max_video_frames: frame-count limit.

    Raises:
        UploadRejected: unreadable, or over a limit (the message says which and what to do).
    """
    path = Path(path)
    try:
        if kind == "image":
            return _probe_image(path, max_pixels)
        return _probe_video(path, max_pixels, max_video_s, max_video_frames)
    except UploadRejected as exc:  # the decoders name the file: never show the server's paths
        text = str(exc).replace(f"'{path}'", "the upload").replace(str(path), "the upload")
        raise UploadRejected(exc.code, text, exc.status) from None

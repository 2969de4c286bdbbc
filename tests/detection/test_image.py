"""Image loading: clear errors naming the file and the reason; pixel conversions; EXIF; size."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from ehps.errors import InputError
from ehps.io.image import as_rgb_uint8, load_image, load_image_reduced, read_image_size


def _png(path, array):
    ok, buf = cv2.imencode(".png", array)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(InputError, match=r"nope\.png.*does not exist"):
        load_image(path)


def test_directory(tmp_path):
    with pytest.raises(InputError, match=r"is a directory"):
        load_image(tmp_path)


def test_zero_size_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.jpg.*empty \(0 bytes\)"):
        load_image(path)


def test_corrupt_bytes(tmp_path):
    path = tmp_path / "garbage.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(InputError, match=r"garbage\.png.*corrupt"):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[:200])
    with pytest.raises(InputError, match=r"cut\.jpg"):
        load_image(path)


def test_color_order_gray_and_alpha(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 10  # blue
    bgr[..., 2] = 200  # red
    rgb = load_image(_png(tmp_path / "c.png", bgr))
    assert rgb.dtype == np.uint8 and rgb.shape == (4, 5, 3)
    assert (rgb[..., 0] == 200).all() and (rgb[..., 2] == 10).all()
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5)
    out = load_image(_png(tmp_path / "g.png", gray))
    assert out.shape == (4, 5, 3) and (out == gray[..., None]).all()
    bgra = np.dstack([bgr, np.full((4, 5), 7, np.uint8)])
    assert (load_image(_png(tmp_path / "a.png", bgra)) == rgb).all()


def test_sixteen_bit_maps_full_range(tmp_path):
    gray16 = np.array([[0, 257, 65535, 32896]], np.uint16)
    out = load_image(_png(tmp_path / "d.png", gray16))
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255, 128])


def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :20] = (255, 0, 0)  # left half red, right half blue
    rgb[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # the viewer rotates 90 degrees clockwise
    path = tmp_path / "rot.jpg"
    Image.fromarray(rgb).save(path, format="JPEG", exif=exif, quality=95)
    out = load_image(path)
    assert out.shape == (40, 20, 3)
    assert out[5, 10, 0] > 200 and out[5, 10, 2] < 60  # red on top after a clockwise turn
    assert out[35, 10, 2] > 200 and out[35, 10, 0] < 60


def test_too_large_is_refused_with_a_way_out(tmp_path):
    path = _png(tmp_path / "big.png", np.zeros((300, 400, 3), np.uint8))
    assert read_image_size(path) == (300, 400)
    with pytest.raises(InputError, match=r"big\.png.*400x300.*load_image_reduced"):
        load_image(path, max_pixels=100_000)
    small, scale = load_image_reduced(path, max_pixels=30_000)
    assert small.shape[0] * small.shape[1] <= 30_000
    assert abs(scale - 400 / small.shape[1]) < 1e-9 and scale > 1
    full, one = load_image_reduced(path, max_pixels=10**6)
    assert one == 1.0 and full.shape == (300, 400, 3)


def test_as_rgb_uint8_rejects_bad_shapes_and_types():
    with pytest.raises(InputError, match="shape"):
        as_rgb_uint8(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InputError, match="pixel type"):
        as_rgb_uint8(np.zeros((4, 4, 3), np.int64))
    np.testing.assert_array_equal(
        as_rgb_uint8(np.array([[0.0, 0.5, 2.0]], np.float32))[0, :, 1], [0, 128, 255]
    )

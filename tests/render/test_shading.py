"""Shading helpers: vertex normals against a loop reference, the colour palette, and the lighting
model's basic physical properties."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch
import trimesh

from ehps.render.shading import (
    DEFAULT_LIGHTING,
    PERSON_COLORS,
    Lighting,
    color_for_index,
    parse_color,
    shade,
    vertex_normals,
)


def test_vertex_normals_match_loop_reference():
    rng = np.random.default_rng(1)
    mesh = trimesh.creation.icosphere(subdivisions=2)
    verts = np.asarray(mesh.vertices) * [0.4, 1.0, 0.7] + rng.normal(scale=0.02, size=(162, 3))
    faces = np.asarray(mesh.faces)
    ref = np.zeros_like(verts)
    for a, b, c in faces:  # area-weighted: the cross product's length is twice the area
        n = np.cross(verts[b] - verts[a], verts[c] - verts[a])
        for i in (a, b, c):
            ref[i] += n
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    got = vertex_normals(torch.tensor(verts), torch.tensor(faces)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-12)
    batch = vertex_normals(torch.tensor(np.stack([verts, -verts])), torch.tensor(faces)).numpy()
    np.testing.assert_allclose(batch[0], ref, atol=1e-12)
    # point reflection is improper: the cross products are unchanged (the mesh turns inside out)
    np.testing.assert_allclose(batch[1], ref, atol=1e-12)
    # outward on a convex mesh
    assert (np.einsum("ij,ij->i", got, verts) > 0).all()


def test_palette_and_colors():
    first = [color_for_index(i) for i in range(len(PERSON_COLORS))]
    assert first == list(PERSON_COLORS)
    hues = [colorsys.rgb_to_hsv(*color_for_index(i))[0] for i in range(24)]
    # neighbouring people never share a hue
    assert min(abs(a - b) for a, b in zip(hues[:-1], hues[1:])) > 0.05
    np.testing.assert_allclose(parse_color((255, 128, 0)), [1.0, 128 / 255, 0.0], atol=1e-7)
    np.testing.assert_allclose(parse_color([0.2, 0.4, 0.6]), [0.2, 0.4, 0.6], atol=1e-7)
    assert parse_color(np.zeros((5, 3), np.uint8)).shape == (5, 3)
    with pytest.raises(ValueError):
        parse_color((1.0, 0.5))
    with pytest.raises(ValueError):
        color_for_index(-1)


def test_shade_lighting_properties():
    key = torch.tensor(DEFAULT_LIGHTING.key_dir, dtype=torch.float64)
    points = torch.tensor([[0.0, 0.0, 3.0]] * 3, dtype=torch.float64)
    toward_key = key.clone()
    away = torch.tensor([0.6, 0.7, -0.35], dtype=torch.float64)  # faces the camera, not the key
    normals = torch.stack([toward_key, away, -toward_key])
    albedo = torch.tensor([0.6, 0.6, 0.6], dtype=torch.float64)
    rgb = shade(normals, points, albedo)
    assert rgb.shape == (3, 3) and (rgb >= 0).all() and (rgb <= 1).all()
    assert rgb[0].mean() > rgb[1].mean()
    # -toward_key faces away from the camera: it is flipped (two-sided), i.e. equals toward_key
    torch.testing.assert_close(rgb[2], rgb[0])
    # brighter albedo -> brighter pixel; no light -> black
    assert (shade(normals, points, albedo * 1.5) > rgb).all()
    dark = Lighting(key=0, fill=0, rim=0, sky=0, ground=0, specular=0, fresnel=0)
    torch.testing.assert_close(shade(normals, points, albedo, dark), torch.zeros(3, 3,
                               dtype=torch.float64))
    # a coloured albedo keeps its dominant channel under the white lights
    red = shade(normals[:2], points[:2], torch.tensor([0.9, 0.2, 0.2], dtype=torch.float64))
    assert (red.argmax(-1) == 0).all()

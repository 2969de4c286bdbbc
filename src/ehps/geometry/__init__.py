"""Geometry shared by every part of ehps: rotations, cameras, boxes and crops."""

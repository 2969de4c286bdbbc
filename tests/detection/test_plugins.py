"""The detector plug-in point: a box proposer wrapped in BoxDetector gives whole-body landmarks in
its boxes, loading detectors by name, and the torchvision example's plumbing.

torchvision does not import beside this machine's torch build, so the torchvision example is
checked with a fake model that follows torchvision's detection call convention (a list of
(3, H, W) float images in, a list of ``{"boxes", "labels", "scores"}`` dicts out); building a
real architecture from a weights file is not exercised here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ehps.detection import Detector
from ehps.detection.plugins import BoxDetector, load_detector
from ehps.detection.torchvision_plugin import TorchvisionPersonProposer
from ehps.errors import InputError

#: The two people of basketball1.png (xywh, pixels), as a strong detector would box them.
BASKETBALL1_PEOPLE = np.array([[28, 75, 140, 405], [428, 16, 212, 464]], np.float32)


class FakeTorchvisionModel(torch.nn.Module):
    """Returns fixed detections (xyxy, labels, scores) and records what it was given."""

    def __init__(self, boxes_xyxy, labels, scores) -> None:
        super().__init__()
        self.out = {"boxes": torch.tensor(boxes_xyxy, dtype=torch.float32),
                    "labels": torch.tensor(labels, dtype=torch.int64),
                    "scores": torch.tensor(scores, dtype=torch.float32)}
        self.seen: list[torch.Tensor] = []

    def forward(self, images):
        self.seen.extend(images)
        return [self.out]


def test_torchvision_proposer_plumbing():
    model = FakeTorchvisionModel(
        [[10, 20, 50, 120], [0, 0, 5, 5], [60, 10, 100, 90], [1, 1, 30, 30]],
        [1, 1, 1, 3], [0.9, 0.2, 0.95, 0.99])
    proposer = TorchvisionPersonProposer(model, min_score=0.5)
    image = np.zeros((120, 160, 3), np.uint8)
    image[0, 0] = (255, 128, 0)
    boxes, scores = proposer(image)
    # persons only (label 1), above the score threshold, best first, xyxy -> xywh
    np.testing.assert_allclose(boxes, [[60, 10, 40, 80], [10, 20, 40, 100]])
    np.testing.assert_allclose(scores, [0.95, 0.9])
    seen = model.seen[0]
    assert seen.shape == (3, 120, 160) and seen.dtype == torch.float32
    np.testing.assert_allclose(seen[:, 0, 0].numpy(), [1.0, 128 / 255, 0.0], rtol=1e-6)
    assert not model.training
    with pytest.raises(InputError, match="uint8"):
        proposer(image.astype(np.float32))
    with pytest.raises(InputError, match="nothing is downloaded"):
        TorchvisionPersonProposer()
    with pytest.raises(InputError, match="do not exist"):
        TorchvisionPersonProposer(weights_path="/nonexistent/weights.pth")


class FakeLandmarker:
    """Records the boxes it is asked about and returns one person per box."""

    def __init__(self) -> None:
        self.boxes = None

    def detect(self, image, boxes):
        from ehps.detection import PersonLandmarks

        self.boxes = np.asarray(boxes)
        return [PersonLandmarks(b, 0.8, np.zeros((33, 2)), np.ones(33), np.zeros((33, 3)),
                                extras={"box_index": i}) for i, b in enumerate(self.boxes)]


def test_box_detector_passes_the_proposer_boxes_to_the_landmarker():
    proposals = (np.array([[0, 0, 10, 20], [5, 5, 10, 10], [1, 1, 2, 2]], np.float32),
                 np.array([0.6, 0.9, 0.1], np.float32))
    marker = FakeLandmarker()
    det = BoxDetector(lambda image: proposals, landmarker=marker)
    assert isinstance(det, Detector)
    people = det(np.zeros((30, 30, 3), np.uint8))
    np.testing.assert_allclose(marker.boxes, [[5, 5, 10, 10], [0, 0, 10, 20]])
    assert [p.extras["box_score"] for p in people] == pytest.approx([0.9, 0.6])
    assert [p.score for p in people] == pytest.approx([0.72, 0.48])
    with pytest.raises(InputError, match=r"\(N, 4\)"):
        BoxDetector(lambda image: (np.zeros((2, 3)), np.zeros(2)), marker)(
            np.zeros((30, 30, 3), np.uint8))


@pytest.mark.embedded
def test_proposed_boxes_get_whole_body_landmarks(basketball1):
    pytest.importorskip("ai_edge_litert")
    model = FakeTorchvisionModel(
        np.concatenate([BASKETBALL1_PEOPLE[:, :2], BASKETBALL1_PEOPLE[:, :2]
                        + BASKETBALL1_PEOPLE[:, 2:]], 1), [1, 1], [0.99, 0.97])
    det = BoxDetector(TorchvisionPersonProposer(model))
    people = det(basketball1)
    assert len(people) == 2
    for p in people:
        box = BASKETBALL1_PEOPLE[p.extras["box_index"]]
        torso = p.body_2d[[11, 12, 23, 24]].mean(0)
        assert box[0] <= torso[0] <= box[0] + box[2]
        assert p.body_world.shape == (33, 3)


def test_load_detector_by_name(monkeypatch):
    with pytest.raises(InputError, match="unknown detector"):
        load_detector("no_such_detector_name")
    with pytest.raises(InputError, match="cannot load detector"):
        load_detector("ehps.nonexistent_module:make")
    import types

    module = types.ModuleType("fake_ehps_plugin")
    module.make = lambda **kw: BoxDetector(lambda image: (np.zeros((0, 4)), np.zeros(0)),
                                           landmarker=FakeLandmarker())
    module.bad = lambda **kw: object()
    monkeypatch.setitem(__import__("sys").modules, "fake_ehps_plugin", module)
    det = load_detector("fake_ehps_plugin:make")
    assert isinstance(det, BoxDetector) and det(np.zeros((8, 8, 3), np.uint8)) == []
    with pytest.raises(InputError, match="Detector protocol"):
        load_detector("fake_ehps_plugin:bad")

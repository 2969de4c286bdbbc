"""After ``--resume``, the replayed frames' raw estimates become the tracks' contexts, so that
the first new frame of a video is fitted warm (``BackStages._remember_record``)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ehps.geometry.camera import Intrinsics
from ehps.inference.estimators import PersonInput
from ehps.inference.front import FrameTask, SequenceStats
from ehps.inference.loop import BackStages
from ehps.inference.sources import Frame
from ehps.io.records import make_record
from ehps.structures import PersonEstimate

K = Intrinsics.from_image_size(64, 48)


def _person(track: int, seed: int, crop: bool = False) -> PersonEstimate:
    rng = np.random.default_rng(seed)
    params = {"global_orient": rng.normal(size=(1, 3)).astype(np.float32),
              "body_pose": rng.normal(size=(21, 3)).astype(np.float32),
              "transl": rng.normal(size=(1, 3)).astype(np.float32)}
    e = np.zeros((0, 3), np.float32)
    return PersonEstimate(np.array([1, 2, 10, 20], np.float32), 0.9, "anny", params, e, e,
                          np.zeros((0, 2), np.float32), K,
                          transl_full=params["transl"].reshape(3) + (1.0 if crop else 0.0),
                          crop_bbox_xywh=np.array([0, 0, 8, 8], np.float32) if crop else None,
                          track_id=track)


def _raw(p: PersonEstimate) -> dict[str, np.ndarray]:
    return {**p.params, "transl_full": np.asarray(p.transl_full, np.float32)}


def _back(contexts: bool = True) -> BackStages:
    estimator = SimpleNamespace(frame_batches=True, batch_size=1, body_model_name="anny",
                                name="fit-anny")
    return BackStages(estimator, sink=None, stats=SequenceStats(), contexts=contexts)


def _replay(back: BackStages, index: int, people: list[PersonEstimate]) -> None:
    rec = make_record(index, index / 25, people, list(range(len(people))),
                      [_raw(p) for p in people])
    frame = Frame(index, f"v.mp4#{index}", np.zeros((48, 64, 3), np.uint8), index / 25)
    back.push(FrameTask(frame, K, record=rec))  # held: no sink needed before finish()


def test_replayed_raw_estimates_become_contexts():
    back = _back()
    a0, b0 = _person(3, 0), _person(5, 1, crop=True)  # b0: a network person (crop camera)
    a1 = _person(3, 2)
    _replay(back, 0, [a0, b0])
    _replay(back, 1, [a1])
    assert set(back.memory) == {3}  # crop-camera people are not carried
    ctx = back.memory[3]
    assert ctx.frame_index == 1 and ctx.frames == 2
    for k, v in a1.params.items():
        np.testing.assert_array_equal(ctx.previous.params[k], v)
    assert [t for t, _ in ctx.past] == [0.0, 1 / 25]
    np.testing.assert_array_equal(ctx.past[0][1]["body_pose"], a0.params["body_pose"])
    # the next (new) frame's person of track 3 gets this context
    inp = PersonInput(2, None, K, (48, 64), track_id=3, time_s=2 / 25)  # type: ignore[arg-type]
    back._contexts([inp])
    assert inp.context is ctx


def test_per_frame_mode_carries_nothing():
    back = _back(contexts=False)
    _replay(back, 0, [_person(3, 0)])
    assert back.memory == {}

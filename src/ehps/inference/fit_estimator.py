"""The embedded estimator behind the :class:`~ehps.inference.estimators.Estimator` protocol:
whole-body landmarks (mediapipe 0.10.21's bundled models, found by the detect stage) and a fit of
a body model to them (:func:`ehps.fitting.fit_people`), one frame per call, batched over the
frame's people. It needs no weights and runs on the CPU. The fit's camera is the frame's shared
camera, so ``transl_full`` is ``transl``.

Tracked people with a context (:attr:`~ehps.inference.estimators.PersonInput.context`: videos
unless ``--per-frame``) are fitted warm: from their previous raw estimate, with a short schedule
and a temporal term (:func:`ehps.fitting.temporal.fit_people_warm`); the others (new tracks,
photos) get the full cold fit. Both kinds of a frame are fitted in one call each. New tracks of a
followed video (:attr:`~ehps.inference.estimators.PersonInput.followed`) get the cold schedule
without the stages whose data nobody in the batch has (:func:`cold_stages`: no hands found, no
``hands`` stage; no face found, no ``face`` stage), when :attr:`~ehps.fitting.temporal.
TemporalFitConfig.prune_cold` is on.

After the warm fits, a person whose landmark visibility dropped or whose warm fit reprojects
clearly worse than the track usually does is fitted again from a cold start, which replaces the
warm result (:mod:`ehps.inference.fit_fallback`, :attr:`FittingEstimator.fallback`; the
occlusion fallback).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from ehps.fitting.estimator import EmbeddedEstimator
from ehps.fitting.temporal import TemporalFitConfig, WarmStart, fit_people_warm
from ehps.geometry.camera import Intrinsics
from ehps.inference.detect import Detection, LandmarkFinder
from ehps.inference.estimators import PersonInput, normalize_params
from ehps.inference.fit_fallback import (
    REFERENCE_KEY,
    FallbackConfig,
    choose_refits,
    needs_cold,
    reference_of,
    updated_reference,
)
from ehps.structures import PersonEstimate

__all__ = ["FittingEstimator", "cold_stages"]


def cold_stages(stages: Sequence[Any], landmarks: Sequence[Any]) -> tuple[Any, ...]:
    """``stages`` (a cold schedule) without the ``hands`` stage when no person of
    ``landmarks`` has a hand found, and without the ``face`` stage when none has a face: those
    stages fit data nobody has (their parts keep the start's neutral values)."""
    has_hands = any(getattr(p, f"{side}_hand_2d") is not None for p in landmarks
                    for side in ("left", "right"))
    has_face = any(p.face_2d is not None for p in landmarks)
    drop = {"hands"} if not has_hands else set()
    drop |= {"face"} if not has_face else set()
    return tuple(st for st in stages if st.name not in drop)


class FittingEstimator:
    """Landmark fitting (see the module docstring).

    Args:
        body_model: a registered body-model name (``"anny"``, ``"smplx"``) or an instance.
        fit_config: options of the fit (:class:`ehps.fitting.FitConfig`).
        smplx_path: where to look for SMPL-X files first (``body_model="smplx"``).
        detector: the landmark detector (default :class:`ehps.detection.MediapipeDetector`).
        embedded: reuse an :class:`ehps.fitting.EmbeddedEstimator`'s body model, detector and
            fit options instead of the arguments above.
    """

    frame_batches = True
    batch_size = 64
    weights = ""

    def __init__(self, body_model: str | Any = "anny", fit_config: Any = None,
                 smplx_path: str | None = None, detector: Any = None,
                 embedded: EmbeddedEstimator | None = None,
                 temporal: TemporalFitConfig | None = None,
                 fallback: FallbackConfig | None = None) -> None:
        self.embedded = embedded or EmbeddedEstimator(body_model=body_model, detector=detector,
                                                      fit_config=fit_config,
                                                      smplx_path=smplx_path)
        self._detector = detector
        #: the warm fits' schedule and temporal term (people with a track context)
        self.temporal = temporal or TemporalFitConfig()
        #: when warm fits give way to cold ones (the occlusion fallback)
        self.fallback = fallback or FallbackConfig()
        self.device = torch.device("cpu")
        self.timings: dict[str, float] = {}

    @property
    def body_model_name(self) -> str:
        return str(self.embedded.body_model.name)

    @property
    def name(self) -> str:
        return self.embedded.name

    def make_finder(self, min_score: float, max_people: int | None, *, search: str = "auto",
                    search_preset: str = "default") -> LandmarkFinder:
        return LandmarkFinder(min_score, max_people, detector=self._detector, search=search,
                              search_preset=search_preset)

    def prepare(self, image: np.ndarray, detections: Sequence[Detection], k_shared: Intrinsics,
                frame_index: int) -> list[PersonInput | None]:
        """The detections' landmarks are the fit's input (``payload``)."""
        h, w = image.shape[:2]
        return [PersonInput(frame_index, d, k_shared, (h, w), d.landmarks) for d in detections]

    def estimate(self, inputs: Sequence[PersonInput]) -> list[PersonEstimate]:
        """One batched fit of the people of one frame; meshes are left to the pose stage."""
        if not inputs:
            return []
        t0 = time.perf_counter()
        first = inputs[0]
        bm, cfg = self.embedded.body_model, self.embedded.fit_config
        warm = [i for i, inp in enumerate(inputs) if inp.context is not None]
        cold = [i for i, inp in enumerate(inputs) if inp.context is None]
        people: list[PersonEstimate | None] = [None] * len(inputs)
        if cold:
            for i, p in zip(cold, self._fit_cold([inputs[i] for i in cold])):
                people[i] = p
        t1 = time.perf_counter()
        if warm:
            starts = [self._warm_start(inputs[i]) for i in warm]
            steps: dict[str, float] = {}
            fitted = fit_people_warm(first.image_hw, [inputs[i].payload for i in warm], bm,
                                     starts, first.k_shared, cfg, self.temporal, steps)
            for key, sec in steps.items():
                if key != "fit":
                    name = key if key.startswith("warm") else f"warm_{key}"
                    self.timings[name] = self.timings.get(name, 0.0) + sec
            for i, p in zip(warm, fitted):
                people[i] = p
        t2 = time.perf_counter()
        refs = {i: reference_of(inputs[i].context.previous) for i in warm  # type: ignore[union-attr]
                if inputs[i].context is not None}
        if warm and self.fallback.enabled:
            scores = [needs_cold(inputs[i].payload, people[i], refs.get(i), self.fallback)
                      for i in warm]
            redo = [warm[j] for j in choose_refits(scores, self.fallback)]
            if redo:
                for i, p in zip(redo, self._refit([inputs[i] for i in redo])):
                    p.extras["fit_fallback"] = self.fallback.action
                    people[i] = p
                self.timings["fallback_people"] = (self.timings.get("fallback_people", 0.0)
                                                   + len(redo))
        for i, (person, inp) in enumerate(zip(people, inputs)):
            assert person is not None
            person.extras[REFERENCE_KEY] = updated_reference(
                refs.get(i), inp.payload, person, self.fallback,
                refitted="fit_fallback" in person.extras)
        t3 = time.perf_counter()
        for person, inp in zip(people, inputs):
            assert person is not None
            person.params = normalize_params(person.params)
            person.transl_full = person.params["transl"].reshape(3).copy()
            person.track_id = inp.track_id
            person.extras["landmarks"] = inp.payload
        for key, sec in (("fit_cold", t1 - t0), ("fit_warm", t2 - t1),
                         ("fit_fallback", t3 - t2), ("fit", time.perf_counter() - t0)):
            self.timings[key] = self.timings.get(key, 0.0) + sec
        return [p for p in people if p is not None]

    def _fit_cold(self, inputs: Sequence[PersonInput], surrogate_only: bool = False
                  ) -> list[PersonEstimate]:
        """Cold fits of ``inputs`` (one frame's people), in one batch; people of a followed
        video get the schedule without the stages nobody has data for (:func:`cold_stages`);
        ``surrogate_only``: without the stages on the exact model too."""
        from ehps.fitting.fitter import fit_people

        cfg = self.embedded.fit_config
        if surrogate_only:
            cfg = replace(cfg, stages=tuple(st for st in cfg.stages if st.surrogate))
        payloads = [inp.payload for inp in inputs]
        cold_cfg = cfg
        if self.temporal.prune_cold and all(inp.followed for inp in inputs):
            stages = cold_stages(cfg.stages, payloads)
            if len(stages) < len(cfg.stages) and cfg.select_after in {st.name for st in stages}:
                cold_cfg = replace(cfg, stages=stages)
        first = inputs[0]
        return fit_people(first.image_hw, payloads, self.embedded.body_model, first.k_shared,
                          cold_cfg, {}, meshes=False)

    def _refit(self, inputs: Sequence[PersonInput]) -> list[PersonEstimate]:
        """The occlusion fallback's refit of ``inputs`` (tracked people of one frame)."""
        if self.fallback.action == "cold":
            return self._fit_cold(inputs)
        if self.fallback.action == "cold_surrogate":
            return self._fit_cold(inputs, surrogate_only=True)
        longer = replace(self.temporal, start="landmarks",
                         iterations=self.fallback.warm_iterations)
        first = inputs[0]
        return fit_people_warm(first.image_hw, [inp.payload for inp in inputs],
                               self.embedded.body_model, [self._warm_start(i) for i in inputs],
                               first.k_shared, self.embedded.fit_config, longer, {})

    def _warm_start(self, inp: PersonInput) -> WarmStart:
        """Where a tracked person's fit starts (its context's raw estimates)."""
        ctx = inp.context
        assert ctx is not None
        past = list(ctx.past) or [(inp.time_s - 1.0, ctx.previous.params)]
        memory = ctx.previous.extras.get("lbfgs_memory")
        return WarmStart(params=ctx.previous.params, past=past, time_s=inp.time_s,
                         shape_free=ctx.frames < self.temporal.settle_frames, memory=memory)

    def relocate(self, person: PersonEstimate, transl_full: np.ndarray,
                 k_shared: Intrinsics) -> None:
        """The fit lives in the shared camera: both translations are the same."""
        t_full = np.asarray(transl_full, np.float32).reshape(3)
        person.transl_full = t_full
        person.params["transl"] = t_full.reshape(1, 3).copy()

    def body_model(self, required: bool = False) -> Any:
        return self.embedded.body_model

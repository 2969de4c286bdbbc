"""The tunable parts of the embedded person search (:mod:`ehps.detection.person_search`), in one
frozen, validated dataclass: the defaults are the ones ``benchmarks/detection_crowd.py`` measured
best, :meth:`SearchConfig.baseline` reproduces the search from before issue 19."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SearchConfig"]


@dataclass(frozen=True)
class SearchConfig:
    """Tunable parts of the person search (module docstring).

    Attributes:
        tile_sides: tile sizes as fractions of the image's long side.
        dense_sides: further tile sizes (fractions of the long side) that only ``"dense"`` adds
            (people 40-80 px tall in a large image need tiles of 1/8 of it; ``"auto"`` leaves
            them out because they multiply its time on ordinary photos).
        tile_overlap: overlap of neighbouring tiles, as a fraction of their side.
        tile_min_score: pose-detector score threshold inside tiles.
        auto_policy: how ``"auto"`` decides on tiles: ``"large_person"`` (no tile once someone
            a third of the long side tall is found; the old rule) or ``"uncovered"`` (skip only
            the tiles that found people already cover by ``auto_cover``).
        auto_cover: fraction of a tile that found people's boxes must cover to skip it.
        merge: ``"circles"`` (cross-scale, keeps close people apart) or ``"weighted"``.
        merge_distance: circles merge when their centres are closer than this fraction of the
            smaller radius ...
        merge_scale: ... and their radii differ by less than this factor.
        refine: run the landmarks again on their own tracking crop, keep the better result.
        face_sides: window sizes (fractions of the long side; 1.0 = the whole image) of the
            face proposals; empty = no face proposals.
        face_min_score: face-detector score threshold.
        tile_border: tiles reach this fraction of their side beyond the image (zero-padded),
            so that people cut by the border fit in a tile.
        contained: a candidate whose box lies by this fraction inside the silhouette of a
            person at least ``contained_ratio`` times its size is a part of that person (a
            hand, a foot, a head seen by a small tile), not a person; 0 keeps everyone.
        contained_ratio: see ``contained`` and ``part_silhouette``.
        part_silhouette: a candidate of which at least this fraction of its own silhouette
            (the pose model's person mask) lies inside the silhouette of a person at least
            ``contained_ratio`` times its size is a part of that person (a pair of legs or a
            torso that a tile took for a small person; a visible person beside or behind the
            big one shows pixels the big one's mask does not have); 0 turns it off.
        zoom_score: ``"auto"`` only: tile detections scoring at least this (but under
            ``tile_min_score``) hint at a person too small for the tile; up to ``zoom_max`` of
            them (best first, none on a person already found) get a window of ``zoom_side`` of
            the long side centred on them, searched like a tile (the cheap part of
            ``dense_sides``: a few windows where the tiles saw something, not the whole grid);
            0 turns it off.
        zoom_side: see ``zoom_score``.
        zoom_max: see ``zoom_score``.
        min_box_px: candidates whose person box (landmarks and mask) is shorter than this on
            its longer side (pixels) are dropped: the landmark model does not resolve a body
            that small, and the zoom windows otherwise turn cones, tripods and litter of that
            size into people; 0 keeps every size.
        segment_proposals: ``"auto"`` and ``"dense"``: proposals that need no face
            (:mod:`ehps.detection.segment_proposals`): the selfie segmenter's blobs that no
            found person explains, each verified by the landmark model.
        border_sides: with ``segment_proposals``, square windows of these sizes (fractions of
            the long side) along the image edges where the segmenter's leftover shows
            something; a landmark result there counts only if it touches the border (people
            cut by it, whose face is outside the image); empty = none.
        segment_presence: landmark presence a face-free proposal needs (stricter than
            ``min_presence``: these crops are not anchored on a detector's face).
        segment_agreement: fraction of the landmark model's own person mask that the
            segmenter must also see as a person (two independent models; the landmark model
            alone sees people in textures).
        segment_min_px: face-free candidates whose person box is shorter than this on its
            longer side (pixels) are dropped: without a face to anchor the crop, the landmark
            model is sure of person-shaped objects that small (a toy, a statuette).
        segment_split: a blob that no crop verifies is tried again as its left and right
            halves (two people side by side make one blob). Off: on 60 crowd scenes it found
            one more person for one more false positive, at about x1.15 the time.
        segment_rounds: after the blobs' people are verified, their masks are removed from the
            leftover and the new blobs tried, up to this many more times (two overlapping
            people make one blob); 0 = once.
        segment_inside: a blob crop whose person box does not fit the blob (IoU < 0.3) still
            counts when at least this fraction of its box lies inside the blob (one person of
            several the segmenter merged); 0 = off.
        leftover_sides: square windows of these sizes (fractions of the long side) over the
            image, where the leftover covers at least ``leftover_cover`` of the window, get a
            face-free landmark crop (a blob too big for one crop); empty = none. On by default
            with ``leftover_confirm`` since recall24 (60 crowd scenes: recall >= 80 px
            0.804 -> 0.808 at the same precision; without the guard 0.812 for one more false
            positive, the upper body of a bigger person).
        leftover_cover: see ``leftover_sides``.
        segment_presence_agreed: a face-free candidate with presence under
            ``segment_presence`` still counts when its presence exceeds this and the segmenter
            sees at least ``segment_agreement_high`` of its mask (two models nearly sure);
            1.0 = off.
        segment_agreement_high: see ``segment_presence_agreed``.
        leftover_confirm: a leftover-window candidate counts only when a second landmark crop
            of ``leftover_confirm_scale`` times its person box's long side, centred on that
            box, passes ``segment_presence`` too and gives a person box with at least this IoU
            with the first (a window that shows only part of a body verifies the part; the
            wider crop shows the rest and the box grows); 0 = off.
        leftover_confirm_scale: see ``leftover_confirm``.
        agreed_confirm: a face-free candidate admitted by ``segment_presence_agreed`` (presence
            under ``segment_presence``) also needs the wider crop of ``leftover_confirm`` to
            give a box with at least this IoU; 0 = off.
    """

    tile_sides: tuple[float, ...] = (1.0 / 2.0, 1.0 / 4.0)
    dense_sides: tuple[float, ...] = (1.0 / 8.0,)
    tile_overlap: float = 0.5
    tile_min_score: float = 0.5
    auto_policy: str = "uncovered"
    auto_cover: float = 0.85
    merge: str = "circles"
    merge_distance: float = 0.35
    merge_scale: float = 1.6
    refine: bool = False
    face_sides: tuple[float, ...] = ()
    face_min_score: float = 0.6
    tile_border: float = 0.0
    contained: float = 0.7
    contained_ratio: float = 2.0
    part_silhouette: float = 0.3
    zoom_score: float = 0.03
    zoom_side: float = 1.0 / 8.0
    zoom_max: int = 32
    min_box_px: float = 32.0
    segment_proposals: bool = True
    border_sides: tuple[float, ...] = (1.0 / 2.0, 1.0 / 4.0)
    segment_presence: float = 0.99
    segment_agreement: float = 0.5
    segment_min_px: float = 64.0
    segment_split: bool = False
    segment_rounds: int = 0
    segment_inside: float = 0.0
    leftover_sides: tuple[float, ...] = (1.0 / 2.0, 1.0 / 4.0)
    leftover_cover: float = 0.3
    segment_presence_agreed: float = 1.0
    segment_agreement_high: float = 0.8
    leftover_confirm: float = 0.6
    leftover_confirm_scale: float = 1.5
    agreed_confirm: float = 0.0

    def __post_init__(self) -> None:
        if self.auto_policy not in ("large_person", "uncovered"):
            raise ValueError(f"auto_policy must be 'large_person' or 'uncovered', got "
                             f"{self.auto_policy!r}")
        if self.merge not in ("circles", "weighted"):
            raise ValueError(f"merge must be 'circles' or 'weighted', got {self.merge!r}")
        if any(not 0.0 < s <= 1.0 for s in (*self.tile_sides, *self.dense_sides,
                                             *self.face_sides, *self.border_sides,
                                             *self.leftover_sides)):
            raise ValueError("tile_sides, dense_sides, face_sides, border_sides and "
                             "leftover_sides must be fractions in (0, 1]")
        if self.segment_rounds < 0 or not 0.0 <= self.segment_inside <= 1.0:
            raise ValueError("segment_rounds must be >= 0 and segment_inside in [0, 1]")
        if not (0.0 <= self.segment_presence_agreed <= 1.0
                and 0.0 <= self.segment_agreement_high <= 1.0):
            raise ValueError("segment_presence_agreed and segment_agreement_high must be in "
                             "[0, 1]")
        if (not 0.0 <= self.leftover_confirm <= 1.0 or not 0.0 <= self.agreed_confirm <= 1.0
                or self.leftover_confirm_scale < 1.0):
            raise ValueError("leftover_confirm and agreed_confirm must be in [0, 1] and "
                             "leftover_confirm_scale >= 1")
        if not 0.0 < self.leftover_cover <= 1.0:
            raise ValueError(f"leftover_cover must be in (0, 1], got {self.leftover_cover}")
        if not (0.0 <= self.segment_presence <= 1.0 and 0.0 <= self.segment_agreement <= 1.0):
            raise ValueError("segment_presence and segment_agreement must be in [0, 1]")
        if not 0.0 < self.zoom_side <= 1.0 or self.zoom_max < 0 or self.zoom_score < 0.0:
            raise ValueError("zoom_side must be in (0, 1], zoom_max and zoom_score >= 0")
        if not 0.0 <= self.tile_overlap < 1.0:
            raise ValueError(f"tile_overlap must be in [0, 1), got {self.tile_overlap}")

    @classmethod
    def baseline(cls) -> SearchConfig:
        """The person search before issue 19 (for side-by-side benchmarks)."""
        return cls(tile_sides=(1.0 / 2.0, 1.0 / 4.0), dense_sides=(), tile_overlap=0.5,
                   tile_min_score=0.5, auto_policy="large_person", merge="weighted",
                   refine=False, face_sides=(), tile_border=0.0, contained=0.0,
                   part_silhouette=0.0, zoom_score=0.0, min_box_px=0.0,
                   segment_proposals=False, border_sides=(), segment_rounds=0,
                   segment_inside=0.0, leftover_sides=(), leftover_confirm=0.0)

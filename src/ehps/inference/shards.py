"""The work units of one ``ehps infer`` run, which rank does which (scale-out), and the merge of
the ranks' reports into the one report a single process would have made.

Units, in the order the run reads them (:func:`plan_run`):

- the images of the run: each image is a unit (independent photos); with ``input.sequence``
  they are frames of one tracked video and form a single unit;
- each video is a unit (tracking and smoothing run along a whole video, so a video is never
  split).

Rank ``r`` of ``W`` takes units ``r, r + W, ...`` (:meth:`ehps.utils.scaleout.Ranks.take`). A
rank's images keep their indices in the whole image list (so the file names are those of a
one-process run) and are written into the output folder like any run's, except that the rank's
manifest is a part (:func:`ehps.io.manifest.part_name`) that rank 0 merges at the end. A video
goes to its own sub-folder, named from the whole list (the same names as a one-process run).

Each rank returns a :class:`Share` (its report with an order key per sequence and per failure);
:func:`merge_shares` puts them together on rank 0, in the one-process order, so that
``summary.json`` equals a one-process run's apart from the timing fields (``seconds``,
``frames_per_s``, ``timings_s``; stage seconds are summed over the ranks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ehps.config.infer import InferConfig
from ehps.inference.front import SequenceStats
from ehps.inference.report import InferReport, SequenceReport
from ehps.inference.sources import InputItem
from ehps.io.outdir import sequence_folder_name

__all__ = ["RunPlan", "Share", "plan_run", "merge_shares", "Key"]

#: Order key of a sequence or failure: ``(0, i, 0)`` missing inputs, ``(1, frame, j)`` the
#: images, ``(2, video, j)`` the videos, ``(3, rank, 0)`` ranks that stopped.
Key = tuple[int, int, int]


@dataclass(frozen=True)
class RunPlan:
    """What one run reads, before it is shared out.

    Attributes:
        images: ``(frame index, path)`` of the images read (after ``--start`` /
            ``--max-frames``).
        sequence: the images are frames of one video (a single unit).
        videos: ``(path, result folder name)`` of each video.
    """

    images: list[tuple[int, Path]]
    sequence: bool
    videos: list[tuple[Path, str]]

    @property
    def image_units(self) -> int:
        return (1 if self.images else 0) if self.sequence else len(self.images)

    @property
    def units(self) -> int:
        return self.image_units + len(self.videos)

    def frame_of(self) -> dict[str, int]:
        """Image path (as a frame's ``source``) -> its frame index (the first, if repeated)."""
        return {str(p): i for i, p in reversed(self.images)}

    def share(self, units: range | list[int]) -> tuple[list[tuple[int, Path]],
                                                       list[tuple[int, Path, str]]]:
        """The images (``(frame index, path)``) and videos (``(video number, path, folder
        name)``) of the given units."""
        n_img = self.image_units
        mine = sorted(set(units))
        if self.sequence:
            images = list(self.images) if 0 in mine and n_img else []
        else:
            images = [self.images[u] for u in mine if u < n_img]
        videos = [(u - n_img, *self.videos[u - n_img]) for u in mine if u >= n_img]
        return images, videos


def plan_run(items: list[InputItem], config: InferConfig) -> RunPlan:
    """The units of a run over the usable ``items`` (see the module docstring)."""
    inp = config.input
    images = [it.path for it in items if it.kind == "image"]
    stop = None if inp.max_frames is None else inp.start + inp.max_frames
    chosen = [(inp.start + i, p) for i, p in enumerate(images[inp.start : stop])]
    used: set[str] = set()
    videos = [(it.path, sequence_folder_name(it.path.stem, used)) for it in items
              if it.kind == "video"]
    return RunPlan(chosen, inp.sequence, videos)


@dataclass
class Share:
    """What one rank did: its report, with an order :data:`Key` for each of its sequences and
    failures (parallel to ``report.sequences`` / ``report.failures``), its stage seconds, and
    why it stopped early (``""``: it did not)."""

    report: InferReport
    sequence_keys: list[Key] = field(default_factory=list)
    failure_keys: list[Key] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    stopped: str = ""

    def add_failures(self, key: tuple[int, int], frames: dict[str, int] | None = None) -> None:
        """Key the failures added to the report since the last call, in their order: ``key``
        is ``(group, number)``; with ``frames`` (image path -> frame index), each failure's
        number is its image's frame index instead."""
        start = len(self.failure_keys)
        for j in range(start, len(self.report.failures)):
            number = key[1] if frames is None else frames.get(self.report.failures[j][0], -1)
            self.failure_keys.append((key[0], number, j - start))


def _merge_stats(reports: list[SequenceReport], order: dict[str, int]) -> SequenceStats:
    out = SequenceStats()
    for rep in reports:
        st = rep.stats
        out.frames_done += st.frames_done
        out.frames_resumed += st.frames_resumed
        out.frames_failed += st.frames_failed
        out.frames_without_people += st.frames_without_people
        out.people += st.people
        out.tracks += st.tracks
        out.failures += st.failures
        for k, v in st.timings.items():
            out.timings[k] = out.timings.get(k, 0.0) + v
    out.failures.sort(key=lambda f: order.get(f[0], -1))
    return out


def merge_shares(shares: list[Share], plan: RunPlan, out_dir: Path, estimator: str,
                 images_manifest: Path | None) -> InferReport:
    """One report from every rank's :class:`Share` (rank order), in the one-process order.

    Args:
        shares: the ranks' shares.
        plan: the run's plan (the order of image failures).
        out_dir: the output folder.
        estimator: the estimator's name.
        images_manifest: the merged manifest of the images, when the ranks wrote parts.

    Returns:
        the merged report (``seconds`` and ``summary_path`` are left to the caller;
        ``timings`` are summed over the ranks).
    """
    merged = InferReport(out_dir=out_dir, estimator=estimator)
    keyed_seqs = sorted(((k, i, s) for i, sh in enumerate(shares)
                         for k, s in zip(sh.sequence_keys, sh.report.sequences)),
                        key=lambda t: (t[0], t[1]))
    image_parts = [s for k, _, s in keyed_seqs if k[0] == 1]
    if len(image_parts) == 1 and images_manifest is None:
        merged.sequences.append(image_parts[0])
    elif image_parts:
        order = plan.frame_of()
        first = image_parts[0]
        files = dict(first.files)
        if images_manifest is not None:
            files["manifest.json"] = images_manifest
        merged.sequences.append(SequenceReport(first.name, out_dir, first.kind,
                                               _merge_stats(image_parts, order), files))
    merged.sequences += [s for k, _, s in keyed_seqs if k[0] != 1]
    keyed = sorted((k, i, f) for i, sh in enumerate(shares)
                   for k, f in zip(sh.failure_keys, sh.report.failures))
    merged.failures = [f for _, _, f in keyed]
    merged.failures += [(f"rank {i} of {len(shares)}", f"stopped: {sh.stopped}; the rest of its "
                         "share was not processed (run again with --resume to finish it)")
                        for i, sh in enumerate(shares) if sh.stopped]
    for sh in shares:
        for k, v in sh.timings.items():
            merged.timings[k] = merged.timings.get(k, 0.0) + v
    return merged

"""Published SMPLer-X / SMPLest-X results, as data with their sources.

The numbers live in ``ehps/assets/published_numbers.yaml``; each entry names the model, the
variant when the source names it, the benchmark and ehps metric key, the value (mm) and a source
(``paper`` or ``README`` tag, title, URLs). Figures that could not be verified are listed under
``missing`` and never invented.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

from ehps.errors import InputError

__all__ = [
    "PublishedSource",
    "PublishedNumber",
    "MissingNumbers",
    "PublishedTable",
    "load_published",
    "published_for",
]

_VALID_TAGS = ("paper", "README")


@dataclass(frozen=True)
class PublishedSource:
    """Where a number was read: ``tag`` is ``"paper"`` or ``"README"``."""

    key: str
    tag: str
    title: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class PublishedNumber:
    """One published figure (millimetres)."""

    model: str
    variant: str | None
    benchmark: str
    metric: str
    value: float
    source: PublishedSource
    note: str = ""

    @property
    def label(self) -> str:
        """e.g. ``"SMPLer-X [paper]"`` or ``"SMPLer-X smplerx_h32 [README]"``."""
        name = self.model if self.variant is None else f"{self.model} {self.variant}"
        return f"{name} [{self.source.tag}]"


@dataclass(frozen=True)
class MissingNumbers:
    """Benchmarks for which no figure of ``model`` could be verified, and why."""

    model: str
    benchmarks: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class PublishedTable:
    """All published entries, their sources and the documented gaps."""

    sources: dict[str, PublishedSource]
    numbers: tuple[PublishedNumber, ...]
    missing: tuple[MissingNumbers, ...]

    def for_benchmark(self, benchmark: str, metric: str | None = None) -> list[PublishedNumber]:
        """Entries of one benchmark (and metric key, if given)."""
        return [
            n
            for n in self.numbers
            if n.benchmark == benchmark and (metric is None or n.metric == metric)
        ]

    def missing_for(self, benchmark: str) -> list[MissingNumbers]:
        """Gaps that concern ``benchmark``."""
        return [m for m in self.missing if benchmark in m.benchmarks]


def _parse(data: dict) -> PublishedTable:
    try:
        sources = {}
        for key, s in data["sources"].items():
            tag = str(s["tag"])
            if tag not in _VALID_TAGS:
                raise InputError(
                    f"published source {key!r} has tag {tag!r}, not one of {_VALID_TAGS}"
                )
            urls = tuple(str(u) for u in s["urls"])
            if not urls:
                raise InputError(f"published source {key!r} lists no URL")
            sources[key] = PublishedSource(key, tag, str(s["title"]), urls)
        numbers = []
        for e in data["entries"]:
            if e["source"] not in sources:
                raise InputError(f"published entry {e!r} names unknown source {e['source']!r}")
            numbers.append(
                PublishedNumber(
                    model=str(e["model"]),
                    variant=None if e.get("variant") is None else str(e["variant"]),
                    benchmark=str(e["benchmark"]),
                    metric=str(e["metric"]),
                    value=float(e["value"]),
                    source=sources[e["source"]],
                    note=str(e.get("note") or "").strip(),
                )
            )
        missing = tuple(
            MissingNumbers(
                str(m["model"]), tuple(str(b) for b in m["benchmarks"]), str(m["reason"])
            )
            for m in data.get("missing", [])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed published-numbers data: {exc!r}") from exc
    return PublishedTable(sources, tuple(numbers), missing)


@functools.lru_cache(maxsize=1)
def load_published() -> PublishedTable:
    """Read the packaged ``published_numbers.yaml`` (cached)."""
    text = resources.files("ehps").joinpath("assets/published_numbers.yaml").read_text("utf-8")
    return _parse(yaml.safe_load(text))


def published_for(benchmark: str, metric: str | None = None) -> list[PublishedNumber]:
    """Shortcut for ``load_published().for_benchmark(benchmark, metric)``."""
    return load_published().for_benchmark(benchmark, metric)

"""Evaluation reports: one JSON file, one markdown table and one bar chart per run, each placing
our figures beside the published SMPLer-X / SMPLest-X numbers of the same benchmark and metric
(:mod:`ehps.evaluation.published`), with every published figure's source.

The chart is drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend
change), so it works headless and inside other programs.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehps.errors import require
from ehps.evaluation.published import PublishedNumber, PublishedTable, load_published
from ehps.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = [
    "METRIC_LABELS",
    "metric_label",
    "EvalReport",
    "report_to_dict",
    "render_markdown",
    "render_bar_chart_png",
    "write_report",
]

#: Display names of ehps metric keys (mm unless stated).
METRIC_LABELS: dict[str, str] = {
    "mpvpe_all": "MPVPE (All)",
    "mpvpe_l_hand": "MPVPE (L-Hand)",
    "mpvpe_r_hand": "MPVPE (R-Hand)",
    "mpvpe_hand": "MPVPE (Hands)",
    "mpvpe_face": "MPVPE (Face)",
    "pa_mpvpe_all": "PA-MPVPE (All)",
    "pa_mpvpe_l_hand": "PA-MPVPE (L-Hand)",
    "pa_mpvpe_r_hand": "PA-MPVPE (R-Hand)",
    "pa_mpvpe_hand": "PA-MPVPE (Hands)",
    "pa_mpvpe_face": "PA-MPVPE (Face)",
    "mpjpe_body": "MPJPE (Body)",
    "mpjpe_l_hand": "MPJPE (L-Hand)",
    "mpjpe_r_hand": "MPJPE (R-Hand)",
    "mpjpe_hand": "MPJPE (Hands)",
    "pa_mpjpe_body": "PA-MPJPE (Body)",
    "pa_mpjpe_l_hand": "PA-MPJPE (L-Hand)",
    "pa_mpjpe_r_hand": "PA-MPJPE (R-Hand)",
    "pa_mpjpe_hand": "PA-MPJPE (Hands)",
    "pve": "PVE (SMPL)",
    "pa_pve": "PA-PVE (SMPL)",
    "mpjpe": "MPJPE (14 LSP)",
    "pa_mpjpe": "PA-MPJPE (14 LSP)",
    "body_mpjpe": "AGORA B-MPJPE",
    "body_mve": "AGORA B-MVE",
    "lhand_mpjpe": "AGORA LH-MPJPE",
    "rhand_mpjpe": "AGORA RH-MPJPE",
    "face_mpjpe": "AGORA F-MPJPE",
    "lhand_mve": "AGORA LH-MVE",
    "rhand_mve": "AGORA RH-MVE",
    "face_mve": "AGORA F-MVE",
    "fullbody_mpjpe": "AGORA FB-MPJPE",
    "fullbody_mve": "AGORA FB-MVE",
    "body_nmje": "AGORA B-NMJE",
    "body_nmve": "AGORA B-NMVE",
    "fullbody_nmje": "AGORA FB-NMJE",
    "fullbody_nmve": "AGORA FB-NMVE (All)",
    "mpe": "MPE (5 benchmarks)",
}


def metric_label(key: str) -> str:
    """Display name of a metric key (the key itself when unknown)."""
    return METRIC_LABELS.get(key, key)


@dataclass
class EvalReport:
    """Everything a run reports.

    Attributes:
        benchmark: registry name (``"ehf"``, ``"pw3d"``...).
        protocol: the protocol that produced the numbers (e.g. ``"smplerx"``, ``"h36m"``); always
            printed next to them.
        metrics: metric key -> value in mm (``None`` = not computable / nothing counted), in
            display order.
        counts: how many samples each metric averaged (or other counts: persons, files).
        model: a description of what was evaluated (variant name, weights file).
        notes: protocol notes and deliberate differences from the official code.
        extra: anything benchmark-specific (e.g. AGORA detection scores, output files).
    """

    benchmark: str
    protocol: str
    metrics: dict[str, float | None]
    counts: dict[str, int] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _clean(v: float | None) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def _comparisons(report: EvalReport, table: PublishedTable) -> dict[str, list[PublishedNumber]]:
    return {k: table.for_benchmark(report.benchmark, k) for k in report.metrics}


def report_to_dict(report: EvalReport, table: PublishedTable | None = None) -> dict[str, Any]:
    """JSON-ready dict: our metrics (NaN -> null), counts, notes and the matching published
    numbers with their sources, plus the documented gaps for this benchmark."""
    table = table or load_published()
    published = [
        {
            "metric": n.metric,
            "model": n.model,
            "variant": n.variant,
            "value_mm": n.value,
            "source_tag": n.source.tag,
            "source_title": n.source.title,
            "source_urls": list(n.source.urls),
            "note": n.note,
        }
        for nums in _comparisons(report, table).values()
        for n in nums
    ]
    return {
        "benchmark": report.benchmark,
        "protocol": report.protocol,
        "units": "mm",
        "model": dict(report.model),
        "metrics": {k: _clean(v) for k, v in report.metrics.items()},
        "counts": dict(report.counts),
        "notes": list(report.notes),
        "extra": report.extra,
        "published": published,
        "published_missing": [
            {"model": m.model, "reason": m.reason} for m in table.missing_for(report.benchmark)
        ],
    }


def _fmt(v: float | None) -> str:
    v = _clean(v)
    return "n/a" if v is None else f"{v:.2f}"


def render_markdown(report: EvalReport, table: PublishedTable | None = None) -> str:
    """A markdown page: header (benchmark, protocol, model), the metric table with one column of
    published numbers per model, the sources, and the notes."""
    table = table or load_published()
    comps = _comparisons(report, table)
    models = sorted({n.model for nums in comps.values() for n in nums} | {"SMPLer-X", "SMPLest-X"})
    lines = [
        f"# ehps evaluation: {report.benchmark} (protocol: {report.protocol})",
        "",
    ]
    for k, v in report.model.items():
        lines.append(f"- {k}: `{v}`")
    for k, v in report.counts.items():
        lines.append(f"- {k}: {v}")
    lines += ["", "| Metric (mm) | ehps | " + " | ".join(f"{m} (published)" for m in models) + " |"]
    lines.append("|---|---:|" + "---|" * len(models))
    footnotes: list[PublishedNumber] = []
    for key, value in report.metrics.items():
        cells = []
        for m in models:
            nums = [n for n in comps[key] if n.model == m]
            if not nums:
                cells.append("—")
                continue
            parts = []
            for n in nums:
                if n not in footnotes:
                    footnotes.append(n)
                parts.append(f"{n.value:.1f} [{n.source.tag}][^{footnotes.index(n) + 1}]")
            cells.append("; ".join(parts))
        lines.append(f"| {metric_label(key)} | {_fmt(value)} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "— = no published figure for this benchmark and metric could be verified "
        "(never filled in from unverified transcriptions)."
    )
    for m in table.missing_for(report.benchmark):
        lines.append(f"- Not verified for {m.model}: {m.reason}")
    if footnotes:
        lines += ["", "Sources:", ""]
        for i, n in enumerate(footnotes, 1):
            variant = f" ({n.variant})" if n.variant else ""
            note = f" {n.note}" if n.note else ""
            lines.append(
                f"[^{i}]: {n.model}{variant}, {n.source.title} [{n.source.tag}] "
                f"{', '.join(n.source.urls)}.{note}"
            )
    if report.notes:
        lines += ["", "Protocol notes:", ""]
        lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def render_bar_chart_png(
    report: EvalReport, table: PublishedTable | None = None, dpi: int = 110
) -> bytes:
    """PNG bytes of a grouped horizontal bar chart: for every metric with a value, our bar plus
    one bar per published figure of the same benchmark and metric (labelled with its source tag).
    """
    require("matplotlib", "eval", "the evaluation bar chart")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    table = table or load_published()
    comps = _comparisons(report, table)
    rows: list[tuple[str, list[tuple[str, float]]]] = []
    for key, value in report.metrics.items():
        v = _clean(value)
        bars = [("ehps", v)] if v is not None else []
        bars += [(n.label, n.value) for n in comps[key]]
        if bars:
            rows.append((metric_label(key), bars))
    series = ["ehps"] + sorted({lab for _, bars in rows for lab, _ in bars if lab != "ehps"})
    height = max(2.5, 0.45 * sum(len(b) for _, b in rows) + 1.5)
    fig = Figure(figsize=(8.0, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    y = 0.0
    ticks, ticklabels = [], []
    seen: set[str] = set()
    for label, bars in rows:
        start = y
        for name, val in bars:
            c = colors[series.index(name) % len(colors)]
            ax.barh(y, val, height=0.8, color=c, label=None if name in seen else name)
            ax.text(val, y, f" {val:.1f}", va="center", fontsize=8)
            seen.add(name)
            y += 1.0
        ticks.append((start + y - 1.0) / 2.0)
        ticklabels.append(label)
        y += 0.6
    ax.set_yticks(ticks)
    ax.set_yticklabels(ticklabels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("error (mm, lower is better)")
    ax.set_title(f"{report.benchmark} — protocol: {report.protocol}", fontsize=10)
    if rows:
        ax.legend(fontsize=7, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no metric could be computed", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_report(
    report: EvalReport,
    out_dir: str | os.PathLike[str],
    stem: str | None = None,
    chart: bool = True,
) -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.md`` and (``chart``) ``<stem>.png`` atomically into
    ``out_dir`` (default stem ``<benchmark>_<protocol>``); returns the paths by kind."""
    out = Path(out_dir)
    stem = stem or f"{report.benchmark}_{report.protocol}"
    table = load_published()
    paths = {"json": out / f"{stem}.json", "markdown": out / f"{stem}.md"}
    atomic_write_json(paths["json"], report_to_dict(report, table))
    atomic_write_text(paths["markdown"], render_markdown(report, table))
    if chart:
        paths["png"] = out / f"{stem}.png"
        atomic_write_bytes(paths["png"], render_bar_chart_png(report, table))
    return paths

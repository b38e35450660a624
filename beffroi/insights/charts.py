"""What each chart draws, as plain data for `static/beffroi/insights.js` (read from a `json_script` tag: no inline
script) — the same numbers as the table beside the chart. Labels are translated here, so the script has no text
of its own."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from beffroi.insights.audience import Pyramid
from beffroi.insights.best_time import WEEKDAYS
from beffroi.insights.exports import gender_label, series_metrics
from beffroi.insights.heatmap import Heatmap
from beffroi.insights.metrics import METRIC_LABELS, Metric
from beffroi.insights.overview import Overview


def series_chart(view: Overview) -> dict[str, Any] | None:
    """Daily lines: flows on the left axis, followers (a level, usually much larger) on the right one."""
    metrics = series_metrics(view)
    if not metrics:
        return None
    series = []
    for metric in metrics:
        values = dict(view.figures[str(metric)].series)
        series.append(
            {
                "name": str(METRIC_LABELS[metric]),
                "axis": 1 if metric == Metric.FOLLOWERS else 0,
                "data": [values.get(day) for day in view.period.dates()],
            }
        )
    axes = [_("per day")]
    if Metric.FOLLOWERS in metrics:
        axes.append(str(METRIC_LABELS[Metric.FOLLOWERS]))
    return {
        "type": "line",
        "title": _("Day by day"),
        "x": [day.isoformat() for day in view.period.dates()],
        "axes": axes,
        "series": series,
    }


def pyramid_chart(pyramid: Pyramid) -> dict[str, Any] | None:
    if not pyramid.total:
        return None
    return {
        "type": "pyramid",
        "title": _("Age and gender"),
        "bands": pyramid.bands,
        # Women on the left (negative bars, shown as positive numbers), men on the right.
        "left": {"name": gender_label("F"), "data": pyramid.counts["F"]},
        "right": {"name": gender_label("M"), "data": pyramid.counts["M"]},
        "unit": _("people"),
    }


def heatmap_chart(heatmap: Heatmap) -> dict[str, Any] | None:
    if heatmap.empty:
        return None
    cells = []
    values = []
    for weekday, row in enumerate(heatmap.grid):
        for hour, value in enumerate(row):
            if value is None:
                continue
            rounded = round(value, 1)
            cells.append([hour, weekday, rounded])
            values.append(rounded)
    return {
        "type": "heatmap",
        "title": _("When your audience is online (%(zone)s)") % {"zone": heatmap.zone},
        "hours": [f"{hour:02d}h" for hour in range(24)],
        "days": [str(day) for day in WEEKDAYS],
        "cells": cells,
        "min": min(values) if values else 0,
        "max": max(values) if values else 0,
        "unit": str(heatmap.unit),
    }


def curve_chart(curve: list[dict]) -> dict[str, Any] | None:
    if not curve:
        return None
    names = {"interactions": _("Interactions"), "reach": _("Reach"), "views": _("Views")}
    series = []
    for key, label in names.items():
        points = [[point["hours"], point[key]] for point in curve if point[key] is not None]
        if points:
            series.append({"name": label, "data": points})
    if not series:
        return None
    return {
        "type": "curve",
        "title": _("Lifetime of the post"),
        "x_label": _("hours after publication"),
        "series": series,
    }

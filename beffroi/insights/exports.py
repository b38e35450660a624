"""Every statistics table as data: shown on the pages, downloaded as CSV (`?format=csv&table=…`), drawn in the PDF.

One `Table` feeds all three, so what a page shows and what a spreadsheet or a funder receives never disagree.
A value a network did not give is an `NA` with its reason — shown as "not available", written in a CSV as an empty
cell plus a "Not available (why)" column naming the measure and the reason — never as zero.

CSV format (chosen for the spreadsheets people open them in):
- UTF-8 with a byte-order mark, so Excel reads accents right;
- in French: `;` between cells and a decimal comma (French Excel and LibreOffice read `1,5` as a number and split
  on `;`); in English: `,` and a decimal point — the same rule as the publications' CSV export;
- headers in the page's language; dates as YYYY-MM-DD, times as YYYY-MM-DD HH:MM in the zone named in the header;
- percentages as plain numbers in columns whose header says "%";
- text cells that start like a formula (=, +, -, @) are prefixed with an apostrophe, so a spreadsheet never runs
  a post's text.
"""

from __future__ import annotations

import csv
import io
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from beffroi.insights.audience import Breakdown, Pyramid
from beffroi.insights.best_time import WEEKDAYS, BestTime
from beffroi.insights.heatmap import Heatmap
from beffroi.insights.metrics import (
    DIMENSION_LABELS,
    METRIC_LABELS,
    POST_TYPE_LABELS,
    REASON_LABELS,
    Dimension,
    Metric,
    PostType,
    Reason,
)
from beffroi.insights.overview import FIGURES, Figure, Overview
from beffroi.insights.performance import RATE_BASIS_LABELS, PostRow, TypeRow
from beffroi.networks.registry import Network

# Column kinds: how a value is shown and written.
TEXT, INT, FLOAT, PERCENT, CHANGE, DATE, DATETIME, FACTOR = (
    "text",
    "int",
    "float",
    "percent",
    "change",
    "date",
    "datetime",
    "factor",
)


@dataclass(frozen=True)
class NA:
    """A value the network did not give (or Beffroi has not collected), with the reason shown to people."""

    reason: str

    def __str__(self) -> str:
        return ""


@dataclass(frozen=True)
class Link:
    """A text cell that links somewhere on the page (the CSV keeps the text only)."""

    text: str
    href: str

    def __str__(self) -> str:
        return self.text


@dataclass
class Column:
    key: str
    label: str
    kind: str = TEXT
    sort: str = ""  # the server-side sort key, where the table can be sorted by this column
    on_page: bool = True  # False: in the CSV and PDF only (the page says it another way)


@dataclass
class Table:
    key: str  # what `?table=` asks for
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def page_columns(self) -> list[Column]:
        return [column for column in self.columns if column.on_page]

    def page_cells(self, row: list[Any]) -> list[tuple[Column, Any]]:
        return [(column, value) for column, value in zip(self.columns, row, strict=True) if column.on_page]

    @property
    def has_unavailable(self) -> bool:
        return any(isinstance(value, NA) for row in self.rows for value in row)


def network_label(network: str) -> str:
    return str(Network(network).label) if network in Network.values else network


def post_type_label(post_type: str) -> str:
    return str(POST_TYPE_LABELS[PostType(post_type)]) if post_type in PostType else post_type


def _reasons(figure: Figure) -> str:
    return "; ".join(f"{gap.channel}: {gap.reason}" for gap in figure.gaps)


def figure_value(figure: Figure) -> int | NA:
    return figure.value if figure.value is not None else NA(_reasons(figure) or figure.comparison)


# --- Overview -----------------------------------------------------------------------------------------------


@dataclass
class GapGroup:
    """Pages left out of some measures for one reason (said once, rather than under every figure)."""

    reason: str
    measures: list[str]  # empty: every measure
    channels: list[str]


def gap_summary(figures: Iterable[Figure]) -> list[GapGroup]:
    figures = list(figures)
    left_out: dict[str, dict[str, list[str]]] = {}  # channel → reason → measures
    for figure in figures:
        for gap in figure.gaps:
            left_out.setdefault(gap.channel, {}).setdefault(gap.reason, []).append(figure.label)
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for channel, reasons in left_out.items():
        for reason, measures in reasons.items():
            key = (reason, () if len(measures) == len(figures) else tuple(measures))
            groups.setdefault(key, []).append(channel)
    return [GapGroup(reason, list(measures), sorted(channels)) for (reason, measures), channels in groups.items()]


def figures_table(view: Overview) -> Table:
    table = Table(
        "figures",
        _("Key figures"),
        [
            Column("measure", _("Measure")),
            Column("value", _("This period"), INT),
            Column("previous", _("Previous period"), INT),
            Column("change", _("Change (%)"), CHANGE),
            Column("comparison", _("Compared with")),
            Column("left_out", _("Pages left out"), on_page=False),
        ],
    )
    for key in FIGURES:
        figure = view.figures[str(key)]
        previous: Any = figure.previous
        if previous is None:
            previous = NA(figure.comparison) if figure.value is not None else NA(_reasons(figure) or figure.comparison)
        change: Any = figure.change_pct if figure.change_pct is not None else NA(figure.comparison)
        table.rows.append([figure.label, figure_value(figure), previous, change, figure.comparison, _reasons(figure)])
    return table


SERIES_METRICS = (Metric.REACH, Metric.VIEWS, Metric.INTERACTIONS, Metric.FOLLOWERS)


def _series_of(view: Overview, metric: Metric) -> list[tuple[date, int | None]]:
    figure = view.figures.get(str(metric))
    return figure.series if figure is not None else []


def series_metrics(view: Overview) -> list[Metric]:
    """The daily measures worth a column: those with at least one value in the period."""
    return [metric for metric in SERIES_METRICS if any(value is not None for _day, value in _series_of(view, metric))]


def series_table(view: Overview) -> Table:
    metrics = series_metrics(view)
    table = Table(
        "series",
        _("Day by day"),
        [Column("day", _("Day"), DATE)] + [Column(str(m), str(METRIC_LABELS[m]), INT) for m in metrics],
        notes=[_("Each day is the network's own day (its reporting time zone); pages are added up.")],
    )
    by_metric = {metric: dict(_series_of(view, metric)) for metric in metrics}
    for day in view.period.dates():
        row: list[Any] = [day]
        for metric in metrics:
            value = by_metric[metric].get(day)
            row.append(value if value is not None else NA(_("Not collected yet for these days.")))
        table.rows.append(row)
    return table


def rollup_table(view: Overview) -> Table:
    columns = [Column("row", _("Pages")), Column("kind", _("Level"))]
    for key in FIGURES:
        label = view.figures[str(key)].label
        columns.append(Column(str(key), label, INT))
        columns.append(Column(f"{key}_change", _("%(measure)s: change (%%)") % {"measure": label}, CHANGE))
    table = Table(
        "rollup",
        _("National, regional and local"),
        columns,
        notes=[_("Each group includes the groups below it. Reach is added up page by page.")],
    )
    kinds = {"level": _("Level"), "group": _("Page group"), "channel": _("Channel")}
    for row in view.rows:
        cells: list[Any] = [row.label, str(kinds.get(row.kind, row.kind))]
        for key in FIGURES:
            figure = row.figures[str(key)]
            cells.append(figure_value(figure))
            cells.append(figure.change_pct if figure.change_pct is not None else NA(figure.comparison))
        table.rows.append(cells)
    return table


# --- Audience -----------------------------------------------------------------------------------------------


def gender_label(code: str) -> str:
    return {"F": _("Women"), "M": _("Men"), "U": _("Not given")}.get(code, code)


def age_gender_table(pyramid: Pyramid, breakdown: Breakdown) -> Table:
    genders = ("F", "M", "U")
    table = Table(
        "age_gender",
        str(DIMENSION_LABELS[Dimension.AGE_GENDER]),
        [Column("age", _("Age"))]
        + [Column(g, gender_label(g), INT) for g in genders]
        + [Column("total", _("Total"), INT), Column("percent", _("Share (%)"), PERCENT)],
    )
    if not breakdown.available:
        return table
    for index, band in enumerate(pyramid.bands):
        counts = [pyramid.counts[g][index] for g in genders]
        total = sum(counts)
        if not total:
            continue
        table.rows.append([band, *counts, total, total / pyramid.total * 100 if pyramid.total else 0.0])
    return table


def dimension_table(breakdown: Breakdown) -> Table:
    labels = {
        Dimension.COUNTRY: _("Country"),
        Dimension.CITY: _("City"),
        Dimension.LANGUAGE: _("Language"),
        Dimension.AGE_GENDER: _("Age and gender"),
    }
    table = Table(
        str(breakdown.dimension),
        str(DIMENSION_LABELS[breakdown.dimension]),
        [
            Column("key", labels[breakdown.dimension]),
            Column("count", _("People"), INT),
            Column("percent", _("Share (%)"), PERCENT),
        ],
    )
    for share in breakdown.rows:
        table.rows.append([share.key, share.count, share.percent])
    return table


# --- When the audience is online ----------------------------------------------------------------------------


def heatmap_table(heatmap: Heatmap) -> Table:
    table = Table(
        "heatmap",
        _("By day and hour (%(zone)s)") % {"zone": heatmap.zone},
        [Column("day", _("Day"))] + [Column(f"h{hour:02d}", f"{hour:02d}h", FLOAT) for hour in range(24)],
        notes=[heatmap.unit, *heatmap.notes],
    )
    if heatmap.empty:
        return table
    for weekday, values in enumerate(heatmap.grid):
        table.rows.append(
            [str(WEEKDAYS[weekday])] + [v if v is not None else NA(_("No value for this hour.")) for v in values]
        )
    return table


# --- Best time ----------------------------------------------------------------------------------------------


def best_time_table(results: Sequence[BestTime]) -> Table:
    table = Table(
        "best_time",
        _("Best times to post"),
        [
            Column("channel", _("Channel")),
            Column("rank", _("Rank"), INT),
            Column("slot", _("Day and hour")),
            Column("zone", _("Time zone")),
            Column("factor", _("Against an average hour"), FACTOR),
            Column("expected", _("Expected interactions"), FLOAT),
            Column("posts", _("Posts in this slot"), INT),
            Column("confidence", _("Confidence")),
            Column("basis", _("Based on")),
        ],
    )
    for result in results:
        if not result.slots:
            table.rows.append(
                [str(result.channel), NA(result.basis()), NA(result.basis()), result.zone]
                + [NA(result.basis())] * 3
                + [result.confidence_label, result.basis()]
            )
        for rank, slot in enumerate(result.slots, start=1):
            expected: Any = slot.expected_interactions
            if expected is None:
                expected = NA(_("No post of this channel has interactions yet."))
            table.rows.append(
                [
                    str(result.channel),
                    rank,
                    slot.label,
                    result.zone,
                    slot.factor,
                    expected,
                    slot.posts,
                    result.confidence_label,
                    result.basis(),
                ]
            )
    return table


# --- Posts --------------------------------------------------------------------------------------------------


def by_type_table(rows: Iterable[TypeRow]) -> Table:
    table = Table(
        "by_type",
        _("By type of post and network"),
        [
            Column("network", _("Network")),
            Column("type", _("Type")),
            Column("posts", _("Posts"), INT),
            Column("interactions_avg", _("Interactions per post"), FLOAT),
            Column("reach_avg", _("Reach per post"), FLOAT),
            Column("views_avg", _("Views per post"), FLOAT),
            Column("interactions_total", _("Interactions"), INT),
        ],
    )
    na = NA(_("This network does not give this measure."))
    for row in rows:
        table.rows.append(
            [
                network_label(row.network),
                row.label,
                row.posts,
                row.interactions_avg if row.interactions_avg is not None else na,
                row.reach_avg if row.reach_avg is not None else na,
                row.views_avg if row.views_avg is not None else na,
                row.interactions_total if row.interactions_total is not None else na,
            ]
        )
    return table


POST_VALUE_COLUMNS = ("interactions", "reach", "views", "likes", "comments", "shares")


def _post_value(row: PostRow, name: str) -> Any:
    value = getattr(row.post, name)
    if value is not None:
        return value
    reason = (row.post.unavailable or {}).get(name)
    if reason in set(Reason):
        return NA(str(REASON_LABELS[Reason(reason)]))
    return NA(str(REASON_LABELS[Reason.NOT_COLLECTED]))


def excerpt(text: str, length: int = 90) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def posts_table(rows: Sequence[PostRow], zone_name: str, *, key: str = "posts", title: str = "", link=None) -> Table:
    """The posts with their measures; `link(post)` gives each post's page (None: no links)."""
    zone_label = _("Published (%(zone)s)") % {"zone": zone_name}
    table = Table(
        key,
        title or _("Posts"),
        [
            Column("published_at", zone_label, DATETIME, sort="published_at"),
            Column("channel", _("Channel")),
            Column("type", _("Type")),
            Column("text", _("Post")),
            Column("interactions", _("Interactions"), INT, sort="interactions"),
            Column("reach", _("Reach"), INT, sort="reach"),
            Column("views", _("Views"), INT, sort="views"),
            Column("likes", _("Likes"), INT, sort="likes"),
            Column("comments", _("Comments"), INT, sort="comments"),
            Column("shares", _("Shares"), INT, sort="shares"),
            Column("engagement_rate", _("Engagement rate (%)"), PERCENT, sort="engagement_rate"),
            Column("rate_basis", _("Rate basis")),
            Column("url", _("Address"), on_page=False),  # the post's page links to it
        ],
    )
    zone = zoneinfo.ZoneInfo(zone_name)
    for row in rows:
        post = row.post
        text = excerpt(post.text) or _("(no text)")
        rate: Any = row.engagement_rate
        if rate is None:
            rate = NA(_("Neither reach, views nor followers are known for this post."))
        table.rows.append(
            [
                post.published_at.astimezone(zone),
                str(post.channel),
                post_type_label(post.post_type),
                Link(text, link(post)) if link else text,
                *[_post_value(row, name) for name in POST_VALUE_COLUMNS],
                rate,
                str(RATE_BASIS_LABELS.get(row.rate_basis, "")),
                post.url,
            ]
        )
    return table


def curve_table(curve: list[dict], zone_name: str) -> Table:
    zone = zoneinfo.ZoneInfo(zone_name)
    table = Table(
        "curve",
        _("Readings of this post"),
        [
            Column("taken_at", _("Read on (%(zone)s)") % {"zone": zone_name}, DATETIME),
            Column("hours", _("Hours after publication"), FLOAT),
            Column("interactions", _("Interactions"), INT),
            Column("reach", _("Reach"), INT),
            Column("views", _("Views"), INT),
            Column("likes", _("Likes"), INT),
            Column("comments", _("Comments"), INT),
            Column("shares", _("Shares"), INT),
        ],
    )
    na = NA(_("The network did not give it at this reading."))
    for point in curve:
        table.rows.append(
            [point["taken_at"].astimezone(zone), point["hours"]]
            + [point[name] if point[name] is not None else na for name in POST_VALUE_COLUMNS]
        )
    return table


# --- Watched pages and collection ---------------------------------------------------------------------------


def watched_posts_table(records, zone_name: str) -> Table:
    zone = zoneinfo.ZoneInfo(zone_name)
    table = Table(
        "watched_posts",
        _("Best posts of the pages you watch"),
        [
            Column("published_at", _("Published (%(zone)s)") % {"zone": zone_name}, DATETIME),
            Column("account", _("Account")),
            Column("network", _("Network")),
            Column("type", _("Type")),
            Column("text", _("Post")),
            Column("interactions", _("Interactions"), INT),
            Column("likes", _("Likes"), INT),
            Column("comments", _("Comments"), INT),
            Column("shares", _("Shares"), INT),
            Column("url", _("Address")),
        ],
    )
    na = NA(_("This network does not show it publicly."))
    for record in records:
        account = record.account
        table.rows.append(
            [
                record.published_at.astimezone(zone),
                account.display_name or account.handle,
                network_label(account.network),
                post_type_label(record.post_type),
                Link(excerpt(record.text) or _("(no text)"), record.url) if record.url else excerpt(record.text),
                *[
                    getattr(record, name) if getattr(record, name) is not None else na
                    for name in ("interactions", "likes", "comments", "shares")
                ],
                record.url,
            ]
        )
    return table


def collection_table(rows: Sequence[Any], zone_name: str) -> Table:
    """`rows`: (channel, InsightsSync or None, has statistics) for each channel in scope."""
    zone = zoneinfo.ZoneInfo(zone_name)
    table = Table(
        "collection",
        _("Collection of statistics"),
        [
            Column("channel", _("Channel")),
            Column("status", _("Status")),
            Column("last_success", _("Last success (%(zone)s)") % {"zone": zone_name}, DATETIME),
            Column("progress", _("In progress")),
            Column("stored", _("Days stored")),
            Column("next_run", _("Next run (%(zone)s)") % {"zone": zone_name}, DATETIME),
            Column("last_error", _("Last error")),
        ],
    )
    never, unplanned = _("never"), _("not planned")
    for channel, sync, supported in rows:
        if sync is None:
            status = _("Not collected yet") if supported else _("No statistics for this channel type")
            table.rows.append([str(channel), status, never, "", "", unplanned, ""])
            continue
        progress = ""
        if sync.progress:
            progress = _("%(step)s: %(done)s of %(total)s") % {
                "step": sync.progress.get("step", ""),
                "done": sync.progress.get("done", 0),
                "total": sync.progress.get("total", 0),
            }
        stored = (
            _("%(start)s to %(end)s") % {"start": sync.days_from.isoformat(), "end": sync.days_until.isoformat()}
            if sync.days_from and sync.days_until
            else ""
        )
        table.rows.append(
            [
                str(channel),
                str(sync.get_status_display()),
                sync.last_success_at.astimezone(zone) if sync.last_success_at else never,
                progress,
                stored,
                sync.next_run_at.astimezone(zone) if sync.next_run_at else unplanned,
                sync.last_error,
            ]
        )
    return table


# --- Writing ------------------------------------------------------------------------------------------------


def is_french(language: str | None = None) -> bool:
    return (language or get_language() or "").startswith("fr")


def format_number(value: Any, kind: str, *, french: bool, digits: int = 1) -> str:
    """A number as a spreadsheet of that language reads it (no grouping; decimal comma in French)."""
    if isinstance(value, bool) or value is None:
        return ""
    if kind == INT and isinstance(value, int):
        return str(value)
    text = f"{float(value):.{digits}f}"
    if kind == FACTOR:
        text = f"{float(value):.2f}"
    return text.replace(".", ",") if french else text


def csv_value(value: Any, kind: str, *, french: bool) -> str:
    if isinstance(value, NA) or value is None:
        return ""
    if isinstance(value, Link):
        return _safe_text(value.text)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(value, kind, french=french)
    return _safe_text(str(value))


def _safe_text(text: str) -> str:
    """Spreadsheets run a cell starting with = + - @ (or a tab/CR) as a formula: such text gets an apostrophe."""
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def to_csv(table: Table, *, language: str | None = None) -> str:
    french = is_french(language)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if french else ",", lineterminator="\r\n")
    unavailable = table.has_unavailable
    header = [column.label for column in table.columns]
    if unavailable:
        header.append(_("Not available (why)"))
    writer.writerow(header)
    for row in table.rows:
        cells = [csv_value(value, column.kind, french=french) for column, value in zip(table.columns, row, strict=True)]
        if unavailable:
            reasons = [
                f"{column.label}: {value.reason}"
                for column, value in zip(table.columns, row, strict=True)
                if isinstance(value, NA)
            ]
            cells.append(_safe_text(" | ".join(reasons)))
        writer.writerow(cells)
    return "\ufeff" + buffer.getvalue()


def csv_filename(organisation_slug: str, table: Table, period_label: str = "") -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in period_label).strip("-")
    return f"beffroi-{organisation_slug}-{table.key}{'-' + safe if safe else ''}.csv"

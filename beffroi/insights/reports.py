"""The statistics report: a PDF fit for a board or a funder, downloaded from the pages or e-mailed every week or
month to those who subscribed.

The PDF is drawn by reportlab alone (its own charts: no browser, no network), from the same services and tables
as the pages: key figures with their % change and what they are compared with, the day-by-day chart, national /
regional / local roll-ups, the audience (pyramid and tables), when the audience is online (the heatmap, in the
reader's time zone) and the best posts. Texts are in the language asked for (French or English).

E-mailed reports (`send_due_reports`, run by `beffroi send_reports` or its task): weekly ones go out on Mondays and
cover the previous Monday-to-Sunday; monthly ones on the 1st and cover the previous month. A run on a later day
catches up the one that is due; `last_sent_on` makes a second run of the same period send nothing.
"""

from __future__ import annotations

import io
import logging
import os
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from xml.sax.saxutils import escape

import reportlab
from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as PdfTable

from beffroi.insights import audience, exports, performance
from beffroi.insights.audience import Breakdown, Pyramid
from beffroi.insights.exports import NA, Table
from beffroi.insights.heatmap import Heatmap, heatmap_for
from beffroi.insights.metrics import METRIC_LABELS, Dimension, Metric
from beffroi.insights.models import ReportSubscription
from beffroi.insights.overview import Overview, overview
from beffroi.insights.periods import Period
from beffroi.insights.scope import Scope, scope_for

log = logging.getLogger(__name__)

FONT = "BeffroiSans"
FONT_BOLD = "BeffroiSans-Bold"
INK = colors.HexColor("#1d2433")
MUTED = colors.HexColor("#5b6475")
LINE = colors.HexColor("#d6dbe4")
HEAD = colors.HexColor("#eef1f6")
# Series are told apart by their dash pattern as well as their colour (the legend shows both).
SERIES_STYLES = [
    (colors.HexColor("#2457c5"), None),
    (colors.HexColor("#b4462b"), (4, 2)),
    (colors.HexColor("#2f7d4f"), (1, 2)),
    (colors.HexColor("#6b3fa0"), (6, 2, 1, 2)),
]
TOP_POSTS = 10
TOP_KEYS = 10


# --- Gathering ----------------------------------------------------------------------------------------------


@dataclass
class ReportData:
    scope: Scope
    period: Period
    zone: str
    language: str
    generated_at: datetime
    view: Overview
    breakdowns: dict[Dimension, Breakdown]
    pyramid: Pyramid
    heatmap: Heatmap
    top_posts: list[performance.PostRow]
    types: list[performance.TypeRow]
    demo: bool = False
    notes: list[str] = field(default_factory=list)


def gather(scope: Scope, period: Period, zone: str, language: str, *, now: datetime | None = None) -> ReportData:
    """Everything the report shows, computed in `language` (the services' texts are translated as they are made)."""
    from beffroi.insights.demo import has_demo_data

    with translation.override(language):
        view = overview(scope, period, zone)
        breakdowns = {dimension: audience.breakdown(scope, dimension) for dimension in Dimension}
        rows = performance.post_rows(scope, period, zone)
        top, _bottom = performance.top_and_bottom(rows, TOP_POSTS)
        return ReportData(
            scope=scope,
            period=period,
            zone=zone,
            language=language,
            generated_at=now or timezone.now(),
            view=view,
            breakdowns=breakdowns,
            pyramid=audience.pyramid(breakdowns[Dimension.AGE_GENDER]),
            heatmap=heatmap_for(scope.channel_ids, zone, period.start, period.end),
            top_posts=top,
            types=performance.by_type(scope, period, zone),
            demo=has_demo_data(scope.channel_ids),
        )


# --- Drawing ------------------------------------------------------------------------------------------------


@cache
def _fonts() -> frozenset[int]:
    """Registers Bitstream Vera (shipped with reportlab, so nothing depends on the host's fonts); returns the
    characters it has, so that others (emoji in a post) are left out rather than drawn as boxes."""
    folder = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
    regular = TTFont(FONT, os.path.join(folder, "Vera.ttf"))
    pdfmetrics.registerFont(regular)
    pdfmetrics.registerFont(TTFont(FONT_BOLD, os.path.join(folder, "VeraBd.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)
    return frozenset(regular.face.charToGlyph)


def clean(text: object) -> str:
    """Text the font can draw, escaped for reportlab's paragraph markup."""
    glyphs = _fonts()
    kept = "".join(ch if ord(ch) in glyphs or ch in "\n\t" else "" for ch in str(text))
    return escape(" ".join(kept.split()))


STYLES = {
    "title": ParagraphStyle("title", fontName=FONT_BOLD, fontSize=20, leading=24, textColor=INK, spaceAfter=4),
    "subtitle": ParagraphStyle("subtitle", fontName=FONT_BOLD, fontSize=13, leading=17, textColor=INK, spaceAfter=6),
    "h2": ParagraphStyle(
        "h2", fontName=FONT_BOLD, fontSize=13, leading=16, textColor=INK, spaceBefore=10, spaceAfter=5
    ),
    "h3": ParagraphStyle(
        "h3", fontName=FONT_BOLD, fontSize=10.5, leading=13, textColor=INK, spaceBefore=6, spaceAfter=3
    ),
    "body": ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12, textColor=INK, alignment=TA_LEFT),
    "small": ParagraphStyle("small", fontName=FONT, fontSize=7.5, leading=9.5, textColor=MUTED),
    "cell": ParagraphStyle("cell", fontName=FONT, fontSize=7.5, leading=9, textColor=INK),
    "head": ParagraphStyle("head", fontName=FONT_BOLD, fontSize=7.5, leading=9, textColor=INK),
    "demo": ParagraphStyle(
        "demo",
        fontName=FONT_BOLD,
        fontSize=9,
        leading=12,
        textColor=colors.HexColor("#5c3d00"),
        backColor=colors.HexColor("#fff4d6"),
        borderPadding=4,
        spaceAfter=8,
    ),
}


def _p(text: object, style: str = "body") -> Paragraph:
    _fonts()
    return Paragraph(clean(text), STYLES[style])


def number(value: float | int, digits: int = 0) -> str:
    return formats.number_format(value, decimal_pos=digits, use_l10n=True, force_grouping=True)


def change_markup(change: float | None, comparison: str) -> str:
    """The % change with an arrow (ZapfDingbats triangles: every PDF reader has them), its sign and in words."""
    if change is None:
        return clean(_("no comparison"))
    if change > 0:
        arrow, words = "\u25b2", _("up")
    elif change < 0:
        arrow, words = "\u25bc", _("down")
    else:
        return clean(_("±0 % (no change)"))
    sign = "+" if change > 0 else "−"
    text = f"{sign}{number(abs(change), 1)} % ({words})"
    return f'<font name="ZapfDingbats" size="6">{arrow}</font> {clean(text)}'


def cell_text(value: object, kind: str) -> str:
    if isinstance(value, NA):
        return clean(_("not available"))
    if isinstance(value, exports.Link):
        return clean(value.text)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return clean(f"{formats.date_format(value, 'SHORT_DATE_FORMAT')} {value:%H:%M}")
    if isinstance(value, date):
        return clean(formats.date_format(value, "SHORT_DATE_FORMAT"))
    if kind == exports.CHANGE and isinstance(value, int | float):
        return change_markup(float(value), "")
    if kind == exports.INT and isinstance(value, int | float):
        return clean(number(value))
    if kind in (exports.FLOAT, exports.PERCENT) and isinstance(value, int | float):
        return clean(number(value, 1) + (" %" if kind == exports.PERCENT else ""))
    if kind == exports.FACTOR and isinstance(value, int | float):
        return clean(f"×{number(value, 2)}")
    return clean(value)


def pdf_table(table: Table, width: float, *, columns: list[str] | None = None, limit: int | None = None) -> list:
    """A data table as a reportlab table (header repeated on each page), then its notes."""
    chosen = [c for c in table.columns if columns is None or c.key in columns]
    indexes = [table.columns.index(c) for c in chosen]
    rows = table.rows[:limit] if limit else table.rows
    data = [[Paragraph(clean(c.label), STYLES["head"]) for c in chosen]]
    for row in rows:
        data.append([Paragraph(cell_text(row[i], table.columns[i].kind), STYLES["cell"]) for i in indexes])
    if len(data) == 1:
        return [_p(_("No data for this period."), "small")]
    numeric = {exports.INT, exports.FLOAT, exports.PERCENT, exports.CHANGE, exports.FACTOR}
    weights = [1.0 if c.kind in numeric else (2.6 if c.key in ("text", "row", "channel") else 1.4) for c in chosen]
    total = sum(weights)
    flow = PdfTable(data, colWidths=[width * w / total for w in weights], repeatRows=1, hAlign="LEFT")
    flow.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), HEAD),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, LINE),
                ("BOX", (0, 0), (-1, -1), 0.4, LINE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    out: list = [flow]
    if limit and len(table.rows) > limit:
        out.append(
            _p(_("The first %(shown)s of %(total)s rows.") % {"shown": limit, "total": len(table.rows)}, "small")
        )
    for note in table.notes:
        out.append(_p(note, "small"))
    return out


def series_drawing(
    view: Overview, width: float, metrics: list[Metric], height: float = 150, *, zero_based: bool = True
) -> Drawing | None:
    """A line chart of daily values (x: days of the period). Levels (followers) need not start at zero."""
    lines = []
    for metric in metrics:
        values = dict(view.figures[str(metric)].series)
        points = [(i, values[day]) for i, day in enumerate(view.period.dates()) if values.get(day) is not None]
        if points:
            lines.append((metric, points))
    if not lines:
        return None
    drawing = Drawing(width, height)
    plot = LinePlot()
    plot.x, plot.y = 40, 30
    plot.width, plot.height = width - 60, height - 50
    plot.data = [points for _metric, points in lines]
    days = view.period.dates()
    plot.xValueAxis.valueMin = 0
    plot.xValueAxis.valueMax = max(len(days) - 1, 1)
    step = max(1, len(days) // 6)
    plot.xValueAxis.valueSteps = list(range(0, len(days), step))
    plot.xValueAxis.labelTextFormat = lambda i: formats.date_format(days[int(i)], "d/m") if 0 <= i < len(days) else ""
    if zero_based:
        plot.yValueAxis.valueMin = 0
    plot.yValueAxis.labelTextFormat = lambda v: number(v)
    for axis in (plot.xValueAxis, plot.yValueAxis):
        axis.labels.fontName = FONT
        axis.labels.fontSize = 6.5
        axis.strokeColor = LINE
    plot.yValueAxis.visibleGrid = True
    plot.yValueAxis.gridStrokeColor = LINE
    for index, _line in enumerate(lines):
        colour, dash = SERIES_STYLES[index % len(SERIES_STYLES)]
        plot.lines[index].strokeColor = colour
        plot.lines[index].strokeWidth = 1.3
        if dash:
            plot.lines[index].strokeDashArray = dash
    drawing.add(plot)
    # The legend: each series' line (colour and dash pattern) and its name.
    x = 40
    for index, (metric, _points) in enumerate(lines):
        colour, dash = SERIES_STYLES[index % len(SERIES_STYLES)]
        sample = Line(x, height - 6, x + 18, height - 6, strokeColor=colour, strokeWidth=1.6)
        if dash:
            sample.strokeDashArray = dash
        drawing.add(sample)
        name = str(METRIC_LABELS[metric])
        drawing.add(String(x + 22, height - 8.5, name, fontName=FONT, fontSize=7, fillColor=INK))
        x += 30 + pdfmetrics.stringWidth(name, FONT, 7)
    return drawing


def pyramid_drawing(pyramid: Pyramid, width: float) -> Drawing | None:
    """Women to the left, men to the right, one bar per age band; each bar has its number written beside it."""
    if not pyramid.total:
        return None
    bands = pyramid.bands
    row = 14
    height = row * len(bands) + 30
    drawing = Drawing(width, height)
    centre = width / 2
    label_width = 36
    half = centre - label_width / 2 - 40
    largest = max(max(pyramid.counts["F"]), max(pyramid.counts["M"]), 1)
    women = colors.HexColor("#b4462b")
    men = colors.HexColor("#2457c5")
    drawing.add(String(centre - label_width / 2 - 4, height - 10, clean(exports.gender_label("F")), fontName=FONT_BOLD,
                       fontSize=8, textAnchor="end"))  # fmt: skip
    drawing.add(String(centre + label_width / 2 + 4, height - 10, clean(exports.gender_label("M")), fontName=FONT_BOLD,
                       fontSize=8, textAnchor="start"))  # fmt: skip
    for index, band in enumerate(reversed(bands)):
        position = len(bands) - 1 - index
        y = 8 + index * row
        f, m = pyramid.counts["F"][position], pyramid.counts["M"][position]
        fw, mw = half * f / largest, half * m / largest
        drawing.add(Rect(centre - label_width / 2 - fw, y, fw, row - 4, fillColor=women, strokeColor=None))
        drawing.add(Rect(centre + label_width / 2, y, mw, row - 4, fillColor=men, strokeColor=None))
        drawing.add(String(centre, y + 2.5, band, fontName=FONT, fontSize=7, textAnchor="middle"))
        drawing.add(String(centre - label_width / 2 - fw - 3, y + 2.5, number(f), fontName=FONT, fontSize=6.5,
                           textAnchor="end", fillColor=MUTED))  # fmt: skip
        drawing.add(String(centre + label_width / 2 + mw + 3, y + 2.5, number(m), fontName=FONT, fontSize=6.5,
                           textAnchor="start", fillColor=MUTED))  # fmt: skip
    return drawing


def heatmap_drawing(heatmap: Heatmap, width: float) -> Drawing | None:
    """7 days × 24 hours, darker for more, and each cell's value written in it (readable without colour)."""
    if heatmap.empty:
        return None
    from beffroi.insights.best_time import WEEKDAYS

    label_width = 52
    cell_w = (width - label_width) / 24
    cell_h = 15
    height = cell_h * 7 + 16
    drawing = Drawing(width, height)
    values = [v for row in heatmap.grid for v in row if v is not None]
    top = max(values) if values else 1
    for hour in range(24):
        drawing.add(String(label_width + hour * cell_w + cell_w / 2, height - 9, f"{hour:02d}", fontName=FONT,
                           fontSize=6, textAnchor="middle", fillColor=MUTED))  # fmt: skip
    for weekday, values_of_day in enumerate(heatmap.grid):
        y = height - 16 - (weekday + 1) * cell_h
        drawing.add(String(0, y + 4, clean(str(WEEKDAYS[weekday])[:10]), fontName=FONT, fontSize=7))
        for hour, value in enumerate(values_of_day):
            x = label_width + hour * cell_w
            if value is None:
                drawing.add(Rect(x, y, cell_w, cell_h, fillColor=colors.white, strokeColor=LINE, strokeWidth=0.3))
                continue
            share = value / top if top else 0
            shade = 1 - 0.85 * share
            fill = colors.Color(shade * 0.92 + 0.05, shade * 0.95 + 0.04, 1 - 0.45 * share)
            drawing.add(Rect(x, y, cell_w, cell_h, fillColor=fill, strokeColor=colors.white, strokeWidth=0.3))
            text = number(value, 0 if value >= 10 else 1)
            drawing.add(String(x + cell_w / 2, y + 4.5, text, fontName=FONT, fontSize=5.2, textAnchor="middle",
                               fillColor=colors.white if share > 0.55 else INK))  # fmt: skip
    return drawing


def _period_text(data: ReportData) -> str:
    return _("From %(start)s to %(end)s (%(days)s days). Days as each network counts them; times in %(zone)s.") % {
        "start": formats.date_format(data.period.start, "DATE_FORMAT"),
        "end": formats.date_format(data.period.end, "DATE_FORMAT"),
        "days": data.period.days,
        "zone": data.zone,
    }


def render_pdf(data: ReportData) -> bytes:
    """The report as PDF bytes, in data.language."""
    _fonts()
    with translation.override(data.language):
        return _render(data)


def _render(data: ReportData) -> bytes:
    buffer = io.BytesIO()
    organisation = data.scope.organisation
    title = _("Statistics report")
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"{title} — {organisation.name}",
        author="Beffroi",
        subject=data.scope.label,
        lang=data.language,
    )
    width = doc.width
    zone = zoneinfo.ZoneInfo(data.zone)
    generated = data.generated_at.astimezone(zone)
    footer = _("Beffroi · %(organisation)s · %(title)s · page %%(page)s") % {
        "organisation": organisation.name,
        "title": title,
    }

    def on_page(canvas, document) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(MUTED)
        canvas.drawString(doc.leftMargin, 9 * mm, clean(footer % {"page": document.page}).replace("&amp;", "&"))
        canvas.restoreState()

    story: list = [
        _p(title, "title"),
        _p(organisation.name, "subtitle"),
        _p(_("Pages: %(scope)s (%(count)s)") % {"scope": data.scope.label, "count": len(data.scope.channels)}),
        _p(_period_text(data)),
        _p(
            _("Made on %(date)s at %(time)s (%(zone)s).")
            % {"date": formats.date_format(generated, "DATE_FORMAT"), "time": f"{generated:%H:%M}", "zone": data.zone},
            "small",
        ),
        Spacer(1, 6),
    ]
    if data.demo:
        story.append(_p(_("Demo data: these figures are generated examples, not real statistics."), "demo"))

    # Key figures, with their change and what it compares.
    story.append(_p(_("Key figures"), "h2"))
    figures = exports.figures_table(data.view)
    story.extend(pdf_table(figures, width, columns=["measure", "value", "change", "comparison"]))
    notes = [note for figure in data.view.figures.values() for note in figure.notes]
    for note in dict.fromkeys(notes):
        story.append(_p(note, "small"))
    for group in exports.gap_summary(data.view.figures.values()):
        measures = f" ({', '.join(group.measures)})" if group.measures else ""
        story.append(
            _p(
                _("Left out%(measures)s — %(reason)s %(channels)s")
                % {"measures": measures, "reason": group.reason, "channels": ", ".join(group.channels)},
                "small",
            )
        )

    flows = [m for m in (Metric.REACH, Metric.VIEWS, Metric.INTERACTIONS) if m in exports.series_metrics(data.view)]
    chart = series_drawing(data.view, width, flows)
    if chart:
        story.append(KeepTogether([_p(_("Day by day"), "h3"), chart]))
    if Metric.FOLLOWERS in exports.series_metrics(data.view):
        followers = series_drawing(data.view, width, [Metric.FOLLOWERS], height=110, zero_based=False)
        if followers:
            story.append(KeepTogether([_p(METRIC_LABELS[Metric.FOLLOWERS], "h3"), followers]))

    if data.view.rows:
        story.append(CondPageBreak(60 * mm))
        story.append(_p(_("National, regional and local"), "h2"))
        rollup = exports.rollup_table(data.view)
        keys = ["row", "reach", "reach_change", "interactions", "interactions_change", "followers", "posts"]
        story.extend(pdf_table(rollup, width, columns=keys, limit=40))

    # Audience.
    story.append(CondPageBreak(90 * mm))
    story.append(_p(_("Audience"), "h2"))
    age_gender = data.breakdowns[Dimension.AGE_GENDER]
    drawing = pyramid_drawing(data.pyramid, width)
    if drawing:
        story.append(KeepTogether([_p(exports.DIMENSION_LABELS[Dimension.AGE_GENDER], "h3"), drawing]))
        story.extend(pdf_table(exports.age_gender_table(data.pyramid, age_gender), width))
        story.extend(_gap_lines(age_gender))
    else:
        story.append(_p(exports.DIMENSION_LABELS[Dimension.AGE_GENDER], "h3"))
        story.append(_p(_("Not available for these pages."), "small"))
        story.extend(_gap_lines(age_gender))
    for dimension in (Dimension.COUNTRY, Dimension.CITY, Dimension.LANGUAGE):
        breakdown = data.breakdowns[dimension]
        story.append(_p(exports.DIMENSION_LABELS[dimension], "h3"))
        if breakdown.available:
            story.extend(pdf_table(exports.dimension_table(breakdown), width * 0.7, limit=TOP_KEYS))
            story.extend(_gap_lines(breakdown))
        else:
            story.append(_p(_("Not available for these pages."), "small"))
            story.extend(_gap_lines(breakdown))

    # When the audience is online.
    story.append(CondPageBreak(80 * mm))
    story.append(_p(_("When your audience is online"), "h2"))
    heatmap = data.heatmap
    if heatmap.empty:
        story.append(_p(_("No hourly data for these pages in this period."), "small"))
    else:
        story.append(_p(heatmap_basis(heatmap)))
        grid = heatmap_drawing(heatmap, width)
        if grid:
            story.append(grid)
        for note in heatmap.notes:
            story.append(_p(note, "small"))

    # Posts.
    story.append(CondPageBreak(70 * mm))
    story.append(_p(_("Best posts"), "h2"))
    posts = exports.posts_table(data.top_posts, data.zone)
    story.extend(
        pdf_table(posts, width, columns=["published_at", "channel", "type", "text", "interactions", "engagement_rate"])
    )
    story.append(_p(_("By type of post and network"), "h3"))
    story.extend(pdf_table(exports.by_type_table(data.types), width))
    story.append(Spacer(1, 8))
    story.append(
        _p(
            _(
                "Every number comes from the networks' own statistics, stored by Beffroi. A measure a network does "
                "not give is written “not available”, never zero."
            ),
            "small",
        )
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def _gap_lines(breakdown: Breakdown) -> list:
    """The pages a breakdown leaves out, grouped by reason (one line per reason)."""
    by_reason: dict[str, list[str]] = {}
    for channel, reason in breakdown.gaps:
        by_reason.setdefault(reason, []).append(channel)
    return [
        _p(_("Left out — %(reason)s %(channels)s") % {"reason": reason, "channels": ", ".join(channels)}, "small")
        for reason, channels in by_reason.items()
    ]


def heatmap_basis(heatmap: Heatmap) -> str:
    """What the heatmap is made of, for people (pages and PDF)."""
    if heatmap.basis == "online_followers":
        return _(
            "Based on the followers online per hour that the network counts (%(days)s days), shown in %(zone)s time."
        ) % {"days": heatmap.sample, "zone": heatmap.zone}
    if heatmap.basis == "engagements":
        return _(
            "Based on %(count)s stored interactions (likes, comments, shares) and when they happened, shown in "
            "%(zone)s time."
        ) % {"count": heatmap.sample, "zone": heatmap.zone}
    return _("No hourly data for these pages in this period.")


def report_filename(organisation_slug: str, period: Period, language: str) -> str:
    return f"beffroi-{organisation_slug}-{period.start:%Y%m%d}-{period.end:%Y%m%d}-{language}.pdf"


# --- E-mailed reports ---------------------------------------------------------------------------------------


def due_period(frequency: str, today: date) -> tuple[date, Period]:
    """The date a report of this frequency was last due on or before `today`, and the period it covers."""
    if frequency == ReportSubscription.Frequency.WEEKLY:
        due_on = today - timedelta(days=today.weekday())  # this week's Monday
        return due_on, Period(due_on - timedelta(days=7), due_on - timedelta(days=1))
    due_on = today.replace(day=1)
    last_month_end = due_on - timedelta(days=1)
    return due_on, Period(last_month_end.replace(day=1), last_month_end)


def is_due(subscription: ReportSubscription, today: date) -> bool:
    due_on, _period = due_period(subscription.frequency, today)
    if subscription.last_sent_on is not None:
        return subscription.last_sent_on < due_on
    # A new subscription starts with the next report, not with one that was due before it existed.
    return subscription.created_at.date() < due_on


def _person_zone(subscription: ReportSubscription) -> str:
    return getattr(subscription.user, "time_zone", "") or subscription.organisation.time_zone


def send_report(subscription: ReportSubscription, today: date) -> bool:
    """Sends one subscription's due report, if the person may still read the statistics. Returns True if sent."""
    from beffroi.organisations.models import Membership
    from beffroi.organisations.roles import Action

    membership = (
        Membership.objects.select_related("organisation", "user")
        .filter(organisation=subscription.organisation, user=subscription.user)
        .first()
    )
    if membership is None or not membership.can(Action.VIEW_INSIGHTS) or not subscription.user.is_active:
        return False
    _due_on, period = due_period(subscription.frequency, today)
    language = subscription.language if subscription.language in dict(settings.LANGUAGES) else "fr"
    zone = _person_zone(subscription)
    with translation.override(language):
        try:
            scope = scope_for(membership, group_id=subscription.group_id)
        except Exception:  # noqa: BLE001 — the group is no longer visible to this person: nothing to send
            return False
        data = gather(scope, period, zone, language)
        pdf = render_pdf(data)
        organisation = subscription.organisation
        subject = _("Statistics of %(organisation)s: %(period)s") % {
            "organisation": organisation.name,
            "period": period.label(),
        }
        lines = [
            _("Hello,"),
            "",
            _("Here is the statistics report of %(scope)s for %(period)s (PDF attached).")
            % {"scope": scope.label, "period": period.label()},
            "",
        ]
        for figure in data.view.figures.values():
            value = number(figure.value) if figure.value is not None else _("not available")
            change = ""
            if figure.change_pct is not None:
                sign = "+" if figure.change_pct > 0 else "−" if figure.change_pct < 0 else "±"
                change = f" ({sign}{number(abs(figure.change_pct), 1)} %)"
            lines.append(f"- {figure.label}: {value}{change}")
        if data.demo:
            lines += ["", _("Demo data: these figures are generated examples, not real statistics.")]
        base = getattr(settings, "BASE_URL", "").rstrip("/")
        lines += [
            "",
            _("To stop these e-mails, remove the subscription on the reports page: %(url)s")
            % {"url": f"{base}/o/{organisation.slug}/insights/reports/"},
        ]
        message = EmailMessage(subject, "\n".join(lines), None, [subscription.user.email])
        message.attach(report_filename(organisation.slug, period, language), pdf, "application/pdf")
        message.send()
    return True


def send_due_reports(today: date | None = None) -> int:
    """Sends every due report once (a second run for the same period sends nothing). Returns the number sent."""
    sent = 0
    subscriptions = ReportSubscription.objects.select_related("organisation", "user", "group").order_by("pk")
    for subscription in subscriptions:
        local_today = today or timezone.now().astimezone(zoneinfo.ZoneInfo(_person_zone(subscription))).date()
        if not is_due(subscription, local_today):
            continue
        # Claimed before sending: two runs at once cannot both send it (compare-and-set on last_sent_on).
        claimed = ReportSubscription.objects.filter(pk=subscription.pk, last_sent_on=subscription.last_sent_on).update(
            last_sent_on=local_today
        )
        if not claimed:
            continue
        try:
            if send_report(subscription, local_today):
                sent += 1
        except Exception:  # noqa: BLE001 — one failing report must not stop the others; it is tried again next run
            ReportSubscription.objects.filter(pk=subscription.pk).update(last_sent_on=subscription.last_sent_on)
            log.exception("statistics report %s could not be sent", subscription.pk)
    return sent

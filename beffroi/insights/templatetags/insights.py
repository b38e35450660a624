"""Showing statistics: numbers in the page's language, changes with an arrow, a sign and words (never colour
alone), "not available" with its reason (never zero)."""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import formats
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from beffroi.insights import exports
from beffroi.insights.exports import NA, Link

register = template.Library()


@register.filter
def num(value, digits: int = 0) -> str:
    """1 234 567 (grouped as the language does), or "" for nothing."""
    if value is None or isinstance(value, NA):
        return ""
    return formats.number_format(value, decimal_pos=int(digits), use_l10n=True, force_grouping=True)


def change_html(change: float | None, comparison: str = ""):
    if change is None:
        return format_html('<span class="change change-none">{}</span>', _("no comparison"))
    if change > 0:
        arrow, word, kind = "▲", _("up"), "up"
    elif change < 0:
        arrow, word, kind = "▼", _("down"), "down"
    else:
        arrow, word, kind = "=", _("no change"), "flat"
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    return format_html(
        '<span class="change change-{}"><span aria-hidden="true">{}</span> {}{} % <span class="change-words">({})'
        "</span></span>",
        kind,
        arrow,
        sign,
        num(abs(change), 1),
        word,
    )


@register.filter
def change(value):
    """{{ figure.change_pct|change }}"""
    return change_html(value)


@register.filter
def cell(value, column):
    """One cell of an exports.Table, shown as its column's kind says."""
    kind = getattr(column, "kind", exports.TEXT)
    if isinstance(value, NA):
        return format_html('<span class="na" title="{}">{}</span>', value.reason, _("not available"))
    if isinstance(value, Link):
        return format_html('<a href="{}">{}</a>', value.href, value.text)
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return format_html(
            '<time datetime="{}">{} {}</time>',
            value.isoformat(),
            formats.date_format(value, "SHORT_DATE_FORMAT"),
            f"{value:%H:%M}",
        )
    if isinstance(value, date):
        return format_html(
            '<time datetime="{}">{}</time>', value.isoformat(), formats.date_format(value, "SHORT_DATE_FORMAT")
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if kind == exports.CHANGE:
            return change_html(float(value))
        if kind == exports.PERCENT:
            return f"{num(value, 1)} %"
        if kind == exports.FACTOR:
            return f"×{num(value, 2)}"
        if kind == exports.FLOAT:
            return num(value, 1)
        return num(value)
    if kind == exports.TEXT and isinstance(value, str) and value.startswith(("http://", "https://")):
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', value, _("open"))
    return str(value)


@register.filter
def is_na(value) -> bool:
    return isinstance(value, NA)


@register.filter
def get(mapping, key):
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None


@register.filter
def page_cells(row, table):
    """{% for column, value in row|page_cells:table %}: the cells a page shows (some are for the CSV only)."""
    return table.page_cells(row)


@register.filter
def table_body(table):
    """The rows of an exports.Table as HTML, built here in one pass: a roll-up of a hundred pages has some two
    thousand cells, and a template loop per cell made that page the slowest of the statistics."""
    lines = []
    for row in table.rows:
        cells = []
        for index, (column, value) in enumerate(table.page_cells(row)):
            if index == 0:
                cells.append(format_html('<th scope="row">{}</th>', cell(value, column)))
            else:
                cells.append(format_html('<td class="kind-{}">{}</td>', column.kind, cell(value, column)))
        lines.append(format_html("<tr>{}</tr>", mark_safe("".join(cells))))  # noqa: S308 — cells built escaped
    return mark_safe("\n".join(lines))  # noqa: S308 — rows built escaped

"""Periods of whole days and the period they are compared with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import formats
from django.utils.translation import gettext as _

PRESETS = (7, 28, 90)
DEFAULT_DAYS = 28
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class Period:
    """From `start` to `end`, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of equal length just before (28 days → the 28 days before them)."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=offset) for offset in range(self.days)]

    def label(self) -> str:
        return _("%(start)s – %(end)s") % {
            "start": formats.date_format(self.start, "SHORT_DATE_FORMAT"),
            "end": formats.date_format(self.end, "SHORT_DATE_FORMAT"),
        }

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


def last_days(today: date, days: int) -> Period:
    """The last `days` complete days (today is not over, so it is left out)."""
    end = today - timedelta(days=1)
    return Period(end - timedelta(days=days - 1), end)


def period_from_params(params, today: date) -> tuple[Period, str]:
    """The period a page asks for: ?days=7|28|90, or ?start=YYYY-MM-DD&end=YYYY-MM-DD (custom).
    Returns the period and the preset name ("7", "28", "90" or "custom"). Bad input falls back to 28 days."""
    start, end = params.get("start"), params.get("end")
    if start and end:
        try:
            period = Period(date.fromisoformat(start), date.fromisoformat(end))
        except ValueError:
            period = None
        if period and period.start <= period.end and period.days <= MAX_DAYS:
            return period, "custom"
    try:
        days = int(params.get("days", DEFAULT_DAYS))
    except (TypeError, ValueError):
        days = DEFAULT_DAYS
    if days not in PRESETS:
        days = DEFAULT_DAYS
    return last_days(today, days), str(days)

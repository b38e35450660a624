"""Turning the wall-clock time a person chose, in a channel's zone, into an instant — DST handled explicitly."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.utils import formats
from django.utils.translation import gettext as _

from beffroi.core.timezones import utc_offset_label


@dataclass(frozen=True)
class ResolvedTime:
    due_at: datetime  # UTC
    local: datetime  # naive wall time as chosen
    zone: str
    fold: int
    ambiguous: bool  # the wall time happens twice that day (clocks going back)
    note: str  # what was decided, for the person ("" when nothing special)


def resolve_local_time(local: datetime, zone_name: str, *, fold: int | None = None) -> ResolvedTime:
    """A naive wall time in `zone_name` → UTC.

    A time skipped by the spring-forward change does not exist: refused with a clear message. A time that
    happens twice on the fall-back day is ambiguous: the first occurrence unless `fold=1` asks for the second;
    either way the result says which one was chosen.
    """
    if local.tzinfo is not None:
        raise ValueError("resolve_local_time expects a naive wall-clock time")
    zone = zoneinfo.ZoneInfo(zone_name)
    first = local.replace(tzinfo=zone, fold=0)
    second = local.replace(tzinfo=zone, fold=1)
    exists = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local
    if not exists:
        before = first.astimezone(UTC).astimezone(zone)  # what the clock shows at that instant
        raise ValidationError(
            _(
                "%(time)s does not exist on %(date)s in %(zone)s: the clocks go forward that night. "
                "Choose another time, for example %(suggestion)s."
            )
            % {
                "time": local.strftime("%H:%M"),
                "date": formats.date_format(local.date(), "DATE_FORMAT"),
                "zone": zone_name,
                "suggestion": before.strftime("%H:%M"),
            },
            code="nonexistent_time",
        )
    ambiguous = first.utcoffset() != second.utcoffset()
    chosen_fold = (fold or 0) if ambiguous else 0
    aware = second if chosen_fold else first
    note = ""
    if ambiguous:
        note = _(
            "%(time)s happens twice on %(date)s in %(zone)s (the clocks go back): the %(which)s occurrence, "
            "%(offset)s, was chosen."
        ) % {
            "time": local.strftime("%H:%M"),
            "date": formats.date_format(local.date(), "DATE_FORMAT"),
            "zone": zone_name,
            "which": _("second") if chosen_fold else _("first"),
            "offset": utc_offset_label(aware),
        }
    return ResolvedTime(
        due_at=aware.astimezone(UTC), local=local, zone=zone_name, fold=chosen_fold, ambiguous=ambiguous, note=note
    )

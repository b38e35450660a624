"""Time-zone helpers: validation of IANA names and display of instants with their zone."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import cache

from django.core.exceptions import ValidationError
from django.utils import formats, timezone
from django.utils.translation import gettext as _


@cache
def all_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@cache
def sorted_time_zones() -> tuple[str, ...]:
    """Zones offered in forms: canonical Area/City names and UTC."""
    return tuple(sorted(name for name in all_time_zones() if "/" in name or name == "UTC"))


def validate_time_zone(value: str) -> None:
    if value not in all_time_zones():
        raise ValidationError(
            _("“%(value)s” is not a known time zone. Choose one from the list, e.g. Europe/Paris."),
            code="invalid_time_zone",
            params={"value": value},
        )


def utc_offset_label(moment: datetime) -> str:
    """UTC+01:00, UTC−04:00 — the offset in force at that moment (DST included)."""
    offset = moment.utcoffset()
    if offset is None:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def format_with_zone(moment: datetime | None, zone_name: str | None = None) -> str:
    """A date and time in the given zone (the viewer's by default), always followed by the zone."""
    if moment is None:
        return ""
    zone = zoneinfo.ZoneInfo(zone_name) if zone_name else timezone.get_current_timezone()
    local = moment.astimezone(zone)
    # 24-hour clock in every language: schedules read unambiguously ("noon", "a.m." do not).
    return f"{formats.date_format(local, 'DATE_FORMAT')} {local:%H:%M} ({zone.key}, {utc_offset_label(local)})"

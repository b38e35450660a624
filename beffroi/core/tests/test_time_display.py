"""Times are shown in the viewer's zone, with the zone named, DST included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from beffroi.core.timezones import format_with_zone, validate_time_zone
from beffroi.organisations.roles import Role


def test_the_zone_and_its_offset_follow_daylight_saving_time():
    with translation.override("en"):
        winter = format_with_zone(datetime(2026, 1, 15, 11, 0, tzinfo=UTC), "Europe/Paris")
        summer = format_with_zone(datetime(2026, 7, 15, 10, 0, tzinfo=UTC), "Europe/Paris")
        quebec = format_with_zone(datetime(2026, 7, 15, 10, 0, tzinfo=UTC), "America/Toronto")
    assert "12:00" in winter and "Europe/Paris, UTC+01:00" in winter
    assert "12:00" in summer and "Europe/Paris, UTC+02:00" in summer
    assert "06:00" in quebec and "America/Toronto, UTC−04:00" in quebec


def test_unknown_zones_are_refused():
    validate_time_zone("America/Toronto")
    for bad in ("Europe/Lile", "CEST", "", "../etc/passwd"):
        with pytest.raises(ValidationError):
            validate_time_zone(bad)


@pytest.mark.django_db
def test_pages_use_the_persons_zone_else_the_organisations(tenant_b, client_for):
    person = tenant_b.member(Role.ANALYST)
    client = client_for(person)
    assert "America/Toronto" in client.get(f"/o/{tenant_b.organisation.slug}/").content.decode()
    person.time_zone = "Asia/Tokyo"
    person.save()
    page = client.get(f"/o/{tenant_b.organisation.slug}/").content.decode()
    assert "Asia/Tokyo" in page and "UTC+09:00" in page

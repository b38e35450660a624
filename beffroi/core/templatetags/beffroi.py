from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html

from beffroi.core.timezones import format_with_zone

register = template.Library()


@register.filter
def with_zone(moment: datetime | None, zone_name: str | None = None) -> str:
    """{{ value|with_zone }} — the viewer's zone; {{ value|with_zone:channel.effective_time_zone }} — another."""
    if moment is None:
        return ""
    return format_html('<time datetime="{}">{}</time>', moment.isoformat(), format_with_zone(moment, zone_name or None))


@register.simple_tag
def now_with_zone() -> str:
    from django.utils import timezone

    return with_zone(timezone.now())

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

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


# Links, hashtags and mentions as the networks draw them in a post (the composer's previews).
_RICH = re.compile(
    r"(?P<url>https?://[^\s<>\"]+)|(?P<tag>(?<![\w&])#[\w]+)|(?P<mention>(?<![\w])@[\w.-]+(?:@[\w.-]+)?)"
)


@register.filter
def post_preview(text: str) -> str:
    """The text of a post, escaped, with its links, #hashtags and @mentions marked up and its line breaks kept."""
    parts, last = [], 0
    for match in _RICH.finditer(text or ""):
        parts.append(escape(text[last : match.start()]))
        kind = match.lastgroup
        value = match.group()
        if kind == "url":
            parts.append(format_html('<span class="p-link">{}</span>', value))
        else:
            parts.append(format_html('<span class="p-{}">{}</span>', kind, value))
        last = match.end()
    parts.append(escape((text or "")[last:]))
    return mark_safe("".join(str(part) for part in parts).replace("\n", "<br>"))  # noqa: S308 — every part escaped

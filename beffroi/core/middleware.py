from __future__ import annotations

import logging
import time
import zoneinfo

from django.conf import settings
from django.utils import timezone, translation

request_log = logging.getLogger("beffroi.request")


class RequestLogMiddleware:
    """One structured line per request: method, path, status, duration. Never the query string (tokens)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        request_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "user_id": getattr(getattr(request, "user", None), "pk", None),
            },
        )
        return response


class ViewerTimeZoneMiddleware:
    """Times are shown in the viewer's zone: the person's own, else the site default.

    Organisation pages refine this (a person without a zone of their own sees the organisation's).
    The person's saved language applies when they have not picked one in this browser.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        zone_name = settings.TIME_ZONE
        if user is not None and user.is_authenticated:
            zone_name = user.time_zone or zone_name
            if user.language and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language
        timezone.activate(zoneinfo.ZoneInfo(zone_name))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

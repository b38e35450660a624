from __future__ import annotations

import logging
import time
import zoneinfo

from django.conf import settings
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

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


def chosen_language(request) -> str | None:
    """The language picked in this browser, else the one saved in the person's profile."""
    cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if cookie in dict(settings.LANGUAGES):
        return cookie
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.language in dict(settings.LANGUAGES):
        return user.language
    return None


class ViewerPreferencesMiddleware:
    """Language and time zone of the person looking at the page.

    Language: the one chosen in this browser, else the person's saved one, else French — not the browser's
    Accept-Language: Beffroi is French first, and a team sees the same words whatever their browsers say.
    Organisation pages use the organisation's default language when the person chose none.
    Time zone: the person's own, else the site default; organisation pages use the organisation's zone
    for a person who has none.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = chosen_language(request) or settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        user = getattr(request, "user", None)
        zone_name = (user.time_zone if user is not None and user.is_authenticated else "") or settings.TIME_ZONE
        timezone.activate(zoneinfo.ZoneInfo(zone_name))
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        patch_vary_headers(response, ("Cookie",))
        response.headers.setdefault("Content-Language", translation.get_language())
        translation.deactivate()
        return response

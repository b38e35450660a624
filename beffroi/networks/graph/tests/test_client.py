"""Meta's errors turned into the engine's kinds of failure, usage headers, summaries without secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from beffroi.networks.base import ErrorKind
from beffroi.networks.graph.client import api_version, classify, parse_time, summarise, usage_retry_after
from beffroi.networks.graph.tests.replay import meta_error


def answer(status: int, body, headers=None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers or {})


@pytest.mark.parametrize(
    ("status", "body", "publishes", "kind", "code", "reconnect"),
    [
        (
            400,
            meta_error(190, "Error validating access token: Session has expired", 463),
            True,
            "permanent",
            "token_expired",
            True,
        ),
        (
            400,
            meta_error(190, "Error validating access token: password changed", 460),
            True,
            "permanent",
            "password_changed",
            True,
        ),
        (
            400,
            meta_error(190, "The user has not authorized application 1", 458),
            False,
            "permanent",
            "app_removed",
            True,
        ),
        (400, meta_error(190, "Invalid OAuth access token"), True, "permanent", "token_invalid", True),
        (
            400,
            meta_error(4, "(#4) Application request limit reached", is_transient=True),
            True,
            "retryable",
            "rate_limited",
            False,
        ),
        (400, meta_error(17, "(#17) User request limit reached"), True, "retryable", "rate_limited", False),
        (400, meta_error(32, "(#32) Page request limit reached"), True, "retryable", "rate_limited", False),
        (
            400,
            meta_error(80001, "There have been too many calls to this Page account"),
            True,
            "retryable",
            "rate_limited",
            False,
        ),
        (429, {}, True, "retryable", "rate_limited", False),
        (400, meta_error(100, "(#100) Invalid parameter"), True, "permanent", "invalid_parameter", False),
        (
            403,
            meta_error(200, "(#200) Requires pages_manage_posts permission"),
            True,
            "permanent",
            "permission_denied",
            True,
        ),
        (
            400,
            meta_error(368, "The action attempted has been deemed abusive or is otherwise disallowed"),
            True,
            "permanent",
            "blocked_by_policy",
            False,
        ),
        (400, meta_error(506, "Duplicate status message"), True, "permanent", "duplicate_post", False),
        (
            500,
            meta_error(2, "An unexpected error has occurred. Please retry your request later.", is_transient=True),
            True,
            "ambiguous",
            "server_error",
            False,
        ),
        (
            500,
            meta_error(2, "An unexpected error has occurred.", is_transient=True),
            False,
            "retryable",
            "server_error",
            False,
        ),
        (400, meta_error(1, "An unknown error occurred"), True, "ambiguous", "server_error", False),
        (502, None, True, "ambiguous", "server_error", False),
        (503, None, False, "retryable", "server_error", False),
        (
            400,
            meta_error(9, "Application request limit reached", 2207042, type="IGApiException"),
            True,
            "retryable",
            "publishing_limit",
            False,
        ),
        (400, meta_error(2207026, "Unsupported format", 2207026), False, "permanent", "unsupported_video", False),
        (400, meta_error(9004, "Media download has failed.", 2207052), False, "permanent", "media_fetch_failed", False),
        (
            400,
            meta_error(3, "Application does not have the capability to make this API call."),
            True,
            "permanent",
            "graph_3",
            False,
        ),
    ],
)
def test_meta_errors_become_the_right_kind(status, body, publishes, kind, code, reconnect):
    response = answer(status, body) if body is not None else httpx.Response(status, text="<html>Bad gateway</html>")
    error = classify(response, publishes=publishes, label="Facebook", request="POST /feed")
    assert (str(error.kind), error.code, error.needs_reconnection) == (kind, code, reconnect)
    assert error.request == "POST /feed" and error.response_status == status
    assert error.message and "{" not in error.message
    if kind == "retryable" and code in ("rate_limited", "publishing_limit"):
        assert error.retry_after and error.retry_after > 0


def test_rate_limits_wait_as_long_as_the_usage_headers_say():
    usage = {"1234": [{"type": "pages", "call_count": 100, "total_time": 12, "estimated_time_to_regain_access": 7}]}
    response = answer(
        400, meta_error(32, "(#32) Page request limit reached"), {"X-Business-Use-Case-Usage": json.dumps(usage)}
    )
    error = classify(response, publishes=True, label="Facebook")
    assert error.kind == ErrorKind.RETRYABLE and error.retry_after == 420.0
    app = answer(429, {}, {"X-App-Usage": json.dumps({"call_count": 100, "estimated_time_to_regain_access": 2})})
    assert usage_retry_after(app) == 120.0
    assert usage_retry_after(answer(200, {}, {"X-App-Usage": '{"call_count": 12}'})) is None
    assert usage_retry_after(answer(200, {}, {"X-App-Usage": "not json"})) is None
    assert classify(answer(429, {}, {"Retry-After": "30"}), publishes=True, label="X").retry_after == 30.0


def test_summaries_never_hold_tokens_secrets_or_people_s_words():
    line = summarise(
        "GET",
        "https://graph.facebook.com/v24.0/oauth/access_token",
        params={"client_id": "42", "client_secret": "s3cr3t", "code": "AQD-code", "code_verifier": "v"},
    )
    assert "s3cr3t" not in line and "AQD-code" not in line and "client_id=42" in line
    line = summarise("POST", "https://x/feed", data={"message": "Bonjour à tous", "access_token": "EAAB123456789"})
    assert "Bonjour" not in line and "EAAB" not in line and "message: 14 characters" in line
    # A paging URL from Meta carries the token in its query: redacted all the same.
    assert "EAAB" not in summarise("GET", "https://graph.facebook.com/v24.0/1/accounts?access_token=EAAB123456789")


def test_graph_times_and_version(settings):
    assert parse_time("2021-07-04T19:50:58+0000") == datetime(2021, 7, 4, 19, 50, 58, tzinfo=UTC)
    assert parse_time(1585040349) == datetime.fromtimestamp(1585040349, UTC)
    assert parse_time("") is None and parse_time("yesterday") is None
    assert api_version() == getattr(settings, "BEFFROI_GRAPH_API_VERSION", "v24.0")
    settings.BEFFROI_GRAPH_API_VERSION = "v25.0"
    assert api_version() == "v25.0"

"""Per-channel rate limits: GCRA buckets in memory, and shared through a real Redis when configured."""

from __future__ import annotations

import time

import httpx
import pytest

from beffroi.core.ratelimit import MemoryLimiter, Rate, RedisLimiter
from beffroi.networks.base import parse_retry_after


def _redis_or_skip() -> RedisLimiter:
    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return RedisLimiter("redis://127.0.0.1:6379/15")


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_bursts_are_allowed_then_the_rate_is_kept(kind):
    limiter = MemoryLimiter() if kind == "memory" else _redis_or_skip()
    key = f"test-{kind}-{time.monotonic_ns()}"
    rate = Rate(3, 3.0)  # bursts of 3, then one per second
    assert [limiter.reserve(key, rate) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.reserve(key, rate)
    assert 0.5 < wait <= 1.0
    assert limiter.reserve(f"{key}-other-channel", rate) == 0.0  # channels do not share a budget


def test_two_processes_share_one_channels_budget_through_redis():
    first, second = _redis_or_skip(), _redis_or_skip()  # two clients: as two worker hosts would
    key = f"shared-{time.monotonic_ns()}"
    rate = Rate(2, 10.0)
    assert first.reserve(key, rate) == 0.0
    assert second.reserve(key, rate) == 0.0
    assert first.reserve(key, rate) > 0 and second.reserve(key, rate) > 0


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"Retry-After": "120"}, 119, 120),
        ({"X-RateLimit-Reset": "2999-01-01T00:00:00Z"}, 10**9, 10**11),
        ({"X-RateLimit-Reset": "30"}, 29, 30),
        ({}, None, None),
    ],
)
def test_retry_after_and_rate_limit_reset_headers_are_honoured(headers, low, high):
    response = httpx.Response(429, headers=headers)
    wait = parse_retry_after(response)
    if low is None:
        assert wait is None
    else:
        assert low <= wait <= high

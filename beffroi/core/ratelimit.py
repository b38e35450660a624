"""Per-channel rate limits (GCRA, a token bucket without a refill loop): in memory for one process, in Redis
when REDIS_URL is set so that worker processes on several hosts share each channel's budget."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Rate:
    count: int  # this many publishes…
    period_s: float  # …per this many seconds, with bursts up to `count`

    @property
    def interval(self) -> float:
        return self.period_s / self.count


class MemoryLimiter:
    def __init__(self) -> None:
        self._tat: dict[str, float] = {}  # theoretical arrival time per key

    def reserve(self, key: str, rate: Rate) -> float:
        """Takes one token if available and returns 0, else returns how many seconds to wait (nothing taken)."""
        now = time.monotonic()
        tat = max(self._tat.get(key, now), now)
        allowed_at = tat - rate.period_s + rate.interval
        if allowed_at > now:
            return allowed_at - now
        self._tat[key] = tat + rate.interval
        return 0.0


_GCRA_LUA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allowed_at = tat - period + interval
if allowed_at > now then return tostring(allowed_at - now) end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil(period * 1000) + 1000)
return '0'
"""


class RedisLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._script = self._redis.register_script(_GCRA_LUA)

    def reserve(self, key: str, rate: Rate) -> float:
        # Redis's clock, not ours: hosts' clocks differ, one clock must decide.
        seconds, micros = self._redis.time()
        now = seconds + micros / 1_000_000
        return float(self._script(keys=[f"beffroi:rate:{key}"], args=[now, rate.interval, rate.period_s]))


def make_limiter():
    return RedisLimiter(settings.REDIS_URL) if settings.REDIS_URL else MemoryLimiter()

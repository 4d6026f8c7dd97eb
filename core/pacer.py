"""A :class:`plugins.types.Pacer` shared by every worker, kept in Redis.

Each bucket is a sorted set of call timestamps (a sliding window). One Lua
script drops expired entries, counts, and either records the call or
answers how long until the oldest call leaves the window, atomically, so
two workers can never both take the last call of a budget.
"""

from __future__ import annotations

import secrets
import time

import redis

_RESERVE = """
local key, now, period, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(period * 1000))
  return '0'
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return tostring(math.max(tonumber(oldest[2]) + period - now, 0.001))
"""


class RedisPacer:
    """Sliding-window call budgets in Redis under ``{prefix}{bucket}``."""

    def __init__(self, client: redis.Redis, prefix: str = "markaestro:pace:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_RESERVE)

    def reserve(self, bucket: str, *, limit: int, period_s: float) -> float:
        """Take one call from ``bucket``; ``0.0`` or the seconds to wait (see the protocol)."""
        if limit <= 0:
            return float(period_s)
        member = f"{time.time():.6f}:{secrets.token_hex(4)}"
        result = self._script(keys=[self._prefix + bucket], args=[time.time(), period_s, limit, member])
        return float(result)

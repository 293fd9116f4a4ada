"""Whether Redis answers: one ping, for a caller that must say at once that it does not.

Imported by its callers when they reach Redis, so that other commands do not load redis-py.
"""

from urllib.parse import urlsplit

import redis

from tuskflow.config.errors import BrokerUnavailableError

PROBE_TIMEOUT_S = 3


def redis_address(url: str) -> str:
    """``host:port`` of a Redis URL, as errors name it (never its password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def probe_redis(url: str) -> None:
    """BrokerUnavailableError within seconds, with Redis's own reason, if ``url`` cannot be
    reached (redis-py alone would retry, and a Celery publish would wait 20 s)."""
    try:
        with redis.Redis.from_url(
            url, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S
        ) as client:
            client.ping()
    except redis.RedisError as exc:
        reason = str(exc).rstrip(".")
        raise BrokerUnavailableError(
            f"Redis at {redis_address(url)} is unreachable: {reason}"
        ) from None

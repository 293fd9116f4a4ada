"""Events recorded on past days, for archive tests and the archive bench: written straight into
the events table with the recorded_at a day in the past would have given them (the store's
ports stamp the present), in several streams, with text a CSV round trip could get wrong."""

from datetime import UTC, date, datetime, timedelta

import psycopg

# A stream id and data holding a comma, a quote, a line break, a tab, a backslash and more.
AWKWARD_STREAM = 'awkward, "quoted"\nstream\t\\'
_TEXT = 'comma, "quote", new\nline, tab\t, back\\slash, é, 🐘'

# One statement per day: stream i % streams, its next versions in order, one event a
# 86399/count seconds from midnight (plus i % 1000 microseconds, so times are not round).
_INSERT = """
WITH numbered AS (
    SELECT i, CASE WHEN i %% %(streams)s = 0 THEN %(awkward)s
                   ELSE 'meter-' || %(day)s || '-' || (i %% %(streams)s) END AS stream_id
    FROM generate_series(0, %(count)s - 1) AS i
), versioned AS (
    SELECT n.*, coalesce(s.version, 0)
                + row_number() OVER (PARTITION BY n.stream_id ORDER BY n.i) AS stream_version
    FROM numbered n LEFT JOIN streams s USING (stream_id)
), inserted AS (
    INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata,
                        recorded_at)
    SELECT stream_id, stream_version, gen_random_uuid(), 'Reading' || (i %% 3),
           jsonb_build_object('i', i, 'text', %(text)s::text, 'x', 1.5e-7, 'pad', %(pad)s::text),
           jsonb_build_object('source', 'test'),
           %(start)s::timestamptz + %(step)s * i + make_interval(secs => (i %% 1000) / 1e6)
    FROM versioned ORDER BY i
    RETURNING stream_id, stream_version
)
INSERT INTO streams AS s (stream_id, version)
SELECT stream_id, max(stream_version) FROM inserted GROUP BY stream_id
ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version
"""


def write_days(url: str, counts: dict[date, int], *, streams: int = 7, pad: int = 0) -> None:
    """``counts[day]`` events recorded on each day, spread over the day, in global order;
    ``pad`` characters more of data per event."""
    with psycopg.connect(url, autocommit=True) as conn:
        for day, count in sorted(counts.items()):
            if count == 0:
                continue
            conn.execute(
                _INSERT,
                {
                    "streams": streams,
                    "awkward": AWKWARD_STREAM,
                    "day": str(day),
                    "count": count,
                    "text": _TEXT,
                    "pad": "p" * pad,
                    "start": datetime(day.year, day.month, day.day, tzinfo=UTC),
                    "step": timedelta(seconds=86_399) / count,
                },
            )

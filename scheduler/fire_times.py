"""When a schedule entry fires: its nominal times, in UTC, as every beat works them out alike.

A fire is named by its entry and its nominal time, never by when a beat happened to send it,
so that any beat computes the same key for the same fire. Cron fields are read in the entry's
time zone by cronsim, whose daylight-saving rules are these: a local time that does not exist
(02:30 on a spring-forward night in Europe/Berlin) fires once, at the first instant after the
gap (03:00); a local time that occurs twice (02:30 on a fall-back night) fires once, at its
first occurrence; entries firing every hour or more often fire once per real hour, in absolute
time. ``every`` entries count whole intervals from ``start`` (else the Unix epoch) in
absolute time, whatever the zone.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import takewhile

from cronsim import CronSim

from tuskflow.scheduler.schedule_file import ScheduleEntry

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def fire_times(entry: ScheduleEntry, after: datetime, until: datetime) -> Iterator[datetime]:
    """The entry's nominal times ``t`` with ``after < t <= until``, in UTC, ascending, within
    its ``start`` and ``end`` (both included)."""
    if entry.start is not None and after < entry.start:
        after = entry.start - timedelta(microseconds=1)
    if entry.end is not None:
        until = min(until, entry.end)
    return takewhile(lambda moment: moment <= until, _after(entry, after))


def next_fire(entry: ScheduleEntry, after: datetime) -> datetime | None:
    """The entry's first nominal time after ``after``; None past its end."""
    return next(fire_times(entry, after, datetime.max.replace(tzinfo=UTC)), None)


def _after(entry: ScheduleEntry, after: datetime) -> Iterator[datetime]:
    if entry.cron is not None:
        local = CronSim(entry.cron, after.astimezone(entry.zone))
        return (moment.astimezone(UTC) for moment in local)
    assert entry.every is not None  # the entry's own validator holds one of the two
    return _intervals(entry.start or EPOCH, entry.every, after)


def _intervals(anchor: datetime, every: timedelta, after: datetime) -> Iterator[datetime]:
    passed = max((after - anchor) // every + 1, 0)
    moment = anchor.astimezone(UTC) + passed * every
    while True:
        yield moment
        moment += every

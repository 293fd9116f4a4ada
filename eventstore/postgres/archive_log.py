"""The archive's port on the live store: a day's events as CSV, the archive's record of each day
(``archive_days``), and the one audited way a day leaves the store (``tuskflow_prune_day``).

A day is a UTC calendar day of ``recorded_at``. Its events are read in global order through the
primary key within the day's position range (found with the BRIN index on recorded_at), so a
day streams in order without a sort. Nothing else writes ``archive_days`` or ``event_prunes``.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from tuskflow.config.database import Connection, connect, database_errors
from tuskflow.config.errors import DatabaseRefusedError, PermanentError

# The columns of an archived event, in the archive's order. recorded_at travels as integer
# microseconds since the epoch (exact, and no time-zone text to parse); data and metadata as
# PostgreSQL's own jsonb text, which is the same for the same value every time it is read.
ARCHIVE_COLUMNS = (
    "global_position",
    "stream_id",
    "stream_version",
    "event_id",
    "event_type",
    "data",
    "metadata",
    "recorded_at_us",
)
_SELECT = (
    "global_position, stream_id, stream_version, event_id, event_type, data::text,"
    " metadata::text, (extract(epoch FROM recorded_at) * 1000000)::bigint"
)
_PRUNE_REFUSALS = ("TFE02", "TFE03")  # tuskflow_prune_day: not archived or verified; not equal


class PruneRefusedError(PermanentError):
    """The database refused to prune a day: not archived, not verified, or not the same."""


@dataclass(frozen=True)
class ArchivedDay:
    """The database's record of one archived day."""

    day: date
    location: str
    events: int
    first_position: int | None
    last_position: int | None
    bytes: int
    content_hash: str
    exported_at: datetime | None = None
    verified_at: datetime | None = None
    verified_hash: str | None = None
    pruned_at: datetime | None = None


@dataclass(frozen=True)
class PruneRecord:
    """One row of the prune audit: who removed which day from the live store, and when."""

    day: date
    location: str
    first_position: int | None
    last_position: int | None
    events_deleted: int | None
    pruned_by: str
    database_user: str
    application_name: str
    pruned_at: datetime


@dataclass(frozen=True)
class DayRange:
    """A day's events in the live store: how many, and their positions."""

    events: int
    first_position: int | None
    last_position: int | None


def day_bounds(day: date) -> dict[str, datetime]:
    """The query parameters of a UTC day: its first instant and the next day's."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {"start": start, "end": start + timedelta(days=1)}


class ArchiveLog:
    """The archive's statements on one connection of its own. Use it as a context manager."""

    def __init__(self, url: str, role: str = "archive") -> None:
        self.url = url
        self.conn: Connection = connect(url, role)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.conn.close()

    def now(self) -> datetime:
        """The database's clock: sealing goes by the clock that stamps recorded_at."""
        now: datetime = self._one("SELECT statement_timestamp()")
        return now

    def first_day(self) -> date | None:
        """The UTC day of the oldest event in the live store; None for an empty store.

        No event is older than the first by position by more than a transaction's life, so
        the minimum is looked for only up to that one's time, in the blocks BRIN names.
        """
        first = self._by_brin(
            "SELECT min(recorded_at) FROM events WHERE recorded_at <="
            " (SELECT recorded_at FROM events ORDER BY global_position LIMIT 1)",
            {},
        )
        return None if first[0] is None else _utc_day(first[0])

    def oldest_open_transaction(self) -> datetime | None:
        """When the oldest transaction open on this database (other than ours) began.

        An event's recorded_at is its statement's start, so a day can still gain events while
        a transaction that began before the day's end is open.
        """
        oldest: datetime | None = self._one(
            "SELECT min(xact_start) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND xact_start IS NOT NULL AND backend_type = 'client backend'"
        )
        return oldest

    def day_range(self, day: date) -> DayRange:
        """How many events the day holds live, and its first and last positions."""
        row = self._by_brin(
            "SELECT count(*), min(global_position), max(global_position) FROM events"
            " WHERE recorded_at >= %(start)s AND recorded_at < %(end)s",
            day_bounds(day),
        )
        return DayRange(int(row[0]), row[1], row[2])

    def _by_brin(self, query: str, params: dict[str, Any]) -> tuple[Any, ...]:
        """One row of a query on a range of recorded_at, read through the BRIN index.

        On a table larger than memory the planner costs a full scan just under the BRIN
        scan of one day and picks it: 0.4 s a day at 4M events against 33 ms by BRIN, paid
        again for every day exported. Sequential scans are off for this one statement.
        """
        with database_errors(self.url), self.conn.transaction():
            self.conn.execute("SET LOCAL enable_seqscan = off")
            row = self.conn.execute(query, params).fetchone()
        assert row is not None
        return tuple(row)

    def copy_day(
        self, day: date, first_position: int, last_position: int, *, block_bytes: int = 1 << 20
    ) -> Iterator[bytes]:
        """The day's events with positions in [first, last], in global order, as CSV blocks
        (no header; columns ARCHIVE_COLUMNS)."""
        query = (
            f"COPY (SELECT {_SELECT} FROM events WHERE global_position BETWEEN %(first)s AND"  # noqa: S608 - constants only
            " %(last)s AND recorded_at >= %(start)s AND recorded_at < %(end)s"
            " ORDER BY global_position) TO STDOUT (FORMAT csv)"
        )
        params = {**day_bounds(day), "first": first_position, "last": last_position}
        pending: list[bytes] = []
        size = 0
        with database_errors(self.url), self.conn.cursor().copy(query, params) as copy:
            for block in copy:
                pending.append(bytes(block))
                size += len(block)
                if size >= block_bytes:
                    yield b"".join(pending)
                    pending, size = [], 0
        if pending:
            yield b"".join(pending)

    def days(self) -> list[ArchivedDay]:
        """Every archived day, oldest first."""
        with database_errors(self.url):
            rows = self.conn.execute(
                "SELECT day, location, events, first_position, last_position, bytes,"
                " content_hash, exported_at, verified_at, verified_hash, pruned_at"
                " FROM archive_days ORDER BY day"
            ).fetchall()
        return [ArchivedDay(*row) for row in rows]

    def record_day(self, archived: ArchivedDay) -> None:
        """Record a day once its manifest is in the archive. A day recorded already keeps its
        row when the content is the same (a re-run), and is refused when it is not."""
        with database_errors(self.url):
            row = self.conn.execute(
                "INSERT INTO archive_days AS a (day, location, events, first_position,"
                " last_position, bytes, content_hash) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (day) DO UPDATE SET location = excluded.location"
                " WHERE a.content_hash = excluded.content_hash RETURNING day",
                [
                    archived.day,
                    archived.location,
                    archived.events,
                    archived.first_position,
                    archived.last_position,
                    archived.bytes,
                    archived.content_hash,
                ],
            ).fetchone()
        if row is None:
            raise PermanentError(
                f"day {archived.day} is recorded as archived with other content than "
                f"{archived.location} holds now; compare them with tuskflow archive verify"
            )

    def record_verified(self, day: date, content_hash: str) -> None:
        """Record that the day's archive, with this content hash, equals the live store."""
        with database_errors(self.url):
            self.conn.execute(
                "UPDATE archive_days SET verified_at = statement_timestamp(), verified_hash = %s"
                " WHERE day = %s",
                [content_hash, day],
            )

    def prune_day(self, day: date, pruned_by: str) -> int:
        """Delete an archived, verified day from the live store, recorded in event_prunes;
        how many events left. 0 for a day pruned already. PruneRefusedError otherwise."""
        try:
            with database_errors(self.url):
                row = self.conn.execute(
                    "SELECT tuskflow_prune_day(%s, %s)", [day, pruned_by]
                ).fetchone()
        except DatabaseRefusedError as exc:
            diag = getattr(exc.__cause__, "diag", None)
            if diag is not None and diag.sqlstate in _PRUNE_REFUSALS:
                raise PruneRefusedError(str(diag.message_primary)) from None
            raise
        return int(row[0]) if row else 0

    def prunes(self) -> list[PruneRecord]:
        """The prune audit, oldest first."""
        with database_errors(self.url):
            rows = self.conn.execute(
                "SELECT day, location, first_position, last_position, events_deleted, pruned_by,"
                " database_user, application_name, pruned_at FROM event_prunes ORDER BY id"
            ).fetchall()
        return [PruneRecord(*row) for row in rows]

    def _one(self, query: str) -> Any:
        with database_errors(self.url):
            row = self.conn.execute(query).fetchone()
        return row[0] if row else None


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()

"""When a day is sealed: its midnight settle_s behind the database's clock, and no transaction
open since before that midnight."""

from datetime import UTC, date, datetime

from tuskflow.archive.export import last_sealed_day

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


def test_a_day_is_sealed_once_its_midnight_is_settle_seconds_behind() -> None:
    assert last_sealed_day(NOW, 3600, None) == date(2026, 12, 3)
    assert last_sealed_day(NOW, 3 * 3600, None) == date(2026, 12, 3)
    assert last_sealed_day(NOW, 3 * 3600 + 1, None) == date(2026, 12, 2)


def test_a_transaction_open_since_before_midnight_keeps_the_day_unsealed() -> None:
    assert last_sealed_day(NOW, 3600, datetime(2026, 12, 3, 23, 59, tzinfo=UTC)) == date(
        2026, 12, 2
    )
    assert last_sealed_day(NOW, 3600, datetime(2026, 12, 4, 0, 1, tzinfo=UTC)) == date(2026, 12, 3)

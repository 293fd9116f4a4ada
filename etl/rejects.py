"""The job's rejects: rows that failed to parse, convert or pass a check, kept in PostgreSQL."""

from typing import TYPE_CHECKING, Any

from tuskflow.config.database import connect, database_errors

if TYPE_CHECKING:  # `submit --wait` shows rejects without loading arrow
    import pyarrow as pa

_COLUMNS = ("source_file", "row", "reason", "record")


def store_rejects(url: str, job_id: str, attempt: int, rejects: "pa.Table") -> None:
    """Replace the attempt's rejects with these (a rerun of the attempt stores them once)."""
    with database_errors(url), connect(url, "etl-rejects") as conn, conn.transaction():
        conn.execute(
            "DELETE FROM etl_rejects WHERE job_id = %s AND attempt = %s", [job_id, attempt]
        )
        if rejects.num_rows == 0:
            return
        columns = [rejects.column(name).to_pylist() for name in _COLUMNS]
        with conn.cursor().copy(
            "COPY etl_rejects (job_id, attempt, source_file, row_number, reason, record) FROM STDIN"
        ) as copy:
            for source_file, row, reason, record in zip(*columns, strict=True):
                copy.write_row((job_id, attempt, source_file, row, reason, record))


def load_rejects(
    url: str, job_id: str, attempt: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """How many rows an attempt of the job rejected, and the first ``limit`` of them."""
    with database_errors(url), connect(url, "etl-rejects") as conn:
        count = conn.execute(
            "SELECT count(*) FROM etl_rejects WHERE job_id = %s AND attempt = %s",
            [job_id, attempt],
        ).fetchone()
        rows = conn.execute(
            "SELECT source_file, row_number, reason, record FROM etl_rejects"
            " WHERE job_id = %s AND attempt = %s ORDER BY source_file, row_number LIMIT %s",
            [job_id, attempt, limit],
        ).fetchall()
    total = int(count[0]) if count else 0
    keys = ("source_file", "row", "reason", "record")
    return total, [dict(zip(keys, row, strict=True)) for row in rows]


def policy_breach(rejected: int, rows_in: int, max_share: float) -> str | None:
    """Why the rejects break the policy, or None: both shares shown with digits enough to differ.

    ``34 of 6,001,215 rows rejected (0.00057%), more than the reject policy allows (0%)``.
    """
    share = rejected / rows_in if rows_in else 0.0
    if share <= max_share:
        return None
    shown, allowed = _percents_apart(share, max_share)
    return (
        f"{rejected:,} of {rows_in:,} rows rejected ({shown}), more than the reject policy"
        f" allows ({allowed}); see `tuskflow jobs show` for the reasons, fix the data or raise"
        " rejects.max_share"
    )


def _percents_apart(share: float, limit: float) -> tuple[str, str]:
    for digits in range(2, 17):
        shown, allowed = _percent(share, digits), _percent(limit, digits)
        if shown != allowed:
            return shown, allowed
    return shown, allowed


def _percent(share: float, digits: int) -> str:
    """``share`` as a percent to ``digits`` significant digits: 0.00057%, 1%, 12.5%."""
    return f"{share * 100:.{digits}g}%"

"""The archive's Prometheus counters, in the process that runs an export or a verify."""

from prometheus_client import Counter

EVENTS_ARCHIVED = Counter(
    "tuskflow_archive_events", "Events written to the archive's Parquet files"
)
DAYS_SEALED = Counter("tuskflow_archive_days_sealed", "Days published to the archive")
VERIFY_FAILURES = Counter(
    "tuskflow_archive_verify_failures", "Archived days that differed from the live store"
)

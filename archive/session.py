"""The one way a command or a task opens the archive: the store's archive port and the
destination, checked before anything runs."""

from collections.abc import Iterator
from contextlib import contextmanager

from tuskflow.archive.destination import Destination
from tuskflow.config.errors import ConfigError
from tuskflow.config.settings import env_var
from tuskflow.eventstore.postgres.archive_log import ArchiveLog


@contextmanager
def archive_session(
    database_url: str, archive_url: str | None, role: str
) -> Iterator[tuple[ArchiveLog, Destination]]:
    """The archive port on ``database_url`` and the archive at ``archive_url``."""
    if archive_url is None:
        raise ConfigError(
            f"{env_var('archive_url')} is not set: point it at a folder or at "
            "s3://bucket/prefix (tuskflow archive also takes --to)"
        )
    destination = Destination(archive_url)
    with ArchiveLog(database_url, role) as archive_log:
        yield archive_log, destination

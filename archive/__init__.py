"""The archive of the event log: each sealed UTC day of events as Parquet files with a manifest,
exported, verified against the live store, read back, and the audited prune of archived days.

``export`` writes what is sealed and not yet archived (``export.py``), ``verify`` compares an
archived day event by event with the store (``verify.py``), ``prune`` removes verified days
from the live store through the database's own function (``prune.py``), and ``read_through``
gives a rebuild the pruned events from the archive. Where the files live is a ``Destination``
(``destination.py``): a local folder or an object store (s3://).
"""

"""The PostgreSQL event store: append-only versioned streams, snapshots, subscriptions."""

"""The event store on PostgreSQL: migrations, writes, reads, subscriptions, projections."""

"""SQL migrations of the event store, numbered NNNN_name.sql; applied ones never change."""

"""Job history: each ETL job is a stream in the event store, and a projection lists them."""

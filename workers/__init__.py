"""Long-running consumer processes: Kafka and Redis Streams into the event store."""

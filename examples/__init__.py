"""Sample job specs, producer scripts and data generators; runnable as scripts."""

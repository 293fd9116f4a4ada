"""How tuskflow runs: local embedded services for development and tests (deploy/local)."""

"""The `tuskflow` console script: one module per command group, `main` the entry point."""

"""ETL: job specs, sources, transforms, sinks and checks, run on a Dask cluster."""

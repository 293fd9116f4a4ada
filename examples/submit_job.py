"""A producer script: submit a job spec, follow it to the end, print what it did.

    python examples/submit_job.py examples/specs/sales_to_parquet.yaml

It needs TUSKFLOW_DATABASE_URL and TUSKFLOW_REDIS_URL (`eval "$(tuskflow local env)"`) and a
worker on the ETL queue (`tuskflow local worker start`). Exits 1 unless the job succeeded.
"""

import sys
from pathlib import Path

from tuskflow import scheduler
from tuskflow.cli import job_view
from tuskflow.config.settings import load_settings


def main(spec: Path) -> int:
    """Submit ``spec``, show progress, then the outcome, the history and the first rejects."""
    job_id = scheduler.submit(spec)
    job_view.console.print(f"submitted job [bold]{job_id}[/bold] from {spec}")
    final = job_view.follow(job_id)
    job_view.print_result(final)
    job_view.print_history(job_id)
    job_view.print_rejects(load_settings().required("database_url"), final, limit=5)
    return 0 if final["status"] == "succeeded" else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))

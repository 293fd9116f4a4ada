"""What the CLI loads to follow a job: the job runs on the workers, its display needs no arrow."""

import subprocess
import sys


def test_following_a_job_to_its_end_loads_neither_pyarrow_nor_numpy() -> None:
    # importing them took 0.24 s of every `submit --wait`, on the cores the job was using
    script = (
        "import sys; import tuskflow.cli.jobs_commands, tuskflow.cli.job_view;"
        " print(sorted({m.split('.')[0] for m in sys.modules} & {'pyarrow', 'numpy', 'pandas'}))"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"

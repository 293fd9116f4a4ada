"""What the CLI loads to follow a job: the job runs on the workers, its display needs no arrow."""

from tests.loaded_modules import packages_loaded


def test_following_a_job_to_its_end_loads_neither_pyarrow_nor_numpy() -> None:
    # importing them took 0.24 s of every `submit --wait`, on the cores the job was using
    code = "import tuskflow.cli.jobs_commands, tuskflow.cli.job_view"
    loaded = packages_loaded(code, ["pyarrow", "numpy", "pandas"])

    assert loaded == []

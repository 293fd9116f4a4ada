"""The schedule file: a good one loads with its job paths resolved; a bad one is refused whole,
every problem named by its path."""

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tuskflow.config.errors import ConfigError
from tuskflow.scheduler.schedule_file import ScheduleFile, load_schedule, parse_duration


def _job(folder: Path, name: str = "tiny.yaml") -> Path:
    (folder / "data.csv").write_text("a,b\n1,2\n")
    spec = folder / name
    spec.write_text(
        f"version: 1\nname: tiny\nsource: {{format: csv, path: {folder / 'data.csv'}}}\n"
        f"sink: {{kind: parquet, path: {folder / 'out'}}}\n"
    )
    return spec


def test_a_good_schedule_loads_with_job_paths_relative_to_its_folder(tmp_path: Path) -> None:
    _job(tmp_path)
    schedule_path = tmp_path / "schedule.yaml"
    schedule_path.write_text(
        "entries:\n"
        "  - {id: nightly, cron: '30 2 * * *', timezone: Europe/Berlin, job: tiny.yaml}\n"
        "  - {id: often, every: 1m30s, job: tiny.yaml, jitter: 2s, missed: {policy: all}}\n"
    )

    nightly, often = load_schedule(schedule_path).entries

    assert nightly.job == tmp_path / "tiny.yaml"
    assert (nightly.timezone, nightly.overlap, nightly.missed.policy) == (
        "Europe/Berlin",
        "skip",
        "latest",
    )
    assert (often.every, often.jitter, often.missed.max_count) == (
        timedelta(seconds=90),
        timedelta(seconds=2),
        10,
    )


def test_every_problem_of_a_bad_schedule_is_listed_by_its_path(tmp_path: Path) -> None:
    _job(tmp_path)
    (tmp_path / "broken.yaml").write_text("version: 1\nname: broken\n")
    schedule_path = tmp_path / "schedule.yaml"
    schedule_path.write_text(
        "entries:\n"
        "  - {id: a, cron: '61 * * * *', job: tiny.yaml}\n"
        "  - {id: b, every: 10s, timezone: Mars/Olympus, job: tiny.yaml, colour: red}\n"
        "  - {id: c, cron: '* * * * *', every: 5s, job: tiny.yaml}\n"
        "  - {id: d, every: soon, job: tiny.yaml}\n"
        "  - {id: e, every: 10s, job: tiny.yaml, overlap: sometimes}\n"
    )

    with pytest.raises(ConfigError) as refused:
        load_schedule(schedule_path)

    message = str(refused.value)
    assert f"schedule file {schedule_path} is invalid (6 problems)" in message
    assert "entries[0].cron: '61 * * * *' is not a cron expression: Bad minute" in message
    assert "entries[1].timezone: 'Mars/Olympus' is not an IANA time zone" in message
    assert "entries[1].colour: Extra inputs are not permitted" in message
    assert "entries[2]: give exactly one of cron and every" in message
    assert "entries[3].every: 'soon' is not a duration such as 10s" in message
    assert "entries[4].overlap: Input should be 'skip', 'buffer_one', 'allow'" in message


def test_a_job_spec_that_does_not_validate_is_listed_with_its_own_problems(
    tmp_path: Path,
) -> None:
    _job(tmp_path)
    (tmp_path / "broken.yaml").write_text("version: 1\nname: broken\n")
    schedule_path = tmp_path / "schedule.yaml"
    schedule_path.write_text(
        "entries:\n"
        "  - {id: good, every: 10s, job: tiny.yaml}\n"
        "  - {id: bad, every: 10s, job: broken.yaml}\n"
        "  - {id: gone, every: 10s, job: missing.yaml}\n"
    )

    with pytest.raises(ConfigError) as refused:
        load_schedule(schedule_path)

    message = str(refused.value)
    assert "(2 problems)" in message
    assert f"entries[1].job ({tmp_path / 'broken.yaml'}): the job spec is invalid" in message
    assert "source: Field required" in message
    assert f"entries[2].job ({tmp_path / 'missing.yaml'})" in message


def test_duplicate_ids_and_bounds_out_of_order_are_refused(tmp_path: Path) -> None:
    _job(tmp_path)
    schedule_path = tmp_path / "schedule.yaml"
    schedule_path.write_text(
        "entries:\n"
        "  - {id: twice, every: 10s, job: tiny.yaml}\n"
        "  - {id: twice, every: 20s, job: tiny.yaml,\n"
        "     start: '2026-12-02T00:00:00Z', end: '2026-12-01T00:00:00Z'}\n"
    )

    with pytest.raises(ConfigError) as refused:
        load_schedule(schedule_path)

    assert "entries[1]: end must be after start" in str(refused.value)
    assert "entries: entry ids must be unique: twice" in str(refused.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("0.5s", 0.5), (15, 15)],
)
def test_durations_read_as_users_write_them(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "10x", "1h 30", "-5s"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_the_example_schedule_reads_as_its_comments_say() -> None:
    example = Path(__file__).parents[3] / "examples" / "schedule.yaml"

    # Its jobs read data/sales.csv, which make demo generates: only the entries are read here.
    schedule = ScheduleFile.model_validate(yaml.safe_load(example.read_text()))

    often, nightly, snapshots, export, verify = schedule.entries
    assert (often.every, often.overlap, often.missed.policy) == (
        timedelta(seconds=10),
        "skip",
        "latest",
    )
    assert (nightly.cron, nightly.timezone) == ("30 2 * * *", "Europe/Berlin")
    assert often.job is not None
    assert (example.parent / often.job).exists()
    assert [snapshots.target, export.target, verify.target] == [
        "snapshot run of every category",
        "archive export",
        "archive verify",
    ]


def test_maintenance_entries_load_and_a_wrong_target_is_named_by_its_path(
    tmp_path: Path,
) -> None:
    _job(tmp_path)
    good = tmp_path / "good.yaml"
    good.write_text(
        "entries:\n"
        "  - {id: snap, cron: '0 * * * *', snapshot: {}}\n"
        "  - {id: snap-jobs, every: 1h, snapshot: {category: job-}}\n"
        "  - {id: export, cron: '30 1 * * *', archive: export}\n"
        "  - {id: jobs, every: 1m, projection: jobs}\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "entries:\n"
        "  - {id: a, every: 1h, snapshot: {category: order-}}\n"
        "  - {id: b, every: 1h, archive: shred}\n"
        "  - {id: c, every: 1h, projection: nope}\n"
        "  - {id: d, every: 1h, archive: export, job: tiny.yaml}\n"
        "  - {id: e, every: 1h, archive: verify, overlap: skip}\n"
        "  - {id: f, every: 1h}\n"
    )

    targets = [entry.target for entry in load_schedule(good).entries]
    with pytest.raises(ConfigError) as refused:
        load_schedule(bad)

    assert targets == [
        "snapshot run of every category",
        "snapshot run of job-",
        "archive export",
        "projection jobs catch-up",
    ]
    problems = str(refused.value).splitlines()[1:]
    assert problems == [
        "  - entries[0].snapshot.category: no aggregate is registered for category 'order-'"
        " (registered: job-); add it to TUSKFLOW_SNAPSHOT_AGGREGATES",
        "  - entries[1].archive: Input should be 'export' or 'verify'",
        "  - entries[2].projection: no projection 'nope'; known: event_counts, jobs",
        "  - entries[3]: give exactly one of job, snapshot, archive and projection",
        "  - entries[4]: overlap is for job entries: maintenance tasks may overlap",
        "  - entries[5]: give exactly one of job, snapshot, archive and projection",
    ]

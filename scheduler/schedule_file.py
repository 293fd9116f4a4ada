"""The schedule file: what beat fires and when, checked whole before beat starts.

    entries:
      - id: nightly-sales            # letters, digits, '.', '_', '-': part of every fire's key
        cron: "30 2 * * *"           # five fields, or six with seconds first
        timezone: Europe/Berlin      # an IANA name; UTC when left out
        job: specs/sales.yaml        # an ETL job spec, checked as `tuskflow submit` checks it
        missed: {policy: latest}     # skip | latest | all (at most max_count, within window)
        overlap: skip                # skip | buffer_one | allow | cancel_previous
      - id: every-ten-seconds
        every: 10s                   # instead of cron: s, m, h, d, combined as in 1h30m
        job: specs/small.yaml
        jitter: 2s                   # a random delay, up to this, before each fire is sent
        start: 2026-12-01T00:00:00Z  # optional bounds of the nominal times, with their zone
        enabled: false
      - id: hourly-snapshots
        cron: "0 * * * *"
        snapshot: {}                 # a snapshot run of every category, or {category: job-}
      - id: nightly-archive
        cron: "30 1 * * *"
        archive: export              # or verify: the days not verified yet
      - id: jobs-read-model
        every: 1m
        projection: jobs             # catch one of tuskflow's projections up

An entry fires exactly one of ``job``, ``snapshot``, ``archive`` and ``projection``; the last
three are maintenance tasks (queue ``maintenance``), safe to overlap, so ``overlap`` is for
job entries only. A job path is relative to the schedule file's folder. Every problem of the
file is listed, each by its path (``entries[1].cron``), and beat does not start with any of
them.
"""

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from cronsim import CronSim, CronSimError
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tuskflow.config.celery import (
    ARCHIVE_EXPORT_TASK,
    ARCHIVE_VERIFY_TASK,
    PROJECTION_TASK,
    SNAPSHOT_TASK,
)
from tuskflow.config.errors import ConfigError
from tuskflow.config.settings import process_settings
from tuskflow.etl.errors import SpecError
from tuskflow.jobs import catalog
from tuskflow.scheduler.submit import validate

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# libyaml's safe loader where PyYAML has it: ten times faster on a schedule of 1,000 entries.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ARCHIVE_TASKS = {"export": ARCHIVE_EXPORT_TASK, "verify": ARCHIVE_VERIFY_TASK}


def parse_duration(value: Any) -> Any:
    """``10s``, ``5m``, ``1h30m``, ``2d`` or a number of seconds, as a timedelta; anything
    else is left for pydantic to refuse."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        return value
    text = value.replace(" ", "")
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{value!r} is not a duration such as 10s, 5m, 1h30m or 2d")
    return timedelta(seconds=sum(float(number) * _UNITS[unit] for number, unit in parts))


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class MissedFires(BaseModel):
    """What a beat that was away does with the fires it missed: none of them (``skip``), the
    latest one (``latest``), or each in turn (``all``), at most ``max_count`` of those within
    ``window`` of now."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Literal["skip", "latest", "all"] = "latest"
    max_count: int = Field(10, ge=1)
    window: Duration = timedelta(days=1)


class SnapshotTarget(BaseModel):
    """A snapshot run over every registered category, or over ``category`` alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str | None = None


@dataclass(frozen=True)
class MaintenanceTask:
    """The Celery task a maintenance entry sends, and its keyword arguments."""

    name: str
    kwargs: tuple[tuple[str, str], ...] = ()


class ScheduleEntry(BaseModel):
    """One thing beat fires: when (``cron`` or ``every``, in ``timezone``) and what (``job``,
    or a maintenance task: ``snapshot``, ``archive`` or ``projection``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    cron: str | None = None
    every: Duration | None = None
    timezone: str = "UTC"
    jitter: Duration = timedelta(0)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    description: str = ""
    job: Path | None = None
    snapshot: SnapshotTarget | None = None
    archive: Literal["export", "verify"] | None = None
    projection: str | None = None
    missed: MissedFires = MissedFires()
    overlap: Literal["skip", "buffer_one", "allow", "cancel_previous"] = "skip"
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, cron: str | None) -> str | None:
        if cron is not None:
            try:
                CronSim(cron, datetime.now(UTC))
            except CronSimError as exc:
                raise ValueError(f"{cron!r} is not a cron expression: {exc}") from None
        return cron

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return name

    @field_validator("every", "jitter")
    @classmethod
    def _not_negative(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @model_validator(mode="after")
    def _one_rule_and_sane_bounds(self) -> "ScheduleEntry":
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of cron and every")
        targets = [self.job, self.snapshot, self.archive, self.projection]
        if sum(target is not None for target in targets) != 1:
            raise ValueError("give exactly one of job, snapshot, archive and projection")
        if self.job is None and "overlap" in self.model_fields_set:
            raise ValueError("overlap is for job entries: maintenance tasks may overlap")
        if self.every is not None and self.every <= timedelta(0):
            raise ValueError("every must be longer than 0 s")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The time zone the cron fields are read in."""
        return ZoneInfo(self.timezone)

    @property
    def maintenance_task(self) -> MaintenanceTask | None:
        """The task a maintenance entry sends; None for a job entry."""
        if self.snapshot is not None:
            category = self.snapshot.category
            return MaintenanceTask(SNAPSHOT_TASK, (("category", category),) if category else ())
        if self.archive is not None:
            return MaintenanceTask(ARCHIVE_TASKS[self.archive])
        if self.projection is not None:
            return MaintenanceTask(PROJECTION_TASK, (("name", self.projection),))
        return None

    @property
    def target(self) -> str:
        """What the entry fires, in words."""
        if self.job is not None:
            return f"job {self.job}"
        if self.snapshot is not None:
            return f"snapshot run of {self.snapshot.category or 'every category'}"
        if self.archive is not None:
            return f"archive {self.archive}"
        return f"projection {self.projection} catch-up"


class ScheduleFile(BaseModel):
    """Every entry beat fires (load_schedule holds each id to once)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entries: list[ScheduleEntry]


def load_schedule(path: Path, *, check_jobs: bool = True) -> ScheduleFile:
    """The schedule at ``path``, job specs checked (unless ``check_jobs`` is off, for a reader
    of what fires when); ConfigError listing every problem."""
    raw = _read_yaml(path)
    try:
        ScheduleFile.model_validate({**raw, "entries": []} if isinstance(raw, dict) else raw)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors()]
    else:
        problems = []
    items = raw.get("entries") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        problems.append("entries: a list of entries is required")
        items = []
    entries = []
    for index, item in enumerate(items):
        entry, found = _entry(index, item, path.parent, check_jobs)
        problems += found
        if entry is not None:
            entries.append(entry)
    problems += _doubled_ids(raw)
    if problems:
        raise _refused(path, problems)
    return ScheduleFile(entries=entries)


def _entry(
    index: int, item: Any, folder: Path, check_jobs: bool
) -> tuple[ScheduleEntry | None, list[str]]:
    """One entry, its paths resolved, and its problems (its target's too)."""
    try:
        entry = _resolved(ScheduleEntry.model_validate(item), folder)
    except ValidationError as exc:
        problems = [_problem(error, ("entries", index)) for error in exc.errors()]
        job = item.get("job") if isinstance(item, dict) else None
        if isinstance(job, str) and check_jobs:  # checked all the same: every problem at once
            problems += _job_problems(index, (folder / job).resolve())
        return None, problems
    if check_jobs or entry.job is None:
        return entry, _target_problems(index, entry)
    return entry, []


def _doubled_ids(raw: Any) -> list[str]:
    """Checked on the file as written, so that it is listed with the entries' own problems."""
    entries = raw.get("entries") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        return []
    counts = Counter(entry.get("id") for entry in entries if isinstance(entry, dict))
    doubled = sorted(str(entry_id) for entry_id, count in counts.items() if count > 1)
    return [f"entries: entry ids must be unique: {', '.join(doubled)}"] if doubled else []


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=_LOADER) or {}  # noqa: S506 - a safe loader
    except OSError as exc:
        raise ConfigError(f"schedule file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"schedule file {path} is not valid YAML: {exc}") from None


def _resolved(entry: ScheduleEntry, folder: Path) -> ScheduleEntry:
    if entry.job is None:
        return entry
    return entry.model_copy(update={"job": (folder / entry.job).resolve()})


def _target_problems(index: int, entry: ScheduleEntry) -> list[str]:
    """What is wrong with what the entry fires: its job spec, or its maintenance target."""
    if entry.job is not None:
        return _job_problems(index, entry.job)
    if entry.projection is not None and entry.projection not in catalog.projections():
        known = ", ".join(sorted(catalog.projections()))
        return [f"entries[{index}].projection: no projection {entry.projection!r}; known: {known}"]
    if entry.snapshot is not None and entry.snapshot.category is not None:
        try:
            catalog.snapshot_policies(process_settings(), entry.snapshot.category)
        except ConfigError as exc:
            return [f"entries[{index}].snapshot.category: {exc}"]
    return []


def _job_problems(index: int, job: Path) -> list[str]:
    try:
        validate(job)
    except (SpecError, ConfigError) as exc:
        detail = str(exc).replace("\n", "\n    ")
        return [f"entries[{index}].job ({job}): {detail}"]
    return []


def _problem(error: Any, where: tuple[str | int, ...] = ()) -> str:
    parts = (*where, *error["loc"])
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path.lstrip('.') or '(file)'}: {message}"


def _refused(path: Path, problems: list[str]) -> ConfigError:
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return ConfigError(f"schedule file {path} is invalid ({count}):\n{lines}")

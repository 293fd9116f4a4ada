"""One beat's ticks: which fires are due, what each policy makes of them, and the sending.

Every beat runs the same decisions on the same store, and the fire ledger lets only the first
beat to record a fire send it, so any number of beats may tick one schedule. Per entry, each
tick:

1. takes over, and sends, fires a beat recorded and left unsent for ``idle_grace`` (looked
   for every half of it);
2. works out the fires due since the furthest the entry got, by this beat or by any other (the
   ledger's last nominal time), each at its nominal time plus its jitter (derived from the
   fire key, so that every beat waits the same);
3. due fires within ``late_after`` of their time fire; older ones were missed (beats were
   down) and the entry's ``missed`` policy decides: ``skip`` records one skip for them,
   ``latest`` fires the latest, ``all`` fires each, at most ``max_count``, all within
   ``window`` (older ones are never fired);
4. before a fire is recorded, ``overlap`` looks at the previous fire's job: ``skip`` records
   the fire skipped while it runs, ``buffer_one`` holds one fire (its nominal time kept) until
   the job ends and skips the others, ``cancel_previous`` cancels it, ``allow`` fires
   regardless.
"""

import hashlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import structlog

from tuskflow.config.errors import ConfigError, PermanentError
from tuskflow.etl.errors import SpecError
from tuskflow.etl.spec import spec_json
from tuskflow.jobs.history import JobHistory
from tuskflow.scheduler.beat_metrics import BeatMetrics
from tuskflow.scheduler.fire_ledger import (
    Fire,
    FireLedger,
    JobToStart,
    Planned,
    Trigger,
    fire_key,
)
from tuskflow.scheduler.fire_times import fire_times, next_fire
from tuskflow.scheduler.schedule_file import ScheduleEntry, ScheduleFile
from tuskflow.scheduler.submit import validate

log = structlog.get_logger(__name__)
Send = Callable[[Fire], None]
_BUFFER = "hold the fire until the previous job ends"
# Fires recorded in one transaction and then sent: the first are sent before the last are
# recorded (a tick of 1,000 fires: 339 ms to record them all in one).
BATCH = 200
# Resumed, an entry's fires due before now less this were missed while it was paused.
_RESUMED_SLACK = timedelta(seconds=1)
# How often a paused entry is looked at again: a resume takes effect within this.
_PAUSED_LOOK_S = 1.0


@dataclass
class FiringPolicy:
    """How long a fire may wait: after ``late_after`` it was missed; after ``idle_grace``
    unsent, another beat takes it over; never sleep longer than ``max_sleep_s``."""

    late_after: timedelta = timedelta(seconds=30)
    idle_grace: timedelta = timedelta(seconds=30)
    max_sleep_s: float = 5.0


@dataclass
class Firing:
    """The ticks of one beat over one schedule."""

    schedule: ScheduleFile
    ledger: FireLedger
    history: JobHistory
    send: Send
    name: str
    policy: FiringPolicy = field(default_factory=FiringPolicy)
    metrics: BeatMetrics = field(default_factory=BeatMetrics)
    _cursor: dict[str, datetime] = field(default_factory=dict)
    # buffer_one: the fire each entry holds until its previous job ends (in this beat's
    # memory; every beat holds the same one, and the first to record it sends it).
    _buffered: dict[str, datetime] = field(default_factory=dict)
    _paused: set[str] = field(default_factory=set)  # entries this beat saw paused
    _next_take_over: datetime | None = None

    def tick(self, now: datetime) -> float:
        """Fire what is due at ``now``; the seconds until the next fire is due."""
        self.ledger.catch_up()
        if self._next_take_over is None or now >= self._next_take_over:
            for entry in self.schedule.entries:
                self._take_over(entry, now)
            self._next_take_over = now + self.policy.idle_grace / 2
        waits = [self.policy.max_sleep_s]
        planned: list[tuple[ScheduleEntry, datetime]] = []
        for entry in self.schedule.entries:
            if entry.enabled:
                waits.append(self._plan_entry(entry, now, planned))
        self._fire_planned(planned)
        return max(min(waits), 0.0)

    def trigger(self, entry: ScheduleEntry, nominal: datetime, trigger: Trigger) -> Fire | None:
        """Record and send one fire at ``nominal`` (manual: now; backfill: a past time)."""
        return self._fire(entry, nominal, trigger)

    def _plan_entry(
        self, entry: ScheduleEntry, now: datetime, planned: list[tuple[ScheduleEntry, datetime]]
    ) -> float:
        """Add the entry's fires due at ``now`` to ``planned``; the seconds until its next."""
        state = self.ledger.state(entry.id)
        # Where this beat, or any other (as the ledger tells), got to: never fire twice.
        reached = [c for c in (self._cursor.get(entry.id), state.last_nominal) if c is not None]
        cursor = max(reached, default=now)
        # Missed: due longer than late_after ago, or (just resumed) any time before now.
        resumed = entry.id in self._paused and state.paused is None
        due = _due(
            entry, cursor, now, now - (_RESUMED_SLACK if resumed else self.policy.late_after)
        )
        if (due.late or due.on_time or entry.id in self._buffered) and state.paused is not None:
            # Paused: nothing fires and the cursor stays, so that on resume what was missed
            # meanwhile follows the missed policy.
            self._cursor[entry.id] = cursor
            self._paused.add(entry.id)
            return _PAUSED_LOOK_S
        self._paused.discard(entry.id)
        cursor = due.cursor
        held = self._buffered.pop(entry.id, None)
        if held is not None:
            planned.append((entry, held))  # held again if the previous job still runs
        chosen = _chosen_missed(entry, due.late)
        planned += [(entry, nominal) for nominal in [*chosen, *due.on_time]]
        if due.late and entry.missed.policy == "skip":
            reason = f"missed: skip ({due.late_count})"
            if self.ledger.skipped(entry.id, due.late[-1], "schedule", reason):
                self.metrics.skipped(entry.id, reason)
        self._cursor[entry.id] = cursor
        upcoming = next_fire(entry, cursor)
        self.metrics.upcoming(entry.id, upcoming)
        if upcoming is None:
            return self.policy.max_sleep_s
        return (upcoming + jitter_of(entry, upcoming) - now).total_seconds()

    def _fire_planned(self, planned: list[tuple[ScheduleEntry, datetime]]) -> None:
        """Record the planned fires of entries that allow overlap BATCH at a time, each batch
        in one transaction and sent at once after it; the others one by one, each decided on
        its previous fire's job."""
        batch: list[Planned] = []
        batched: set[str] = set()
        one_by_one: list[tuple[ScheduleEntry, datetime]] = []
        for entry, nominal in planned:
            if (entry.overlap != "allow" and entry.job is not None) or entry.id in batched:
                one_by_one.append((entry, nominal))
                continue
            try:
                job = _job_of(entry)
                batch.append(Planned(entry.id, nominal, "schedule", job, entry.maintenance_task))
                batched.add(entry.id)
            except (SpecError, ConfigError):
                one_by_one.append((entry, nominal))  # recorded skipped, with the reason
        self._record_and_send(
            [batch[start : start + BATCH] for start in range(0, len(batch), BATCH)]
        )
        for entry, nominal in one_by_one:
            self._fire(entry, nominal, "schedule")

    def _record_and_send(self, batches: list[list[Planned]]) -> None:
        """Record each batch and send it, the next batch recorded (in a thread of its own,
        waiting on PostgreSQL) while this one is sent: a tick of 1,000 fires no longer waits
        for all five batches' transactions before its last sends. Only one batch is recorded
        at a time, and a batch is sent only once its transaction committed."""
        if len(batches) < 2:
            for batch in batches:
                self._send_all(self._record_batch(batch))
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fire-ledger") as recorder:
            pending = recorder.submit(self._record_batch, batches[0])
            for batch in batches[1:]:
                recorded = pending.result()
                pending = recorder.submit(self._record_batch, batch)
                self._send_all(recorded)
            self._send_all(pending.result())

    def _record_batch(self, batch: list[Planned]) -> list[Fire]:
        fires = self.ledger.record_many(batch)
        if fires is not None:
            return fires
        # Another beat recorded some of them: those are its to send; the rest one by one.
        self.ledger.catch_up()
        fires = []
        for plan in batch:
            state = self.ledger.state(plan.entry_id)
            if state.last_nominal is None or plan.nominal > state.last_nominal:
                fire = self.ledger.record(
                    plan.entry_id, plan.nominal, "schedule", plan.job, plan.task
                )
                fires += [fire] if fire is not None else []
        return fires

    def _send_all(self, fires: list[Fire]) -> None:
        """Enqueue each fire's task, then mark those sent in one transaction."""
        sent = [fire for fire in fires if self._sent_ok(fire)]
        self.ledger.sent(sent)
        for fire in sent:
            self._sent_log(fire)

    def _fire(self, entry: ScheduleEntry, nominal: datetime, trigger: Trigger) -> Fire | None:
        try:
            job = _job_of(entry)
            reason = self._overlap_refusal(entry)
        except (SpecError, ConfigError) as exc:  # the spec changed since beat started
            job, reason = None, f"job spec {entry.job} is invalid: {exc}"
        if reason == _BUFFER:
            self._buffered[entry.id] = nominal
            return None
        if reason is not None:
            if self.ledger.skipped(entry.id, nominal, trigger, reason):
                self.metrics.skipped(entry.id, reason)
            log.info("fire.skipped", entry=entry.id, nominal=nominal.isoformat(), reason=reason)
            return None
        fire = self.ledger.record(entry.id, nominal, trigger, job, entry.maintenance_task)
        if fire is not None:
            self._send_all([fire])
        return fire

    def _overlap_refusal(self, entry: ScheduleEntry) -> str | None:
        """Why the previous fire's job stops this one (_BUFFER: hold it), None to fire."""
        if entry.overlap == "allow" or entry.job is None:
            return None
        previous = self.ledger.fires(entry.id).last_fire
        if previous is None:
            return None
        job = self.history.load(previous.job_id)
        if job.finished:
            return None
        if entry.overlap == "cancel_previous":
            try:
                self.history.cancel(previous.job_id, f"superseded by a later fire of {entry.id}")
            except PermanentError as exc:  # publishing, or ended meanwhile: it may finish
                log.info("fire.previous_not_cancelled", entry=entry.id, reason=str(exc))
            return None
        if entry.overlap == "buffer_one" and entry.id not in self._buffered:
            return _BUFFER
        held = " and one fire is held already" if entry.overlap == "buffer_one" else ""
        return f"overlap: job {previous.job_id} of the previous fire is still {job.status}{held}"

    def _take_over(self, entry: ScheduleEntry, now: datetime) -> None:
        idle_since = now - self.policy.idle_grace
        for unsent in self.ledger.state(entry.id).unsent(idle_since):
            if self.ledger.take_over(unsent, self.name):
                log.warning("fire.taken_over", entry=entry.id, key=unsent.fire.key)
                self._send_all([unsent.fire])

    def _sent_ok(self, fire: Fire) -> bool:
        """Enqueue the fire's task; False (logged) if the broker refused: it waits to be
        taken over."""
        try:
            self.send(fire)
        except Exception as exc:  # the broker's many errors
            log.error("fire.not_sent", key=fire.key, error=str(exc))
            return False
        return True

    def _sent_log(self, fire: Fire) -> None:
        self.metrics.fired(fire.entry_id, fire.trigger, fire.nominal)
        log.info(
            "fire.sent",
            entry=fire.entry_id,
            nominal=fire.nominal.isoformat(),
            actual=datetime.now(UTC).isoformat(),
            job_id=fire.job_id,
            trigger=fire.trigger,
        )


@dataclass(frozen=True)
class _Due:
    """An entry's fires due by now: the latest ``max_count`` of those late (before
    ``late_before``: missed) and how many were late in all; every one on time; and the cursor
    past them all."""

    late: list[datetime]
    late_count: int
    on_time: list[datetime]
    cursor: datetime


def _due(entry: ScheduleEntry, cursor: datetime, now: datetime, late_before: datetime) -> _Due:
    """The fires due after ``cursor`` by ``now`` (jitter included) within the missed window.

    The late ones are kept up to ``max_count`` (the latest), which bounds a catch-up after a
    long outage; the on-time ones are all kept (at most late_after / interval of them), so a
    beat that stalled for a while fires each of them.
    """
    after = max(cursor, now - entry.missed.window)
    late: deque[datetime] = deque(maxlen=entry.missed.max_count)
    on_time: list[datetime] = []
    late_count = 0
    for nominal in fire_times(entry, after, now):
        if nominal + jitter_of(entry, nominal) > now:
            break
        if nominal < late_before:
            late.append(nominal)
            late_count += 1
        else:
            on_time.append(nominal)
    last = on_time[-1] if on_time else (late[-1] if late else cursor)
    return _Due(list(late), late_count, on_time, last)


def _chosen_missed(entry: ScheduleEntry, late: list[datetime]) -> list[datetime]:
    if entry.missed.policy == "skip":
        return []
    if entry.missed.policy == "latest":
        return late[-1:]
    return late[-entry.missed.max_count :]


def jitter_of(entry: ScheduleEntry, nominal: datetime) -> timedelta:
    """The fire's delay after its nominal time: within the entry's jitter, the same from every
    beat (a hash of the fire key)."""
    if not entry.jitter:
        return timedelta(0)
    digest = hashlib.blake2b(fire_key(entry.id, nominal).encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest) / 2**64
    return entry.jitter * fraction


def _job_of(entry: ScheduleEntry) -> JobToStart | None:
    """The entry's job as ``submit`` would record it: validated, paths made absolute; checked
    again only when the spec file changes. None for a maintenance entry."""
    if entry.job is None:
        return None
    path = Path(entry.job)
    return _validated(path, path.stat().st_mtime_ns if path.exists() else -1)


@lru_cache(maxsize=4096)
def _validated(path: Path, mtime_ns: int) -> JobToStart:
    spec = validate(path)
    return JobToStart(spec.name, spec_json(spec))
